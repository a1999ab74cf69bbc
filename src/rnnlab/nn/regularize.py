"""Recurrent regularisers as the layers use them: option checks, per-call masks, LockedDropout.

* zoneout (Krueger et al. 2016): ``zoneout=p`` or ``(p_h, p_c)``; computed by the loop backend
  (`rnnlab.functional.zoneout`).
* weight drop (DropConnect on W_hh, Merity et al. 2017): one mask per forward call shared by
  all timesteps, scaled by 1 / (1 − p), training only (`draw_masks`).
* locked dropout (Gal & Ghahramani 2016): the layers' inter-layer ``dropout`` with one mask
  per sequence for all timesteps (`draw_masks`); `LockedDropout` does the same for any
  (T, B, F) tensor, e.g. embeddings.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from rnnlab.backends.contract import LayerWeights, Masks, RecurrentSpec
from rnnlab.errors import InputError
from rnnlab.functional.regularize import dropout_mask


def check_probability(owner: str, name: str, value: object, *, allow_one: bool = True) -> float:
    """``value`` as a float in [0, 1] (or [0, 1)), else InputError naming ``owner``."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not number or not (0 <= value <= 1 if allow_one else 0 <= value < 1):
        bounds = "[0, 1]" if allow_one else "[0, 1)"
        raise InputError(f"{owner}: expected {name} to be a probability in {bounds}, got {value!r}")
    return float(value)


def parse_zoneout(owner: str, value: object, *, has_cell: bool) -> tuple[float, float]:
    """``zoneout=`` as (p_h, p_c): a float is for h (and c, LSTM); a pair is (p_h, p_c)."""
    if isinstance(value, tuple | list):
        if not has_cell or len(value) != 2:
            expected = "a probability or a pair (p_h, p_c)" if has_cell else "one probability"
            raise InputError(f"{owner}: expected zoneout to be {expected}, got {value!r}")
        return (
            check_probability(owner, "zoneout p_h", value[0]),
            check_probability(owner, "zoneout p_c", value[1]),
        )
    p = check_probability(owner, "zoneout", value)
    return (p, p if has_cell else 0.0)


def draw_masks(
    spec: RecurrentSpec,
    weights: list[LayerWeights],
    batch_size: int,
    *,
    training: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> Masks:
    """The random masks of one forward call of a stack (none outside training).

    Args:
        spec: the stack's configuration (weight_drop, dropout, locked_dropout).
        weights: its layer-directions (the W_hh shapes).
        batch_size: B.
        training: the module's training flag.
        device, dtype: of the locked-dropout masks (DropConnect masks follow W_hh).

    Returns:
        `Masks` with DropConnect masks shaped like each W_hh and locked-dropout masks
        (B, D·P), one per layer boundary.
    """
    if not training:
        return Masks()
    weight_hh = None
    if spec.weight_drop:
        weight_hh = tuple(
            dropout_mask(w.w_hh.shape, spec.weight_drop, device=w.w_hh.device, dtype=w.w_hh.dtype)
            for w in weights
        )
    between = None
    if spec.locked_dropout and spec.dropout and spec.num_layers > 1:
        shape = (batch_size, spec.num_directions * spec.output_size)
        between = tuple(
            dropout_mask(shape, spec.dropout, device=device, dtype=dtype)
            for _ in range(spec.num_layers - 1)
        )
    return Masks(training=True, weight_hh=weight_hh, between_layers=between)


class LockedDropout(nn.Module):
    """Variational dropout: one mask per sequence, shared by all timesteps.

    Math: ``y_t = x_t ⊙ m`` with ``m = Bernoulli(1 − p) / (1 − p)`` of shape (B, F), drawn
    once per call while training; identity in evaluation.

    Args:
        p: drop probability in [0, 1].
        batch_first: inputs are (B, T, F) instead of (T, B, F).
    """

    def __init__(self, p: float = 0.5, *, batch_first: bool = False) -> None:
        super().__init__()
        self.p = check_probability("LockedDropout", "p", p)
        self.batch_first = batch_first

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", batch_first=True" if self.batch_first else "")

    def forward(self, x: Tensor) -> Tensor:
        """x: (T, B, F) (or (B, T, F) with batch_first) → same shape."""
        if not isinstance(x, Tensor) or x.dim() != 3:
            layout = "(B, T, F)" if self.batch_first else "(T, B, F)"
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise InputError(f"LockedDropout: expected input of shape {layout}, got {got}")
        if not self.training or not self.p:
            return x
        batch, features = (x.shape[0] if self.batch_first else x.shape[1]), x.shape[2]
        mask = dropout_mask((batch, features), self.p, device=x.device, dtype=x.dtype)
        return x * (mask[:, None] if self.batch_first else mask)  # (.., B, F)
