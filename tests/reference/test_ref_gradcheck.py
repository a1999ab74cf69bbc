"""Hand-written backward passes against central finite differences, and the check's helpers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refhelpers import CELLS
from rnnlab.errors import InputError
from rnnlab.reference import format_table, gradcheck, numerical_gradient
from rnnlab.reference.gradcheck import max_relative_error


@pytest.mark.parametrize("cell", CELLS)
@given(
    T=st.integers(1, 6),
    B=st.integers(1, 4),
    I=st.integers(1, 7),
    H=st.integers(1, 7),
    seed=st.integers(0, 999),
)
def test_backward_matches_finite_differences(cell, T, B, I, H, seed):
    errors = gradcheck(cell, T=T, B=B, I=I, H=H, seed=seed)
    expected = {"x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"} | ({"c0"} if cell == "lstm" else set())
    assert set(errors) == expected
    assert max(errors.values()) <= 1e-6, errors


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    from rnnlab.reference import _cells

    real = _cells.backward

    def wrong(cell, dhs, dstate, cache):
        grads = real(cell, dhs, dstate, cache)
        grads["w_hh"] = grads["w_hh"] * 1.001
        return grads

    monkeypatch.setattr(_cells, "backward", wrong)
    errors = gradcheck("gru", T=3, B=2, I=3, H=3)
    assert errors["w_hh"] > 1e-4
    assert errors["w_ih"] <= 1e-6


def test_numerical_gradient_of_a_known_function():
    a = np.array([[0.3, -1.2], [2.0, 0.7]])
    before = a.copy()
    grad = numerical_gradient(lambda v: np.sum(np.sin(v) * v), a)
    np.testing.assert_allclose(grad, np.cos(before) * before + np.sin(before), rtol=1e-8)
    np.testing.assert_array_equal(a, before)


def test_numerical_gradient_rejects_bad_arrays():
    with pytest.raises(InputError, match="numerical_gradient: expected a floating NumPy array"):
        numerical_gradient(np.sum, np.arange(3))
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(InputError, match="numerical_gradient: expected a writable array"):
        numerical_gradient(np.sum, frozen)


def test_relative_error_definition():
    assert max_relative_error(np.array([1.0, 0.0]), np.array([1.1, 0.0])) == pytest.approx(
        0.1 / 2.1
    )
    assert max_relative_error(np.zeros(0), np.zeros(0)) == 0.0


def test_gradcheck_rejects_unknown_cell():
    with pytest.raises(InputError, match=r"gradcheck: expected cell to be one of"):
        gradcheck("transformer")


def test_format_table_rows_are_parameters_columns_are_cells():
    results = {"lstm": gradcheck("lstm", T=2, B=1, I=2, H=2), "gru": gradcheck("gru", T=2)}
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["parameter", "lstm", "gru"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]
    assert rows["c0"][1] == "-"
    assert float(rows["w_hh"][0]) == pytest.approx(results["lstm"]["w_hh"], rel=0.1)
