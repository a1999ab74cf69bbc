"""Training settings shared by every task; task configs subclass `TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnlab.config import setting
from rnnlab.errors import InputError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad", "sgd")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "fp32", "bf16")

# settings that may change when a run is resumed; any other difference is a mismatch
RESUMABLE = frozenset(
    {
        "steps",
        "minutes",
        "eval_every",
        "eval_tokens",
        "patience",
        "log_every",
        "checkpoint_every",
        "checkpoint_minutes",
        "keep_checkpoints",
        "progress",
        "device",
        "threads",
        "precision",
        "accumulate",  # a step is the same step however it is split into micro-batches
    }
)


@dataclass
class TrainConfig:
    """How a model is trained: budget, optimiser, schedule, clipping, evaluation, runtime.

    Budgets count the whole run across resumes: `steps` optimizer steps and/or `minutes` of
    training time; the run stops at whichever comes first.
    """

    # budget (of the whole run, across resumes)
    steps: int | None = setting(None, "optimizer steps for the whole run (across resumes)")
    minutes: float | None = setting(None, "minutes of training for the whole run (across resumes)")
    # optimiser
    optimizer: Literal["adam", "adamw", "rmsprop", "adagrad", "sgd"] = setting("adam", "optimiser")
    lr: float = setting(2e-3, "peak learning rate")
    weight_decay: float = setting(
        0.0, "L2 penalty on weights (decoupled for adamw); never on biases or norm gains"
    )
    beta1: float = setting(0.9, "Adam's first-moment decay")
    beta2: float = setting(0.999, "Adam's second-moment decay")
    alpha: float = setting(0.99, "RMSprop's squared-gradient decay")
    eps: float = setting(1e-8, "optimizer epsilon")
    momentum: float = setting(0.0, "SGD / RMSprop momentum")
    accumulate: int = setting(1, "micro-batches whose gradients are summed into one optimizer step")
    # learning-rate schedule; progress is the larger of step/steps and elapsed/minutes, so a
    # time budget decays over time
    schedule: Literal["constant", "cosine", "step"] = setting("cosine", "learning-rate schedule")
    warmup: int = setting(0, "linear warm-up, in optimizer steps")
    min_lr_ratio: float = setting(0.0, "cosine floor as a fraction of lr")
    decay_every: int = setting(1000, "step schedule: steps between decays")
    decay_rate: float = setting(0.5, "step schedule: factor per decay")
    # gradient clipping: by global norm and/or element-wise by value (None disables)
    clip_norm: float | None = setting(1.0, "clip gradients to this global norm (none: off)")
    clip_value: float | None = setting(None, "clip each gradient element to ±value (none: off)")
    # evaluation and early stopping
    eval_every: int = setting(500, "steps between validation passes (0: only at the end)")
    eval_tokens: int | None = setting(
        200_000, "validate on the first N targets of the val split (none: all)"
    )
    patience: int | None = setting(
        None, "early stopping: evaluations without improvement of the monitored metric"
    )
    # runtime
    device: str = setting("auto", "auto | cpu | cuda | cuda:N")
    precision: Literal["auto", "fp32", "bf16"] = setting(
        "auto", "autocast precision; auto: bf16 where the hardware runs it natively"
    )
    grad_scaler: bool | None = setting(
        None, "dynamic loss scaling (none: on with CUDA autocast; cuDNN RNNs run in float16)"
    )
    seed: int = setting(0, "random seed (initialisation, dropout, data order)")
    threads: int | None = setting(None, "CPU threads for torch (none: torch's default)")
    log_every: int = setting(20, "steps between metrics-log lines")
    checkpoint_every: int = setting(1000, "steps between checkpoints (also saved at the end)")
    checkpoint_minutes: float = setting(10.0, "and at least this often, in minutes")
    keep_checkpoints: int = setting(2, "most recent checkpoints kept")
    progress: bool = setting(True, "show a progress bar")


def check_train_config(cfg: TrainConfig) -> None:
    """Fail before any work is done when a setting is out of its range (InputError)."""
    problems = []

    def need(ok: bool, name: str, expected: str) -> None:
        if not ok:
            problems.append(f"{name} {expected}, got {getattr(cfg, name)!r}")

    if cfg.steps is None and cfg.minutes is None:
        problems.append("a budget: steps or minutes (or both)")
    need(cfg.steps is None or cfg.steps >= 1, "steps", ">= 1")
    need(cfg.minutes is None or cfg.minutes > 0, "minutes", "> 0")
    need(cfg.optimizer in OPTIMIZERS, "optimizer", f"in {', '.join(OPTIMIZERS)}")
    need(cfg.schedule in SCHEDULES, "schedule", f"in {', '.join(SCHEDULES)}")
    need(cfg.precision in PRECISIONS, "precision", f"in {', '.join(PRECISIONS)}")
    need(cfg.lr >= 0, "lr", ">= 0")
    need(cfg.weight_decay >= 0, "weight_decay", ">= 0")
    need(cfg.accumulate >= 1, "accumulate", ">= 1")
    need(cfg.warmup >= 0, "warmup", ">= 0")
    need(0 <= cfg.min_lr_ratio <= 1, "min_lr_ratio", "in [0, 1]")
    need(cfg.decay_every >= 1, "decay_every", ">= 1")
    need(cfg.decay_rate > 0, "decay_rate", "> 0")
    need(cfg.clip_norm is None or cfg.clip_norm > 0, "clip_norm", "> 0 or none")
    need(cfg.clip_value is None or cfg.clip_value > 0, "clip_value", "> 0 or none")
    need(cfg.eval_every >= 0, "eval_every", ">= 0")
    need(cfg.eval_tokens is None or cfg.eval_tokens >= 1, "eval_tokens", ">= 1 or none")
    need(cfg.patience is None or cfg.patience >= 1, "patience", ">= 1 or none")
    need(cfg.threads is None or cfg.threads >= 1, "threads", ">= 1 or none")
    need(cfg.log_every >= 1, "log_every", ">= 1")
    need(cfg.checkpoint_every >= 1, "checkpoint_every", ">= 1")
    need(cfg.checkpoint_minutes > 0, "checkpoint_minutes", "> 0")
    need(cfg.keep_checkpoints >= 1, "keep_checkpoints", ">= 1")
    if problems:
        raise InputError("settings: expected " + "; ".join(problems))
