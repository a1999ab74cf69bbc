"""The one run path with a toy task: gradient normalisation, scaler resume, decay, monitor.

The toy task is linear regression on fixed data, y ≈ X w + b, with one target per row. The
global batch of step i is `ROWS` rows; with `accumulate` K the task itself cuts it into K
micro-batches of unequal sizes (`GROUPS`), so the trainer's normalisation over the targets
of the whole batch is exercised. A hand-written SGD over the same data is the oracle.
"""

import ast
import itertools
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnlab import nn as rnn
from rnnlab.config import override, setting
from rnnlab.errors import CheckpointError, InputError
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint
from rnnlab.train.config import TrainConfig
from rnnlab.train.optim import build_optimizer, exempt_from_decay, param_groups
from rnnlab.train.run import run_task
from rnnlab.train.task import Task, TaskSpec
from rnnlab.train.trainer import BEST_NAME, Trainer
from runhelpers import interrupt_at

SRC = Path(__file__).resolve().parents[2] / "src"
ROWS = 12  # targets per global batch
GROUPS = {1: (12,), 2: (5, 7), 3: (2, 3, 7)}  # micro-batch sizes for each `accumulate`
W0 = torch.tensor([[0.3, -0.2, 0.1]], dtype=torch.float64)
B0 = torch.tensor([0.05], dtype=torch.float64)


def _data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4 * ROWS, 3, generator=gen, dtype=torch.float64)
    w = torch.tensor([[1.5, -2.0, 0.5]], dtype=torch.float64)
    y = x @ w.T + 0.7 + 0.1 * torch.randn(4 * ROWS, 1, generator=gen, dtype=torch.float64)
    return x, y


X, Y = _data()
X_VAL, Y_VAL = X[: 2 * ROWS] * 0.5, Y[: 2 * ROWS]


def batch(index):
    """Global training batch `index`: ROWS rows of the fixed data, cycling."""
    lo = (index % 4) * ROWS
    return X[lo : lo + ROWS], Y[lo : lo + ROWS]


@dataclass
class ToyConfig(TrainConfig):
    """The toy regression."""

    poison: int | None = setting(None, "batch index whose gradient is made infinite")


class ToyTask(Task):
    """Linear regression on `batch(i)`; micro-batches of unequal sizes (`GROUPS`)."""

    def __init__(self, cfg, context):
        self.cfg = cfg
        self.index = 0
        self.micro = 0

    def build_model(self):
        model = nn.Linear(3, 1, dtype=torch.float64)
        with torch.no_grad():
            model.weight.copy_(W0)
            model.bias.copy_(B0)
        return model

    def train_loss(self, model):
        sizes = GROUPS[self.cfg.accumulate]
        x, y = batch(self.index)
        lo = sum(sizes[: self.micro])
        x, y = x[lo : lo + sizes[self.micro]], y[lo : lo + sizes[self.micro]]
        out = model(x)
        if self.index == self.cfg.poison:  # an overflowing gradient with a finite loss
            out.register_hook(lambda g: torch.full_like(g, float("inf")))
        self.micro += 1
        if self.micro == len(sizes):
            self.index, self.micro = self.index + 1, 0
        return ((out - y) ** 2).sum(), len(y)

    @torch.no_grad()
    def evaluate(self, model, split="val", *, max_tokens=None):
        return {"loss": float(((model(X_VAL) - Y_VAL) ** 2).mean())}

    def state(self):
        return {"index": self.index}, {}

    def load_state(self, meta, tensors):
        self.index, self.micro = int(meta["index"]), 0


TOY = TaskSpec(name="toy", config=ToyConfig, build=ToyTask, summary="toy regression")
OTHER = TaskSpec(name="toy-other", config=ToyConfig, build=ToyTask, summary="another toy")


def toy_cfg(**kw):
    base = dict(
        steps=6,
        optimizer="sgd",
        lr=0.05,
        momentum=0.0,
        schedule="constant",
        clip_norm=None,
        eval_every=0,
        log_every=1,
        checkpoint_every=1000,
        precision="fp32",
        device="cpu",
        progress=False,
    )
    base.update(kw)
    return override(ToyConfig(), base)


def quiet(*args, **kwargs):
    pass


def simulate(steps, lr, skip=()):
    """Plain SGD on the mean squared error of each global batch: (w, b, loss per step)."""
    w, b, losses = W0.clone(), B0.clone(), {}
    for i in range(steps):
        x, y = batch(i)
        err = x @ w.T + b - y  # (ROWS, 1)
        losses[i + 1] = float((err**2).mean())
        if i in skip:
            continue
        w = w - lr * 2 * err.T @ x / len(x)
        b = b - lr * 2 * err.sum(0) / len(x)
    return w, b, losses


def train_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines) if r["split"] == "train"}


def final_weights(run_dir):
    state = load_checkpoint(find_checkpoint(run_dir)).model_state
    return state["weight"], state["bias"]


# -- a: the gradient is the mean over all targets of the global batch -----------------------


@pytest.mark.parametrize("accumulate", [1, 2, 3])
def test_accumulation_equals_one_batch_and_logs_the_mean(tmp_path, accumulate):
    result = run_task(TOY, toy_cfg(accumulate=accumulate), tmp_path / "run", log=quiet)
    assert result.stopped == "steps" and result.step == 6
    assert result.tokens == 6 * ROWS
    w, b, losses = simulate(6, lr=0.05)
    got_w, got_b = final_weights(tmp_path / "run")
    torch.testing.assert_close(got_w, w, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(got_b, b, rtol=1e-12, atol=1e-14)
    records = train_records(tmp_path / "run")
    assert sorted(records) == list(range(1, 7))
    for step, loss in losses.items():
        assert records[step]["loss"] == pytest.approx(loss, rel=1e-12), step


def test_gradient_is_the_mean_over_targets_not_of_micro_batch_means(tmp_path):
    cfg = toy_cfg(steps=1, lr=1.0, accumulate=3)
    task = ToyTask(cfg, None)
    model = task.build_model()
    trainer = Trainer(model, task, cfg, tmp_path / "run", meta={}, device=torch.device("cpu"))
    assert trainer.fit().step == 1  # the gradient of the one step stays on the parameters
    x, y = batch(0)
    err = x @ W0.T + B0 - y  # (12, 1): per-target residuals at the initial weights
    mean_over_targets = 2 * err.T @ x / ROWS
    bounds = [0, 2, 5, 12]
    per_group = [2 * err[lo:hi].T @ x[lo:hi] / (hi - lo) for lo, hi in itertools.pairwise(bounds)]
    mean_of_means = sum(per_group) / 3
    assert (mean_of_means - mean_over_targets).abs().max() > 0.1  # the two really differ
    torch.testing.assert_close(model.weight.grad, mean_over_targets, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(model.bias.grad, 2 * err.sum(0) / ROWS, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(model.weight.detach(), W0 - mean_over_targets, rtol=1e-12, atol=0)


# -- b: the loss scaler's state continues on resume -----------------------------------------


def scaler_state(run_dir):
    return load_checkpoint(find_checkpoint(run_dir)).meta["trainer"]["grad_scaler"]


def interrupted_and_resumed(run_dir, cfg, monkeypatch):
    with monkeypatch.context() as m:
        interrupt_at(m, ToyTask, 5)
        part = run_task(TOY, cfg, run_dir, log=quiet)
    assert part.stopped == "signal" and part.step == 5
    saved = load_checkpoint(find_checkpoint(run_dir)).meta["trainer"]
    assert saved["step"] == 5 and saved["grad_scaler"]["scale"] == 32768.0
    resumed = run_task(TOY, cfg, run_dir, resume=True, log=quiet)
    assert resumed.stopped == "steps" and resumed.step == 8


def test_loss_scaler_state_is_restored_on_resume(tmp_path, monkeypatch):
    cfg = toy_cfg(steps=8, grad_scaler=True, poison=2)  # step 3 overflows
    full = run_task(TOY, cfg, tmp_path / "full", log=quiet)
    assert full.ok and full.step == 8
    # the overflowing step was skipped and the scale halved from its initial 2**16
    w, b, losses = simulate(8, lr=0.05, skip={2})
    got_w, got_b = final_weights(tmp_path / "full")
    torch.testing.assert_close(got_w, w, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(got_b, b, rtol=1e-12, atol=1e-14)
    logged = {s: r["loss"] for s, r in train_records(tmp_path / "full").items()}
    assert logged == pytest.approx(losses, rel=1e-12)  # the skipped step's loss is logged too
    norms = {s: r["grad_norm"] for s, r in train_records(tmp_path / "full").items()}
    assert [s for s, n in norms.items() if not math.isfinite(n)] == [3]
    expected = scaler_state(tmp_path / "full")
    assert expected["scale"] == 32768.0 and expected["_growth_tracker"] == 5

    interrupted_and_resumed(tmp_path / "part", cfg, monkeypatch)
    full_records, part_records = train_records(tmp_path / "full"), train_records(tmp_path / "part")
    assert {s: r["loss"] for s, r in part_records.items()} == {
        s: r["loss"] for s, r in full_records.items()
    }
    for got, want in zip(final_weights(tmp_path / "part"), (got_w, got_b), strict=True):
        assert torch.equal(got, want)
    assert scaler_state(tmp_path / "part") == expected

    # the check above notices a resume that forgets the scaler: the scale starts over at 2**16
    with monkeypatch.context() as m:
        m.setattr(torch.amp.GradScaler, "load_state_dict", lambda self, state: None)
        interrupted_and_resumed(tmp_path / "forgetful", cfg, monkeypatch)
    forgot = scaler_state(tmp_path / "forgetful")
    assert forgot["scale"] == 65536.0 and forgot != expected


# -- c: no weight decay on biases, norm gains and weight-norm magnitudes ---------------------


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = rnn.LSTM(3, 4, layer_norm=True)
        self.head = nn.Linear(4, 2)
        self.embed = nn.Embedding(5, 3)
        self.tcn = rnn.TemporalConvNet(3, (4, 4), 3, 0.0)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


EXEMPT = {
    "lstm.bias_ih_l0",
    "lstm.bias_hh_l0",
    "lstm.ln_weight_ih_l0",
    "lstm.ln_bias_ih_l0",
    "lstm.ln_weight_hh_l0",
    "lstm.ln_bias_hh_l0",
    "lstm.ln_weight_c_l0",
    "lstm.ln_bias_c_l0",
    "head.bias",
    "tcn.blocks.0.conv1.bias",
    "tcn.blocks.0.conv1.parametrizations.weight.original0",
    "tcn.blocks.0.conv2.bias",
    "tcn.blocks.0.conv2.parametrizations.weight.original0",
    "tcn.blocks.0.downsample.bias",
    "tcn.blocks.1.conv1.bias",
    "tcn.blocks.1.conv1.parametrizations.weight.original0",
    "tcn.blocks.1.conv2.bias",
    "tcn.blocks.1.conv2.parametrizations.weight.original0",
}
DECAYED = {
    "lstm.weight_ih_l0",
    "lstm.weight_hh_l0",
    "head.weight",
    "embed.weight",
    "tcn.blocks.0.conv1.parametrizations.weight.original1",
    "tcn.blocks.0.conv2.parametrizations.weight.original1",
    "tcn.blocks.0.downsample.weight",
    "tcn.blocks.1.conv1.parametrizations.weight.original1",
    "tcn.blocks.1.conv2.parametrizations.weight.original1",
}


def test_param_groups_exempt_biases_gains_and_weight_norm_magnitudes():
    model = Mixed()
    named = dict(model.named_parameters())
    assert set(named) == EXEMPT | DECAYED | {"frozen.weight", "frozen.bias"}
    names = {id(p): n for n, p in named.items()}
    decayed, exempt = param_groups(model, 0.1)
    assert "weight_decay" not in decayed and exempt["weight_decay"] == 0.0
    decayed_names = [names[id(p)] for p in decayed["params"]]
    exempt_names = [names[id(p)] for p in exempt["params"]]
    assert set(decayed_names) == DECAYED and set(exempt_names) == EXEMPT
    assert len(decayed_names) + len(exempt_names) == len(DECAYED | EXEMPT)  # each exactly once
    assert all(exempt_from_decay(n, named[n]) for n in EXEMPT)
    assert not any(exempt_from_decay(n, named[n]) for n in DECAYED)
    plain = param_groups(model, 0.0)
    assert all(isinstance(p, nn.Parameter) for p in plain)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert [id(p) for p in plain] == [id(p) for p in trainable]


def test_adamw_decays_weights_but_not_biases():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2), nn.LayerNorm(2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = TrainConfig(optimizer="adamw", lr=0.1, weight_decay=0.5)
    optimizer = build_optimizer(param_groups(model, cfg.weight_decay), cfg)
    for _ in range(3):
        optimizer.zero_grad()
        loss = 0.0 * model(torch.tensor([[0, 1, 4]])).sum()  # a zero gradient everywhere
        loss.backward()
        optimizer.step()
    after = dict(model.named_parameters())
    for name in ("1.bias", "2.weight", "2.bias"):
        assert torch.equal(after[name], before[name]), name
    for name in ("0.weight", "1.weight"):  # decoupled decay: p ← p (1 − lr·wd) per step
        torch.testing.assert_close(after[name].detach(), before[name] * 0.95**3, msg=name)


# -- d: the monitored metric and its direction ----------------------------------------------

ACCURACY = (0.2, 0.1, 0.5, 0.4, 0.9, 0.3, 0.1, 0.95, 0.99)  # evaluation k: ACCURACY[k - 1]


class Scored(ToyTask):
    """Accuracy as scripted; the loss falls at every evaluation (its best is the last)."""

    @torch.no_grad()
    def evaluate(self, model, split="val", *, max_tokens=None):
        return {"loss": 1.0 / (1 + self.index), "accuracy": ACCURACY[self.index - 1]}


SCORED = TaskSpec(
    name="scored",
    config=ToyConfig,
    build=Scored,
    summary="toy regression scored by accuracy",
    metrics=("loss", "accuracy"),
    monitor="accuracy",
    mode="max",
)


def test_monitor_with_mode_max_selects_best_and_drives_early_stopping(tmp_path):
    run = tmp_path / "run"
    result = run_task(SCORED, toy_cfg(steps=20, eval_every=1, patience=2), run, log=quiet)
    # improved at evaluations 1, 3 and 5; 6 and 7 are the two without improvement
    assert result.stopped == "early-stopping" and result.step == 7
    assert "accuracy" in result.message and "0.9000" in result.message
    best = load_checkpoint(run / BEST_NAME)
    assert best.meta["step"] == 5
    assert best.meta["trainer"]["best_val"] == 0.9
    assert best.meta["trainer"]["monitor"] == "accuracy" and best.meta["trainer"]["mode"] == "max"
    w, b, _ = simulate(5, lr=0.05)
    torch.testing.assert_close(best.model_state["weight"], w, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(best.model_state["bias"], b, rtol=1e-12, atol=1e-14)
    last = load_checkpoint(find_checkpoint(run))
    assert last.meta["trainer"]["step"] == 7 and last.meta["trainer"]["bad_evals"] == 2
    assert last.meta["trainer"]["monitor"] == "accuracy"
    vals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["accuracy"] for r in vals if r["split"] == "val"] == list(ACCURACY[:7])


# -- e: fresh, resumed and foreign runs ------------------------------------------------------


def test_fresh_resume_and_foreign_runs(tmp_path):
    run = tmp_path / "run"
    messages = []
    fresh = run_task(TOY, toy_cfg(steps=2), run, resume=True, log=messages.append)
    assert fresh.step == 2 and any("starting a fresh run" in m for m in messages)
    with pytest.raises(CheckpointError) as err:
        run_task(OTHER, toy_cfg(steps=4), run, resume=True, log=quiet)
    assert "toy-other" in str(err.value) and "'toy'" in str(err.value)
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run_task(TOY, toy_cfg(steps=4), run, log=quiet)
    assert load_checkpoint(find_checkpoint(run)).meta["trainer"]["step"] == 2


# -- f: rnnlab.train knows the task protocol only --------------------------------------------

FORBIDDEN = ("rnnlab.models", "rnnlab.data", "rnnlab.decoding", "rnnlab.tasks")


def _imported(path: Path, package: str) -> list[str]:
    """Every module a file imports (relative imports resolved against `package`)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            names += [a.value for a in node.args if isinstance(a, ast.Constant)]
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_train_imports_no_models_data_decoding_or_tasks():
    files = sorted((SRC / "rnnlab" / "train").rglob("*.py"))
    assert len(files) > 10
    offending = {
        str(f.relative_to(SRC)): bad
        for f in files
        if (bad := [n for n in _imported(f, "rnnlab.train") if _forbidden(n)])
    }
    assert offending == {}
    code = (
        "import importlib, pkgutil, sys\n"
        "import rnnlab.train, rnnlab.train.run, rnnlab.train.trainer\n"
        "for m in pkgutil.iter_modules(rnnlab.train.__path__):\n"
        "    importlib.import_module('rnnlab.train.' + m.name)\n"
        f"print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
