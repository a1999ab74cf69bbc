"""minGRU / minLSTM reference: closed-form forward, BPTT against finite differences, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.errors import InputError
from rnnlab.reference import (
    mingru_backward,
    mingru_forward,
    minlstm_backward,
    minlstm_forward,
    numerical_gradient,
)
from rnnlab.reference.gradcheck import max_relative_error

CELLS = {
    "mingru": (mingru_forward, mingru_backward, 2),
    "minlstm": (minlstm_forward, minlstm_backward, 3),
}

shapes = st.tuples(
    st.integers(1, 6),  # T
    st.integers(1, 3),  # B
    st.integers(1, 4),  # I
    st.integers(1, 4),  # H
    st.booleans(),  # bias
    st.integers(0, 2**16),  # seed
)


def problem(cell, T, B, I, H, bias=True, seed=0, dtype=np.float64):
    """Random x, h0 (both signs), w_ih, b_ih (None without bias) and upstream gradients."""
    rng = np.random.default_rng(seed)
    rows = CELLS[cell][2] * H
    return {
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "h0": (2 * rng.standard_normal((B, H))).astype(dtype),
        "w_ih": rng.standard_normal((rows, I)).astype(dtype),
        "b_ih": rng.standard_normal(rows).astype(dtype) if bias else None,
        "dhs": rng.standard_normal((T, B, H)).astype(dtype),
        "dhT": rng.standard_normal((B, H)).astype(dtype),
    }


def run(cell, p):
    return CELLS[cell][0](p["x"], p["h0"], p["w_ih"], p["b_ih"])


def closed_form(cell, p):
    """h_t = A_t h_0 + Σ_{s≤t} (Π_{s<r≤t} a_r) b_s with a, b from the paper's gate formulas."""
    u = p["x"] @ p["w_ih"].T + (0 if p["b_ih"] is None else p["b_ih"])
    sig = 1 / (1 + np.exp(-u))
    H = p["h0"].shape[1]
    parts = [u[..., k * H : (k + 1) * H] for k in range(CELLS[cell][2])]
    sigs = [sig[..., k * H : (k + 1) * H] for k in range(CELLS[cell][2])]
    cand = np.where(parts[-1] >= 0, parts[-1] + 0.5, sigs[-1])  # g(u_h)
    if cell == "mingru":
        a, b = 1 - sigs[0], sigs[0] * cand
    else:
        f, i = sigs[0], sigs[1]
        a, b = f / (f + i), i / (f + i) * cand
    hs = []
    for t in range(len(u)):
        h = np.prod(a[: t + 1], axis=0) * p["h0"]
        for s in range(t + 1):
            h = h + np.prod(a[s + 1 : t + 1], axis=0) * b[s]
        hs.append(h)
    return np.stack(hs)


@pytest.mark.parametrize("cell", CELLS)
@given(shape=shapes)
def test_forward_matches_the_closed_form(cell, shape):
    p = problem(cell, *shape)
    hs, hT, _ = run(cell, p)
    np.testing.assert_allclose(hs, closed_form(cell, p), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(hT, hs[-1])


@pytest.mark.parametrize("cell", CELLS)
def test_g_is_linear_above_zero_and_sigmoid_below(cell):
    """With a single input feature and H = 1 the candidate path is easy to probe directly."""
    rows = CELLS[cell][2]
    w = np.zeros((rows, 1))
    w[-1, 0] = 1.0  # u_h = x; the other gates stay at σ(0) = ½
    x = np.array([-3.0, -0.5, 0.0, 0.25, 4.0]).reshape(5, 1, 1)
    hs, _, _ = CELLS[cell][0](x, None, w, None)
    cand = np.where(x >= 0, x + 0.5, 1 / (1 + np.exp(-x)))[:, 0, 0]
    h = 0.0
    for t, c in enumerate(cand):
        h = 0.5 * h + 0.5 * c  # z = ½ (minGRU), f' = i' = ½ (minLSTM)
        assert hs[t, 0, 0] == pytest.approx(h, rel=1e-15)


@pytest.mark.parametrize("cell", CELLS)
@settings(max_examples=15)
@given(shape=shapes)
def test_backward_matches_finite_differences(cell, shape):
    """The hand-written BPTT against central differences taken in np.longdouble."""
    forward, backward, _ = CELLS[cell]
    p = problem(cell, *shape)
    grads = backward(p["dhs"], p["dhT"], run(cell, p)[2])
    names = ["x", "h0", "w_ih"] + (["b_ih"] if p["b_ih"] is not None else [])
    wide = {k: p[k].astype(np.longdouble) for k in names}
    wide.setdefault("b_ih", None)

    def loss(_):
        hs, hT, _ = forward(wide["x"], wide["h0"], wide["w_ih"], wide["b_ih"])
        return np.sum(hs * p["dhs"]) + np.sum(hT * p["dhT"])

    for name in names:
        numeric = numerical_gradient(loss, wide[name])
        assert grads[name].shape == p[name].shape
        assert max_relative_error(grads[name], numeric) <= 1e-6, name
    assert (grads["b_ih"] is None) == (p["b_ih"] is None)


@pytest.mark.parametrize("cell", CELLS)
def test_finite_difference_check_catches_a_wrong_backward(cell):
    """The check above can fail: a backward that drops the h0 path through one gate is caught."""
    forward, backward, _ = CELLS[cell]
    p = problem(cell, 3, 2, 2, 2)
    grads = backward(p["dhs"], None, run(cell, p)[2])

    def loss(_):
        return np.sum(forward(p["x"], p["h0"], p["w_ih"], p["b_ih"])[0] * p["dhs"])

    numeric = numerical_gradient(loss, p["w_ih"])
    assert max_relative_error(grads["w_ih"], numeric) <= 1e-6
    wrong = grads["w_ih"].copy()
    wrong[0] *= 1.001
    assert max_relative_error(wrong, numeric) > 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_none_gradients_and_h0_mean_zeros(cell):
    forward, backward, _ = CELLS[cell]
    p = problem(cell, 4, 2, 3, 2)
    hs, _, cache = forward(p["x"], None, p["w_ih"], p["b_ih"])
    zeros = {**p, "h0": np.zeros_like(p["h0"])}
    np.testing.assert_array_equal(hs, run(cell, zeros)[0])
    grads = backward(None, None, cache)
    assert all(not np.any(g) for g in grads.values())
    only_final = backward(None, p["dhT"], cache)
    both = backward(np.zeros_like(p["dhs"]), p["dhT"], cache)
    for name in ("x", "h0", "w_ih", "b_ih"):
        np.testing.assert_array_equal(only_final[name], both[name])


@pytest.mark.parametrize("cell", CELLS)
def test_empty_sequence_returns_h0(cell):
    p = problem(cell, 1, 2, 3, 4)
    hs, hT, cache = CELLS[cell][0](p["x"][:0], p["h0"], p["w_ih"], p["b_ih"])
    assert hs.shape == (0, 2, 4)
    np.testing.assert_array_equal(hT, p["h0"])
    grads = CELLS[cell][1](None, p["dhT"], cache)
    np.testing.assert_array_equal(grads["h0"], p["dhT"])


@pytest.mark.parametrize("cell", CELLS)
def test_errors(cell):
    forward, backward, gates = CELLS[cell]
    name = f"{cell}_forward"
    p = problem(cell, 2, 2, 3, 4)
    with pytest.raises(InputError, match=rf"{name}: expected w_ih of shape \({gates}H, I=3\)"):
        forward(p["x"], p["h0"], p["w_ih"][1:], p["b_ih"])
    with pytest.raises(InputError, match=rf"{name}: expected x of shape \(T, B, I\)"):
        forward(p["x"][0], p["h0"], p["w_ih"], p["b_ih"])
    with pytest.raises(InputError, match=rf"{name}: expected h0 of shape \(B=2, H=4\)"):
        forward(p["x"], p["h0"][:, :3], p["w_ih"], p["b_ih"])
    with pytest.raises(InputError, match=rf"{name}: expected b_ih of shape \({gates}H={gates * 4}"):
        forward(p["x"], p["h0"], p["w_ih"], p["b_ih"][:-1])
    with pytest.raises(InputError, match=rf"{name}: expected x to be a floating-point array"):
        forward(np.ones((2, 2, 3), int), p["h0"], p["w_ih"], p["b_ih"])
    other = "minlstm" if cell == "mingru" else "mingru"
    cache = run(other, problem(other, 2, 2, 3, 4))[2]
    with pytest.raises(InputError, match=rf"{cell}_backward: expected the cache returned by"):
        backward(None, None, cache)
    cache = run(cell, p)[2]
    with pytest.raises(InputError, match=rf"{cell}_backward: expected dhs of shape"):
        backward(p["dhs"][:1], None, cache)
