"""What gradient clipping does to an exploding run: the same model trained without clipping,
clipped by global norm, and clipped by value.

The setup explodes on purpose: a one-layer RNN (tanh by default) whose W_hh is rescaled to a
spectral radius of 2 (`rescale_recurrent_`) reads the adding problem (T = 50) and is trained
by plain SGD, so the update is exactly −lr·g:

* unclipped, a step of −lr·g with ‖g‖ in the hundreds throws the weights far off and the
  loss overflows within a few dozen steps (the run is recorded as diverged at that step);
* clipped by norm (Pascanu et al. 2013), g ← g · min(1, c / ‖g‖), so ‖update‖ ≤ lr·c;
* clipped by value, g_i ← clamp(g_i, −v, v), so every |update_i| ≤ lr·v (the direction
  changes, the norm is at most lr·v·√N).

Clipping is the trainer's own (`rnnlab.train.optim.clip_gradients`), the data the task's
generator (`rnnlab.data.tasks.adding_problem`; batch i from seed + i, the same for the three
runs), the model a `rnnlab.models.sequence.SequenceModel`; the three runs start from the
same weights. Each step records the loss, the gradient norm before clipping, after clipping,
and the norm of the update actually applied. A non-finite loss or gradient ends the run: that
step is recorded (its loss as it came, the norms as NaN where nothing was applied) and the
run is marked diverged; it never raises.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from rnnlab.data.tasks import adding_problem
from rnnlab.diagnostics.gradflow_sweep import rescale_recurrent_
from rnnlab.errors import InputError
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.train.optim import clip_gradients

RUNS = ("none", "norm", "value")


@dataclass
class ClipSettings:
    """The exploding run and the two clippings.

    Attributes:
        cell: "tanh" or "relu" (the RNN's nonlinearity).
        scale: spectral radius of W_hh at the start.
        hidden: H.
        seq_len: T of the adding problem.
        batch: sequences per step.
        steps: SGD steps per run.
        lr: SGD learning rate.
        clip_norm: the maximum global gradient norm of the "norm" run.
        clip_value: the maximum |gradient element| of the "value" run.
        seed: seeds the weights (one draw for all runs) and, with the step, the batches.
    """

    cell: str = "tanh"
    scale: float = 2.0
    hidden: int = 32
    seq_len: int = 50
    batch: int = 32
    steps: int = 300
    lr: float = 0.1
    clip_norm: float = 1.0
    clip_value: float = 0.1
    seed: int = 0

    def check(self) -> None:
        if self.cell not in ("tanh", "relu"):
            raise InputError(f"gradflow clip: expected cell tanh or relu, got {self.cell!r}")
        for name in ("hidden", "batch", "steps"):
            if getattr(self, name) < 1:
                raise InputError(f"gradflow clip: expected {name} >= 1, got {getattr(self, name)}")
        if self.seq_len < 2:
            raise InputError(f"gradflow clip: expected seq_len >= 2, got {self.seq_len}")
        for name in ("scale", "lr", "clip_norm", "clip_value"):
            if not getattr(self, name) > 0:
                raise InputError(f"gradflow clip: expected {name} > 0, got {getattr(self, name)}")


@dataclass
class ClipRun:
    """One training run, step by step.

    Attributes:
        name: "none", "norm" or "value".
        loss: the mean squared error of each step's batch (before its update).
        grad_norm: the global gradient norm before clipping.
        clipped_norm: the global gradient norm after clipping (what SGD applied).
        max_abs: the largest |gradient element| after clipping.
        update_norm: ‖θ_after − θ_before‖ of the step.
        diverged_at: the step whose loss or gradient was not finite (the run's last), or None.
    """

    name: str
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clipped_norm: list[float] = field(default_factory=list)
    max_abs: list[float] = field(default_factory=list)
    update_norm: list[float] = field(default_factory=list)
    diverged_at: int | None = None


@dataclass
class ClipExperiment:
    """The three runs of `clip_experiment`, with their settings."""

    settings: ClipSettings
    runs: dict[str, ClipRun]

    def rows(self) -> list[tuple[str, int, float, float, float, float]]:
        """(run, step, loss, grad_norm, clipped_norm, update_norm), as the CSV lists them."""
        return [
            (
                name,
                step,
                run.loss[step],
                run.grad_norm[step],
                run.clipped_norm[step],
                run.update_norm[step],
            )
            for name, run in self.runs.items()
            for step in range(len(run.loss))
        ]


def exploding_model(settings: ClipSettings) -> SequenceModel:
    """The RNN of the experiment with W_hh at spectral radius `scale` (seeded; float32)."""
    config = SequenceModelConfig(model="rnn", nonlinearity=settings.cell, hidden=settings.hidden)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = SequenceModel(2, 1, config)
    rescale_recurrent_(model.encoder, settings.scale, by="radius")
    return model


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def train_run(model: SequenceModel, settings: ClipSettings, name: str) -> ClipRun:
    """Train `model` in place with SGD for `settings.steps` steps, clipped as `name` says."""
    if name not in RUNS:
        raise InputError(f"gradflow clip: expected a run in {', '.join(RUNS)}, got {name!r}")
    clip_norm = settings.clip_norm if name == "norm" else None
    clip_value = settings.clip_value if name == "value" else None
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr)
    run = ClipRun(name)
    model.train()
    for step in range(settings.steps):
        x, y = adding_problem(settings.batch, settings.seq_len, seed=settings.seed + step)
        loss = (model(x).squeeze(-1) - y).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_gradients(model.parameters())  # the norm, nothing clipped
        run.loss.append(float(loss.detach()))
        run.grad_norm.append(grad_norm)
        if not (math.isfinite(run.loss[-1]) and math.isfinite(grad_norm)):
            run.clipped_norm.append(math.nan)
            run.max_abs.append(math.nan)
            run.update_norm.append(math.nan)
            run.diverged_at = step
            break
        clip_gradients(model.parameters(), clip_norm=clip_norm, clip_value=clip_value)
        grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        before = _flat(model)
        optimizer.step()
        run.clipped_norm.append(float(torch.linalg.vector_norm(grads)))
        run.max_abs.append(float(grads.abs().max()))
        run.update_norm.append(float(torch.linalg.vector_norm(_flat(model) - before)))
    return run


def clip_experiment(settings: ClipSettings | None = None, *, progress: bool = False):
    """Train the exploding model three times: unclipped, clipped by norm, clipped by value.

    Args:
        settings: the setup (`ClipSettings`; defaults run in about ten seconds on one core).
        progress: show a tqdm bar on stderr (when it is a terminal).

    Returns:
        A `ClipExperiment` with the runs "none", "norm" and "value".
    """
    from tqdm.auto import tqdm

    settings = settings or ClipSettings()
    settings.check()
    start = exploding_model(settings)
    runs = {}
    for name in tqdm(RUNS, desc="gradflow clip", unit="run", disable=None if progress else True):
        runs[name] = train_run(copy.deepcopy(start), settings, name)
    return ClipExperiment(settings, runs)
