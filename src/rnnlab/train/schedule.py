"""Learning-rate schedules as a pure function: lr = cfg.lr · lr_factor(step, progress, cfg).

    warm(step)   = min(1, (step + 1) / warmup)            (1 when warmup = 0)
    constant     : factor = warm(step)
    cosine       : factor = warm(step) · (r + (1 − r) · (1 + cos(π · progress)) / 2),
                   r = min_lr_ratio
    step         : factor = warm(step) · decay_rate ^ floor(step / decay_every)

`step` counts the optimizer steps already taken (the update about to be made is number
`step`, from 0), so the first update uses 1/warmup of the rate and update `warmup − 1` the
full rate. `progress` in [0, 1] is the fraction of the budget used,
`max(step / steps, elapsed / minutes)`.

The cosine runs over the whole budget and is multiplied by the warm-up ramp, rather than
starting after warm-up: warm-up is counted in steps while the budget may be wall-clock time,
so the progress at which warm-up ends is not known in advance and a schedule measured from
it could not be a pure function of (step, progress). With warm-up a small part of the budget
the two readings differ by little (at the end of warm-up the cosine has fallen by about
(π · progress)² / 4 of its range).
"""

from __future__ import annotations

import math

from rnnlab.errors import InputError
from rnnlab.train.config import SCHEDULES, TrainConfig


def lr_factor(step: int, progress: float, cfg: TrainConfig) -> float:
    """Multiplier on `cfg.lr` for the update number `step` (formulas in the module docstring).

    Args:
        step: optimizer steps already taken (>= 0).
        progress: fraction of the budget used; values above 1 count as 1.
        cfg: uses `schedule`, `warmup`, `min_lr_ratio`, `decay_every`, `decay_rate`.

    Returns:
        The factor, in (0, 1] for valid settings.

    Raises:
        InputError: unknown schedule (the valid ones are listed), negative step or warm-up,
            progress negative or NaN, min_lr_ratio outside [0, 1], decay_every < 1 or
            decay_rate <= 0.
    """
    if cfg.schedule not in SCHEDULES:
        raise InputError(
            f"schedule: unknown schedule {cfg.schedule!r}; expected one of {', '.join(SCHEDULES)}"
        )
    if step < 0:
        raise InputError(f"schedule: expected step >= 0, got {step}")
    if not progress >= 0:
        raise InputError(f"schedule: expected progress in [0, 1], got {progress}")
    if cfg.warmup < 0:
        raise InputError(f"schedule: expected warmup >= 0, got {cfg.warmup}")
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
    if cfg.schedule == "constant":
        return warm
    if cfg.schedule == "cosine":
        if not 0.0 <= cfg.min_lr_ratio <= 1.0:
            raise InputError(f"schedule: expected min_lr_ratio in [0, 1], got {cfg.min_lr_ratio}")
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return warm * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)
    if cfg.decay_every < 1 or not cfg.decay_rate > 0:
        raise InputError(
            "schedule: step decay needs decay_every >= 1 and decay_rate > 0, "
            f"got {cfg.decay_every} and {cfg.decay_rate}"
        )
    return warm * cfg.decay_rate ** (step // cfg.decay_every)
