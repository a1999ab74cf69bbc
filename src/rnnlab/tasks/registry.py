"""The registry of tasks: one `TaskSpec` per name, filled as the task modules are imported."""

from __future__ import annotations

from pathlib import Path

from rnnlab.errors import CheckpointError, InputError
from rnnlab.train.checkpoint import find_checkpoint, load_meta
from rnnlab.train.task import TaskSpec

REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (a name may be registered once)."""
    if spec.name in REGISTRY and REGISTRY[spec.name] is not spec:
        raise ValueError(f"task {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """The registered task `name`; an unknown name is an InputError listing the known ones."""
    if name not in REGISTRY:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def task_of(path: str | Path) -> TaskSpec:
    """The task recorded in a checkpoint (a run directory or a checkpoint file)."""
    name = load_meta(path).get("task")
    if name not in REGISTRY:
        raise CheckpointError(
            f"{find_checkpoint(path)}: records the task {name!r}, which this version does not "
            f"know (known tasks: {', '.join(sorted(REGISTRY))})"
        )
    return REGISTRY[name]
