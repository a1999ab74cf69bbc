"""Truncated backpropagation through time for a recurrent cell with a linear softmax readout.

The model: hs, state = cell(x, state0);  z_t = W_out h_t + b_out;  p_t = softmax(z_t). Its
parameters are a dict with keys w_ih, w_hh, b_ih, b_hh (the cell, see the cell functions for
shapes; biases may be None or missing) and w_out (V, H), b_out (V,) (may be None or missing).
A cell is "lstm", "gru", "rnn_tanh" or "rnn_relu"; its state is h (B, H), or (h, c) for the LSTM.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference import _cells
from rnnlab.reference._checks import expect_shape
from rnnlab.reference.losses import softmax_cross_entropy, softmax_cross_entropy_backward


class TBPTTChunk(NamedTuple):
    """One truncated-BPTT update: which steps it covers, its loss and its gradients.

    Steps are absolute indices into the full sequence, half-open: the loss counts steps
    [loss_start, stop) and gradients flow through steps [start, stop); start ≤ loss_start.
    `grads` holds the gradient of `loss` for every parameter key (None for absent biases).
    """

    start: int
    loss_start: int
    stop: int
    loss: float
    grads: dict


def _window(fn: str, cell: str, params: dict, x, targets, state0, loss_steps: int | None):
    """Forward and backward over one window; returns (loss, grads, final state, cell cache)."""
    _cells.check_cell(fn, cell)
    if not isinstance(params, dict) or "w_out" not in params:
        raise InputError(f"{fn}: expected params to be a dict with keys w_ih, w_hh, w_out, ...")
    hs, final, cache = _cells.forward(cell, x, state0, params)  # hs (T, B, H)
    steps, batch, hidden = hs.shape
    if loss_steps is None:
        loss_steps = steps
    if not 1 <= loss_steps <= steps:
        raise InputError(f"{fn}: expected 1 <= loss_steps <= T={steps}, got {loss_steps}")
    w_out = expect_shape(fn, "w_out", params["w_out"], ("V", "H"), (None, hidden), hs.dtype)
    vocab = w_out.shape[0]
    b_out = params.get("b_out")
    if b_out is not None:
        b_out = expect_shape(fn, "b_out", b_out, ("V",), (vocab,), hs.dtype)
    targets = expect_shape(fn, "targets", targets, ("T", "B"), (steps, batch))
    h_loss = hs[steps - loss_steps :]  # (K, B, H)
    logits = h_loss @ w_out.T  # (K, B, V)
    if b_out is not None:
        logits = logits + b_out
    loss, ce_cache = softmax_cross_entropy(
        logits.reshape(-1, vocab), targets[steps - loss_steps :].reshape(-1)
    )
    dlogits = softmax_cross_entropy_backward(ce_cache).reshape(logits.shape)  # (K, B, V)
    dhs = np.zeros_like(hs)
    dhs[steps - loss_steps :] = dlogits @ w_out
    grads = _cells.backward(cell, dhs, None, cache)
    grads["w_out"] = np.tensordot(dlogits, h_loss, axes=([0, 1], [0, 1]))  # (V, H)
    grads["b_out"] = None if b_out is None else dlogits.sum(axis=(0, 1))
    return loss, grads, final, cache


def readout_loss_and_grads(cell, params, x, targets, state0=None, *, loss_steps=None):
    """Loss of the newest `loss_steps` steps of a window, with gradients through the whole window.

    Math, with K = loss_steps:
        hs, state_T = cell(x, state0);  z_t = W_out h_t + b_out
        L = −(1 / (K·B)) Σ_{t=T−K}^{T−1} Σ_b log softmax(z_t)_{b, y_tb}
    Gradients flow through all T steps back to state0.

    Args:
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        params: dict w_ih, w_hh, b_ih, b_hh, w_out (V, H), b_out (V,) (module docstring).
        x: inputs, (T, B, I).
        targets: integer targets in [0, V), (T, B); only the newest K steps are read.
        state0: initial state, h (B, H) or (h, c) for the LSTM, or None for zeros.
        loss_steps: K, 1 ≤ K ≤ T; None means T.

    Returns:
        (loss, grads, final_state): loss a float; grads a dict with the parameter keys plus
        x (T, B, I) and state0 (same structure as the state); final_state the state after x.
    """
    loss, grads, final, _ = _window(
        "readout_loss_and_grads", cell, params, x, targets, state0, loss_steps
    )
    return loss, grads, final


def tbptt(cell, params, x, targets, *, k1, k2, state0=None, on_chunk=None):
    """Truncated BPTT(k1, k2) over a long sequence: every k1 steps, backpropagate k2 steps.

    The sequence is cut into chunks [p, e) of k1 steps (the last may be shorter). For each:
        - the loss is the mean cross-entropy over the chunk's own steps [p, e) (the k1 newest)
          and the batch (`readout_loss_and_grads` with loss_steps = e − p), and only those;
        - gradients flow through the window [s, e), s = max(0, p − (k2 − k1)): the chunk and
          the k2 − k1 steps before it, i.e. the k2 newest steps for a full chunk; the state
          entering the window is treated as a constant (no gradient flows into it);
        - the window's forward pass starts from the state stored when the sequence first
          reached step s (state0 for s = 0), and the state at e is carried to the next chunk.
    With k1 = k2 the chunks are independent BPTT problems linked by carried (detached) state;
    with k1 ≥ T it is full BPTT over the whole sequence.

    Args:
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        params: dict w_ih, w_hh, b_ih, b_hh, w_out (V, H), b_out (V,) (module docstring).
        x: inputs, (T, B, I).
        targets: integer targets in [0, V), (T, B); targets[t] is the label of step t.
        k1: steps between updates (≥ 1).
        k2: steps backpropagated per update (≥ k1).
        state0: initial state, h (B, H) or (h, c) for the LSTM, or None for zeros.
        on_chunk: optional callable(TBPTTChunk) run after each chunk's gradients are computed
            and before the next chunk; it may update `params` in place (an optimiser step).

    Returns:
        (chunks, final_state): the list of TBPTTChunk in order (grads hold only the parameter
        keys), and the state after the last step.
    """
    fn = "tbptt"
    if not (isinstance(k1, int) and isinstance(k2, int) and 1 <= k1 <= k2):
        raise InputError(f"{fn}: expected integers 1 <= k1 <= k2, got k1={k1!r}, k2={k2!r}")
    x = expect_shape(fn, "x", x, ("T", "B", "I"), (None, None, None))
    steps = x.shape[0]
    targets = expect_shape(fn, "targets", targets, ("T", "B"), x.shape[:2])
    chunks = []
    final = state0
    prev_start, prev_cache = 0, None
    pos = 0
    while pos < steps:
        stop = min(pos + k1, steps)
        start = max(0, pos - (k2 - k1))
        entry = state0 if start == 0 else _cells.state_at(cell, prev_cache, start - prev_start)
        loss, grads, final, cache = _window(
            fn, cell, params, x[start:stop], targets[start:stop], entry, stop - pos
        )
        del grads["x"], grads["state0"]
        chunk = TBPTTChunk(start, pos, stop, loss, grads)
        chunks.append(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
        prev_start, prev_cache = start, cache
        pos = stop
    return chunks, final
