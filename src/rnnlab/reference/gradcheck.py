"""Check the hand-written backward passes against central finite differences."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError
from rnnlab.reference import _cells

PARAMS = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")


def numerical_gradient(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function by central differences, one element at a time.

    Math: ∂f/∂a_k ≈ (f(a + eps·e_k) − f(a − eps·e_k)) / (2·eps).

    Args:
        f: callable taking `array` and returning a scalar; `array` is perturbed in place (and
            restored), so f may equally ignore its argument and read the array it closes over.
            The difference f(+) − f(−) is taken in f's own precision before any conversion.
        array: writable floating NumPy array of any shape.
        eps: step size.

    Returns:
        The estimated gradient, an array of the same shape and dtype as `array`.
    """
    fn = "numerical_gradient"
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{fn}: expected a floating NumPy array, got {type(array).__name__}")
    if not array.flags.writeable:
        raise InputError(f"{fn}: expected a writable array (it is perturbed in place)")
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        f_plus = f(array)
        array[idx] = old - eps
        f_minus = f(array)
        array[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def max_relative_error(analytic: np.ndarray, numeric: np.ndarray, tiny: float = 1e-12) -> float:
    """Largest elementwise relative error |a − n| / max(|a| + |n|, tiny) (0.0 for empty arrays)."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)))


def gradcheck(
    cell: str = "lstm",
    *,
    T: int = 4,
    B: int = 3,
    I: int = 5,
    H: int = 4,
    seed: int = 0,
    eps: float = 1e-6,
) -> dict[str, float]:
    """Compare a cell's hand-written backward with central differences on a random loss.

    The loss is a random linear functional of everything the forward returns:
        L = Σ_{t,b,j} A_tbj h_tbj + Σ_{b,j} C_bj h_Tbj (+ Σ_{b,j} D_bj c_Tbj for the LSTM)
    with A, C, D, the inputs and the parameters drawn in float64 from a normal distribution.
    The hand-written backward runs in float64; the finite differences evaluate L at the same
    values in np.longdouble (x87 extended precision on x86-64, float64 where the platform has
    nothing wider), so their rounding error stays far below the errors being looked for.

    Args:
        cell: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        T, B, I, H: sequence length, batch size, input size, hidden size.
        seed: seed of the NumPy generator drawing the data.
        eps: finite-difference step.

    Returns:
        dict parameter name (x, h0, [c0,] w_ih, w_hh, b_ih, b_hh) -> max relative error
        |a − n| / max(|a| + |n|, 1e-12) over its elements.
    """
    fn = "gradcheck"
    _cells.check_cell(fn, cell)
    if min(T, B, I, H) < 1:
        raise InputError(f"{fn}: expected positive T, B, I, H, got {(T, B, I, H)}")
    rng = np.random.default_rng(seed)
    gh = _cells.gates(cell) * H
    arrays = {
        "x": rng.standard_normal((T, B, I)),
        "h0": rng.standard_normal((B, H)) * 0.5,
        "c0": rng.standard_normal((B, H)) * 0.5,
        "w_ih": rng.standard_normal((gh, I)) * 0.5,
        "w_hh": rng.standard_normal((gh, H)) * 0.5,
        "b_ih": rng.standard_normal(gh) * 0.5,
        "b_hh": rng.standard_normal(gh) * 0.5,
    }
    if cell != "lstm":
        del arrays["c0"]
    dhs = rng.standard_normal((T, B, H))
    dfinal = rng.standard_normal((2, B, H))
    dstate = (dfinal[0], dfinal[1]) if cell == "lstm" else dfinal[0]

    def run(values):
        state = (values["h0"], values["c0"]) if cell == "lstm" else values["h0"]
        return _cells.forward(cell, values["x"], state, values)

    grads = _cells.backward(cell, dhs, dstate, run(arrays)[2])
    state0 = grads.pop("state0")
    grads["h0"], grads["c0"] = state0 if cell == "lstm" else (state0, None)
    wide = {name: array.astype(np.longdouble) for name, array in arrays.items()}

    def loss(_):
        hs, final, _ = run(wide)
        finals = final if cell == "lstm" else (final,)
        return np.sum(hs * dhs) + sum(
            np.sum(s * d) for s, d in zip(finals, dfinal[: len(finals)], strict=True)
        )

    return {
        name: max_relative_error(grads[name], numerical_gradient(loss, array, eps))
        for name, array in wide.items()
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Render gradient-check errors as a text table: one row per parameter, one column per cell.

    Args:
        results: cell name -> (parameter name -> max relative error), e.g.
            {cell: gradcheck(cell) for cell in ("lstm", "gru", "rnn_tanh", "rnn_relu")}.

    Returns:
        The table as a string (no trailing newline); "-" where a cell has no such parameter.
    """
    cells = list(results)
    names = [p for p in PARAMS if any(p in r for r in results.values())]
    names += sorted({p for r in results.values() for p in r} - set(names))
    width = max([len("parameter"), *map(len, names)])
    col = max([9, *map(len, cells)])
    header = "parameter".ljust(width) + "".join(f"  {c:>{col}}" for c in cells)
    lines = [header, "-" * len(header)]
    for name in names:
        cols = (
            f"  {results[c][name]:>{col}.1e}" if name in results[c] else f"  {'-':>{col}}"
            for c in cells
        )
        lines.append(name.ljust(width) + "".join(cols))
    return "\n".join(lines)
