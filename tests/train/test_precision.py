"""`--precision auto`: bf16 where the CPU multiplies bf16 natively, chosen once and recorded."""

import json

import pytest
import torch

from rnnlab import machine
from rnnlab.config import override
from rnnlab.train import runtime
from rnnlab.train.checkpoint import find_checkpoint, load_checkpoint
from rnnlab.train.config import TrainConfig
from rnnlab.train.run import run_task
from rnnlab.train.task import Task, TaskSpec

CPU = torch.device("cpu")
X = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
Y = X.sum(1, keepdim=True)


class ToyTask(Task):
    """Linear regression on fixed data."""

    def __init__(self, cfg, context):
        self.index = 0

    def build_model(self):
        return torch.nn.Linear(3, 1)

    def train_loss(self, model):
        self.index += 1
        return ((model(X) - Y) ** 2).sum(), len(X)

    @torch.no_grad()
    def evaluate(self, model, split="val", *, max_tokens=None):
        return {"loss": float(((model(X) - Y) ** 2).mean())}

    def state(self):
        return {"index": self.index}, {}

    def load_state(self, meta, tensors):
        self.index = int(meta["index"])


TOY = TaskSpec(name="toy", config=TrainConfig, build=ToyTask, summary="toy regression")


def toy_cfg(**kw):
    base = dict(steps=2, optimizer="sgd", lr=0.01, eval_every=0, device="cpu", progress=False)
    return override(TrainConfig(), {**base, **kw})


def quiet(*args, **kwargs):
    pass


def never(*args):
    raise AssertionError("the CPU's flags decide: nothing is measured")


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, True),  # Sapphire Rapids
        ({"avx2", "fma", "avx512f"}, False),  # AVX-512 without BF16: emulated
        ({"avx2", "fma"}, False),
        (set(), False),
    ],
)
def test_x86_flags_decide_without_measuring(flags, native):
    chosen, reason = runtime.cpu_bf16_native(frozenset(flags), "x86_64", measure=never)
    assert chosen is native
    assert "amx_bf16" in reason if native else "emulated" in reason


@pytest.mark.parametrize(
    ("speedup", "native"), [(1.9, True), (1.1, True), (1.05, False), (0.56, False)]
)
def test_avx512_bf16_without_amx_is_measured(speedup, native):
    """AVX-512 BF16 alone pays off on some CPUs (AMD Zen 4) and not on others (a Xeon with AMX
    hidden by its hypervisor measured 0.56x): the measurement decides."""
    flags = frozenset({"avx2", "fma", "avx512f", "avx512_bf16"})
    chosen, reason = runtime.cpu_bf16_native(flags, "x86_64", measure=lambda: speedup)
    assert chosen is native
    assert "avx512_bf16 but no AMX" in reason and f"{speedup:.2f}x" in reason


@pytest.mark.parametrize(("speedup", "native"), [(2.3, True), (1.0, False), (0.4, False)])
@pytest.mark.parametrize(("features", "arch"), [(None, "x86_64"), (frozenset({"bf16"}), "aarch64")])
def test_unclear_cpus_are_measured(speedup, native, features, arch, monkeypatch):
    monkeypatch.setattr(machine, "cpu_features", lambda: features)  # None: no /proc/cpuinfo
    chosen, reason = runtime.cpu_bf16_native(machine=arch, measure=lambda: speedup)
    assert chosen is native and "measured" in reason


def test_auto_follows_the_cpu_and_explicit_choices_win(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.resolve_precision("auto", CPU) == torch.bfloat16
    assert runtime.resolve_precision("fp32", CPU) == torch.float32
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert runtime.resolve_precision("auto", CPU) == torch.float32
    assert runtime.resolve_precision("bf16", CPU) == torch.bfloat16  # asked for: emulated


def test_the_measurement_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = machine.measured_bf16_speedup()
    assert first > 0
    files = list(tmp_path.rglob("bf16-speed.json"))
    assert len(files) == 1
    key, value = next(iter(json.loads(files[0].read_text()).items()))
    assert value == first and machine.cpu_model() in key
    files[0].write_text(json.dumps({key: 123.0}))
    assert machine.measured_bf16_speedup() == 123.0  # read back, not measured again


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_recorded_and_a_resume_computes_the_same_way(tmp_path, monkeypatch, native):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: native)
    run = tmp_path / "run"
    result = run_task(TOY, toy_cfg(steps=2, precision="auto"), run, log=quiet)
    assert result.ok
    meta = load_checkpoint(find_checkpoint(run)).meta
    chosen = "bf16" if native else "fp32"
    assert meta["config"]["precision"] == chosen == meta["trainer"]["precision"]
    # the same run resumed where the CPU answers otherwise keeps its precision
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: not native)
    cfg = toy_cfg(steps=4, precision="auto")
    run_task(TOY, cfg, run, resume=True, explicit={"steps": 4, "precision": "auto"}, log=quiet)
    meta = load_checkpoint(find_checkpoint(run)).meta
    assert meta["trainer"]["step"] == 4
    assert meta["config"]["precision"] == chosen == meta["trainer"]["precision"]
