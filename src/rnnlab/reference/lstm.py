"""LSTM: forward over a sequence and its hand-written backward (BPTT), torch gate order i,f,g,o."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference._checks import cell_inputs, expect_cache, grad_inputs
from rnnlab.reference._math import sigmoid


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """Run a single-layer LSTM over a sequence.

    Math, for t = 1..T (gate blocks of W in the order i, f, g, o):
        a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh                       (4H)
        i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
        c_t = f ⊙ c_{t−1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    Args:
        x: inputs, (T, B, I).
        h0, c0: initial hidden and cell states, (B, H) each, or None for zeros.
        w_ih: input weights, (4H, I).
        w_hh: recurrent weights, (4H, H).
        b_ih, b_hh: biases, (4H,), or None for no bias.

    Returns:
        (hs, (hT, cT), cache): hs the hidden states h_1..h_T, (T, B, H); hT, cT the final
        states, (B, H) each (h0, c0 when T = 0); cache for `lstm_backward`. Computed in the
        promoted floating dtype of the inputs.
    """
    x, states, w_ih, w_hh, b_ih, b_hh = cell_inputs(
        "lstm_forward", 4, x, {"h0": h0, "c0": c0}, w_ih, w_hh, b_ih, b_hh
    )
    h0, c0 = states["h0"], states["c0"]
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    ax = x @ w_ih.T  # (T, B, 4H)
    if b_ih is not None:
        ax = ax + b_ih
    if b_hh is not None:
        ax = ax + b_hh
    acts = np.empty_like(ax)  # (T, B, 4H): i, f, g, o after their nonlinearities
    cs = np.empty((steps + 1, batch, hidden), ax.dtype)  # c_0..c_T
    tcs = np.empty((steps, batch, hidden), ax.dtype)  # tanh(c_1)..tanh(c_T)
    hs = np.empty((steps, batch, hidden), ax.dtype)
    cs[0] = c0
    h = h0
    for t in range(steps):
        a = ax[t] + h @ w_hh.T  # (B, 4H)
        act = sigmoid(a)
        act[:, 2 * hidden : 3 * hidden] = np.tanh(a[:, 2 * hidden : 3 * hidden])
        i, f, g, o = np.split(act, 4, axis=1)  # (B, H) each
        cs[t + 1] = f * cs[t] + i * g
        tcs[t] = np.tanh(cs[t + 1])
        h = o * tcs[t]
        acts[t] = act
        hs[t] = h
    cache = {
        "kind": "lstm",
        "x": x,
        "h0": h0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "bias": (b_ih is not None, b_hh is not None),
        "acts": acts,
        "cs": cs,
        "tcs": tcs,
        "hs": hs,
    }
    return hs, (h, cs[steps].copy()), cache


def lstm_backward(dhs, d_final_state, cache):
    """Backpropagate through time for `lstm_forward`.

    Math, for t = T..1, with running gradients g_h, g_c seeded by (dhT, dcT) and dhs_t added:
        g_h += dhs_t;  ∂o = g_h ⊙ tanh(c_t);  g_c += g_h ⊙ o ⊙ (1 − tanh²(c_t))
        ∂i = g_c ⊙ g,  ∂f = g_c ⊙ c_{t−1},  ∂g = g_c ⊙ i
        δ_t = [∂i ⊙ i(1−i), ∂f ⊙ f(1−f), ∂g ⊙ (1−g²), ∂o ⊙ o(1−o)]            (4H)
        g_c ← g_c ⊙ f;  g_h ← W_hhᵀ δ_t
        ∂W_ih = Σ_t δ_t x_tᵀ,  ∂W_hh = Σ_t δ_t h_{t−1}ᵀ,  ∂b_ih = ∂b_hh = Σ_t δ_t,  ∂x_t = W_ihᵀ δ_t

    Args:
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None for zeros.
        d_final_state: (dhT, dcT), gradients w.r.t. the final states, (B, H) each; the tuple or
            either entry may be None for zeros.
        cache: the cache returned by `lstm_forward`.

    Returns:
        dict with keys x (T, B, I), h0 (B, H), c0 (B, H), w_ih (4H, I), w_hh (4H, H),
        b_ih (4H,), b_hh (4H,); a bias entry is None when the forward pass had no such bias.
    """
    fn = "lstm_backward"
    cache = expect_cache(fn, cache, "lstm")
    x, h0, w_ih, w_hh, hs = (cache[k] for k in ("x", "h0", "w_ih", "w_hh", "hs"))
    acts, cs, tcs = cache["acts"], cache["cs"], cache["tcs"]
    if d_final_state is None:
        d_final_state = (None, None)
    if not isinstance(d_final_state, (tuple, list)) or len(d_final_state) != 2:
        raise InputError(f"{fn}: expected d_final_state to be a pair (dhT, dcT) or None")
    dhs, finals = grad_inputs(
        fn, dhs, {"dhT": d_final_state[0], "dcT": d_final_state[1]}, hs.shape, hs.dtype
    )
    das = np.empty_like(acts)  # (T, B, 4H)
    dh, dc = finals["dhT"], finals["dcT"]
    for t in reversed(range(x.shape[0])):
        i, f, g, o = np.split(acts[t], 4, axis=1)  # (B, H) each
        dh = dh + dhs[t]
        do = dh * tcs[t]
        dc = dc + dh * o * (1 - tcs[t] * tcs[t])
        da = np.concatenate(
            [
                dc * g * i * (1 - i),
                dc * cs[t] * f * (1 - f),
                dc * i * (1 - g * g),
                do * o * (1 - o),
            ],
            axis=1,
        )  # (B, 4H)
        das[t] = da
        dc = dc * f
        dh = da @ w_hh  # (B, H)
    h_prev = np.concatenate([h0[None], hs])[:-1]  # (T, B, H)
    db = das.sum(axis=(0, 1))
    has_b_ih, has_b_hh = cache["bias"]
    return {
        "x": das @ w_ih,
        "h0": dh,
        "c0": dc,
        "w_ih": np.tensordot(das, x, axes=([0, 1], [0, 1])),
        "w_hh": np.tensordot(das, h_prev, axes=([0, 1], [0, 1])),
        "b_ih": db if has_b_ih else None,
        "b_hh": db.copy() if has_b_hh else None,
    }
