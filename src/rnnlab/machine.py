"""What a measurement ran on: CPU model and the features speed depends on, cores, torch."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

# CPU flags that change which kernels run (and so the figures): SIMD width, bf16 matrix units
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")


def _cpuinfo() -> list[str]:
    with contextlib.suppress(OSError):
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split("\n")
    return []


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    for line in _cpuinfo():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> list[str]:
    """The `RELEVANT_FLAGS` this CPU reports (empty where /proc/cpuinfo is unavailable)."""
    for line in _cpuinfo():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            present = set(value.split())
            return [flag for flag in RELEVANT_FLAGS if flag in present]
    return []


def cpu_features() -> frozenset[str] | None:
    """Every feature word the CPU reports (x86 `flags`, Arm `Features`), or None where
    /proc/cpuinfo is unavailable (macOS, Windows)."""
    for line in _cpuinfo():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def measured_bf16_speedup() -> float:
    """fp32 time / bf16 time of a (256 x 512) @ (512 x 512) product on this CPU (median of a
    few), cached in the rnnlab cache directory by CPU model, torch version and threads."""
    import json
    import time

    import torch

    from rnnlab.atomic import atomic_write_json
    from rnnlab.data.cache import resolve_cache_dir

    threads = torch.get_num_threads()
    key = f"{cpu_model()}|{platform.machine()}|torch {torch.__version__}|{threads} threads"
    path = Path(resolve_cache_dir()) / "bf16-speed.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), (int, float)):
        return float(cached[key])

    def timing(dtype: torch.dtype) -> float:
        a = torch.randn(256, 512).to(dtype)
        b = torch.randn(512, 512).to(dtype)
        times = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(3):
                a @ b
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    with torch.random.fork_rng(devices=[]):
        speedup = timing(torch.float32) / timing(torch.bfloat16)
    try:
        cached = cached if isinstance(cached, dict) else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**cached, key: speedup})
    except OSError:
        pass  # an unwritable cache only costs the measurement next time
    return speedup


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """What the numbers were measured on: CPU and its flags, cores, GPU, platform, torch."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if hasattr(os, "sched_getaffinity"):
        info["cores_available"] = len(os.sched_getaffinity(0))
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def describe_machine(info: dict[str, Any]) -> str:
    """One line: `AMD EPYC (avx2, avx512f, avx512_bf16), 2 cores, torch 2.13.0+cpu`."""
    flags = ", ".join(info.get("cpu_flags") or []) or "flags unknown"
    cores = info.get("cores_available", info.get("cores"))
    gpu = f", {info['gpu']}" if info.get("gpu") else ""
    return f"{info['cpu']} ({flags}), {cores} cores{gpu}, torch {info['torch']}"
