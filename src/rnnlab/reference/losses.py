"""Softmax cross-entropy over a batch of logits, and its gradient."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference._checks import expect_shape, float_dtype


def softmax_cross_entropy(logits, targets):
    """Mean cross-entropy of the softmax of `logits` against integer `targets`, in nats.

    Math, with a stable log-sum-exp (m_n = max_v z_nv):
        log p_nv = z_nv − m_n − log Σ_v exp(z_nv − m_n)
        L = −(1/N) Σ_n log p_{n, y_n}

    Args:
        logits: unnormalised scores z, (N, V), floating point.
        targets: class indices y in [0, V), (N,), integer.

    Returns:
        (loss, cache): loss a Python float (0.0 when N = 0); cache for
        `softmax_cross_entropy_backward`.
    """
    fn = "softmax_cross_entropy"
    dtype = float_dtype(fn, logits=logits)
    logits = expect_shape(fn, "logits", logits, ("N", "V"), (None, None), dtype)
    n, vocab = logits.shape
    targets = expect_shape(fn, "targets", targets, ("N",), (n,))
    if not np.issubdtype(targets.dtype, np.integer):
        raise InputError(f"{fn}: expected integer targets, got {targets.dtype}")
    if n and (targets.min() < 0 or targets.max() >= vocab):
        raise InputError(
            f"{fn}: expected targets in [0, {vocab}), got values in "
            f"[{targets.min()}, {targets.max()}]"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)  # (N, V)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = log_probs[np.arange(n), targets]  # (N,)
    loss = float(-picked.mean()) if n else 0.0
    return loss, {"log_probs": log_probs, "targets": targets}


def softmax_cross_entropy_backward(cache):
    """Gradient of the mean cross-entropy w.r.t. the logits.

    Math: ∂L/∂z_nv = (softmax(z_n)_v − [v = y_n]) / N.

    Args:
        cache: the cache returned by `softmax_cross_entropy`.

    Returns:
        dlogits, (N, V), same dtype as the logits.
    """
    if not isinstance(cache, dict) or "log_probs" not in cache:
        raise InputError(
            "softmax_cross_entropy_backward: expected the cache returned by softmax_cross_entropy"
        )
    log_probs, targets = cache["log_probs"], cache["targets"]
    n = len(targets)
    dlogits = np.exp(log_probs)  # (N, V)
    dlogits[np.arange(n), targets] -= 1
    return dlogits / max(n, 1)
