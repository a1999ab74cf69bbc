"""Truncated BPTT: its limits (full BPTT, independent chunks) and torch autograd on k2 > k1."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from refhelpers import CELLS, GATES, torch_unroll
from rnnlab.errors import InputError
from rnnlab.reference import readout_loss_and_grads, tbptt

KEYS = ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")


def problem(cell, T, B, I, H, V, seed):
    rng = np.random.default_rng(seed)
    g = GATES[cell] * H
    params = {
        "w_ih": rng.standard_normal((g, I)) * 0.6,
        "w_hh": rng.standard_normal((g, H)) * 0.6,
        "b_ih": rng.standard_normal(g) * 0.3,
        "b_hh": rng.standard_normal(g) * 0.3,
        "w_out": rng.standard_normal((V, H)),
        "b_out": rng.standard_normal(V) * 0.3,
    }
    x = rng.standard_normal((T, B, I))
    targets = rng.integers(0, V, (T, B))
    h0 = rng.standard_normal((B, H)) * 0.5
    state0 = (h0, rng.standard_normal((B, H)) * 0.5) if cell == "lstm" else h0
    return params, x, targets, state0


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def torch_truncated(cell, params, x, targets, state0, k1, k2):
    """The TBPTT(k1, k2) objective in torch autograd: list of (start, loss_start, stop, loss,
    grads), each chunk's window (its k1 steps and the k2 − k1 before) restarted from the
    detached state of one full forward pass."""
    T = x.shape[0]
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    xs = torch.from_numpy(x)
    with torch.no_grad():
        states = [tuple(torch.from_numpy(s) for s in as_tuple(state0))]
        for step in range(T):
            hs, final = torch_unroll(cell, xs[step : step + 1], states[-1], t)
            states.append(final)
    out = []
    for pos in range(0, T, k1):
        stop = min(pos + k1, T)
        start = max(0, pos - (k2 - k1))
        for p in t.values():
            p.grad = None
        hs, _ = torch_unroll(cell, xs[start:stop], states[start], t)
        logits = hs[pos - start :] @ t["w_out"].T + t["b_out"]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), torch.from_numpy(targets[pos:stop]).reshape(-1)
        )
        loss.backward()
        out.append(
            (start, pos, stop, loss.item(), {k: p.grad.numpy().copy() for k, p in t.items()})
        )
    return out, states[T]


def assert_grads_close(mine, theirs, rtol=1e-9):
    assert set(mine) == set(KEYS)
    for k in KEYS:
        np.testing.assert_allclose(mine[k], theirs[k], rtol=rtol, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("cell", CELLS)
@given(
    T=st.integers(1, 12),
    B=st.integers(1, 3),
    k1=st.integers(1, 5),
    extra=st.integers(0, 6),
    seed=st.integers(0, 999),
)
def test_truncated_objective_matches_torch_autograd(cell, T, B, k1, extra, seed):
    params, x, targets, state0 = problem(cell, T, B, 3, 4, 5, seed)
    chunks, final = tbptt(cell, params, x, targets, k1=k1, k2=k1 + extra, state0=state0)
    expected, ref_final = torch_truncated(cell, params, x, targets, state0, k1, k1 + extra)
    assert len(chunks) == len(expected) == math.ceil(T / k1)
    for chunk, (start, pos, stop, loss, grads) in zip(chunks, expected, strict=True):
        assert (chunk.start, chunk.loss_start, chunk.stop) == (start, pos, stop)
        assert chunk.loss == pytest.approx(loss, rel=1e-12)
        assert_grads_close(chunk.grads, grads)
    for mine, theirs in zip(as_tuple(final), ref_final, strict=True):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("k2_extra", [0, 4])
def test_whole_sequence_is_full_bptt(cell, k2_extra):
    T = 9
    params, x, targets, state0 = problem(cell, T, 2, 3, 4, 5, seed=7)
    chunks, _ = tbptt(cell, params, x, targets, k1=T, k2=T + k2_extra, state0=state0)
    assert len(chunks) == 1
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    hs, _ = torch_unroll(cell, torch.from_numpy(x), tuple(map(torch.tensor, as_tuple(state0))), t)
    logits = hs @ t["w_out"].T + t["b_out"]
    loss = F.cross_entropy(logits.reshape(T * 2, 5), torch.from_numpy(targets).reshape(-1))
    loss.backward()
    assert chunks[0].loss == pytest.approx(loss.item(), rel=1e-12)
    assert_grads_close(chunks[0].grads, {k: p.grad.numpy() for k, p in t.items()})


@pytest.mark.parametrize("cell", CELLS)
def test_k2_equal_k1_is_independent_chunks_with_carried_state(cell):
    T, k = 11, 4
    params, x, targets, state0 = problem(cell, T, 3, 3, 4, 5, seed=8)
    chunks, final = tbptt(cell, params, x, targets, k1=k, k2=k, state0=state0)
    state = state0
    for chunk, pos in zip(chunks, range(0, T, k), strict=True):
        loss, grads, state = readout_loss_and_grads(
            cell, params, x[pos : pos + k], targets[pos : pos + k], state
        )
        assert chunk.loss == loss
        for key in KEYS:
            np.testing.assert_array_equal(chunk.grads[key], grads[key])
    for mine, theirs in zip(as_tuple(final), as_tuple(state), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_on_chunk_runs_between_chunks_and_may_update_params():
    params, x, targets, _ = problem("gru", 7, 2, 3, 4, 5, seed=9)
    params["b_out"] = None
    seen = []

    def silence_readout(chunk):
        seen.append((chunk.start, chunk.loss_start, chunk.stop))
        params["w_out"][...] = 0.0

    chunks, _ = tbptt("gru", params, x, targets, k1=3, k2=5, on_chunk=silence_readout)
    assert seen == [(0, 0, 3), (1, 3, 6), (4, 6, 7)]
    assert chunks[0].loss != pytest.approx(math.log(5))
    assert chunks[0].grads["b_out"] is None
    for chunk in chunks[1:]:
        assert chunk.loss == pytest.approx(math.log(5), rel=1e-14)


def test_readout_loss_counts_only_the_newest_steps():
    params, x, targets, state0 = problem("lstm", 6, 2, 3, 4, 5, seed=10)
    scrambled = targets.copy()
    scrambled[:4] = (scrambled[:4] + 1) % 5
    a = readout_loss_and_grads("lstm", params, x, targets, state0, loss_steps=2)
    b = readout_loss_and_grads("lstm", params, x, scrambled, state0, loss_steps=2)
    assert a[0] == b[0]
    assert not np.array_equal(a[1]["x"][0], 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k1": 3, "k2": 2}, r"tbptt: expected integers 1 <= k1 <= k2, got k1=3, k2=2"),
        ({"k1": 0, "k2": 2}, r"tbptt: expected integers 1 <= k1 <= k2"),
        ({"k1": 2, "k2": 2, "cell": "lstmx"}, r"tbptt: expected cell to be one of"),
        ({"k1": 2, "k2": 2, "targets": np.zeros((5, 3), int)}, r"expected targets of shape"),
    ],
)
def test_tbptt_rejects_bad_input(kwargs, message):
    params, x, targets, _ = problem("rnn_tanh", 6, 2, 3, 4, 5, seed=11)
    args = {"cell": "rnn_tanh", "params": params, "x": x, "targets": targets, **kwargs}
    with pytest.raises(InputError, match=message):
        tbptt(**args)


def test_readout_rejects_mismatched_readout():
    params, x, targets, _ = problem("gru", 4, 2, 3, 4, 5, seed=12)
    params["w_out"] = np.ones((5, 3))
    with pytest.raises(InputError, match=r"expected w_out of shape \(V, H=4\), got \(5, 3\)"):
        readout_loss_and_grads("gru", params, x, targets)
    params["w_out"] = np.ones((5, 4))
    with pytest.raises(InputError, match=r"expected 1 <= loss_steps <= T=4, got 5"):
        readout_loss_and_grads("gru", params, x, targets, loss_steps=5)
