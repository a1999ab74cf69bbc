"""torch.compile gives the eager result for rnnlab.nn layers and cells (fp32, 1e-5)."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab import nn as rnn

# Two warnings raised inside torch, not by rnnlab: torch.compile's first import defines a
# torch.jit.script_method (deprecated in torch 2.13), and dynamo, resuming after the fused op
# (which runs eagerly, as torch.nn's RNN modules do), reads `.grad` of that op's outputs while
# building its guards. Without -W error neither is shown; as errors they abort tracing.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning"
    ),
]

CASES = [
    ("LSTM", {"num_layers": 2, "bidirectional": True}, "plain"),
    ("LSTM", {"layer_norm": True, "backend": "loop"}, "plain"),
    ("GRU", {"zoneout": 0.1, "num_layers": 2}, "lengths"),
    ("LSTM", {"weight_drop": 0.3, "num_layers": 2, "dropout": 0.2, "locked_dropout": True},
     "packed"),
    ("RNN", {"batch_first": True}, "plain"),
    ("LSTM", {"proj_size": 3, "num_layers": 2}, "lengths"),
]  # fmt: skip


def _flat(out):
    if isinstance(out, torch.nn.utils.rnn.PackedSequence):
        return [out.data]
    if isinstance(out, tuple):
        return [t for o in out for t in _flat(o)]
    return [out]


@pytest.mark.parametrize("name, options, input_kind", CASES)
def test_compiled_layer_equals_eager(name, options, input_kind):
    torch._dynamo.reset()
    torch.manual_seed(0)
    layer = getattr(rnn, name)(6, 8, **options).eval()
    x = torch.randn(3, 7, 6) if options.get("batch_first") else torch.randn(7, 3, 6)
    lengths = torch.tensor([7, 2, 5])
    if input_kind == "packed":
        args, kwargs = (pack_padded_sequence(x, lengths, enforce_sorted=False),), {}
    elif input_kind == "lengths":
        args, kwargs = (x,), {"lengths": lengths}
    else:
        args, kwargs = (x,), {}
    compiled = torch.compile(layer)
    eager = _flat(layer(*args, **kwargs))
    got = _flat(compiled(*args, **kwargs))
    for a, b in zip(got, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_compiled_layer_trains_like_eager():
    torch._dynamo.reset()
    torch.manual_seed(1)
    layer = rnn.LSTM(6, 8, num_layers=2)
    x = torch.randn(7, 3, 6)
    grads = []
    for module in (layer, torch.compile(layer)):
        layer.zero_grad()
        y, _ = module(x)
        y.square().sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_compiled_cells_equal_eager(name):
    torch._dynamo.reset()
    torch.manual_seed(2)
    cell = getattr(rnn, name)(6, 8)
    x = torch.randn(3, 6)
    for a, b in zip(_flat(torch.compile(cell)(x)), _flat(cell(x)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["MinGRU", "MinLSTM"])
def test_compiled_min_cells_equal_eager(name):
    torch._dynamo.reset()
    torch.manual_seed(3)
    layer = getattr(rnn, name)(6, 8, num_layers=2).eval()
    x, h0 = torch.randn(5, 3, 6), torch.randn(2, 3, 8)
    for a, b in zip(_flat(torch.compile(layer)(x, h0)), _flat(layer(x, h0)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_compiled_loop_on_packed_input_equals_eager():
    """The loop backend pads packed input and packs its output back by index ops, compiled."""
    torch._dynamo.reset()
    torch.manual_seed(4)
    layer = rnn.GRU(6, 8, zoneout=0.1).eval()
    packed = pack_padded_sequence(torch.randn(3, 3, 6), [2, 3, 1], enforce_sorted=False)
    for a, b in zip(_flat(torch.compile(layer)(packed)), _flat(layer(packed)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
