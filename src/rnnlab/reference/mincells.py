"""minGRU and minLSTM (Feng et al. 2024): sequential forwards and their hand-written BPTT.

The gates see x_t only, so each cell is the linear recurrence h_t = a_t ⊙ h_{t−1} + b_t with
input-dependent coefficients; the reference runs it one step at a time, in probability space,
as the independent twin of the torch log-space scan. g(a) = a + ½ for a ≥ 0, σ(a) for a < 0.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference._checks import expect_cache, expect_shape, float_dtype, grad_inputs
from rnnlab.reference._math import sigmoid


def _g(a: np.ndarray) -> np.ndarray:
    """g(a) = a + ½ for a ≥ 0, σ(a) for a < 0."""
    return np.where(a >= 0, a + 0.5, sigmoid(a))


def _dg(a: np.ndarray) -> np.ndarray:
    """g'(a) = 1 for a ≥ 0, σ(a)(1 − σ(a)) for a < 0."""
    s = sigmoid(a)
    return np.where(a >= 0, 1.0, s * (1 - s))


def _log_sigmoid(a: np.ndarray) -> np.ndarray:
    """log σ(a) = −log(1 + exp(−a)), without overflow."""
    return -np.logaddexp(0, -a)


def _inputs(fn: str, gates: int, x, h0, w_ih, b_ih):
    """Validate and convert x (T, B, I), h0 (B, H) or None, w_ih (G·H, I), b_ih (G·H,) or None.

    Returns:
        (x, h0, w_ih, b_ih, H) as arrays of the promoted floating dtype; h0 None becomes zeros.
    """
    dtype = float_dtype(fn, x=x, h0=h0, w_ih=w_ih, b_ih=b_ih)
    gh = f"{gates}H"
    x = expect_shape(fn, "x", x, ("T", "B", "I"), (None, None, None), dtype)
    _, batch, inputs = x.shape
    w_ih = expect_shape(fn, "w_ih", w_ih, (gh, "I"), (None, inputs), dtype)
    rows = w_ih.shape[0]
    if rows == 0 or rows % gates:
        raise InputError(
            f"{fn}: expected w_ih of shape ({gh}, I={inputs}) with H ≥ 1, got {w_ih.shape}"
        )
    hidden = rows // gates
    if b_ih is not None:
        b_ih = expect_shape(fn, "b_ih", b_ih, (gh,), (rows,), dtype)
    if h0 is None:
        h0 = np.zeros((batch, hidden), dtype)
    else:
        h0 = expect_shape(fn, "h0", h0, ("B", "H"), (batch, hidden), dtype)
    return x, h0, w_ih, b_ih, hidden


def _pre_activations(x: np.ndarray, w_ih: np.ndarray, b_ih: np.ndarray | None) -> np.ndarray:
    us = x @ w_ih.T  # (T, B, G·H)
    return us if b_ih is None else us + b_ih


def _input_grads(dus: np.ndarray, dh0: np.ndarray, cache: dict) -> dict:
    """The gradients of x, h0, w_ih, b_ih from those of the pre-activations u = W_ih x + b_ih."""
    return {
        "x": dus @ cache["w_ih"],
        "h0": dh0,
        "w_ih": np.tensordot(dus, cache["x"], axes=([0, 1], [0, 1])),
        "b_ih": dus.sum(axis=(0, 1)) if cache["bias"] else None,
    }


def mingru_forward(x, h0, w_ih, b_ih):
    """Run a single-layer minGRU over a sequence, one step at a time.

    Math, for t = 1..T (gate blocks of W_ih in the order z, h):
        u_t = W_ih x_t + b_ih                                                  (2H)
        z = σ(u_z),  h̃ = g(u_h),  g(a) = a + ½ (a ≥ 0), σ(a) (a < 0)
        h_t = (1 − z) ⊙ h_{t−1} + z ⊙ h̃

    Args:
        x: inputs, (T, B, I).
        h0: initial hidden state, (B, H), any sign, or None for zeros.
        w_ih: input weights, (2H, I).
        b_ih: bias, (2H,), or None for no bias.

    Returns:
        (hs, hT, cache): hs the hidden states h_1..h_T, (T, B, H); hT = h_T, (B, H) (h0 when
        T = 0); cache for `mingru_backward`. Computed in the promoted floating dtype of the
        inputs (float64 for float64 inputs).
    """
    x, h0, w_ih, b_ih, hidden = _inputs("mingru_forward", 2, x, h0, w_ih, b_ih)
    us = _pre_activations(x, w_ih, b_ih)  # (T, B, 2H)
    hs = np.empty((*us.shape[:2], hidden), us.dtype)  # (T, B, H)
    h = h0
    for t in range(us.shape[0]):
        u_z, u_h = np.split(us[t], 2, axis=1)  # (B, H) each
        z = sigmoid(u_z)
        h = (1 - z) * h + z * _g(u_h)
        hs[t] = h
    cache = {"kind": "mingru", "x": x, "h0": h0, "w_ih": w_ih, "bias": b_ih is not None}
    cache.update(us=us, hs=hs)
    return hs, h, cache


def mingru_backward(dhs, dhT, cache):
    """Backpropagate through time for `mingru_forward`.

    Math, for t = T..1, with running gradient g_h seeded by dhT and dhs_t added:
        g_h += dhs_t
        δu_z = g_h ⊙ (h̃ − h_{t−1}) ⊙ z(1 − z),  δu_h = g_h ⊙ z ⊙ g'(u_h)
        g_h ← g_h ⊙ (1 − z)                    (the gates do not depend on h_{t−1})
        g'(a) = 1 (a ≥ 0), σ(a)(1 − σ(a)) (a < 0)
        ∂W_ih = Σ_t δu_t x_tᵀ,  ∂b_ih = Σ_t δu_t,  ∂x_t = W_ihᵀ δu_t,  ∂h_0 = g_h after t = 1

    Args:
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None for zeros.
        dhT: gradient w.r.t. the final state hT, (B, H), or None for zeros.
        cache: the cache returned by `mingru_forward`.

    Returns:
        dict with keys x (T, B, I), h0 (B, H), w_ih (2H, I), b_ih (2H,) (None when the
        forward pass had no bias).
    """
    fn = "mingru_backward"
    cache = expect_cache(fn, cache, "mingru")
    us, hs, h0 = cache["us"], cache["hs"], cache["h0"]
    dhs, finals = grad_inputs(fn, dhs, {"dhT": dhT}, hs.shape, hs.dtype)
    h_prev = np.concatenate([h0[None], hs])[:-1]  # (T, B, H)
    dus = np.empty_like(us)  # (T, B, 2H)
    dh = finals["dhT"]
    for t in reversed(range(us.shape[0])):
        u_z, u_h = np.split(us[t], 2, axis=1)  # (B, H) each
        z = sigmoid(u_z)
        dh = dh + dhs[t]
        du_z = dh * (_g(u_h) - h_prev[t]) * z * (1 - z)
        du_h = dh * z * _dg(u_h)
        dus[t] = np.concatenate([du_z, du_h], axis=1)
        dh = dh * (1 - z)
    return _input_grads(dus, dh, cache)


def minlstm_forward(x, h0, w_ih, b_ih):
    """Run a single-layer minLSTM over a sequence, one step at a time.

    Math, for t = 1..T (gate blocks of W_ih in the order f, i, h):
        u_t = W_ih x_t + b_ih                                                  (3H)
        f = σ(u_f),  i = σ(u_i),  h̃ = g(u_h),  g(a) = a + ½ (a ≥ 0), σ(a) (a < 0)
        f' = f / (f + i) = σ(log f − log i),  i' = i / (f + i) = 1 − f'
        h_t = f' ⊙ h_{t−1} + i' ⊙ h̃

    Args:
        x: inputs, (T, B, I).
        h0: initial hidden state, (B, H), any sign, or None for zeros.
        w_ih: input weights, (3H, I).
        b_ih: bias, (3H,), or None for no bias.

    Returns:
        (hs, hT, cache): hs the hidden states h_1..h_T, (T, B, H); hT = h_T, (B, H) (h0 when
        T = 0); cache for `minlstm_backward`. Computed in the promoted floating dtype of the
        inputs (float64 for float64 inputs).
    """
    x, h0, w_ih, b_ih, hidden = _inputs("minlstm_forward", 3, x, h0, w_ih, b_ih)
    us = _pre_activations(x, w_ih, b_ih)  # (T, B, 3H)
    hs = np.empty((*us.shape[:2], hidden), us.dtype)  # (T, B, H)
    h = h0
    for t in range(us.shape[0]):
        u_f, u_i, u_h = np.split(us[t], 3, axis=1)  # (B, H) each
        f_norm = sigmoid(_log_sigmoid(u_f) - _log_sigmoid(u_i))  # f'
        h = f_norm * h + (1 - f_norm) * _g(u_h)
        hs[t] = h
    cache = {"kind": "minlstm", "x": x, "h0": h0, "w_ih": w_ih, "bias": b_ih is not None}
    cache.update(us=us, hs=hs)
    return hs, h, cache


def minlstm_backward(dhs, dhT, cache):
    """Backpropagate through time for `minlstm_forward`.

    Math, for t = T..1, with running gradient g_h seeded by dhT and dhs_t added, and
    d = log f − log i (so f' = σ(d), ∂d/∂u_f = 1 − f, ∂d/∂u_i = −(1 − i)):
        g_h += dhs_t
        δd = g_h ⊙ (h_{t−1} − h̃) ⊙ f'(1 − f')
        δu_f = δd ⊙ (1 − f),  δu_i = −δd ⊙ (1 − i),  δu_h = g_h ⊙ i' ⊙ g'(u_h)
        g_h ← g_h ⊙ f'                          (the gates do not depend on h_{t−1})
        g'(a) = 1 (a ≥ 0), σ(a)(1 − σ(a)) (a < 0)
        ∂W_ih = Σ_t δu_t x_tᵀ,  ∂b_ih = Σ_t δu_t,  ∂x_t = W_ihᵀ δu_t,  ∂h_0 = g_h after t = 1

    Args:
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None for zeros.
        dhT: gradient w.r.t. the final state hT, (B, H), or None for zeros.
        cache: the cache returned by `minlstm_forward`.

    Returns:
        dict with keys x (T, B, I), h0 (B, H), w_ih (3H, I), b_ih (3H,) (None when the
        forward pass had no bias).
    """
    fn = "minlstm_backward"
    cache = expect_cache(fn, cache, "minlstm")
    us, hs, h0 = cache["us"], cache["hs"], cache["h0"]
    dhs, finals = grad_inputs(fn, dhs, {"dhT": dhT}, hs.shape, hs.dtype)
    h_prev = np.concatenate([h0[None], hs])[:-1]  # (T, B, H)
    dus = np.empty_like(us)  # (T, B, 3H)
    dh = finals["dhT"]
    for t in reversed(range(us.shape[0])):
        u_f, u_i, u_h = np.split(us[t], 3, axis=1)  # (B, H) each
        f, i = sigmoid(u_f), sigmoid(u_i)
        f_norm = sigmoid(_log_sigmoid(u_f) - _log_sigmoid(u_i))  # f'
        dh = dh + dhs[t]
        dd = dh * (h_prev[t] - _g(u_h)) * f_norm * (1 - f_norm)
        du_h = dh * (1 - f_norm) * _dg(u_h)
        dus[t] = np.concatenate([dd * (1 - f), -dd * (1 - i), du_h], axis=1)
        dh = dh * f_norm
    return _input_grads(dus, dh, cache)
