"""Gradient clipping, in place, over a dict of NumPy gradients (None entries are skipped)."""

from __future__ import annotations

import math

import numpy as np

from rnnlab.errors import InputError


def _arrays(fn: str, grads: dict) -> list[np.ndarray]:
    """The non-None gradient arrays of `grads`, checked to be writable floating arrays."""
    if not isinstance(grads, dict):
        raise InputError(f"{fn}: expected grads to be a dict of arrays, got {type(grads).__name__}")
    arrays = []
    for name, g in grads.items():
        if g is None:
            continue
        if not isinstance(g, np.ndarray) or not np.issubdtype(g.dtype, np.floating):
            raise InputError(f"{fn}: expected grads[{name!r}] to be a floating NumPy array")
        arrays.append(g)
    return arrays


def clip_by_value(grads: dict, limit: float) -> None:
    """Clip every gradient element to [−limit, limit], in place (torch's clip_grad_value_).

    Math: g ← min(max(g, −limit), limit), elementwise.

    Args:
        grads: name -> gradient array (any shape) or None; arrays are modified in place.
        limit: positive clipping threshold.

    Returns:
        None.
    """
    fn = "clip_by_value"
    if not limit > 0:
        raise InputError(f"{fn}: expected a positive limit, got {limit!r}")
    for g in _arrays(fn, grads):
        np.clip(g, -limit, limit, out=g)


def clip_by_global_norm(grads: dict, max_norm: float) -> float:
    """Rescale all gradients together so their joint L2 norm is at most `max_norm`, in place.

    Math (as torch.nn.utils.clip_grad_norm_ with its defaults):
        n = sqrt(Σ_k ‖g_k‖²),  g_k ← g_k · min(1, max_norm / (n + 1e-6))

    Args:
        grads: name -> gradient array (any shape) or None; arrays are modified in place.
        max_norm: positive maximum norm.

    Returns:
        The total norm n before clipping, as a Python float.
    """
    fn = "clip_by_global_norm"
    if not max_norm > 0:
        raise InputError(f"{fn}: expected a positive max_norm, got {max_norm!r}")
    arrays = _arrays(fn, grads)
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in arrays))
    scale = min(1.0, max_norm / (total + 1e-6))
    for g in arrays:
        g *= scale
    return total
