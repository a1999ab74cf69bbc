"""Multi-process training through torch.distributed (launched by `torchrun`).

Each process trains on its share of the global batch; DistributedDataParallel averages the
gradients, so W processes take the same step as one process on the whole batch.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnlab.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group `torchrun` describes in the environment (no-op when alone).

    Uses NCCL on CUDA and gloo on CPU; with CUDA each process takes the GPU of its local rank.
    Returns the job description and the device this process computes on.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        if torch.cuda.device_count() <= local_rank:
            raise InputError(
                f"distributed: local rank {local_rank} has no GPU "
                f"({torch.cuda.device_count()} visible); use --device cpu or fewer processes"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank), device


def teardown(clean: bool = True) -> None:
    """Leave the process group.

    After a clean finish every process first waits for the others (rank 0 may still be
    writing its last checkpoint): a process that tears its connections down while a peer
    still uses them can take gloo's worker threads down with an abort. After an error the
    barrier is skipped, since a failed peer may never reach it.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if clean:
        dist.barrier()
    dist.destroy_process_group()


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when `flag` is true on any (a collective: call it everywhere)."""
    return max_over_processes([float(flag)], info, device)[0] > 0


def max_over_processes(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Each value's maximum over all processes (a collective: call it everywhere).

    Used to agree on time-dependent decisions: the slowest process's step time, whether any
    process caught a signal.
    """
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def sum_over_processes(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Each value summed over all processes (a collective: call it everywhere)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_bytes(data: bytes, info: DistInfo, device: torch.device) -> list[bytes]:
    """Every process's `data` (any length), in rank order (a collective: call it everywhere)."""
    if not info.enabled:
        return [data]
    (longest,) = max_over_processes([float(len(data))], info, device)
    buf = torch.zeros(int(longest) + 8, dtype=torch.uint8, device=device)
    buf[:8] = torch.tensor(list(len(data).to_bytes(8, "little")), dtype=torch.uint8)
    buf[8 : 8 + len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    out = []
    for row in gather_stack(buf, info).cpu():
        raw = bytes(row.tolist())
        out.append(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    return out


def shares(rows: int, world: int, rank: int, groups: int) -> list[slice]:
    """Process `rank`'s rows of a global batch of `rows`, cut into `groups` consecutive slices."""
    lo, hi = rows * rank // world, rows * (rank + 1) // world
    bounds = [lo + (hi - lo) * g // groups for g in range(groups + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def gather_cat(tensor: torch.Tensor, info: DistInfo, dim: int) -> torch.Tensor:
    """Concatenate every process's `tensor` along `dim` in rank order (same shape everywhere)."""
    if not info.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(info.world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=dim)


def gather_stack(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Stack every process's `tensor` (same shape everywhere) into (world_size, ...)."""
    return gather_cat(tensor.unsqueeze(0), info, 0)
