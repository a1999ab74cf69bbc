"""Choosing the next token from logits: greedy, and sampling with temperature, top-k, top-p.

p_i ∝ exp(z_i / T)                       temperature T (T → 0: greedy)
top-k: keep the k largest z_i
top-p: keep the smallest set of most likely tokens whose probability sums to ≥ p
"""

from __future__ import annotations

import torch

from rnnlab.errors import InputError


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise InputError for settings outside their ranges."""
    if not temperature >= 0:
        raise InputError(f"sampling: expected temperature >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise InputError(f"sampling: expected top_k >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InputError(f"sampling: expected 0 < top_p <= 1, got {top_p}")


def filter_logits(
    logits: torch.Tensor, *, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set logits outside the top-k / top-p (nucleus) set to -inf.

    Args:
        logits: (B, V).
    Returns:
        (B, V) logits with the excluded entries at -inf; at least one entry per row survives.
    """
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of strictly more likely tokens
        drop_sorted = before >= top_p  # the most likely token always stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely token of each row: (B, V) -> (B,)."""
    return logits.argmax(dim=-1)


def sample(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row of `logits` (B, V) -> (B,); temperature 0 is greedy."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return greedy(logits)
    logits = filter_logits(logits.float() / temperature, top_k=top_k, top_p=top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
