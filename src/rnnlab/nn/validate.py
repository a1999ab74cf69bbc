"""Early, explicit checks of constructor options and forward inputs for the recurrent modules.

Every failure raises `InputError` whose message starts with the module's name and says what
was expected, e.g. ``LSTM: expected input of shape (T, B, 32), got (5, 3, 31)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from rnnlab.errors import InputError


def shape_text(dims: Sequence[int | str]) -> str:
    """``(5, 3, 31)`` for a shape or a pattern like ("T", "B", 32)."""
    inner = ", ".join(str(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def describe(value: object) -> str:
    """What a bad argument was, for an error message: a tensor's shape, else its type."""
    return f"shape {shape_text(value.shape)}" if isinstance(value, Tensor) else type(value).__name__


def check_int(owner: str, name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{owner}: expected {name} to be an int, got {type(value).__name__}")
    if value < minimum:
        raise InputError(f"{owner}: expected {name} ≥ {minimum}, got {value}")
    return int(value)


def check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{owner}: expected {name} to be a bool, got {value!r}")
    return value


def check_flag(owner: str, name: str, value: object) -> bool:
    """A flag that torch.nn takes as any int and computes with (a cell's ``bias``).

    A bool, or an int read as one (``bias=0`` is no bias, as in torch.nn); anything else (a
    string such as ``"relu"`` passed where ``bias`` stands, a float) is an InputError.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return bool(value)
    raise InputError(f"{owner}: expected {name} to be a bool, got {value!r}")


def check_choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{owner}: expected {name} in {tuple(choices)}, got {value!r}")
    return value


def check_tensor(owner: str, what: str, value: object, pattern: Sequence[int | str]) -> Tensor:
    """``value`` must be a tensor of ``len(pattern)`` dims whose int entries match."""
    if not isinstance(value, Tensor):
        raise InputError(
            f"{owner}: expected {what} to be a tensor of shape {shape_text(pattern)}, "
            f"got {type(value).__name__}"
        )
    ok = value.dim() == len(pattern) and all(
        isinstance(p, str) or p == n for p, n in zip(pattern, value.shape, strict=True)
    )
    if not ok:
        raise InputError(
            f"{owner}: expected {what} of shape {shape_text(pattern)}, "
            f"got {shape_text(value.shape)}"
        )
    return value


def check_like_parameters(owner: str, what: str, value: Tensor, param: Tensor) -> None:
    """Same device as the parameters, and their dtype unless autocast is active.

    Under autocast any floating dtype is accepted, as torch.nn does: autocast casts the
    operands itself (cuDNN's RNN even runs in float16 under a bfloat16 autocast, so the state
    a fused layer returns may be in either).
    """
    if value.device != param.device:
        raise InputError(
            f"{owner}: expected {what} on {param.device} (where the parameters are), "
            f"got {value.device}"
        )
    if torch.is_autocast_enabled(value.device.type) and value.is_floating_point():
        return
    if value.dtype != param.dtype:
        raise InputError(
            f"{owner}: expected {what} of dtype {param.dtype} (the parameters' dtype), got "
            f"{value.dtype}; convert it with .to({param.dtype}) or the module with "
            f".to({value.dtype})"
        )


def check_lengths(owner: str, lengths: object, batch: int, steps: int) -> Tensor:
    """Per-sequence lengths as a CPU int64 tensor (B,) with 1 ≤ length ≤ T.

    Args:
        owner: module name for messages.
        lengths: 1-D integer tensor or NumPy array, or a list/tuple of ints, in any order.
        batch: B, the number of sequences.
        steps: T, the padded length.
    """
    if isinstance(lengths, np.ndarray):
        lengths = torch.from_numpy(lengths) if lengths.ndim else lengths.tolist()
    if isinstance(lengths, Tensor):
        if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
            raise InputError(f"{owner}: expected integer lengths, got dtype {lengths.dtype}")
        values = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, list | tuple):
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in lengths):
            raise InputError(f"{owner}: expected integer lengths, got {list(lengths)!r}")
        values = torch.tensor([int(n) for n in lengths], dtype=torch.int64)
    else:
        raise InputError(
            f"{owner}: expected lengths as a 1-D integer tensor or a list of ints, "
            f"got {type(lengths).__name__}"
        )
    if values.shape != (batch,):
        raise InputError(
            f"{owner}: expected lengths of shape ({batch},), one per sequence, "
            f"got {shape_text(values.shape)}"
        )
    if batch == 0:
        return values  # an empty batch: no length to check
    if torch.compiler.is_compiling():
        # the same check inside the graph: reading the values out would break it (the error
        # is then torch's RuntimeError, with this message, when the compiled code runs)
        in_range = ((values >= 1) & (values <= steps)).all()
        torch._assert_async(
            in_range, f"{owner}: expected every length in [1, {steps}] (1 ≤ length ≤ T)"
        )
        return values
    low, high = int(values.min()), int(values.max())
    if low < 1 or high > steps:
        bad = low if low < 1 else high
        raise InputError(
            f"{owner}: expected every length in [1, {steps}] (1 ≤ length ≤ T), got {bad}"
        )
    return values


def time_major_input(
    owner: str, input: object, size: int, batch_first: bool, *, alternatives: str = ""
) -> tuple[Tensor, bool]:
    """A layer's padded input checked and returned as (T, B, I), and whether it was batched.

    Accepts (T, B, I), (B, T, I) with `batch_first`, or unbatched (T, I); `alternatives`
    names other accepted inputs in the error (e.g. "or a PackedSequence"). Zero time steps
    are an InputError (as in torch.nn); an empty batch (B = 0) is accepted, as torch.nn does.
    """
    layout = ("B", "T", size) if batch_first else ("T", "B", size)
    if not isinstance(input, Tensor) or input.dim() not in (2, 3):
        unbatched = shape_text(("T", size))
        if alternatives:
            accepted = f"{shape_text(layout)}, unbatched {unbatched} {alternatives}"
        else:
            accepted = f"{shape_text(layout)} or unbatched {unbatched}"
        raise InputError(f"{owner}: expected input of shape {accepted}, got {describe(input)}")
    if input.dim() == 2:
        x = check_tensor(owner, "unbatched input", input, ("T", size)).unsqueeze(1)
    else:
        x = check_tensor(owner, "input", input, layout)
        x = x.transpose(0, 1) if batch_first else x  # (T, B, I)
    if x.shape[0] == 0:
        raise InputError(
            f"{owner}: expected at least one time step (T ≥ 1), got input of shape "
            f"{shape_text(input.shape)}"
        )
    return x, input.dim() == 3
