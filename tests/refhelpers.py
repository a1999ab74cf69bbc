"""Shared test helpers for the reference engine: random problems and torch twins of the cells."""

import numpy as np
import torch

from rnnlab.reference import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
PARAM_NAMES = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")


def random_problem(cell, T, B, I, H, *, bias="both", seed=0, dtype=np.float64):
    """Random inputs, parameters and upstream gradients (never zeros) for one cell.

    bias: "both", "none", "ih" or "hh" (which biases exist).
    """
    rng = np.random.default_rng(seed)
    g = GATES[cell] * H

    def draw(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    p = {
        "x": draw(T, B, I),
        "h0": draw(B, H, scale=0.5),
        "c0": draw(B, H, scale=0.5) if cell == "lstm" else None,
        "w_ih": draw(g, I, scale=0.6),
        "w_hh": draw(g, H, scale=0.6),
        "b_ih": draw(g, scale=0.5) if bias in ("both", "ih") else None,
        "b_hh": draw(g, scale=0.5) if bias in ("both", "hh") else None,
        "dhs": draw(T, B, H),
        "dhT": draw(B, H),
        "dcT": draw(B, H) if cell == "lstm" else None,
    }
    return p


def ours(cell, p, *, dhs="dhs", final=True):
    """Run the reference forward and backward; returns (hs, finals tuple, grads)."""
    w = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    d = p[dhs] if dhs else None
    if cell == "lstm":
        hs, (hT, cT), cache = lstm_forward(p["x"], p["h0"], p["c0"], *w)
        grads = lstm_backward(d, (p["dhT"], p["dcT"]) if final else None, cache)
        return hs, (hT, cT), grads
    if cell == "gru":
        hs, hT, cache = gru_forward(p["x"], p["h0"], *w)
        return hs, (hT,), gru_backward(d, p["dhT"] if final else None, cache)
    hs, hT, cache = rnn_forward(p["x"], p["h0"], *w, nonlinearity=cell[4:])
    return hs, (hT,), rnn_backward(d, p["dhT"] if final else None, cache)


def torch_leaves(p):
    """float64 torch leaves requiring grad for every array parameter of `p` (None kept)."""
    return {
        k: None if p[k] is None else torch.tensor(p[k], dtype=torch.float64, requires_grad=True)
        for k in PARAM_NAMES
    }


def torch_step(cell, x_t, state, t):
    """One step of the cell in torch, written from the DESIGN.md equations; t holds weights."""
    h = state[0]
    gi = x_t @ t["w_ih"].T
    gh = h @ t["w_hh"].T
    if t["b_ih"] is not None:
        gi = gi + t["b_ih"]
    if t["b_hh"] is not None:
        gh = gh + t["b_hh"]
    if cell == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return (torch.sigmoid(o) * torch.tanh(c), c)
    if cell == "gru":
        ir, iz, in_ = gi.chunk(3, dim=1)
        hr, hz, hn = gh.chunk(3, dim=1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return ((1 - z) * n + z * h,)
    a = gi + gh
    return (torch.tanh(a) if cell == "rnn_tanh" else torch.relu(a),)


def torch_unroll(cell, x, state, t):
    """Unroll `torch_step` over x (T, B, I); returns (hs (T, B, H), final state tuple)."""
    hs = []
    for x_t in x:
        state = torch_step(cell, x_t, state, t)
        hs.append(state[0])
    return torch.stack(hs), state
