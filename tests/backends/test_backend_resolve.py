"""Backend choice: auto picks the fused op when exact, else the loop; clear errors otherwise."""

import pytest
import torch

import rnnlab.nn as rnn
from rnnlab.backends import REGISTRY, RecurrentSpec, resolve
from rnnlab.errors import InputError

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"proj_size": 2},
        {"dropout": 0.3},
        {"dropout": 0.3, "locked_dropout": True},
        {"weight_drop": 0.5},
        {"bidirectional": True, "bias": False},
    ],
)
def test_auto_picks_the_fused_op_when_it_is_exact(options):
    spec = RecurrentSpec("lstm", 3, 4, num_layers=2, **options)
    assert resolve("auto", spec, CPU) is REGISTRY["torch"]
    assert resolve("torch", spec, CPU).name == "torch"
    assert resolve("loop", spec, CPU).name == "loop"


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"layer_norm": True}, "layer_norm is computed only by the loop backend"),
        ({"zoneout": (0.1, 0.0)}, "zoneout is computed only by the loop backend"),
        ({"zoneout": (0.0, 0.2)}, "zoneout is computed only by the loop backend"),
    ],
)
def test_auto_falls_back_to_the_loop_and_torch_says_why(options, reason):
    spec = RecurrentSpec("gru", 3, 4, **options)
    assert resolve("auto", spec, CPU) is REGISTRY["loop"]
    with pytest.raises(
        InputError, match=f"backend 'torch' cannot run this configuration: {reason}"
    ):
        resolve("torch", spec, CPU)


def test_triton_and_unknown_names_fail_clearly():
    spec = RecurrentSpec("lstm", 3, 4)
    with pytest.raises(InputError, match=r"backend 'triton': .* not available in this version"):
        resolve("triton", spec, "cpu")
    with pytest.raises(
        InputError, match=r"expected backend in \('auto', 'torch', 'loop', 'triton'\)"
    ):
        resolve("cudnn", spec, "cpu")


@pytest.mark.parametrize(
    ("module", "text"),
    [
        (lambda: rnn.LSTM(32, 64, num_layers=2), "LSTM(32, 64, num_layers=2, backend=auto→torch)"),
        (
            lambda: rnn.GRU(8, 16, layer_norm=True),
            "GRU(8, 16, layer_norm=True, backend=auto→loop)",
        ),
        (lambda: rnn.RNN(8, 16, backend="loop"), "RNN(8, 16, backend=loop)"),
        (
            lambda: rnn.LSTM(8, 16, zoneout=(0.1, 0.2), proj_size=4, backend="loop"),
            "LSTM(8, 16, proj_size=4, zoneout=(0.1, 0.2), backend=loop)",
        ),
        (
            lambda: rnn.LSTM(
                4, 8, num_layers=2, dropout=0.25, locked_dropout=True, weight_drop=0.5
            ),
            "LSTM(4, 8, num_layers=2, dropout=0.25, weight_drop=0.5, locked_dropout=True, "
            "backend=auto→torch)",
        ),
    ],
)
def test_repr_shows_the_backend(module, text):
    assert repr(module()) == text


def test_modules_run_on_the_chosen_backend():
    torch.manual_seed(0)
    auto = rnn.LSTM(3, 4, num_layers=2)
    loop = rnn.LSTM(3, 4, num_layers=2, backend="loop")
    loop.load_state_dict(auto.state_dict())
    assert auto.selected_backend().name == "torch" and loop.selected_backend().name == "loop"
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(auto(x)[0], loop(x)[0], rtol=1e-5, atol=1e-6)


def test_auto_runs_a_single_cpu_step_on_the_loop():
    spec = RecurrentSpec("lstm", 3, 4, num_layers=2)
    assert resolve("auto", spec, CPU, steps=1) is REGISTRY["loop"]
    assert resolve("auto", spec, CPU, steps=2) is REGISTRY["torch"]
    assert resolve("torch", spec, CPU, steps=1) is REGISTRY["torch"]


@pytest.mark.parametrize(("mode", "kwargs"), [("LSTM", {"proj_size": 3}), ("GRU", {}), ("RNN", {})])
def test_a_single_step_matches_torch_nn(mode, kwargs, monkeypatch):
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(5, 6, num_layers=2, bidirectional=True, **kwargs).double()
    ours = getattr(rnn, mode)(5, 6, num_layers=2, bidirectional=True, **kwargs).double()
    ours.load_state_dict(ref.state_dict())
    calls = []
    loop = REGISTRY["loop"]
    monkeypatch.setattr(
        loop, "forward", lambda *a, **k: calls.append(1) or type(loop).forward(loop, *a, **k)
    )
    x = torch.randn(1, 4, 5, dtype=torch.float64, requires_grad=True)
    y_ref, s_ref = ref(x)
    y, s = ours(x)
    assert calls, "a single CPU step should run on the loop"
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    flat = lambda s: torch.cat([t.flatten() for t in (s if isinstance(s, tuple) else (s,))])  # noqa: E731
    torch.testing.assert_close(flat(s), flat(s_ref), rtol=1e-10, atol=1e-12)
    g_ref = torch.autograd.grad(y_ref.sum() + flat(s_ref).sum(), [x, *ref.parameters()])
    g = torch.autograd.grad(y.sum() + flat(s).sum(), [x, *ours.parameters()])
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
