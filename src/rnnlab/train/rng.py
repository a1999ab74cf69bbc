"""Capture and restore every random number generator a training run draws from.

The state is a JSON-able dict (it travels in a checkpoint's JSON metadata):

    {"python": {"version": 3, "state": B64, "gauss_next": None | float},
     "numpy":  {"bit_generator": "MT19937", "key": B64, "pos": int,
                "has_gauss": int, "gauss": float},
     "torch":  B64,            # torch's CPU generator
     "cuda":   [B64, ...],     # one per CUDA device; empty unless CUDA was initialised
     "cuda_device": int}       # only when one device's state was captured (multi-GPU jobs)

where B64 is base64 text: the Mersenne Twister words as little-endian uint32 for Python and
NumPy, and torch's own byte state for torch. Restoring and then drawing gives exactly the
draws that followed the capture.
"""

from __future__ import annotations

import base64
import binascii
import random
from typing import Any

import numpy as np
import torch

from rnnlab.errors import CheckpointError


def _words_to_b64(words) -> str:
    """Encode 32-bit words as base64 of little-endian uint32.

    Args:
        words: a sequence of integers in [0, 2**32).

    Returns:
        The base64 text.
    """
    return base64.b64encode(np.asarray(words, dtype="<u4").tobytes()).decode("ascii")


def _b64_to_bytes(text: Any, what: str) -> bytes:
    """Decode base64 text, raising a clear error for anything else.

    Args:
        text: the value to decode.
        what: what it is, for the error message.

    Returns:
        The decoded bytes.
    """
    if not isinstance(text, str):
        raise CheckpointError(f"rng state: expected base64 text for {what}, got {text!r:.60}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise CheckpointError(f"rng state: {what} is not valid base64 ({e})") from None


def _b64_to_words(text: Any, count: int, what: str) -> list[int]:
    """Decode base64 little-endian uint32 words, checking their number.

    Args:
        text: the base64 text.
        count: the number of words expected.
        what: what it is, for the error message.

    Returns:
        The words as Python ints.
    """
    raw = _b64_to_bytes(text, what)
    if len(raw) != 4 * count:
        raise CheckpointError(f"rng state: expected {4 * count} bytes for {what}, got {len(raw)}")
    return [int(w) for w in np.frombuffer(raw, dtype="<u4")]


def _field(state: Any, key: str, what: str) -> Any:
    """Return `state[key]`, raising a clear error if `state` is no dict or lacks the key.

    Args:
        state: the (sub-)state dict.
        key: the key wanted.
        what: the dict's name, for the error message.

    Returns:
        The value.
    """
    if not isinstance(state, dict) or key not in state:
        raise CheckpointError(f"rng state: expected key {key!r} in {what}")
    return state[key]


def capture_rng_state(cuda_device: torch.device | None = None) -> dict[str, Any]:
    """Capture the Python, NumPy-global, torch CPU and (initialised) CUDA generator states.

    Args:
        cuda_device: capture only this CUDA device's generator (a process of a multi-GPU job
            owns one device), recorded as "cuda_device"; None: every device's.

    Returns:
        A JSON-able dict (layout in the module docstring). CUDA generators are captured only
        when CUDA is already initialised, so capturing never starts a CUDA context.
    """
    version, words, gauss_next = random.getstate()
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 (the global RNG is the point)
    if np_state["bit_generator"] != "MT19937":
        raise CheckpointError(
            f"rng state: expected NumPy's global MT19937 generator, got {np_state['bit_generator']}"
        )
    cuda, own = [], {}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        if cuda_device is not None and cuda_device.type == "cuda":
            index = torch.cuda.current_device() if cuda_device.index is None else cuda_device.index
            states, own = [torch.cuda.get_rng_state(index)], {"cuda_device": index}
        else:
            states = torch.cuda.get_rng_state_all()
        cuda = [base64.b64encode(s.numpy().tobytes()).decode("ascii") for s in states]
    return {
        **own,
        "python": {"version": version, "state": _words_to_b64(words), "gauss_next": gauss_next},
        "numpy": {
            "bit_generator": "MT19937",
            "key": _words_to_b64(np_state["state"]["key"]),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii"),
        "cuda": cuda,
    }


def _byte_tensor(text: Any, what: str) -> torch.Tensor:
    """Decode a base64 torch generator state into the uint8 tensor torch expects.

    Args:
        text: the base64 text.
        what: what it is, for the error message.

    Returns:
        A CPU uint8 tensor.
    """
    return torch.frombuffer(bytearray(_b64_to_bytes(text, what)), dtype=torch.uint8)


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states captured by `capture_rng_state`.

    CUDA states are restored for the devices present (the first `min(saved, available)`, or
    the one device named by "cuda_device"); without CUDA they are skipped, so a run captured
    on a GPU can resume on a CPU.

    Args:
        state: the dict returned by `capture_rng_state` (possibly through JSON).

    Raises:
        CheckpointError: `state` is not such a dict.
    """
    py = _field(state, "python", "the rng state")
    version = _field(py, "version", "python")
    gauss_next = _field(py, "gauss_next", "python")
    if not isinstance(version, int) or not (gauss_next is None or isinstance(gauss_next, float)):
        raise CheckpointError("rng state: python needs an int version and a float/None gauss_next")
    words = _b64_to_words(_field(py, "state", "python"), 625, "python.state")
    np_saved = _field(state, "numpy", "the rng state")
    np_state = {
        "bit_generator": _field(np_saved, "bit_generator", "numpy"),
        "state": {
            "key": np.asarray(_b64_to_words(_field(np_saved, "key", "numpy"), 624, "numpy.key")),
            "pos": _field(np_saved, "pos", "numpy"),
        },
        "has_gauss": _field(np_saved, "has_gauss", "numpy"),
        "gauss": _field(np_saved, "gauss", "numpy"),
    }
    torch_state = _byte_tensor(_field(state, "torch", "the rng state"), "torch")
    cuda = _field(state, "cuda", "the rng state")
    if not isinstance(cuda, list):
        raise CheckpointError("rng state: expected a list for cuda")
    cuda_states = [_byte_tensor(s, f"cuda[{i}]") for i, s in enumerate(cuda)]
    try:
        random.setstate((version, tuple(words), gauss_next))
        np.random.set_state(np_state)  # noqa: NPY002
        torch.set_rng_state(torch_state)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"rng state: cannot restore ({e})") from None
    if cuda_states and torch.cuda.is_available():
        own = state.get("cuda_device")
        if isinstance(own, int) and own < torch.cuda.device_count():
            torch.cuda.set_rng_state(cuda_states[0], own)
            return
        for device, s in enumerate(cuda_states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, device)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python's `random` and NumPy's global generator."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global generator is the point)
