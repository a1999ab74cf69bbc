"""Reference cells against torch: forward outputs and every gradient, on random shapes."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from refhelpers import CELLS, PARAM_NAMES, ours, random_problem, torch_leaves, torch_unroll
from rnnlab.errors import InputError
from rnnlab.reference import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

RTOL, ATOL = 1e-9, 1e-12

shapes = st.tuples(
    st.integers(1, 6), st.integers(1, 4), st.integers(1, 7), st.integers(1, 7), st.integers(0, 999)
)


def nn_module(cell, I, H, bias):
    """A torch.nn layer of the cell type in float64."""
    if cell == "lstm":
        return torch.nn.LSTM(I, H, bias=bias, dtype=torch.float64)
    if cell == "gru":
        return torch.nn.GRU(I, H, bias=bias, dtype=torch.float64)
    return torch.nn.RNN(I, H, nonlinearity=cell[4:], bias=bias, dtype=torch.float64)


def torch_nn_run(cell, p):
    """Forward and backward through torch.nn on the same weights (both biases or none)."""
    _, _, I = p["x"].shape
    H = p["w_hh"].shape[1]
    bias = p["b_ih"] is not None
    m = nn_module(cell, I, H, bias)
    with torch.no_grad():
        for name in ("w_ih", "w_hh", "b_ih", "b_hh") if bias else ("w_ih", "w_hh"):
            getattr(m, f"{name[0]}eight_{name[2:]}_l0".replace("beight", "bias")).copy_(
                torch.from_numpy(p[name])
            )
    x = torch.tensor(p["x"], requires_grad=True)
    h0 = torch.tensor(p["h0"][None], requires_grad=True)
    if cell == "lstm":
        c0 = torch.tensor(p["c0"][None], requires_grad=True)
        hs, (hT, cT) = m(x, (h0, c0))
        finals, state_leaves = (hT[0], cT[0]), {"h0": h0, "c0": c0}
    else:
        hs, hT = m(x, h0)
        finals, state_leaves = (hT[0],), {"h0": h0}
    loss = (hs * torch.from_numpy(p["dhs"])).sum()
    for s, key in zip(finals, ("dhT", "dcT"), strict=False):
        loss = loss + (s * torch.from_numpy(p[key])).sum()
    loss.backward()
    grads = {"x": x.grad, **{k: v.grad[0] for k, v in state_leaves.items()}}
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        attr = f"{'weight' if name[0] == 'w' else 'bias'}_{name[2:]}_l0"
        grads[name] = getattr(m, attr).grad if hasattr(m, attr) else None
    return hs.detach(), tuple(s.detach() for s in finals), grads


def torch_steps_run(cell, p, *, use_dhs=True, use_final=True):
    """Forward and backward through the torch step math (any bias combination)."""
    t = torch_leaves(p)
    state = (t["h0"], t["c0"]) if cell == "lstm" else (t["h0"],)
    hs, finals = torch_unroll(cell, t["x"], state, t)
    loss = hs.sum() * 0
    if use_dhs:
        loss = loss + (hs * torch.from_numpy(p["dhs"])).sum()
    if use_final:
        for s, key in zip(finals, ("dhT", "dcT"), strict=False):
            loss = loss + (s * torch.from_numpy(p[key])).sum()
    loss.backward()
    grads = {k: None if v is None else v.grad for k, v in t.items()}
    return hs.detach(), tuple(s.detach() for s in finals), grads


def assert_same(mine, theirs, label):
    np.testing.assert_allclose(mine, np.asarray(theirs), rtol=RTOL, atol=ATOL, err_msg=label)


def assert_grads(cell, grads, ref):
    expected = [k for k in PARAM_NAMES if cell == "lstm" or k != "c0"]
    assert sorted(grads) == sorted(expected)
    for name in expected:
        if ref[name] is None:
            assert grads[name] is None, name
        else:
            assert grads[name].shape == tuple(ref[name].shape), name
            assert_same(grads[name], ref[name], name)


@pytest.mark.parametrize("cell", CELLS)
@given(shape=shapes, bias=st.booleans())
def test_matches_torch_nn(cell, shape, bias):
    T, B, I, H, seed = shape
    p = random_problem(cell, T, B, I, H, bias="both" if bias else "none", seed=seed)
    hs, finals, grads = ours(cell, p)
    ref_hs, ref_finals, ref_grads = torch_nn_run(cell, p)
    assert hs.shape == (T, B, H)
    assert_same(hs, ref_hs, "hs")
    for mine, theirs in zip(finals, ref_finals, strict=True):
        assert_same(mine, theirs, "final state")
    assert_grads(cell, grads, ref_grads)


@pytest.mark.parametrize("cell", CELLS)
@given(
    shape=shapes,
    bias=st.sampled_from(["both", "none", "ih", "hh"]),
    upstream=st.sampled_from(["both", "dhs only", "final only"]),
)
def test_matches_torch_step_math(cell, shape, bias, upstream):
    T, B, I, H, seed = shape
    p = random_problem(cell, T, B, I, H, bias=bias, seed=seed)
    use_dhs, use_final = upstream != "final only", upstream != "dhs only"
    hs, finals, grads = ours(cell, p, dhs="dhs" if use_dhs else None, final=use_final)
    ref_hs, ref_finals, ref_grads = torch_steps_run(cell, p, use_dhs=use_dhs, use_final=use_final)
    assert_same(hs, ref_hs, "hs")
    for mine, theirs in zip(finals, ref_finals, strict=True):
        assert_same(mine, theirs, "final state")
    assert_grads(cell, grads, ref_grads)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_computes_in_float32(cell):
    p64 = random_problem(cell, 5, 3, 4, 6, seed=1)
    p32 = {k: None if v is None else v.astype(np.float32) for k, v in p64.items()}
    hs64, _, grads64 = ours(cell, p64)
    hs32, finals32, grads32 = ours(cell, p32)
    assert hs32.dtype == np.float32
    assert all(s.dtype == np.float32 for s in finals32)
    np.testing.assert_allclose(hs32, hs64, rtol=1e-4, atol=1e-5)
    for name, g in grads32.items():
        assert g.dtype == np.float32, name
        np.testing.assert_allclose(g, grads64[name], rtol=1e-3, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_none_initial_state_is_zeros(cell):
    p = random_problem(cell, 3, 2, 4, 5, seed=2)
    z = {**p, "h0": np.zeros_like(p["h0"])}
    if cell == "lstm":
        z["c0"] = np.zeros_like(p["c0"])
    hs_zero, _, grads_zero = ours(cell, z)
    none = {**p, "h0": None, "c0": None}
    hs_none, _, grads_none = ours(cell, none)
    np.testing.assert_array_equal(hs_none, hs_zero)
    np.testing.assert_array_equal(grads_none["h0"], grads_zero["h0"])


def test_empty_sequence_returns_initial_state():
    p = random_problem("lstm", 1, 2, 3, 4, seed=3)
    x = np.zeros((0, 2, 3))
    hs, (hT, cT), cache = lstm_forward(x, p["h0"], p["c0"], p["w_ih"], p["w_hh"], None, None)
    assert hs.shape == (0, 2, 4)
    np.testing.assert_array_equal(hT, p["h0"])
    np.testing.assert_array_equal(cT, p["c0"])
    grads = lstm_backward(None, (p["dhT"], p["dcT"]), cache)
    np.testing.assert_array_equal(grads["h0"], p["dhT"])
    assert grads["h0"] is not p["dhT"]
    assert not grads["w_ih"].any()


def _args(cell, T=3, B=2, I=4, H=5):
    p = random_problem(cell, T, B, I, H, seed=4)
    if cell == "lstm":
        return [p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]]
    return [p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]]


FORWARDS = {"rnn_tanh": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}


@pytest.mark.parametrize(
    ("cell", "index", "value", "message"),
    [
        (
            "lstm",
            0,
            np.ones((3, 4)),
            r"lstm_forward: expected x of shape \(T, B, I\), got \(3, 4\)",
        ),
        ("lstm", 0, np.ones((3, 2, 7)), r"expected w_ih of shape \(4H=20, I=7\), got \(20, 4\)"),
        ("lstm", 1, np.ones((2, 6)), r"lstm_forward: expected h0 of shape \(B=2, H=5\)"),
        ("lstm", 2, np.ones((3, 5)), r"lstm_forward: expected c0 of shape \(B=2, H=5\)"),
        ("lstm", 4, np.ones((19, 5)), r"expected w_hh of shape \(4H=20, H=5\), got \(19, 5\)"),
        ("lstm", 5, np.ones(5), r"lstm_forward: expected b_ih of shape \(4H=20\), got \(5,\)"),
        ("gru", 5, np.ones((15, 1)), r"gru_forward: expected b_hh of shape \(3H=15\)"),
        ("gru", 0, np.ones((3, 2, 4), int), r"gru_forward: expected x to be a floating-point"),
        ("rnn_tanh", 3, np.ones(5), r"rnn_forward: expected w_hh of shape \(H, H\), got \(5,\)"),
    ],
)
def test_forward_rejects_bad_shapes(cell, index, value, message):
    args = _args(cell)
    args[index] = value
    with pytest.raises(InputError, match=message):
        FORWARDS[cell](*args)


def test_rnn_rejects_unknown_nonlinearity():
    with pytest.raises(InputError, match=r"rnn_forward: expected nonlinearity to be one of"):
        rnn_forward(*_args("rnn_tanh"), nonlinearity="sigmoid")


def test_backward_rejects_bad_gradients_and_caches():
    p = random_problem("gru", 3, 2, 4, 5, seed=5)
    _, _, cache = gru_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    with pytest.raises(InputError, match=r"gru_backward: expected dhs of shape \(T=3, B=2, H=5\)"):
        gru_backward(np.ones((3, 2, 4)), None, cache)
    with pytest.raises(InputError, match=r"gru_backward: expected dhT of shape \(B=2, H=5\)"):
        gru_backward(None, np.ones((5, 2)), cache)
    with pytest.raises(InputError, match=r"rnn_backward: expected the cache returned by rnn_"):
        rnn_backward(None, None, cache)
    _, _, lcache = lstm_forward(*_args("lstm"))
    with pytest.raises(InputError, match=r"lstm_backward: expected d_final_state to be a pair"):
        lstm_backward(None, np.ones((2, 5)), lcache)
    assert isinstance(InputError("x"), ValueError)
