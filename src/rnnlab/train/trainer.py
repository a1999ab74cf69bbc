"""The model-agnostic training loop: budget, schedule, clipping, evaluation, checkpoints.

A run lives in one directory:

    run_dir/
      config.json            the full configuration of the run
      metrics.jsonl          one JSON record per log line and per evaluation
      loss.png               loss curves (train and validation), refreshed at each checkpoint
      step-00001000.safetensors, latest.json   checkpoints (the newest `keep_checkpoints`)
      best.safetensors       the checkpoint with the best monitored validation metric so far

The task returns a summed loss and a count of targets per batch; the trainer scales the
gradient so that it is the mean over every target of the global batch, however the targets
are spread over processes (DDP) and micro-batches (`accumulate`).

Budgets (`steps`, `minutes`) count the whole run across resumes, so the same command with
`--resume` completes an interrupted run. SIGINT and SIGTERM save a checkpoint and stop at the
next step boundary; a non-finite loss or gradient stops the run without saving over the last
good checkpoint. Under DDP every decision that depends on time or on one process (signals,
time-based checkpoints, the time budget, early stopping) is agreed by all processes each step.
"""

from __future__ import annotations

import contextlib
import json
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

from rnnlab.atomic import atomic_write_json
from rnnlab.config import to_dict
from rnnlab.errors import CheckpointError, DataError
from rnnlab.train import distributed as D
from rnnlab.train.checkpoint import (
    Checkpoint,
    check_state_dict,
    save_checkpoint,
    save_run_checkpoint,
)
from rnnlab.train.config import TrainConfig, check_train_config
from rnnlab.train.metrics import MetricsLog, read_metrics, truncate_after
from rnnlab.train.optim import build_optimizer, clip_gradients, param_groups, regroup_state
from rnnlab.train.rng import capture_rng_state, restore_rng_state, seed_everything
from rnnlab.train.runtime import autocast, precision_name
from rnnlab.train.schedule import lr_factor
from rnnlab.train.task import MODES, Task

STOP_REASONS = ("steps", "minutes", "early-stopping", "signal", "non-finite")
BEST_NAME = "best.safetensors"  # the checkpoint with the best monitored validation metric
MAX_SKIPPED = 20  # consecutive overflowing steps the loss scaler may skip before the run stops


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
    main_process: bool = True  # False on the other processes of a torchrun job
    eval_text: str = ""  # the last evaluation, formatted by the task

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
        resume: a checkpoint to continue from (model, optimizer, data, RNG, counters); None
            starts a fresh run (and a fresh metrics log).
        log: where one-line messages go (rank 0 only).
        monitor, mode: the validation metric that selects best.safetensors and drives early
            stopping, and whether lower ("min") or higher ("max") is better.
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
        monitor: str = "loss",
        mode: str = "min",
    ):
        check_train_config(cfg)
        if mode not in MODES:
            raise ValueError(f"Trainer: mode must be min or max, got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.model = model
        self.task = task
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.meta = meta
        self.device = device
        self.dtype = dtype
        self.dist = dist_info or D.DistInfo()
        self.log = log if self.dist.is_main else (lambda *a, **k: None)
        self.optimizer = build_optimizer(param_groups(model, cfg.weight_decay), cfg)
        self.step = 0
        self.elapsed = 0.0
        self.tokens = 0
        self.best_val = math.inf if mode == "min" else -math.inf  # of the monitored metric
        self.bad_evals = 0
        self.last_eval: dict[str, float] = {}
        self.last_checkpoint: Path | None = None
        self.window = [0.0, 0]  # loss·tokens and tokens since the last train record
        scaling = cfg.grad_scaler
        if scaling is None:
            scaling = device.type == "cuda" and dtype != torch.float32
        self.scaler = torch.amp.GradScaler(device.type, enabled=scaling)
        self.skipped = 0  # consecutive steps the scaler skipped (non-finite scaled gradients)
        self._signal: int | None = None
        self._resumed = resume is not None
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
        """Continue from `ckpt`; a checkpoint that does not fit is a CheckpointError."""
        check_state_dict(self.model.state_dict(), ckpt.model_state, source=ckpt.path)
        self.model.load_state_dict(ckpt.model_state)
        try:
            counters = ckpt.meta["trainer"]
            if ckpt.optimizer_state is not None:
                order = [p for p in self.model.parameters() if p.requires_grad]
                self.optimizer.load_state_dict(
                    regroup_state(ckpt.optimizer_state, self.optimizer, order)
                )
            self.step = int(counters["step"])
            self.elapsed = float(counters["elapsed"])
            self.tokens = int(counters["tokens"])
            best = counters.get("best_val")
            if best is not None and counters.get("monitor", "loss") == self.monitor:
                self.best_val = float(best)
            self.bad_evals = int(counters.get("bad_evals", 0))
            self.last_eval = dict(counters.get("last_eval", {}))
            self.window = [
                float(counters.get("window_loss", 0.0)),
                int(counters.get("window_tokens", 0)),
            ]
            scaler_state = counters.get("grad_scaler")
            if scaler_state is not None and self.scaler.is_enabled():
                self.scaler.load_state_dict(scaler_state)
            self.skipped = int(counters.get("skipped", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"checkpoint {ckpt.path} cannot be resumed: its training state is missing or "
                f"does not fit ({type(err).__name__}: {err})"
            ) from None
        self.last_checkpoint = ckpt.path
        task_tensors = {
            k.removeprefix("task."): v
            for k, v in ckpt.extra_tensors.items()
            if k.startswith("task.")
        }
        self.task.load_state(ckpt.meta.get("task_state", {}), task_tensors)
        self._restore_rng(ckpt)

    def _restore_rng(self, ckpt: Checkpoint) -> None:
        """Every process continues its own random streams (CPU and CUDA, Python, NumPy).

        Saved with another number of processes, the streams cannot continue: each process
        is reseeded from the seed, the step and its rank.
        """
        saved_world = int(ckpt.meta.get("world_size", 1))
        if saved_world != self.dist.world_size:
            seed_everything(self.cfg.seed + 1000 * self.step + self.dist.rank)
            return
        per_rank = ckpt.meta.get("rng_ranks")
        if isinstance(per_rank, list) and len(per_rank) == saved_world:
            restore_rng_state(per_rank[self.dist.rank])
            return
        # written by an earlier version: rank 0's generators, and each rank's torch CPU state
        restore_rng_state(ckpt.meta["rng"])
        rank_rng = ckpt.extra_tensors.get(f"rng.torch.{self.dist.rank}")
        if rank_rng is not None:
            torch.set_rng_state(rank_rng)

    def save(self, *, best: bool = False, stopped: str | None = None) -> Path | None:
        """Write a checkpoint of the current step (a collective under DDP; rank 0 writes).

        With `best`, write it as `best.safetensors` (the best monitored validation metric so
        far), which the step checkpoints' pruning leaves alone. `stopped` records why the run
        ended (one of STOP_REASONS) in the last checkpoint of a run.
        """
        task_meta, task_tensors = self.task.state()
        extra = {f"task.{k}": v for k, v in task_tensors.items()}
        rng = capture_rng_state(self.device)
        per_rank = None
        if self.dist.enabled:
            texts = D.gather_bytes(json.dumps(rng).encode(), self.dist, self.device)
            per_rank = [json.loads(t) for t in texts]
        if not self.dist.is_main:
            return None
        meta = dict(self.meta)
        meta.update(
            config=to_dict(self.cfg),
            task_state=task_meta,
            rng=rng,
            world_size=self.dist.world_size,
            trainer={
                "step": self.step,
                "elapsed": self.elapsed,
                "tokens": self.tokens,
                "best_val": self.best_val if math.isfinite(self.best_val) else None,
                "monitor": self.monitor,
                "mode": self.mode,
                "bad_evals": self.bad_evals,
                "last_eval": self.last_eval,
                "window_loss": self.window[0],
                "window_tokens": self.window[1],
                "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "skipped": self.skipped,
                "stopped": stopped,
                "precision": precision_name(self.dtype),
            },
        )
        if per_rank is not None:
            meta["rng_ranks"] = per_rank
        if best:
            return save_checkpoint(
                self.run_dir / BEST_NAME,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                extra_tensors=extra,
                meta={**meta, "step": self.step},
            )
        self.last_checkpoint = save_run_checkpoint(
            self.run_dir,
            self.step,
            model_state=self.model.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            extra_tensors=extra,
            meta=meta,
            keep=self.cfg.keep_checkpoints,
        )
        self._plot()
        return self.last_checkpoint

    def _plot(self) -> None:
        metrics = self.run_dir / "metrics.jsonl"
        if metrics.exists() and not self.task.plot(
            read_metrics(metrics), self.run_dir / "loss.png"
        ):
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
        metrics = None
        if self.dist.is_main:
            self._prepare_log(self.run_dir / "metrics.jsonl")
            metrics = MetricsLog(self.run_dir / "metrics.jsonl")
            atomic_write_json(self.run_dir / "config.json", to_dict(self.cfg))
        old_handlers = self._install_signal_handlers()
        try:
            stopped, message = self._loop(metrics)
            if stopped in ("steps", "minutes"):  # the same text as every validation of the run
                self._evaluate(metrics, None, max_tokens=self.cfg.eval_tokens)
            if stopped != "non-finite":
                self.save(stopped=stopped)
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
            main_process=self.dist.is_main,
            eval_text=self.task.format_metrics(self.last_eval) if self.last_eval else "",
        )

    def _prepare_log(self, path: Path) -> None:
        """A fresh run starts a fresh log; a resumed one drops what followed its checkpoint.

        A log too damaged to read is kept aside (renamed) rather than blocking the run.
        """
        try:
            truncate_after(path, self.step if self._resumed else -1)
        except DataError as err:
            aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            path.replace(aside)
            self.log(f"note: {err}; kept it as {aside.name} and started a new log")

    def _loop(self, metrics: MetricsLog | None) -> tuple[str, str]:
        """The training steps; returns (why it stopped, message)."""
        cfg = self.cfg
        bar = self._progress_bar()
        window_time = 0.0
        last_save_time = time.monotonic()
        self.model.train()
        try:
            while True:
                stopped = self.budget_spent()
                if stopped:
                    return stopped, ""
                t0 = time.perf_counter()
                lr = cfg.lr * lr_factor(self.step, self.progress(), cfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                outcome = self._train_step()
                if isinstance(outcome, str):
                    return "non-finite", outcome
                loss_sum, tokens, norm = outcome
                self.step += 1
                self.tokens += tokens
                self.window[0] += loss_sum
                self.window[1] += tokens
                # one collective per step: the slowest process's time, signals, time-based saves
                dt, signalled, save_due = D.max_over_processes(
                    [
                        time.perf_counter() - t0,
                        float(self._signal is not None),
                        float(time.monotonic() - last_save_time > 60.0 * cfg.checkpoint_minutes),
                    ],
                    self.dist,
                    self.device,
                )
                self.elapsed += dt
                window_time += dt
                if bar is not None:
                    bar.update(1 if cfg.steps else dt)
                if self.step % cfg.log_every == 0 or self.budget_spent():
                    self._log_train(metrics, bar, lr, norm, window_time)
                    window_time = 0.0
                if cfg.eval_every and self.step % cfg.eval_every == 0 and not self.budget_spent():
                    t1 = time.perf_counter()
                    early = self._evaluate(metrics, bar, max_tokens=cfg.eval_tokens)
                    (spent,) = D.max_over_processes(
                        [time.perf_counter() - t1], self.dist, self.device
                    )
                    self.elapsed += spent
                    if D.any_true(bool(early), self.dist, self.device):
                        return "early-stopping", early
                if signalled:
                    return "signal", ""
                if self.step % cfg.checkpoint_every == 0 or save_due:
                    t1 = time.perf_counter()
                    self.save()
                    (spent,) = D.max_over_processes(
                        [time.perf_counter() - t1], self.dist, self.device
                    )
                    self.elapsed += spent
                    last_save_time = time.monotonic()
        finally:
            if bar is not None:
                bar.close()

    def _train_step(self) -> tuple[float, int, float] | str:
        """One optimizer step over `accumulate` micro-batches.

        Each micro-batch's summed loss is backpropagated divided by a constant `ref` (the
        first micro-batch's mean count per process, the same on every process); DDP averages
        the gradients over the W processes, so afterwards multiplying by ref·W/N, with N the
        targets of the whole global batch, makes the gradient the mean over all N targets.

        Returns (summed loss over the global batch, N, gradient norm), or the message of a
        non-finite loss or gradient norm.
        """
        cfg = self.cfg
        world = self.dist.world_size
        self.optimizer.zero_grad(set_to_none=True)
        ref, loss_total, count_total = None, 0.0, 0
        for i in range(cfg.accumulate):
            last = i == cfg.accumulate - 1
            quiet = self.ddp.no_sync() if self.dist.enabled and not last else None
            with quiet or contextlib.nullcontext():
                with autocast(self.device, self.dtype):
                    loss, count = self.task.train_loss(self.ddp)
                loss_value, count_value = D.sum_over_processes(
                    [loss.item(), float(count)], self.dist, self.device
                )
                if not math.isfinite(loss_value):
                    mean = loss_value / max(count_value, 1.0)
                    return self._non_finite("loss", mean)
                if ref is None:
                    ref = max(count_value / world, 1.0)
                self.scaler.scale(loss / ref).backward()
            loss_total += loss_value
            count_total += round(count_value)
        self.scaler.unscale_(self.optimizer)
        factor = ref * world / max(count_total, 1)
        if factor != 1.0:
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad.mul_(factor)
        norm = clip_gradients(
            self.model.parameters(), clip_norm=cfg.clip_norm, clip_value=cfg.clip_value
        )
        # the same on every process: gradients are averaged
        if not math.isfinite(norm):
            if not self.scaler.is_enabled() or self.skipped >= MAX_SKIPPED:
                return self._non_finite("gradient norm", norm)
            self.skipped += 1  # the scaler skips this update and lowers its scale
        else:
            self.skipped = 0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss_total, count_total, norm

    def _log_train(self, metrics: MetricsLog | None, bar, lr: float, norm: float, seconds: float):
        """Write the train record for the steps since the last one and reset the window."""
        mean = self.window[0] / max(self.window[1], 1)
        derived = self.task.train_metrics(mean)
        record = {
            "step": self.step,
            "split": "train",
            "loss": mean,
            **derived,
            "lr": lr,
            "grad_norm": norm,
            "tokens_per_s": self.window[1] / max(seconds, 1e-9),
            "elapsed": self.elapsed,
        }
        if metrics is not None:
            metrics.append(record)
        if bar is not None:
            shown = {"loss": f"{mean:.4g}" if mean < 1e-2 else f"{mean:.3f}"}
            shown.update({k: f"{v:.3f}" for k, v in derived.items()})
            bar.set_postfix(**shown, tok_s=f"{record['tokens_per_s']:.0f}", refresh=False)
        self.window = [0.0, 0]

    def _better(self, value: float) -> bool:
        return value < self.best_val if self.mode == "min" else value > self.best_val

    def _evaluate(self, metrics: MetricsLog | None, bar, *, max_tokens: int | None) -> str:
        """Validate, log and keep the best checkpoint; say when patience has run out.

        Returns an early-stopping message, or "" to go on.
        """
        result = self.task.evaluate(self.model, "val", max_tokens=max_tokens)
        self.model.train()
        if self.monitor not in result:
            raise KeyError(f"the task's evaluation lacks the monitored metric {self.monitor!r}")
        value = float(result[self.monitor])
        self.last_eval = {"step": self.step, **result}
        if metrics is not None:
            metrics.append({"split": "val", **self.last_eval})
        line = f"step {self.step}: val {self.task.format_metrics(result)}"
        (bar.write if bar is not None else self.log)(line)
        improved = D.any_true(self._better(value), self.dist, self.device)
        if improved:
            self.best_val, self.bad_evals = value, 0
            self.save(best=True)
        else:
            self.bad_evals += 1
        if self.cfg.patience is not None and self.bad_evals >= self.cfg.patience:
            return (
                f"early stopping at step {self.step}: validation {self.monitor} has not "
                f"improved on {self.best_val:.4f} for {self.bad_evals} evaluations"
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
