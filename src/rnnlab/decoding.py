"""Choosing the next token from logits: greedy, and sampling with temperature, top-k, top-p.

p_i ∝ exp(z_i / T)                       temperature T (T → 0: greedy)
top-k: keep the k largest z_i
top-p: keep the smallest set of most likely tokens whose probability sums to ≥ p

`sample_rows` draws a batch with one generator per row, each row exactly as `sample` would
draw it alone with that generator (so N samples drawn together equal N drawn one by one).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

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


def sample_rows(
    logits: torch.Tensor,
    generators: Sequence[torch.Generator],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Draw one token per row of `logits` (B, V) -> (B,), row b with its own `generators[b]`.

    Row b's token (and what the draw takes from `generators[b]`) is exactly that of
    ``sample(logits[b:b+1], generator=generators[b], …)``: the filtering and softmax are
    row-wise, and each row is drawn by torch.multinomial on that row with its generator.
    Where torch's multinomial is the exponential race ``argmax(p / q)``, q ~ Exp(1) drawn from
    the generator (its CPU kernel for one sample; `_race_is_multinomial` checks this once per
    shape by comparing draws), the rows' races run as one division and one argmax, which
    costs a fifth of B separate multinomial calls.
    """
    check_sampling(temperature, top_k, top_p)
    if len(generators) != logits.shape[0]:
        raise InputError(
            f"sampling: expected one generator per row ({logits.shape[0]}), got {len(generators)}"
        )
    if temperature == 0:
        return greedy(logits)
    logits = logits.float() if temperature == 1 else logits.float() / temperature  # z / 1 = z
    probs = torch.softmax(filter_logits(logits, top_k=top_k, top_p=top_p), dim=-1)  # (B, V)
    if not _race_is_multinomial(probs.shape[-1], probs.device):
        rows = [
            torch.multinomial(probs[b : b + 1], 1, generator=g) for b, g in enumerate(generators)
        ]
        return torch.cat(rows).squeeze(-1)
    return _race(probs, generators)


def _race(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """argmax_v p_bv / q_bv with each row's q_b ~ Exp(1) drawn from generators[b]: (B,)."""
    q = torch.empty_like(probs)  # (B, V)
    if len(generators) == 1:
        q.exponential_(1, generator=generators[0])
    else:
        for row, generator in zip(q, generators, strict=True):
            row.exponential_(1, generator=generator)
    return torch.div(probs, q, out=q).argmax(dim=-1)


@functools.cache
def _race_is_multinomial(vocab: int, device: torch.device) -> bool:
    """Whether torch.multinomial(p, 1) on a (1, V) float32 row equals `_race` (same token,
    same generator state after), checked on random distributions with some zero entries."""
    checks = torch.Generator().manual_seed(0)
    for trial in range(8):
        rows = 1 + trial % 2  # one row, and rows of a batch
        logits = torch.randn(rows, vocab, generator=checks) * 3
        logits[:, torch.randperm(vocab, generator=checks)[: vocab // 4]] = float("-inf")
        probs = torch.softmax(logits, dim=-1).to(device)
        ours = [torch.Generator(device=device).manual_seed(trial * 2 + b) for b in range(rows)]
        theirs = [torch.Generator(device=device).manual_seed(trial * 2 + b) for b in range(rows)]
        for _ in range(3):
            expected = [
                int(torch.multinomial(probs[b : b + 1], 1, generator=theirs[b]))
                for b in range(rows)
            ]
            if _race(probs, ours).tolist() != expected:
                return False
        if any(
            not torch.equal(a.get_state(), b.get_state()) for a, b in zip(ours, theirs, strict=True)
        ):
            return False
    return True


def sample_seeds(seed: int | None, num_samples: int) -> list[int]:
    """The seeds of `num_samples` samples: seed, seed + 1, …; from a fresh random base seed
    when `seed` is None (the global RNG is not touched)."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise InputError(f"sample: expected num_samples >= 1, got {num_samples!r}")
    base = seed if seed is not None else random.SystemRandom().randrange(2**63)
    return [base + i for i in range(num_samples)]
