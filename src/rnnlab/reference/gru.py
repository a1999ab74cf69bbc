"""GRU: forward over a sequence and its hand-written backward (BPTT), torch gate order r,z,n."""

from __future__ import annotations

import numpy as np

from rnnlab.reference._checks import cell_inputs, expect_cache, grad_inputs
from rnnlab.reference._math import sigmoid


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh):
    """Run a single-layer GRU over a sequence (torch.nn.GRU's formulation).

    Math, for t = 1..T (gate blocks of W in the order r, z, n):
        u_t = W_ih x_t + b_ih,  v_t = W_hh h_{t−1} + b_hh                    (3H each)
        r = σ(u_r + v_r),  z = σ(u_z + v_z)
        n = tanh(u_n + r ⊙ v_n)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    Args:
        x: inputs, (T, B, I).
        h0: initial hidden state, (B, H), or None for zeros.
        w_ih: input weights, (3H, I).
        w_hh: recurrent weights, (3H, H).
        b_ih, b_hh: biases, (3H,), or None for no bias.

    Returns:
        (hs, hT, cache): hs the hidden states h_1..h_T, (T, B, H); hT = h_T, (B, H) (h0 when
        T = 0); cache for `gru_backward`. Computed in the promoted floating dtype of the inputs.
    """
    x, states, w_ih, w_hh, b_ih, b_hh = cell_inputs(
        "gru_forward", 3, x, {"h0": h0}, w_ih, w_hh, b_ih, b_hh
    )
    h0 = states["h0"]
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    us = x @ w_ih.T  # (T, B, 3H)
    if b_ih is not None:
        us = us + b_ih
    acts = np.empty_like(us)  # (T, B, 3H): r, z, n after their nonlinearities
    vns = np.empty((steps, batch, hidden), us.dtype)  # W_hn h_{t−1} + b_hn
    hs = np.empty((steps, batch, hidden), us.dtype)
    h = h0
    for t in range(steps):
        v = h @ w_hh.T  # (B, 3H)
        if b_hh is not None:
            v = v + b_hh
        u_r, u_z, u_n = np.split(us[t], 3, axis=1)  # (B, H) each
        v_r, v_z, v_n = np.split(v, 3, axis=1)
        r = sigmoid(u_r + v_r)
        z = sigmoid(u_z + v_z)
        n = np.tanh(u_n + r * v_n)
        h = (1 - z) * n + z * h
        acts[t] = np.concatenate([r, z, n], axis=1)
        vns[t] = v_n
        hs[t] = h
    cache = {
        "kind": "gru",
        "x": x,
        "h0": h0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "bias": (b_ih is not None, b_hh is not None),
        "acts": acts,
        "vns": vns,
        "hs": hs,
    }
    return hs, h, cache


def gru_backward(dhs, dhT, cache):
    """Backpropagate through time for `gru_forward`.

    Math, for t = T..1, with running gradient g seeded by dhT and dhs_t added:
        g += dhs_t;  ∂n = g ⊙ (1 − z);  ∂z = g ⊙ (h_{t−1} − n)
        δn = ∂n ⊙ (1 − n²);  δr = δn ⊙ v_n ⊙ r(1 − r);  δz = ∂z ⊙ z(1 − z)
        δu_t = [δr, δz, δn],  δv_t = [δr, δz, δn ⊙ r]                           (3H each)
        g ← g ⊙ z + W_hhᵀ δv_t
        ∂W_ih = Σ_t δu_t x_tᵀ,  ∂W_hh = Σ_t δv_t h_{t−1}ᵀ,  ∂b_ih = Σ_t δu_t,  ∂b_hh = Σ_t δv_t,
        ∂x_t = W_ihᵀ δu_t

    Args:
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None for zeros.
        dhT: gradient w.r.t. the final state hT, (B, H), or None for zeros.
        cache: the cache returned by `gru_forward`.

    Returns:
        dict with keys x (T, B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b_ih (3H,),
        b_hh (3H,); a bias entry is None when the forward pass had no such bias.
    """
    fn = "gru_backward"
    cache = expect_cache(fn, cache, "gru")
    x, h0, w_ih, w_hh, hs = (cache[k] for k in ("x", "h0", "w_ih", "w_hh", "hs"))
    acts, vns = cache["acts"], cache["vns"]
    dhs, finals = grad_inputs(fn, dhs, {"dhT": dhT}, hs.shape, hs.dtype)
    h_prev = np.concatenate([h0[None], hs])[:-1]  # (T, B, H)
    dus = np.empty_like(acts)  # (T, B, 3H)
    dvs = np.empty_like(acts)  # (T, B, 3H)
    dh = finals["dhT"]
    for t in reversed(range(x.shape[0])):
        r, z, n = np.split(acts[t], 3, axis=1)  # (B, H) each
        dh = dh + dhs[t]
        dn = dh * (1 - z) * (1 - n * n)
        dr = dn * vns[t] * r * (1 - r)
        dz = dh * (h_prev[t] - n) * z * (1 - z)
        dus[t] = np.concatenate([dr, dz, dn], axis=1)
        dvs[t] = np.concatenate([dr, dz, dn * r], axis=1)
        dh = dh * z + dvs[t] @ w_hh  # (B, H)
    has_b_ih, has_b_hh = cache["bias"]
    return {
        "x": dus @ w_ih,
        "h0": dh,
        "w_ih": np.tensordot(dus, x, axes=([0, 1], [0, 1])),
        "w_hh": np.tensordot(dvs, h_prev, axes=([0, 1], [0, 1])),
        "b_ih": dus.sum(axis=(0, 1)) if has_b_ih else None,
        "b_hh": dvs.sum(axis=(0, 1)) if has_b_hh else None,
    }
