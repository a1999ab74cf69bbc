"""Contiguous train / val / test splits of a token sequence, and checks that they are usable.

The split is deterministic and contiguous, in that order: train = ids[:a], val = ids[a:b],
test = ids[b:], with a = N·f_train and b = N·(f_train + f_val) rounded half up. A split whose
fraction is 0 is empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rnnlab.errors import DataError

SPLITS = ("train", "val", "test")
MIN_EVAL_TOKENS = 2


def split_ids(ids: Any, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> dict[str, Any]:
    """Cut a token sequence into contiguous train, val and test parts.

    Args:
        ids: (N,) token ids (NumPy array, torch tensor or anything sliceable with `len`).
        fractions: (train, val, test) fractions, each >= 0, summing to 1.

    Returns:
        {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}: slices (views) of `ids`.

    Raises:
        DataError: if `fractions` is not three finite non-negative numbers summing to 1.
    """
    f_train, f_val, f_test = _check_fractions(fractions)
    total = f_train + f_val + f_test
    n = len(ids)
    a = n if f_val == f_test == 0 else _round_half_up(n * f_train / total)
    b = n if f_test == 0 else max(a, min(n, _round_half_up(n * (f_train + f_val) / total)))
    return {"train": ids[:a], "val": ids[a:b], "test": ids[b:]}


def _round_half_up(x: float) -> int:
    """`x` rounded to the nearest integer, halves upwards."""
    return math.floor(x + 0.5)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise DataError(
            f"split_ids: expected fractions as three numbers (train, val, test), got {fractions!r}"
        ) from None
    if len(fr) != 3:
        raise DataError(
            f"split_ids: expected three fractions (train, val, test), got {len(fr)}: {fractions!r}"
        )
    if any(not math.isfinite(f) or f < 0 for f in fr):
        raise DataError(
            f"split_ids: expected fractions that are finite and >= 0, got {fractions!r}"
        )
    if not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise DataError(
            f"split_ids: expected fractions summing to 1, got {fractions!r} (sum {sum(fr):g})"
        )
    return fr


def check_split_sizes(
    splits: Mapping[str, Any],
    *,
    batch_size: int,
    seq_len: int,
    eval_splits: Sequence[str] = ("val", "test"),
) -> None:
    """Fail early when a split is too small for training or evaluation.

    Training needs one window for each of `batch_size` streams, plus the shifted target:
    `batch_size · seq_len + 1` tokens. Each evaluated split needs at least 2 tokens (one input,
    one target).

    Args:
        splits: split name -> (N_split,) ids, as returned by `split_ids`.
        batch_size: number of parallel training streams B.
        seq_len: truncated-BPTT window length S.
        eval_splits: the splits that will be evaluated (and so must not be too small).

    Raises:
        DataError: naming the split, how many tokens the corpus and the split have and how many
            the request needs.
    """
    total = sum(len(v) for v in splits.values())
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in splits.items())
    need = batch_size * seq_len + 1
    if "train" in splits and len(splits["train"]) < need:
        raise DataError(
            f"corpus too small: {total:,} characters split as {sizes}, but batch_size "
            f"{batch_size} x seq_len {seq_len} needs at least {need:,} training characters "
            "(batch_size x seq_len + 1); use a larger corpus, a larger train fraction, or a "
            "smaller --batch / --seq-len"
        )
    for name in eval_splits:
        if name in splits and len(splits[name]) < MIN_EVAL_TOKENS:
            raise DataError(
                f"corpus too small: {total:,} characters split as {sizes}, but evaluating the "
                f"{name} split needs at least {MIN_EVAL_TOKENS} characters; use a larger corpus "
                f"or a larger {name} fraction"
            )
