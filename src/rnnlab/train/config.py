"""Training settings shared by every task; task configs subclass `TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass


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
    eval_tokens: int | None = 200_000  # cap on tokens per periodic validation (None: all)
    patience: int | None = None  # stop after this many evaluations without improvement
    # runtime
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto | fp32 | bf16 (autocast); auto = bf16 where it is fast
    seed: int = 0
    threads: int | None = None  # CPU threads for torch (None: torch's default)
    log_every: int = 20  # steps between metrics-log lines
    checkpoint_every: int = 1000  # steps between checkpoints (also saved at the end)
    checkpoint_minutes: float = 10.0  # and at least this often in wall-clock time
    keep_checkpoints: int = 2  # most recent checkpoints kept on disk
    progress: bool = True  # tqdm progress bar
