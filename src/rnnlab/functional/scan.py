"""Unroll a step function over time, with per-sequence lengths and either direction."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab.errors import InputError

State = Tensor | tuple[Tensor, ...]
Step = Callable[[Tensor | tuple[Tensor, ...], State], tuple[Tensor, State]]


def _keep(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """``new`` where ``mask`` (B,) is set, ``old`` elsewhere; broadcast over trailing dims."""
    mask = mask.view(mask.shape + (1,) * (new.dim() - 1))  # (B, 1, ...)
    return torch.where(mask, new, old)


def unroll(
    step: Step,
    xs: Tensor | tuple[Tensor, ...],
    state0: State,
    lengths: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run ``y_t, state = step(x_t, state)`` over the leading (time) axis of ``xs``.

    Math: ``y_t, s_t = step(x_t, s_{t−1})`` for t = 0 … T−1 (t = T−1 … 0 with ``reverse``),
    ``s_{−1} = state0``.  With ``lengths``, steps ``t ≥ lengths[b]`` leave sequence b's state
    unchanged and output zero, so the final state is each sequence's state at its own last
    step; in reverse the pass therefore starts at each sequence's own last valid step.

    Args:
        step: ``step(x_t, state) -> (y_t, new_state)``; x_t is ``xs[t]`` (or the tuple of
            ``x[t]`` when ``xs`` is a tuple), y_t is (B, ...), state a tensor or tuple of
            tensors, each (B, ...).
        xs: (T, B, ...) tensor, or a tuple of such tensors sharing T and B.
        state0: initial state, a (B, ...) tensor or a tuple of them.
        lengths: (B,) integer tensor with 1 ≤ lengths[b] ≤ T, or None for all T steps.
        reverse: run from the last step to the first.

    Returns:
        ``(ys, final_state)`` with ys (T, B, ...) in input time order, zero past each length.
    """
    first = xs[0] if isinstance(xs, tuple) else xs
    steps = first.shape[0]
    if steps == 0:
        raise InputError("unroll: expected at least one time step, got xs with T = 0")
    valid = None
    if lengths is not None:
        lengths = lengths.to(first.device)
        valid = torch.arange(steps, device=first.device)[:, None] < lengths[None, :]  # (T, B)
    ys: list[Tensor | None] = [None] * steps
    state = state0
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        x_t = tuple(x[t] for x in xs) if isinstance(xs, tuple) else xs[t]
        y, new_state = step(x_t, state)
        if valid is not None:
            if isinstance(state, tuple):
                new_state = tuple(
                    _keep(valid[t], n, o) for n, o in zip(new_state, state, strict=True)
                )
            else:
                new_state = _keep(valid[t], new_state, state)
            y = _keep(valid[t], y, torch.zeros_like(y))
        ys[t] = y
        state = new_state
    return torch.stack(ys), state
