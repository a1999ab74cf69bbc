"""Training settings shared by every task; task configs subclass `TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.errors import InputError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad", "sgd")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """How a model is trained: budget, optimiser, schedule, clipping, evaluation, runtime.

    Budgets count the whole run across resumes: `steps` optimizer steps and/or `minutes` of
    training time; the run stops at whichever comes first.
    """

    # budget (of the whole run, across resumes)
    steps: int | None = None
    minutes: float | None = None
    # optimiser: adam | adamw | rmsprop | adagrad | sgd
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99  # RMSprop's squared-gradient decay
    eps: float = 1e-8
    momentum: float = 0.0
    # learning-rate schedule: constant | cosine | step; progress is the larger of step/steps
    # and elapsed/minutes, so a time budget decays over time
    schedule: str = "cosine"
    warmup: int = 0  # linear warm-up, in optimizer steps
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    decay_every: int = 1000  # step schedule: multiply lr by decay_rate every N steps
    decay_rate: float = 0.5
    # gradient clipping: by global norm and/or element-wise by value (None disables)
    clip_norm: float | None = 1.0
    clip_value: float | None = None
    # evaluation and early stopping
    eval_every: int = 500  # optimizer steps between validation passes (0: only at the end)
    eval_tokens: int | None = 200_000  # validate on the first N tokens of val (None: all)
    patience: int | None = None  # stop after this many evaluations without improvement
    # runtime
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto | fp32 | bf16 (autocast); auto = bf16 where it is fast
    # dynamic loss scaling (GradScaler); None: on when autocasting on CUDA, where cuDNN runs
    # recurrent layers in float16 even under a bf16 autocast
    grad_scaler: bool | None = None
    seed: int = 0
    threads: int | None = None  # CPU threads for torch (None: torch's default)
    log_every: int = 20  # steps between metrics-log lines
    checkpoint_every: int = 1000  # steps between checkpoints (also saved at the end)
    checkpoint_minutes: float = 10.0  # and at least this often in wall-clock time
    keep_checkpoints: int = 2  # most recent checkpoints kept on disk
    progress: bool = True  # tqdm progress bar


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
