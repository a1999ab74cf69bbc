"""Training: the task-agnostic trainer and run path, checkpoints, metrics, schedules.

It knows the task protocol only (`rnnlab.train.task`); the tasks live in `rnnlab.tasks`.

Submodules load on first use, so `import rnnlab.train.checkpoint` stays light.
"""

import importlib

_EXPORTS = {
    "TrainConfig": "rnnlab.train.config",
    "Trainer": "rnnlab.train.trainer",
    "FitResult": "rnnlab.train.trainer",
    "Task": "rnnlab.train.task",
    "TaskSpec": "rnnlab.train.task",
    "RunContext": "rnnlab.train.task",
    "run_task": "rnnlab.train.run",
    "load_trained": "rnnlab.train.run",
    "evaluate_trained": "rnnlab.train.run",
    "Checkpoint": "rnnlab.train.checkpoint",
    "save_checkpoint": "rnnlab.train.checkpoint",
    "load_checkpoint": "rnnlab.train.checkpoint",
    "find_checkpoint": "rnnlab.train.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rnnlab.train' has no attribute {name!r}")
