"""One calling convention over the three reference cells, for code generic in the cell type.

A cell is named "rnn_tanh", "rnn_relu", "lstm" or "gru". Its state is an array h (B, H), or a
pair (h, c) for the LSTM. Its parameters are a dict with keys w_ih, w_hh and optionally b_ih,
b_hh (missing or None means no bias).
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference._checks import expect_choice
from rnnlab.reference.gru import gru_backward, gru_forward
from rnnlab.reference.lstm import lstm_backward, lstm_forward
from rnnlab.reference.rnn import rnn_backward, rnn_forward

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
WEIGHTS = ("w_ih", "w_hh", "b_ih", "b_hh")
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def check_cell(fn: str, cell: str) -> str:
    """Check a cell name and return it; raises InputError naming `fn` otherwise."""
    return expect_choice(fn, "cell", cell, CELLS)


def gates(cell: str) -> int:
    """Number of gate blocks G in the cell's weights: w_ih is (G·H, I)."""
    return _GATES[cell]


def init_state(cell: str, batch: int, hidden: int, dtype=np.float64):
    """Zero state: h (B, H), or (h, c) for the LSTM."""
    h = np.zeros((batch, hidden), dtype)
    return (h, h.copy()) if cell == "lstm" else h


def forward(cell: str, x, state, params: dict):
    """Run the cell over x (T, B, I) from `state`; returns (hs (T, B, H), final state, cache)."""
    w = [params.get(k) for k in WEIGHTS]
    if cell == "lstm":
        h0, c0 = (None, None) if state is None else state
        hs, final, cache = lstm_forward(x, h0, c0, *w)
    elif cell == "gru":
        hs, final, cache = gru_forward(x, state, *w)
    else:
        hs, final, cache = rnn_forward(x, state, *w, nonlinearity=cell.removeprefix("rnn_"))
    return hs, final, cache


def backward(cell: str, dhs, dstate, cache) -> dict:
    """Backward of `forward`: dict with keys x, state0 (same structure as the state), w_ih,
    w_hh, b_ih, b_hh (bias entries None when absent)."""
    if cell == "lstm":
        grads = lstm_backward(dhs, dstate, cache)
        grads["state0"] = (grads.pop("h0"), grads.pop("c0"))
    else:
        grads = (gru_backward if cell == "gru" else rnn_backward)(dhs, dstate, cache)
        grads["state0"] = grads.pop("h0")
    return grads


def state_at(cell: str, cache: dict, k: int):
    """The state after the first k steps of the forward pass that made `cache` (k = 0: initial)."""
    h = cache["h0"] if k == 0 else cache["hs"][k - 1]
    return (h, cache["cs"][k]) if cell == "lstm" else h
