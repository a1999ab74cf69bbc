"""What the long-memory tasks share: batches of whole sequences, a sequence model, a loss.

Each task (adding, copy memory, pixel-by-pixel images, recall) says how to make global
training batch i and its fixed validation and test sets; this module does the rest.

- **Batches.** Global batch i (`batch` sequences) is the same whatever the number of
  processes and micro-batches: process r of W takes rows [r·B/W, (r+1)·B/W), and with
  `accumulate` K it takes them in K consecutive groups. So a step is the same step on one
  process as on several, with or without accumulation, even when the rows do not divide
  evenly (the trainer averages over the targets of the whole batch).
- **Generated data** (adding, copy, recall) is an endless stream: batch i is drawn by the
  task's generator from a seed derived from (`data_seed`, i), so the same settings give the
  same data on any machine, and a resumed run continues the stream where it stopped. The
  validation and test sets are drawn from their own seeds.
- **Model.** `rnnlab.models.SequenceModel` (TCN or recurrent), sized by `--params N` (the
  width is chosen to match, the exact count is printed and recorded) or by explicit widths.
- **Loss.** Regression: squared error of the last output (metric `mse`). Classification:
  cross-entropy of the last output, or of every step's (metric `accuracy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import setting
from rnnlab.errors import CheckpointError, InputError
from rnnlab.models.recurrent import describe_computation
from rnnlab.models.sequence import (
    SequenceModel,
    SequenceModelConfig,
    check_model_config,
    size_for_params,
)
from rnnlab.train import distributed as D
from rnnlab.train.config import TrainConfig
from rnnlab.train.task import RunContext, Task, TaskSpec, format_metrics


@dataclass
class SequenceTaskConfig(SequenceModelConfig, TrainConfig):
    """Batches and held-out sets of a long-memory task."""

    steps: int | None = 2000
    lr: float = 2e-3
    eval_every: int = 250
    eval_tokens: int | None = None
    # fp32 by default: the regression targets (adding: MSE ~1e-6) need fp32's resolution,
    # and models of this size gain little from bf16; "auto" is there to ask for it
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    batch: int = setting(32, "sequences per optimizer step (global, across processes)")
    data_seed: int = setting(0, "seed of the data: training order, held-out sets")
    eval_batch: int = setting(250, "sequences per evaluation batch")


@dataclass
class GeneratedTaskConfig(SequenceTaskConfig):
    """Held-out sets of a generated task."""

    val_size: int = setting(1000, "validation sequences")
    test_size: int = setting(2000, "test sequences")


def check_sequence_config(name: str, cfg: SequenceTaskConfig) -> None:
    """The settings every long-memory task checks before any work (InputError)."""
    check_model_config(name, cfg)
    for field in ("batch", "val_size", "test_size", "eval_batch"):
        if getattr(cfg, field, 1) < 1:
            raise InputError(f"{name}: expected {field} >= 1, got {getattr(cfg, field)}")
    if cfg.batch < cfg.accumulate:
        raise InputError(
            f"{name}: batch {cfg.batch} cannot be split into {cfg.accumulate} micro-batches"
        )
    if cfg.data_seed < 0:
        raise InputError(f"{name}: expected data_seed >= 0, got {cfg.data_seed}")


def stream_seed(data_seed: int, stream: int, index: int) -> int:
    """A seed for item `index` of stream `stream` (0 train, 1 val, 2 test), platform-independent."""
    return int(np.random.SeedSequence([data_seed, stream, index]).generate_state(1)[0])


class SequenceTask(Task):
    """A task over batches of whole sequences (subclasses give the data).

    Subclasses set `name`, `inputs` (features, or the vocabulary with `tokens`), `outputs`,
    `tokens`, `every_step`, `kind` ("regression" or "classification") and `t_max` (the
    longest dependency, for chrono initialisation), and implement `train_batch(i)` and
    `held_out(split)`.
    """

    name = "sequence"
    kind = "regression"
    inputs = 1
    outputs = 1
    tokens = False
    every_step = False
    t_max: float | None = None

    def __init__(self, cfg: SequenceTaskConfig, context: RunContext):
        self.cfg = cfg
        self.device = context.device
        self.dist = context.dist
        self.log = context.log
        self.index = 0  # the next global training batch
        self._micro = 0
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self._held_out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.dist.world_size * cfg.accumulate > cfg.batch:
            raise InputError(
                f"{self.name}: batch {cfg.batch} is too small for {self.dist.world_size} "
                f"processes x {cfg.accumulate} micro-batches (each needs one sequence)"
            )
        self.groups = D.shares(cfg.batch, self.dist.world_size, self.dist.rank, cfg.accumulate)
        saved = (context.saved or {}).get("model")
        self.model_config, self.n_params = self._size(saved)

    # -- the data, given by each task -------------------------------------------------------

    def train_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Global training batch `index`: (x, y) with `cfg.batch` rows."""
        raise NotImplementedError

    def held_out(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole "val" or "test" set: (x, y)."""
        raise NotImplementedError

    def describe_data(self) -> str:
        """A few words on the data, for the first line of a run."""
        return self.name

    # -- model ------------------------------------------------------------------------------

    def _build(self, config: SequenceModelConfig) -> SequenceModel:
        return SequenceModel(
            self.inputs,
            self.outputs,
            config,
            tokens=self.tokens,
            every_step=self.every_step,
            t_max=self.t_max,
        )

    def _size(self, saved: dict[str, Any] | None) -> tuple[SequenceModelConfig, int]:
        """The model's widths: recorded in the checkpoint, or chosen for `params` now."""
        cfg = self.cfg.model_options()
        if saved is not None:
            try:
                widths = {
                    "hidden": int(saved["hidden"]),
                    "channels": tuple(int(c) for c in saved["channels"]),
                }
                return replace(cfg, **widths), int(saved["parameters"])
            except (KeyError, TypeError, ValueError) as err:
                raise CheckpointError(
                    f"{self.name}: the checkpoint's model description is damaged ({err})"
                ) from None
        return size_for_params(self.name, cfg, self._build)

    def build_model(self) -> SequenceModel:
        return self._build(self.model_config)

    def meta(self) -> dict[str, Any]:
        c = self.model_config
        return {
            "model": {
                "kind": c.model,
                "hidden": c.hidden,
                "channels": list(c.channels),
                "parameters": self.n_params,
            }
        }

    def describe(self, model: nn.Module) -> str:
        c = self.model_config
        if c.model == "tcn":
            shape = (
                f"tcn {len(c.channels)} levels of {','.join(map(str, sorted(set(c.channels))))}, "
                f"kernel {c.kernel_size}, receptive field {model.receptive_field}"
            )
        else:
            shape = f"{c.model} {c.layers}x{c.hidden}, {describe_computation(model.encoder)}"
        budget = f" (budget {self.cfg.params:,})" if self.cfg.params is not None else ""
        return f"{self.describe_data()}; {shape}, {self.n_params:,} parameters{budget}"

    # -- loss -------------------------------------------------------------------------------

    def loss_terms(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss, number of correct predictions or 0) of one batch; `out` from the model."""
        if self.kind == "regression":
            err = out.float().squeeze(-1) - y.float()
            return (err * err).sum(), torch.zeros((), device=out.device)
        logits = out.float().flatten(0, -2)  # (N, K)
        target = y.flatten()
        loss = F.cross_entropy(logits, target, reduction="sum")
        return loss, (logits.argmax(-1) == target).sum()

    def targets(self, y: torch.Tensor) -> int:
        return y.numel()

    def train_loss(self, model: nn.Module) -> tuple[torch.Tensor, int]:
        """This process's next micro-batch of global batch `index`: (summed loss, targets)."""
        if self._micro == 0:
            self._batch = self.train_batch(self.index)
        x, y = self._batch
        rows = self.groups[self._micro]
        self._micro = (self._micro + 1) % len(self.groups)
        if self._micro == 0:
            self.index += 1
            self._batch = None
        x, y = x[rows].to(self.device), y[rows].to(self.device)
        loss, _ = self.loss_terms(model(x), y)
        return loss, self.targets(y)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, split: str = "val", *, max_tokens: int | None = None
    ) -> dict[str, float]:
        """Mean loss over the split's targets, and `mse` or `accuracy` (first `max_tokens`)."""
        x, y = self.held_out(split)
        if max_tokens is not None:
            per = max(self.targets(y[:1]), 1)
            keep = max(1, math.ceil(max_tokens / per))
            x, y = x[:keep], y[:keep]
        was_training = model.training
        model.eval()
        total, correct, count = 0.0, 0.0, 0
        for lo in range(0, len(x), self.cfg.eval_batch):
            xb = x[lo : lo + self.cfg.eval_batch].to(self.device)
            yb = y[lo : lo + self.cfg.eval_batch].to(self.device)
            loss, right = self.loss_terms(model(xb), yb)
            total += loss.item()
            correct += float(right)
            count += self.targets(yb)
        model.train(was_training)
        result = {"loss": total / count}
        if self.kind == "regression":
            result["mse"] = result["loss"]
        else:
            result["accuracy"] = correct / count
        result["count"] = float(count)
        return result

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return format_metrics(metrics, skip=("mse",) if self.kind == "regression" else ())

    def plot(self, records, path) -> bool:
        from rnnlab.train.plot import plot_losses

        metric = "accuracy" if self.kind == "classification" else None
        return plot_losses(records, path, unit=None, log_y=True, metric=metric)

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"index": self.index}, {}

    def load_state(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        try:
            self.index = int(meta["index"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{self.name}: the checkpoint lacks its data position") from None
        self._micro, self._batch = 0, None


class GeneratedTask(SequenceTask):
    """A task whose data a seeded generator draws: `generate(n, seed) -> (x, y)`."""

    def generate(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def train_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.generate(self.cfg.batch, stream_seed(self.cfg.data_seed, 0, index))

    def held_out(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in ("val", "test"):
            raise InputError(f"{self.name}: expected split val or test, got {split!r}")
        if split not in self._held_out:
            n = self.cfg.val_size if split == "val" else self.cfg.test_size
            stream = 1 if split == "val" else 2
            self._held_out[split] = self.generate(n, stream_seed(self.cfg.data_seed, stream, 0))
        return self._held_out[split]


def sequence_spec(
    task: type[SequenceTask],
    config: type[SequenceTaskConfig],
    *,
    summary: str,
    description: str,
    check,
    monitor: str,
    mode: str,
    **extra,
) -> TaskSpec:
    """The registry entry of a long-memory task (`extra`: further TaskSpec fields)."""
    metrics = ("loss", "mse") if task.kind == "regression" else ("loss", "accuracy")
    skip = ("mse",) if task.kind == "regression" else ()  # the same number as the loss

    def describe_evaluation(result: dict[str, Any]) -> str:
        return f"{task.name} ({result['split']}): {format_metrics(result, skip=skip)}"

    return TaskSpec(
        name=task.name,
        config=config,
        build=task,
        summary=summary,
        description=description,
        kind=task.kind,
        metrics=metrics,
        monitor=monitor,
        mode=mode,
        check=check,
        describe_evaluation=describe_evaluation,
        **extra,
    )
