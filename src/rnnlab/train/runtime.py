"""Where and how a run computes: device, precision (autocast), threads."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from rnnlab.errors import InputError
from rnnlab.train.config import PRECISIONS


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else CPU; `cuda` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device: expected auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device: {name!r} was asked for but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"device: expected auto, cpu, cuda or cuda:N, got {name!r}")
    return device


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 matrices natively (Intel AMX), so autocast pays off."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if probe is not None:
        return bool(probe())
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype: bf16 or fp32. `auto` is bf16 where the hardware runs it natively."""
    if name not in PRECISIONS:
        raise InputError(f"precision: expected one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "fp32":
        return torch.float32
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = cpu_has_fast_bf16() or name == "bf16"
    if name == "bf16" and not supported:
        raise InputError(f"precision: bf16 is not supported on {device}")
    return torch.bfloat16 if supported else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """An autocast context for `dtype` (a no-op context for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
