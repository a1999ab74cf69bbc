"""Training: the model-agnostic trainer, checkpoints, metrics, and the character-LM run.

Submodules load on first use, so `import rnnlab.train.checkpoint` stays light.
"""

import importlib

_EXPORTS = {
    "TrainConfig": "rnnlab.train.config",
    "Trainer": "rnnlab.train.trainer",
    "FitResult": "rnnlab.train.trainer",
    "Task": "rnnlab.train.task",
    "LMTask": "rnnlab.train.lm_task",
    "held_out_loss": "rnnlab.train.lm_task",
    "CharLMRunConfig": "rnnlab.train.charlm",
    "train_charlm": "rnnlab.train.charlm",
    "load_charlm": "rnnlab.train.charlm",
    "generate": "rnnlab.train.charlm",
    "evaluate_checkpoint": "rnnlab.train.charlm",
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
