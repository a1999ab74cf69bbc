"""Soft attention modules: additive (Bahdanau), dot and general (Luong) scores.

Each module maps a query and a masked set of keys (and values, by default the keys) to
`(context, weights)`; the math is in `rnnlab.functional.attention`. Layouts are batch-first:
query (B, Q) or (B, Tq, Q), keys (B, S, K), values (B, S, D), mask (B, S) True where valid, or
`lengths` (B,). A decoder that attends to the same keys at every step calls
`prepared = attention.prepare(keys)` once and passes `prepared=` at each step: the part of the
score that depends only on the keys (U k + b, or W k) is then computed once per source.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab.errors import InputError
from rnnlab.functional import attention as FA

KINDS = ("additive", "dot", "general", "scaled_dot")


class _Attention(nn.Module):
    def prepare(self, keys: Tensor) -> Tensor:
        """The keys' part of the score, computed once per set of keys: (B, S, ·)."""
        return keys

    def _scores(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        lengths: Tensor | None = None,
        prepared: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from `query` to `keys`.

        Args:
            query: (B, Q) or (B, Tq, Q).
            keys: (B, S, K).
            values: (B, S, D) (default: the keys).
            mask: (B, S) bool, True where a key may be attended to.
            lengths: (B,), instead of a mask: keys s < lengths[b] are valid.
            prepared: `self.prepare(keys)` when computed beforehand.
        Returns:
            (context, weights): (B, D) or (B, Tq, D), and (B, S) or (B, Tq, S).
        """
        if mask is not None and lengths is not None:
            raise InputError(f"{type(self).__name__}: give a mask or lengths, not both")
        if keys.dim() != 3:
            raise InputError(
                f"{type(self).__name__}: expected keys of shape (B, S, K), got {tuple(keys.shape)}"
            )
        if lengths is not None:
            mask = FA.lengths_mask(torch.as_tensor(lengths, device=keys.device), keys.shape[1])
        if prepared is None:
            prepared = self.prepare(keys)
        scores = self._scores(query, keys, prepared)
        return FA.attend(scores, keys if values is None else values, mask)


class AdditiveAttention(_Attention):
    """e_s = vᵀ tanh(W q + U k_s + b) (Bahdanau, Cho & Bengio 2015).

    Args:
        query_dim: Q.
        key_dim: K.
        attn_dim: A, the width of the hidden layer (default: Q).
    Parameters: `query_proj.weight` W (A, Q), `key_proj.weight` U (A, K), `key_proj.bias`
    b (A,), `v` (A,).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None):
        super().__init__()
        attn_dim = query_dim if attn_dim is None else attn_dim
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("attn_dim", attn_dim)):
            if value < 1:
                raise InputError(f"AdditiveAttention: expected {name} >= 1, got {value}")
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)
        self.key_proj = nn.Linear(key_dim, attn_dim)
        self.v = nn.Parameter(torch.empty(attn_dim).uniform_(-1, 1) / math.sqrt(attn_dim))

    def prepare(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, S, A)

    def _scores(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        return FA.additive_scores(
            query, keys, self.query_proj.weight, self.key_proj.weight, self.v,
            projected_keys=prepared,
        )  # fmt: skip


class DotAttention(_Attention):
    """e_s = qᵀ k_s (Luong, Pham & Manning 2015); `scaled`: ÷ √K (Vaswani et al. 2017)."""

    def __init__(self, *, scaled: bool = False):
        super().__init__()
        self.scaled = scaled

    def _scores(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        return FA.dot_scores(query, keys, scaled=self.scaled)

    def extra_repr(self) -> str:
        return f"scaled={self.scaled}"


class GeneralAttention(_Attention):
    """e_s = qᵀ W k_s (Luong, Pham & Manning 2015). Parameter `weight` W (Q, K)."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        if query_dim < 1 or key_dim < 1:
            raise InputError(
                f"GeneralAttention: expected widths >= 1, got {query_dim} and {key_dim}"
            )
        self.weight = nn.Parameter(torch.empty(query_dim, key_dim))
        nn.init.xavier_uniform_(self.weight)

    def prepare(self, keys: Tensor) -> Tensor:
        return keys @ self.weight.T  # (B, S, Q): W k_s

    def _scores(self, query: Tensor, keys: Tensor, prepared: Tensor) -> Tensor:
        if prepared.shape[-1] != query.shape[-1]:
            raise InputError(
                f"GeneralAttention: expected a query of width {prepared.shape[-1]}, "
                f"got {tuple(query.shape)}"
            )
        return FA.dot_scores(query, prepared)  # qᵀ (W k_s)


def make_attention(kind: str, query_dim: int, key_dim: int) -> _Attention:
    """An attention module by name: "additive", "dot", "scaled_dot" or "general"."""
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim)
    if kind in ("dot", "scaled_dot"):
        if query_dim != key_dim:
            raise InputError(
                f"{kind} attention: expected query and key widths to agree, got {query_dim} "
                f"and {key_dim}"
            )
        return DotAttention(scaled=kind == "scaled_dot")
    if kind == "general":
        return GeneralAttention(query_dim, key_dim)
    raise InputError(f"attention: expected one of {', '.join(KINDS)}, got {kind!r}")
