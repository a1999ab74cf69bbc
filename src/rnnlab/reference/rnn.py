"""Vanilla (Elman) RNN: forward over a sequence and its hand-written backward (BPTT)."""

from __future__ import annotations

import numpy as np

from rnnlab.reference._checks import cell_inputs, expect_cache, expect_choice, grad_inputs

NONLINEARITIES = ("tanh", "relu")


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, *, nonlinearity="tanh"):
    """Run a single-layer vanilla RNN over a sequence.

    Math, for t = 1..T:
        a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh
        h_t = φ(a_t),  φ = tanh or relu

    Args:
        x: inputs, (T, B, I).
        h0: initial hidden state, (B, H), or None for zeros.
        w_ih: input weights, (H, I).
        w_hh: recurrent weights, (H, H).
        b_ih, b_hh: biases, (H,), or None for no bias.
        nonlinearity: "tanh" or "relu".

    Returns:
        (hs, hT, cache): hs the hidden states h_1..h_T, (T, B, H); hT = h_T, (B, H) (h0 when
        T = 0); cache for `rnn_backward`. Computed in the promoted floating dtype of the inputs.
    """
    fn = "rnn_forward"
    expect_choice(fn, "nonlinearity", nonlinearity, NONLINEARITIES)
    x, states, w_ih, w_hh, b_ih, b_hh = cell_inputs(fn, 1, x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh)
    h0 = states["h0"]
    ax = x @ w_ih.T  # (T, B, H)
    if b_ih is not None:
        ax = ax + b_ih
    if b_hh is not None:
        ax = ax + b_hh
    hs = np.empty(ax.shape, ax.dtype)
    h = h0
    for t in range(x.shape[0]):
        a = ax[t] + h @ w_hh.T  # (B, H)
        h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
        hs[t] = h
    cache = {
        "kind": "rnn",
        "x": x,
        "h0": h0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "bias": (b_ih is not None, b_hh is not None),
        "hs": hs,
        "nonlinearity": nonlinearity,
    }
    return hs, h, cache


def rnn_backward(dhs, dhT, cache):
    """Backpropagate through time for `rnn_forward`.

    Math, for t = T..1 with g_T = ∂L/∂h_T from dhT, and ∂L/∂h_t from dhs added at each step:
        δ_t = (g_t + dhs_t) ⊙ φ'(a_t),  φ'(a) = 1 − h_t² (tanh) or [h_t > 0] (relu)
        g_{t−1} = W_hhᵀ δ_t
        ∂W_ih = Σ_t δ_t x_tᵀ,  ∂W_hh = Σ_t δ_t h_{t−1}ᵀ,  ∂b_ih = ∂b_hh = Σ_t δ_t,  ∂x_t = W_ihᵀ δ_t

    Args:
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None for zeros.
        dhT: gradient w.r.t. the final state hT, (B, H), or None for zeros.
        cache: the cache returned by `rnn_forward`.

    Returns:
        dict with keys x (T, B, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b_ih (H,), b_hh (H,);
        a bias entry is None when the forward pass had no such bias.
    """
    fn = "rnn_backward"
    cache = expect_cache(fn, cache, "rnn")
    x, h0, w_ih, w_hh, hs = (cache[k] for k in ("x", "h0", "w_ih", "w_hh", "hs"))
    dhs, finals = grad_inputs(fn, dhs, {"dhT": dhT}, hs.shape, hs.dtype)
    das = np.empty_like(hs)  # (T, B, H)
    dh = finals["dhT"]
    for t in reversed(range(x.shape[0])):
        dh = dh + dhs[t]
        h = hs[t]
        da = dh * (1 - h * h) if cache["nonlinearity"] == "tanh" else dh * (h > 0)
        das[t] = da
        dh = da @ w_hh  # (B, H)
    h_prev = np.concatenate([h0[None], hs])[:-1]  # (T, B, H)
    db = das.sum(axis=(0, 1))
    has_b_ih, has_b_hh = cache["bias"]
    return {
        "x": das @ w_ih,
        "h0": dh,
        "w_ih": np.tensordot(das, x, axes=([0, 1], [0, 1])),
        "w_hh": np.tensordot(das, h_prev, axes=([0, 1], [0, 1])),
        "b_ih": db if has_b_ih else None,
        "b_hh": db.copy() if has_b_hh else None,
    }
