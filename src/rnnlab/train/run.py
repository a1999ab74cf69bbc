"""The one run path every task trains on: fresh or resumed, one process or a torchrun job.

    result = run_task(REGISTRY["charlm"], cfg, "runs/charlm", resume=True, explicit={...})

What it does, for any registered task (`rnnlab.train.task.TaskSpec`):

1. Settings: made location-independent (`spec.canonical`); on resume, the checkpoint's
   config with the explicitly given settings applied, where only budget, logging and runtime
   settings (`RESUMABLE`) may differ; then checked (`check_train_config`, `spec.check`)
   before any work is done.
2. Fresh vs resume: a fresh run never overwrites a directory that holds one; `--resume` on a
   directory without a checkpoint starts a fresh run and says so; a checkpoint of another
   task is a clear error.
3. Runtime: CPU threads, the device, the process group (`torchrun`), the precision.
4. Data: the first process builds the task first (it may download and cache), the others
   after it; on resume the task checks its data against the checkpoint's.
5. Seeding (torch, Python's `random`, NumPy's global generator): the model is initialised
   from `seed` (the same weights on every process); the other random streams (dropout,
   data order) from `seed + 1 + rank`.
6. The trainer, then leaving the process group, also after an error.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from rnnlab import __version__
from rnnlab.config import differences, from_dict, override
from rnnlab.errors import CheckpointError, InputError
from rnnlab.train import distributed as D
from rnnlab.train.checkpoint import (
    Checkpoint,
    check_state_dict,
    find_checkpoint,
    has_checkpoints,
    load_checkpoint,
)
from rnnlab.train.config import RESUMABLE, check_train_config
from rnnlab.train.rng import seed_everything
from rnnlab.train.runtime import precision_name, resolve_device, resolve_precision
from rnnlab.train.task import RunContext, Task, TaskSpec
from rnnlab.train.trainer import FitResult, Trainer


def canonical(spec: TaskSpec, cfg: Any) -> Any:
    """The settings as a run records them (e.g. data paths made absolute)."""
    return spec.canonical(cfg) if spec.canonical is not None else cfg


def check_config(spec: TaskSpec, cfg: Any) -> None:
    """Every setting in its range, or an InputError before any work is done."""
    check_train_config(cfg)
    if spec.check is not None:
        spec.check(cfg)


def resume_config(spec: TaskSpec, saved: dict[str, Any], explicit: dict[str, Any]) -> Any:
    """The saved run's config with the explicitly given settings applied.

    Only budget, logging and runtime settings may change on resume; any other difference
    raises CheckpointError listing the settings.
    """
    base = from_dict(spec.config, saved)
    cfg = canonical(spec, override(base, keep_chosen(saved, explicit)))
    changed = differences(base, cfg, ignore=RESUMABLE)
    if changed:
        raise CheckpointError(
            f"{spec.name}: cannot resume with different settings (" + "; ".join(changed) + "); "
            "drop those flags or start a new run with another --out"
        )
    return cfg


def keep_chosen(saved: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` without the "auto" ones that the saved run already chose a value for (so a
    preset with `hidden = "auto"` resumes its run's model rather than differing from it)."""
    return {
        key: value
        for key, value in settings.items()
        if not (value == "auto" and saved.get(key.replace("-", "_"), "auto") != "auto")
    }


def task_checkpoint(spec: TaskSpec, path: str | Path) -> Checkpoint:
    """Load a checkpoint and check that it belongs to `spec`'s task and describes itself."""
    ckpt = load_checkpoint(find_checkpoint(path))
    if ckpt.meta.get("task") != spec.name:
        raise CheckpointError(
            f"{spec.name}: {ckpt.path} is a {ckpt.meta.get('task')!r} checkpoint, "
            f"not a {spec.name} one"
        )
    if not isinstance(ckpt.meta.get("config"), dict):
        raise CheckpointError(f"{spec.name}: {ckpt.path} lacks its config")
    return ckpt


def load_trained(
    spec: TaskSpec,
    path: str | Path,
    device: str = "cpu",
    *,
    overrides: dict[str, Any] | None = None,
):
    """Rebuild a trained task and its model from a run directory or checkpoint file.

    `overrides` changes settings of the saved config first (e.g. where the data lies).
    Returns (task, model in eval mode on `device`, config, checkpoint).
    """
    ckpt = task_checkpoint(spec, path)
    cfg = from_dict(spec.config, {**ckpt.meta["config"], **(overrides or {})})
    where = resolve_device(device)
    context = RunContext(device=where, saved=ckpt.meta, log=_silent, training=False)
    task = spec.build(cfg, context)
    model = task.build_model()
    check_state_dict(model.state_dict(), ckpt.model_state, source=ckpt.path)
    model.load_state_dict(ckpt.model_state)
    return task, model.to(where).eval(), cfg, ckpt


def evaluate_trained(
    spec: TaskSpec,
    path: str | Path,
    *,
    split: str = "test",
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on the `split` ("test" or "val") of its task's data."""
    if split not in ("test", "val"):
        raise InputError(f"eval: expected split test or val, got {split!r}")
    task, model, _, _ = load_trained(spec, path, device, overrides=overrides)
    return {**task.evaluate(model, split), "split": split}


def run_task(
    spec: TaskSpec,
    cfg: Any,
    out: str | Path,
    *,
    resume: bool = False,
    explicit: dict[str, Any] | None = None,
    log=print,
) -> FitResult:
    """Train (or resume) a run of `spec`'s task in directory `out`.

    Args:
        spec: the registered task.
        cfg: the run configuration, an instance of `spec.config` (on resume the saved one is
            used, with the `explicit` settings applied).
        out: the run directory.
        resume: continue the run in `out` from its latest checkpoint; a directory without one
            starts a fresh run (and says so).
        explicit: settings the user gave explicitly (flags, preset); on resume these override
            the saved config where allowed.
        log: where one-line messages go.
    """
    out = Path(out)
    cfg = canonical(spec, cfg)
    ckpt = None
    if resume:
        if has_checkpoints(out):
            ckpt = task_checkpoint(spec, out)
            cfg = resume_config(spec, ckpt.meta["config"], explicit or {})
        else:
            log(f"--resume: no checkpoint in {out}; starting a fresh run")
    elif has_checkpoints(out):
        raise InputError(
            f"{spec.name}: {out} already holds a run; pass --resume to continue it, "
            "or --out to start a new one elsewhere"
        )
    check_config(spec, cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    try:
        info, device = D.setup(device)
        if ckpt is not None and cfg.precision == "auto":
            cfg = replace(cfg, precision=_recorded_precision(ckpt.meta, cfg.precision))
        dtype = resolve_precision(cfg.precision, device)
        if cfg.precision == "auto":  # record the choice: a resume computes the same way
            cfg = replace(cfg, precision=precision_name(dtype))
        if not info.is_main:
            log = _silent
        context = RunContext(
            device=device, dist=info, saved=ckpt.meta if ckpt else None, log=log, dtype=dtype
        )
        task = _build_in_order(spec, cfg, context)
        cfg = task.chosen_config(cfg)
        if ckpt is not None:
            task.check_resume(ckpt.meta)
        seed_everything(cfg.seed)
        model = task.build_model().to(device)
        seed_everything(cfg.seed + 1 + info.rank)
        meta = {"task": spec.name, "rnnlab_version": __version__, **task.meta()}
        trainer = Trainer(
            model,
            task,
            cfg,
            out,
            meta=meta,
            device=device,
            dtype=dtype,
            dist_info=info,
            resume=ckpt,
            log=log,
            monitor=spec.monitor,
            mode=spec.mode,
        )
        log(
            f"{spec.name}: {task.describe(model)}; {device}, {precision_name(dtype)}"
            + (f", {info.world_size} processes" if info.enabled else "")
        )
        budget = " and ".join(
            b
            for b in (
                f"{cfg.steps} steps" if cfg.steps else "",
                f"{cfg.minutes:g} minutes" if cfg.minutes else "",
            )
            if b
        )
        if ckpt is not None:
            log(f"resuming {ckpt.path} at step {trainer.step} (budget {budget})")
        else:
            log(f"training for {budget} into {out}")
        result = trainer.fit()
        if info.enabled:
            # Drop the DDP wrapper (it holds the process group) before leaving the group, so
            # gloo's threads stop now rather than in the interpreter's shutdown.
            del trainer, task, model
            gc.collect()
    except BaseException:
        D.teardown(clean=False)
        raise
    D.teardown(clean=True)
    return result


def _recorded_precision(meta: dict[str, Any], default: str) -> str:
    """The precision a run computed in: its config's, else (runs that recorded "auto") the
    trainer's record of what "auto" chose."""
    chosen = meta.get("config", {}).get("precision")
    if chosen in ("fp32", "bf16"):
        return chosen
    chosen = meta.get("trainer", {}).get("precision")
    return chosen if chosen in ("fp32", "bf16") else default


def _silent(*args, **kwargs) -> None:
    return None


def _build_in_order(spec: TaskSpec, cfg: Any, context: RunContext) -> Task:
    """The first process builds the task first (it may download and cache), the others after."""
    info = context.dist
    if not info.enabled:
        return spec.build(cfg, context)
    import torch.distributed as dist

    if info.is_main:
        task = spec.build(cfg, context)
        dist.barrier()
        return task
    dist.barrier()
    return spec.build(cfg, context)
