"""The model-agnostic training loop: budget, schedule, clipping, evaluation, checkpoints.

A run lives in one directory:

    run_dir/
      config.json            the full configuration of the run
      metrics.jsonl          one JSON record per log line and per evaluation
      loss.png               loss curves (train and validation), refreshed at each checkpoint
      step-00001000.safetensors, latest.json   checkpoints (the newest `keep_checkpoints`)

Budgets (`steps`, `minutes`) count the whole run across resumes, so the same command with
`--resume` completes an interrupted run. SIGINT and SIGTERM save a checkpoint and stop at the
next step boundary; a non-finite loss or gradient stops the run without saving over the last
good checkpoint.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from rnnlab.train import distributed as D
from rnnlab.train.atomic import atomic_write_json
from rnnlab.train.checkpoint import Checkpoint, save_run_checkpoint
from rnnlab.train.config import TrainConfig
from rnnlab.train.metrics import MetricsLog, bits, read_metrics, truncate_after
from rnnlab.train.optim import build_optimizer, clip_gradients
from rnnlab.train.plot import plot_losses
from rnnlab.train.rng import capture_rng_state, restore_rng_state
from rnnlab.train.runtime import autocast, precision_name
from rnnlab.train.schedule import lr_factor
from rnnlab.train.task import Task

STOP_REASONS = ("steps", "minutes", "early-stopping", "signal", "non-finite")


@dataclass
class FitResult:
    """How a run ended."""

    step: int
    elapsed: float  # seconds of training, whole run
    tokens: int
    stopped: str  # one of STOP_REASONS
    message: str
    checkpoint: Path | None
    last_eval: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.stopped != "non-finite"


class Trainer:
    """Train `model` on `task` under `cfg`, writing into `run_dir`.

    Args:
        model: the bare module (not wrapped); it must already be on `device`.
        task: see `rnnlab.train.task.Task`.
        cfg: a TrainConfig (or a subclass: task configs extend it).
        run_dir: the run directory.
        meta: task-level description stored in every checkpoint (e.g. vocabulary, task name).
        device, dtype: where to compute and the autocast dtype (fp32 disables autocast).
        dist_info: this process's place in a torchrun job.
        resume: a checkpoint to continue from (model, optimizer, data, RNG, counters).
        log: where one-line messages go (rank 0 only).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: TrainConfig,
        run_dir: Path,
        *,
        meta: dict[str, Any],
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        dist_info: D.DistInfo | None = None,
        resume: Checkpoint | None = None,
        log=print,
    ):
        if cfg.steps is None and cfg.minutes is None:
            raise ValueError("Trainer: expected a budget, steps or minutes (or both)")
        self.model = model
        self.task = task
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.meta = meta
        self.device = device
        self.dtype = dtype
        self.dist = dist_info or D.DistInfo()
        self.log = log if self.dist.is_main else (lambda *a, **k: None)
        self.optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
        self.step = 0
        self.elapsed = 0.0
        self.tokens = 0
        self.best_val = math.inf
        self.bad_evals = 0
        self.last_eval: dict[str, float] = {}
        self.last_checkpoint: Path | None = None
        self._signal: int | None = None
        if resume is not None:
            self._restore(resume)
        self.ddp = (
            nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
            if self.dist.enabled
            else model
        )

    # -- state -----------------------------------------------------------------------------

    def _restore(self, ckpt: Checkpoint) -> None:
        self.model.load_state_dict(ckpt.model_state)
        if ckpt.optimizer_state is not None:
            self.optimizer.load_state_dict(ckpt.optimizer_state)
        counters = ckpt.meta["trainer"]
        self.step = int(counters["step"])
        self.elapsed = float(counters["elapsed"])
        self.tokens = int(counters["tokens"])
        best = counters.get("best_val")
        self.best_val = math.inf if best is None else float(best)
        self.bad_evals = int(counters.get("bad_evals", 0))
        self.last_eval = dict(counters.get("last_eval", {}))
        self.last_checkpoint = ckpt.path
        task_tensors = {
            k.removeprefix("task."): v
            for k, v in ckpt.extra_tensors.items()
            if k.startswith("task.")
        }
        self.task.load_state(ckpt.meta.get("task_state", {}), task_tensors)
        saved_world = int(ckpt.meta.get("world_size", 1))
        rank_rng = ckpt.extra_tensors.get(f"rng.torch.{self.dist.rank}")
        if saved_world == self.dist.world_size:
            restore_rng_state(ckpt.meta["rng"])
            if rank_rng is not None:
                torch.set_rng_state(rank_rng)
        else:
            torch.manual_seed(self.cfg.seed + 1000 * self.step + self.dist.rank)
        if self.dist.is_main:
            truncate_after(self.run_dir / "metrics.jsonl", self.step)

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (a collective under DDP; rank 0 writes)."""
        task_meta, task_tensors = self.task.state()
        extra = {f"task.{k}": v for k, v in task_tensors.items()}
        if self.dist.enabled:
            states = D.gather_stack(torch.get_rng_state().to(self.device), self.dist)
            extra.update({f"rng.torch.{r}": s.cpu() for r, s in enumerate(states)})
        path = None
        if self.dist.is_main:
            meta = dict(self.meta)
            meta.update(
                config=_config_dict(self.cfg),
                task_state=task_meta,
                rng=capture_rng_state(),
                world_size=self.dist.world_size,
                trainer={
                    "step": self.step,
                    "elapsed": self.elapsed,
                    "tokens": self.tokens,
                    "best_val": self.best_val if math.isfinite(self.best_val) else None,
                    "bad_evals": self.bad_evals,
                    "last_eval": self.last_eval,
                    "precision": precision_name(self.dtype),
                },
            )
            path = save_run_checkpoint(
                self.run_dir,
                self.step,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                extra_tensors=extra,
                meta=meta,
                keep=self.cfg.keep_checkpoints,
            )
            self.last_checkpoint = path
            self._plot()
        return path

    def _plot(self) -> None:
        metrics = self.run_dir / "metrics.jsonl"
        if metrics.exists() and not plot_losses(read_metrics(metrics), self.run_dir / "loss.png"):
            self.log("note: matplotlib is not installed; skipping loss.png")

    # -- schedule ---------------------------------------------------------------------------

    def progress(self) -> float:
        """Fraction of the budget used: the larger of step/steps and elapsed/minutes."""
        parts = []
        if self.cfg.steps:
            parts.append(self.step / self.cfg.steps)
        if self.cfg.minutes:
            parts.append(self.elapsed / (60.0 * self.cfg.minutes))
        return min(1.0, max(parts, default=0.0))

    def budget_spent(self) -> str | None:
        if self.cfg.steps is not None and self.step >= self.cfg.steps:
            return "steps"
        if self.cfg.minutes is not None and self.elapsed >= 60.0 * self.cfg.minutes:
            return "minutes"
        return None

    # -- loop -------------------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train until the budget is spent, early stopping, a signal or a non-finite loss."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = MetricsLog(self.run_dir / "metrics.jsonl") if self.dist.is_main else None
        if self.dist.is_main:
            atomic_write_json(self.run_dir / "config.json", _config_dict(self.cfg))
        old_handlers = self._install_signal_handlers()
        try:
            stopped, message = self._loop(metrics)
            if stopped in ("steps", "minutes"):
                self._evaluate(metrics, None, max_tokens=None)
            if stopped != "non-finite":
                self.save()
        finally:
            if metrics is not None:
                metrics.close()
            self._restore_signal_handlers(old_handlers)
        if stopped == "signal":
            name = signal.Signals(self._signal or signal.SIGINT).name
            message = (
                f"interrupted by {name} at step {self.step}: saved {self.last_checkpoint}; "
                "run the same command with --resume to continue"
            )
        elif stopped in ("steps", "minutes"):
            message = f"finished at step {self.step} ({stopped} budget spent)"
        return FitResult(
            step=self.step,
            elapsed=self.elapsed,
            tokens=self.tokens,
            stopped=stopped,
            message=message,
            checkpoint=self.last_checkpoint,
            last_eval=self.last_eval,
        )

    def _loop(self, metrics: MetricsLog | None) -> tuple[str, str]:
        """The training steps; returns (why it stopped, message)."""
        cfg = self.cfg
        bar = self._progress_bar()
        window_loss, window_tokens, window_time = 0.0, 0, 0.0
        last_save_time = time.monotonic()
        stopped, message = None, ""
        self.model.train()
        try:
            while True:
                stopped = self.budget_spent()
                if stopped:
                    break
                t0 = time.perf_counter()
                lr = cfg.lr * lr_factor(self.step, self.progress(), cfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                with autocast(self.device, self.dtype):
                    loss, tokens = self.task.train_loss(self.ddp)
                loss_value = loss.item()
                bad = not math.isfinite(loss_value)
                if D.any_true(bad, self.dist, self.device):
                    stopped, message = "non-finite", self._non_finite("loss", loss_value)
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = clip_gradients(
                    self.model.parameters(), clip_norm=cfg.clip_norm, clip_value=cfg.clip_value
                )
                if not math.isfinite(norm):
                    stopped, message = "non-finite", self._non_finite("gradient norm", norm)
                    break
                self.optimizer.step()
                self.step += 1
                tokens *= self.dist.world_size
                self.tokens += tokens
                window_loss += loss_value * tokens
                window_tokens += tokens
                dt = time.perf_counter() - t0
                self.elapsed += dt
                window_time += dt
                if bar is not None:
                    bar.update(1 if cfg.steps else dt)
                if self.step % cfg.log_every == 0 or self.budget_spent():
                    mean = window_loss / max(window_tokens, 1)
                    record = {
                        "step": self.step,
                        "split": "train",
                        "loss": mean,
                        "bpc": bits(mean),
                        "lr": lr,
                        "grad_norm": norm,
                        "tokens_per_s": window_tokens / max(window_time, 1e-9),
                        "elapsed": self.elapsed,
                    }
                    if metrics is not None:
                        metrics.append(record)
                    if bar is not None:
                        bar.set_postfix(
                            loss=f"{mean:.3f}",
                            bpc=f"{bits(mean):.3f}",
                            tok_s=f"{record['tokens_per_s']:.0f}",
                            refresh=False,
                        )
                    window_loss, window_tokens, window_time = 0.0, 0, 0.0
                if cfg.eval_every and self.step % cfg.eval_every == 0 and not self.budget_spent():
                    t1 = time.perf_counter()
                    early = self._evaluate(metrics, bar, max_tokens=cfg.eval_tokens)
                    self.elapsed += time.perf_counter() - t1
                    if early:
                        stopped, message = "early-stopping", early
                        break
                if D.any_true(self._signal is not None, self.dist, self.device):
                    stopped = "signal"
                    break
                due = self.step % cfg.checkpoint_every == 0 or (
                    time.monotonic() - last_save_time > 60.0 * cfg.checkpoint_minutes
                )
                if D.any_true(due, self.dist, self.device):
                    t1 = time.perf_counter()
                    self.save()
                    self.elapsed += time.perf_counter() - t1
                    last_save_time = time.monotonic()
        finally:
            if bar is not None:
                bar.close()
        return stopped, message

    def _evaluate(self, metrics: MetricsLog | None, bar, *, max_tokens: int | None) -> str:
        """Validate, log, and return an early-stopping message when patience has run out."""
        result = self.task.evaluate(self.model, "val", max_tokens=max_tokens)
        self.model.train()
        loss = result["loss"]
        self.last_eval = {"step": self.step, **result, "bpc": bits(loss)}
        record = {"step": self.step, "split": "val", **result, "bpc": bits(loss)}
        if metrics is not None:
            metrics.append(record)
        line = f"step {self.step}: val loss {loss:.4f} nats/char, {bits(loss):.4f} bpc"
        (bar.write if bar is not None else self.log)(line)
        if loss < self.best_val:
            self.best_val, self.bad_evals = loss, 0
        else:
            self.bad_evals += 1
        if self.cfg.patience is not None and self.bad_evals >= self.cfg.patience:
            return (
                f"early stopping at step {self.step}: validation loss has not improved on "
                f"{self.best_val:.4f} for {self.bad_evals} evaluations"
            )
        return ""

    def _non_finite(self, what: str, value: float) -> str:
        kept = (
            f"the last good checkpoint is {self.last_checkpoint}"
            if self.last_checkpoint is not None
            else "no checkpoint had been saved yet"
        )
        return (
            f"{what} became {value} at step {self.step + 1}; stopped without saving, {kept}. "
            "Try a lower --lr, tighter clipping (--clip-norm) or --precision fp32."
        )

    def _progress_bar(self):
        if not self.dist.is_main or not self.cfg.progress:
            return None
        if self.cfg.steps:
            total, initial, unit = self.cfg.steps, self.step, "step"
        else:
            total, initial, unit = 60.0 * self.cfg.minutes, self.elapsed, "s"
        return tqdm(
            total=total,
            initial=initial,
            unit=unit,
            dynamic_ncols=True,
            disable=None,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}{postfix}]",
        )

    # -- signals ----------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._signal = signum

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, self._on_signal)
        return old

    @staticmethod
    def _restore_signal_handlers(old: dict) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    from rnnlab.config import to_dict

    return to_dict(cfg)
