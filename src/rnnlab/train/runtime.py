"""Where and how a run computes: device, precision (autocast), threads."""

from __future__ import annotations

import contextlib
import platform

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


X86 = ("x86_64", "amd64", "i386", "i686")


def cpu_bf16_native(
    features: frozenset[str] | None = None, machine: str | None = None, *, measure=None
) -> tuple[bool, str]:
    """Whether this CPU multiplies bf16 natively, so that autocast to bf16 pays off, and why.

    Decided from the CPU's features where they settle it: Intel AMX (`amx_bf16`) runs bf16
    matrix products natively and fast; an x86 CPU that reports its flags with neither AMX nor
    AVX-512 BF16 would emulate bf16 (slower than fp32). AVX-512 BF16 without AMX does not
    settle it: on AMD Zen 4 a bf16 LSTM step takes about half the fp32 time, while on an
    Intel Xeon (Emerald Rapids, family 6 model 207, under KVM with AMX not exposed) bf16
    matrix products ran at 0.56x the fp32 speed and an LSTM training step at 0.72-0.76x. There,
    and where the features do not say at all (no /proc/cpuinfo, e.g. macOS; Arm, whose bf16
    support depends on the kernels torch ships), a short measurement decides: a fraction of a
    second of bf16 against fp32 matrix products, cached per CPU, torch version and thread
    count (`measure`, for tests, replaces it); bf16 is chosen at 1.1x or more.

    Returns (native, reason).
    """
    from rnnlab import machine as M

    features = M.cpu_features() if features is None else features
    machine = (machine or platform.machine()).lower()
    prefix = ""
    if features is not None:
        if "amx_bf16" in features:
            return True, "the CPU has amx_bf16"
        if machine in X86:
            if "avx512_bf16" not in features:
                return (
                    False,
                    "the CPU has neither amx_bf16 nor avx512_bf16 (bf16 would be emulated)",
                )
            prefix = "the CPU has avx512_bf16 but no AMX: "
    speedup = (measure or M.measured_bf16_speedup)()
    native = speedup >= 1.1
    return native, f"{prefix}measured bf16 matrix products {speedup:.2f}x as fast as fp32"


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 natively, so autocast to bf16 pays off."""
    return cpu_bf16_native()[0]


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype: bf16 or fp32. `auto` is bf16 where the hardware runs it natively
    (CUDA with bf16 support; a CPU with AMX or AVX-512 BF16, see `cpu_bf16_native`)."""
    if name not in PRECISIONS:
        raise InputError(f"precision: expected one of {', '.join(PRECISIONS)}, got {name!r}")
    if name == "fp32":
        return torch.float32
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = name == "bf16" or cpu_has_fast_bf16()
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
