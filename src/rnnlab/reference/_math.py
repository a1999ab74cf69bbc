"""Elementwise activations used by the reference cells."""

from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function σ(a) = 1 / (1 + exp(−a)), without overflow for either sign of a.

    Args:
        a: array of any shape.

    Returns:
        σ(a), same shape and dtype as `a`.
    """
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)
