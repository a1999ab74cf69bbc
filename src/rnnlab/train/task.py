"""The contract between the task-agnostic trainer and run path and a task.

A task is registered once (in `rnnlab.tasks`) as a `TaskSpec`: its name, its config dataclass
(a `TrainConfig` subclass) and a builder. The builder returns a `Task`: the run-time object
that holds the data, builds the model and computes the loss. The trainer and the run path
(`rnnlab.train.run`) know only these two types, never a model, a corpus or a generator.

    spec = REGISTRY["adding"]
    task = spec.build(cfg, context)          # data
    model = task.build_model()               # model
    loss_sum, count = task.train_loss(model) # loss: summed over `count` targets

The loss is a sum and a count, not a mean, so that the trainer can make the gradient the mean
over the global batch: under DDP and gradient accumulation, processes and micro-batches may
hold different numbers of targets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.train.distributed import DistInfo
from rnnlab.train.plot import plot_losses

MODES = ("min", "max")
KINDS = ("lm", "regression", "classification", "seq2seq")


@dataclass
class RunContext:
    """Where and how a task is built.

    Attributes:
        device: where batches and the model go.
        dist: this process's place in a torchrun job.
        saved: the checkpoint's metadata when resuming or loading a trained model (e.g. its
            vocabulary), else None for a fresh run.
        log: where one-line messages go (silent on processes other than the first).
        training: False when the task is built to evaluate or use a trained model (a task may
            then skip building its training data).
        dtype: the precision the run computes in (autocast dtype; float32 without autocast).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dist: DistInfo = field(default_factory=DistInfo)
    saved: dict[str, Any] | None = None
    log: Callable[..., None] = print
    training: bool = True
    dtype: torch.dtype = torch.float32


class Task:
    """What the trainer asks of a task (subclass it; the methods that raise must be given)."""

    def build_model(self) -> nn.Module:
        """The model, freshly initialised from the global torch RNG (seeded by the run)."""
        raise NotImplementedError

    def chosen_config(self, cfg: Any) -> Any:
        """The run's config with the settings the task chose at start-up filled in (e.g. a
        width sized to the machine, `hidden = "auto"`); the checkpoints record this one, so
        a resume and `rnnlab eval` rebuild the same model. Default: `cfg` unchanged."""
        return cfg

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        """Take this process's share of the next training batch: (summed loss, targets).

        The loss must be a tensor connected to every parameter the model uses (a process
        with zero targets returns a zero that still depends on them). `model` may be wrapped
        in DistributedDataParallel; call it, do not reach inside.
        """
        raise NotImplementedError

    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        """Held-out metrics on `split` (its first `max_tokens` targets, None: all).

        Returns at least {"loss": mean loss per target} and the monitored metric. Must not
        draw from any random number generator (resume equivalence depends on it).
        """
        raise NotImplementedError

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Everything needed to continue exactly: a JSON-able part and tensors.

        Called on every process at the same step (it may use collectives under DDP); the
        returned state describes the whole job, not just this process's share.
        """
        return {}, {}

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `state()` returned (possibly saved with another number of processes)."""

    def meta(self) -> dict[str, Any]:
        """JSON-able description stored in every checkpoint (vocabulary, data, model size)."""
        return {}

    def check_resume(self, saved: dict[str, Any]) -> None:
        """Raise CheckpointError when the run's data no longer matches the checkpoint's."""

    def describe(self, model: nn.Module) -> str:
        """One line shown at the start of a run: data, model, size."""
        n = sum(p.numel() for p in model.parameters())
        return f"{type(model).__name__}, {n:,} parameters"

    def train_metrics(self, loss: float) -> dict[str, float]:
        """Quantities derived from the mean training loss, logged with it (e.g. bits/char)."""
        return {}

    def format_metrics(self, metrics: dict[str, float]) -> str:
        """A readable line for evaluation metrics, e.g. "loss 0.0123, accuracy 0.9870"."""
        return format_metrics(metrics)

    def plot(self, records: list[dict[str, Any]], path: Path) -> bool:
        """Draw the run's curves (loss.png); False when matplotlib is missing."""
        return plot_losses(records, path, unit=None, log_y=True)


def format_metrics(metrics: dict[str, float], skip: tuple[str, ...] = ()) -> str:
    """`loss 0.1234, accuracy 0.9870` for the float-valued entries (counts left out)."""
    parts = []
    for key, value in metrics.items():
        if key in skip or key in ("step", "tokens", "count") or not isinstance(value, float):
            continue
        parts.append(f"{key} {value:.4g}" if abs(value) < 1e-3 and value else f"{key} {value:.4f}")
    return ", ".join(parts)


@dataclass(frozen=True)
class TaskSpec:
    """A registered task.

    Attributes:
        name: as on the command line (`rnnlab train NAME`).
        config: its config dataclass, a `TrainConfig` subclass with defaults.
        build: `build(cfg, context) -> Task`: the data (and, through the Task, model and loss).
        summary: one line for `rnnlab train --help`.
        description: a paragraph for `rnnlab train NAME --help`.
        kind: "lm", "regression", "classification" or "seq2seq": what `eval --json` reports
            beside `loss` (regression: `mse`; classification: `accuracy`; seq2seq: `bleu`,
            `chrf`, `exact_match`).
        metrics: the metrics `Task.evaluate` returns.
        monitor, mode: the metric that selects the best checkpoint, and its direction.
        check: `check(cfg)` raises InputError for settings out of range (before any work).
        canonical: `canonical(cfg) -> cfg` makes settings location-independent (e.g. a data
            path made absolute), applied to fresh and resumed settings alike.
        default_out: the run directory when `--out` is not given.
        evaluate: `evaluate(path, *, split, device, **options) -> metrics` for `rnnlab eval`
            (None: the run path's `evaluate_trained`, which rebuilds the task and its model
            from the checkpoint and evaluates the split).
        describe_evaluation: the readable line of `rnnlab eval` (None: the split and the
            metrics).
        sample: `sample(path, *, device, **options) -> str` for `rnnlab sample` (None: the
            task generates nothing).
        sample_batch: `sample_batch(path, *, device, seeds, **options) -> list[str]` for
            `rnnlab sample --num-samples N`: one sample per seed, drawn together, each the
            text `sample` gives with that seed (None: one sample at a time only).
        options: the names of the `rnnlab eval` options the task takes beside split and
            device (e.g. "data" for another corpus).
    """

    name: str
    config: type
    build: Callable[[Any, RunContext], Task]
    summary: str
    description: str = ""
    kind: str = "regression"
    metrics: tuple[str, ...] = ("loss",)
    monitor: str = "loss"
    mode: str = "min"
    check: Callable[[Any], None] | None = None
    canonical: Callable[[Any], Any] | None = None
    default_out: str | None = None
    evaluate: Callable[..., dict[str, Any]] | None = None
    describe_evaluation: Callable[[dict[str, Any]], str] | None = None
    sample: Callable[..., str] | None = None
    sample_batch: Callable[..., list[str]] | None = None
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"TaskSpec {self.name}: mode must be min or max, got {self.mode!r}")
        if self.monitor not in self.metrics:
            raise ValueError(f"TaskSpec {self.name}: monitor {self.monitor!r} not in metrics")
        if self.kind not in KINDS:
            raise ValueError(f"TaskSpec {self.name}: kind must be one of {KINDS}")

    @property
    def out(self) -> str:
        return self.default_out or f"runs/{self.name}"
