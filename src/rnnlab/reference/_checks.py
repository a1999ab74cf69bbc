"""Input validation shared by the reference engine: dtypes, ranks and sizes, with clear errors."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import InputError


def float_dtype(fn: str, **arrays) -> np.dtype:
    """The floating dtype to compute in: NumPy's promotion of the given arrays (None skipped).

    Args:
        fn: name of the calling function, for the error message.
        **arrays: name -> array-like or None.

    Returns:
        The promoted dtype; raises InputError if any array is not a floating-point array.
    """
    dtypes = []
    for name, value in arrays.items():
        if value is None:
            continue
        dtype = np.asarray(value).dtype
        if not np.issubdtype(dtype, np.floating):
            raise InputError(f"{fn}: expected {name} to be a floating-point array, got {dtype}")
        dtypes.append(dtype)
    return np.result_type(*dtypes)


def expect_shape(
    fn: str,
    name: str,
    value,
    dims: tuple[str, ...],
    sizes: tuple[int | None, ...],
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Convert `value` to an array and check its rank and the sizes that are already known.

    Args:
        fn: name of the calling function, for the error message.
        name: name of the argument, for the error message.
        value: array-like.
        dims: symbolic dimension names, e.g. ("T", "B", "I").
        sizes: required size per dimension, None where any size is allowed.
        dtype: dtype to convert to (None keeps the array's own).

    Returns:
        The array; raises InputError naming the expected shape, e.g.
        `lstm_forward: expected h0 of shape (B=4, H=8), got (4, 7)`.
    """
    if value is None:
        raise InputError(f"{fn}: expected {name} to be an array, got None")
    array = np.asarray(value, dtype=dtype)
    ok = array.ndim == len(dims) and all(
        size is None or size == got for size, got in zip(sizes, array.shape, strict=True)
    )
    if not ok:
        spec = ", ".join(d if s is None else f"{d}={s}" for d, s in zip(dims, sizes, strict=True))
        raise InputError(f"{fn}: expected {name} of shape ({spec}), got {tuple(array.shape)}")
    return array


def expect_choice(fn: str, name: str, value, choices: tuple[str, ...]) -> str:
    """Check that `value` is one of `choices` and return it; raises InputError otherwise."""
    if value not in choices:
        raise InputError(f"{fn}: expected {name} to be one of {choices}, got {value!r}")
    return value


def expect_cache(fn: str, cache, kind: str) -> dict:
    """Check that `cache` came from the matching forward function (its "kind" entry)."""
    if not isinstance(cache, dict) or cache.get("kind") != kind:
        raise InputError(f"{fn}: expected the cache returned by {kind}_forward")
    return cache


def cell_inputs(fn: str, gates: int, x, states: dict, w_ih, w_hh, b_ih, b_hh):
    """Validate and convert the arguments shared by the cell forward functions.

    Shapes (torch layout, G gates): x (T, B, I), each state (B, H), w_ih (G·H, I),
    w_hh (G·H, H), b_ih and b_hh (G·H,) or None. A state given as None becomes zeros.

    Args:
        fn: name of the calling function, for error messages.
        gates: number of gate blocks G (1 for RNN, 4 for LSTM, 3 for GRU).
        x, w_ih, w_hh, b_ih, b_hh: the cell's arguments.
        states: name -> initial state (h0, and c0 for the LSTM) or None.

    Returns:
        (x, states, w_ih, w_hh, b_ih, b_hh) as arrays of one floating dtype (biases may be None,
        states a dict in the given order).
    """
    dtype = float_dtype(fn, x=x, **states, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    gh = f"{gates}H" if gates > 1 else "H"
    w_hh = expect_shape(fn, "w_hh", w_hh, (gh, "H"), (None, None), dtype)
    hidden = w_hh.shape[1]
    w_hh = expect_shape(fn, "w_hh", w_hh, (gh, "H"), (gates * hidden, hidden))
    x = expect_shape(fn, "x", x, ("T", "B", "I"), (None, None, None), dtype)
    _, batch, inputs = x.shape
    w_ih = expect_shape(fn, "w_ih", w_ih, (gh, "I"), (gates * hidden, inputs), dtype)
    biases = [
        None if b is None else expect_shape(fn, name, b, (gh,), (gates * hidden,), dtype)
        for name, b in (("b_ih", b_ih), ("b_hh", b_hh))
    ]
    states = {
        name: np.zeros((batch, hidden), dtype)
        if s is None
        else expect_shape(fn, name, s, ("B", "H"), (batch, hidden), dtype)
        for name, s in states.items()
    }
    return x, states, w_ih, w_hh, *biases


def grad_inputs(fn: str, dhs, dstates: dict, shape: tuple[int, int, int], dtype: np.dtype):
    """Validate the upstream gradients of a cell backward; None becomes zeros.

    Args:
        fn: name of the calling function, for error messages.
        dhs: gradient of the loss w.r.t. hs, (T, B, H), or None.
        dstates: name -> gradient w.r.t. a final state, (B, H), or None.
        shape: (T, B, H) of the forward pass.
        dtype: dtype of the forward pass.

    Returns:
        (dhs, dstates) as arrays of `dtype`; the state gradients are fresh copies.
    """
    _, batch, hidden = shape
    dhs = (
        np.zeros(shape, dtype)
        if dhs is None
        else expect_shape(fn, "dhs", dhs, ("T", "B", "H"), shape, dtype)
    )
    dstates = {
        name: np.zeros((batch, hidden), dtype)
        if d is None
        else expect_shape(fn, name, d, ("B", "H"), (batch, hidden), dtype).copy()
        for name, d in dstates.items()
    }
    return dhs, dstates
