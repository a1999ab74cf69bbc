"""Soft attention over a masked set of keys: scores, a masked softmax, the context.

For a query q and keys k_1 … k_S (with values v_s; usually the keys themselves):

    additive (Bahdanau et al. 2015):  e_s = vᵀ tanh(W q + U k_s + b)
    dot (Luong et al. 2015):          e_s = qᵀ k_s            (scaled: qᵀ k_s / √d)
    general (Luong et al. 2015):      e_s = qᵀ W k_s
    a_s = exp(e_s) / Σ_{s' valid} exp(e_s')       (masked softmax; a_s = 0 where masked)
    context = Σ_s a_s v_s

Layouts are batch-first: a query is (B, Q) (one per row) or (B, Tq, Q) (several per row, e.g.
every decoder step at once); keys and values are (B, S, K); a mask is (B, S), True where a key
may be attended to. A row whose keys are all masked has no distribution to return: that is an
InputError, never a row of NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.errors import InputError


def lengths_mask(lengths: Tensor | list[int], max_len: int | None = None) -> Tensor:
    """The key mask of sequences of the given lengths: (B, S) bool, True at s < lengths[b].

    Args:
        lengths: (B,) integers >= 0.
        max_len: S (default: the longest length).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise InputError(f"attention: expected lengths of shape (B,) integers, got {lengths}")
    if len(lengths) and int(lengths.min()) < 0:
        raise InputError(f"attention: expected lengths >= 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if len(lengths) else 0
    if max_len is None:
        max_len = longest
    elif longest > max_len:
        raise InputError(f"attention: a length {longest} exceeds the {max_len} keys")
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def _queries(query: Tensor, keys: Tensor, what: str) -> tuple[Tensor, bool]:
    """The query as (B, Tq, Q) and whether it was given as (B, Q)."""
    if keys.dim() != 3:
        raise InputError(f"{what}: expected keys of shape (B, S, K), got {tuple(keys.shape)}")
    if query.dim() not in (2, 3) or query.shape[0] != keys.shape[0]:
        raise InputError(
            f"{what}: expected a query of shape ({keys.shape[0]}, Q) or ({keys.shape[0]}, Tq, Q) "
            f"for keys of shape {tuple(keys.shape)}, got {tuple(query.shape)}"
        )
    single = query.dim() == 2
    return (query[:, None] if single else query), single


def _out(scores: Tensor, single: bool) -> Tensor:
    return scores[:, 0] if single else scores


def dot_scores(query: Tensor, keys: Tensor, *, scaled: bool = False) -> Tensor:
    """e_s = qᵀ k_s (÷ √K when `scaled`).

    Args:
        query: (B, Q) or (B, Tq, Q) with Q = K.
        keys: (B, S, K).
    Returns:
        (B, S) or (B, Tq, S) scores.
    """
    q, single = _queries(query, keys, "dot attention")
    if q.shape[-1] != keys.shape[-1]:
        raise InputError(
            f"dot attention: expected query and keys of the same width, got {q.shape[-1]} "
            f"and {keys.shape[-1]} (use general or additive attention between widths)"
        )
    scores = q @ keys.transpose(1, 2)  # (B, Tq, S)
    if scaled:
        scores = scores / keys.shape[-1] ** 0.5
    return _out(scores, single)


def general_scores(query: Tensor, keys: Tensor, weight: Tensor) -> Tensor:
    """e_s = qᵀ W k_s.

    Args:
        query: (B, Q) or (B, Tq, Q).
        keys: (B, S, K).
        weight: W, (Q, K).
    Returns:
        (B, S) or (B, Tq, S) scores.
    """
    q, single = _queries(query, keys, "general attention")
    if weight.shape != (q.shape[-1], keys.shape[-1]):
        raise InputError(
            f"general attention: expected a weight of shape ({q.shape[-1]}, {keys.shape[-1]}), "
            f"got {tuple(weight.shape)}"
        )
    scores = (q @ weight) @ keys.transpose(1, 2)  # (B, Tq, K) @ (B, K, S) -> (B, Tq, S)
    return _out(scores, single)


def additive_scores(
    query: Tensor,
    keys: Tensor,
    w_query: Tensor,
    w_key: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    *,
    projected_keys: Tensor | None = None,
) -> Tensor:
    """e_s = vᵀ tanh(W q + U k_s + b).

    Args:
        query: (B, Q) or (B, Tq, Q).
        keys: (B, S, K).
        w_query: W, (A, Q).
        w_key: U, (A, K).
        v: (A,).
        bias: b, (A,) or None.
        projected_keys: U k_s + b, (B, S, A), when already computed (a decoder computes it
            once per source, not once per step).
    Returns:
        (B, S) or (B, Tq, S) scores.
    """
    q, single = _queries(query, keys, "additive attention")
    if projected_keys is None:
        projected_keys = keys @ w_key.T  # (B, S, A)
        if bias is not None:
            projected_keys = projected_keys + bias
    hidden = torch.tanh((q @ w_query.T)[:, :, None] + projected_keys[:, None])  # (B, Tq, S, A)
    return _out(hidden @ v, single)


def masked_softmax(scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """Softmax over the last axis (keys), zero where `mask` is False.

    Args:
        scores: (B, S) or (B, Tq, S).
        mask: (B, S) bool (broadcast over Tq), or None for every key.
    Returns:
        weights of the scores' shape, each row summing to 1 over its valid keys.
    Raises:
        InputError: when a row has no valid key.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    if mask.dtype != torch.bool:
        raise InputError(f"attention: expected a bool mask, got {mask.dtype}")
    if mask.shape != (scores.shape[0], scores.shape[-1]):
        raise InputError(
            f"attention: expected a mask of shape ({scores.shape[0]}, {scores.shape[-1]}), "
            f"got {tuple(mask.shape)}"
        )
    empty = ~mask.any(dim=-1)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        raise InputError(
            f"attention: every key of batch row(s) {rows[:10]} is masked; "
            "a row needs at least one key to attend to (a length of 0?)"
        )
    if scores.dim() == 3:
        mask = mask[:, None]
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def attend(scores: Tensor, values: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The context Σ_s a_s v_s and the weights a = masked_softmax(scores, mask).

    Args:
        scores: (B, S) or (B, Tq, S).
        values: (B, S, D).
        mask: (B, S) bool or None.
    Returns:
        (context, weights): (B, D) or (B, Tq, D), and the weights of the scores' shape.
    """
    if values.dim() != 3 or values.shape[:2] != (scores.shape[0], scores.shape[-1]):
        raise InputError(
            f"attention: expected values of shape ({scores.shape[0]}, {scores.shape[-1]}, D), "
            f"got {tuple(values.shape)}"
        )
    weights = masked_softmax(scores, mask)
    if weights.dim() == 2:
        return (weights[:, None] @ values)[:, 0], weights
    return weights @ values, weights
