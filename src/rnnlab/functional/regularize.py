"""Pure pieces of the recurrent regularisers: dropout masks and zoneout mixing.

* DropConnect (weight drop, Wan et al. 2013; AWD-LSTM): ``W_hh ⊙ M`` with one
  ``M = dropout_mask(W_hh.shape, p)`` per forward call, shared by all timesteps.
* Locked (variational) dropout (Gal & Ghahramani 2016): ``x_t ⊙ m`` for every t with one
  ``m = dropout_mask((B, F), p)`` per sequence.
* Zoneout (Krueger et al. 2016): `zoneout`, with masks from `zoneout_mask` while training.
"""

from __future__ import annotations

import torch
from torch import Tensor


def dropout_mask(
    shape: tuple[int, ...] | torch.Size,
    p: float,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """An inverted-dropout mask: each entry is 0 with probability p, else 1 / (1 − p).

    Math: ``M = Bernoulli(1 − p) / (1 − p)``, so ``E[M] = 1``; p = 1 gives all zeros.

    Args:
        shape: shape of the mask, e.g. ``W_hh.shape`` or (B, F).
        p: drop probability in [0, 1].
        device, dtype: of the mask.

    Returns:
        Tensor of ``shape``.
    """
    if p >= 1.0:
        return torch.zeros(shape, device=device, dtype=dtype)
    keep = torch.empty(shape, device=device, dtype=dtype).bernoulli_(1.0 - p)
    return keep / (1.0 - p)


def zoneout_mask(
    shape: tuple[int, ...] | torch.Size, p: float, *, device: torch.device | str | None = None
) -> Tensor:
    """Which units keep their previous value: True with probability p, per element.

    Args:
        shape: e.g. (T, B, H) for a whole sequence or (B, H) for one step.
        p: zoneout probability in [0, 1].
        device: of the mask.

    Returns:
        Boolean tensor of ``shape``.
    """
    return torch.rand(shape, device=device) < p


def zoneout(prev: Tensor, new: Tensor, p: float, *, keep: Tensor | None = None) -> Tensor:
    """Zoneout: stochastically keep the previous state (training) or its expectation (eval).

    Math: training ``s_t = keep ⊙ s_{t−1} + (1 − keep) ⊙ s_new`` with keep ~ Bernoulli(p);
    evaluation (``keep`` None) ``s_t = p · s_{t−1} + (1 − p) · s_new``.

    Args:
        prev: (B, H) previous state.
        new: (B, H) state the cell proposes.
        p: zoneout probability in [0, 1].
        keep: (B, H) boolean mask from `zoneout_mask`, or None for the expectation.

    Returns:
        (B, H) state to carry on.
    """
    if keep is not None:
        return torch.where(keep, prev, new)
    return torch.lerp(new, prev, p) if p else new
