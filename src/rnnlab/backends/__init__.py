"""Backends: interchangeable ways to run a recurrent stack, and the choice between them.

`resolve(name, spec, device)` returns the backend that runs ``spec``:

* ``"auto"``: torch's fused op (`TorchFusedBackend`) when it computes the configuration
  exactly, else the per-step loop (`LoopBackend`);
* ``"torch"`` / ``"loop"``: that backend, or `InputError` saying why it cannot;
* ``"triton"``: planned, not available in this version (`InputError`).
"""

from __future__ import annotations

import torch

from rnnlab.backends.contract import (
    GATES,
    Backend,
    LayerWeights,
    Masks,
    RecurrentSpec,
    State,
    permute_state,
)
from rnnlab.backends.loop import LoopBackend
from rnnlab.backends.torch_fused import TorchFusedBackend
from rnnlab.errors import InputError

NAMES = ("auto", "torch", "loop", "triton")

# In the order "auto" prefers them.
REGISTRY: dict[str, Backend] = {"torch": TorchFusedBackend(), "loop": LoopBackend()}

_PLANNED = {"triton": "the triton backend is not available in this version of rnnlab (planned)"}


def resolve(
    name: str, spec: RecurrentSpec, device: torch.device | str, steps: int | None = None
) -> Backend:
    """The backend that runs ``spec`` on ``device`` for the requested ``name``.

    Args:
        name: "auto", "torch", "loop" or "triton".
        spec: what the stack computes.
        device: where its parameters live.
        steps: the number of time steps of the call, when known. "auto" runs a single step
            on the CPU with the loop: the fused op's per-call set-up costs more than the step
            itself there (sampling one character at a time is about 2.5x faster).

    Returns:
        A `Backend`.

    Raises:
        InputError: unknown name, a planned backend, or a backend that cannot compute
            ``spec`` (the message says why).
    """
    device = torch.device(device)
    if name in _PLANNED:
        raise InputError(f"backend {name!r}: {_PLANNED[name]}; use 'auto', 'torch' or 'loop'")
    if name == "auto":
        if (
            steps == 1
            and device.type == "cpu"
            and REGISTRY["loop"].unsupported(spec, device) is None
        ):
            return REGISTRY["loop"]
        reasons = []
        for key, backend in REGISTRY.items():
            reason = backend.unsupported(spec, device)
            if reason is None:
                return backend
            reasons.append(f"{key}: {reason}")
        raise InputError(f"no backend can run this configuration ({'; '.join(reasons)})")
    if name not in REGISTRY:
        raise InputError(f"expected backend in {NAMES}, got {name!r}")
    backend = REGISTRY[name]
    reason = backend.unsupported(spec, device)
    if reason is not None:
        raise InputError(f"backend {name!r} cannot run this configuration: {reason}")
    return backend


__all__ = [
    "GATES",
    "NAMES",
    "REGISTRY",
    "Backend",
    "LayerWeights",
    "LoopBackend",
    "Masks",
    "RecurrentSpec",
    "State",
    "TorchFusedBackend",
    "permute_state",
    "resolve",
]
