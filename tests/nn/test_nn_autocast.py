"""bf16 autocast runs through both backends (and the cells), close to float32."""

import pytest
import torch

import rnnlab.nn as rnn
from nnhelpers import as_tuple

LOOSE = {"rtol": 5e-2, "atol": 5e-2}


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [("LSTM", {}), ("LSTM", {"proj_size": 3}), ("GRU", {}), ("RNN", {})],
)
def test_bf16_autocast_on_cpu(backend, kind, kwargs):
    torch.manual_seed(0)
    module = getattr(rnn, kind)(
        4, 8, num_layers=2, bidirectional=True, backend=backend, **kwargs
    ).eval()
    x, lengths = torch.randn(6, 3, 4), [6, 2, 5]
    ref, ref_state = module(x, lengths=lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = module(x, lengths=lengths)
        low, _ = module(x.bfloat16(), lengths=lengths)
    torch.testing.assert_close(out.float(), ref, **LOOSE)
    torch.testing.assert_close(low.float(), ref, **LOOSE)
    for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
        torch.testing.assert_close(s.float(), r, **LOOSE)
    assert torch.count_nonzero(out[2:, 1]) == 0
    out.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


def test_bf16_autocast_with_layer_norm_and_zoneout():
    torch.manual_seed(1)
    module = rnn.LSTM(4, 16, layer_norm=True, zoneout=0.2).eval()
    x = torch.randn(5, 2, 4)
    ref, _ = module(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = module(x)
    torch.testing.assert_close(out.float(), ref, rtol=1e-1, atol=1e-1)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_bf16_autocast_cells(kind):
    torch.manual_seed(2)
    cell = getattr(rnn, kind)(4, 8, zoneout=0.1).eval()
    x = torch.randn(3, 4)
    ref = as_tuple(cell(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = as_tuple(cell(x.bfloat16()))
    for o, r in zip(out, ref, strict=True):
        torch.testing.assert_close(o.float(), r, **LOOSE)


def test_lower_precision_input_needs_autocast():
    module = rnn.GRU(4, 8)
    with pytest.raises(RuntimeError, match=r"GRU: expected input of dtype torch.float32"):
        module(torch.randn(3, 2, 4, dtype=torch.bfloat16))


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_autocast_state_and_output_feed_back_in(backend, kind):
    """Truncated BPTT carries the returned state into the next call; stacks feed outputs on."""
    torch.manual_seed(3)
    module = getattr(rnn, kind)(4, 8, num_layers=2, backend=backend)
    top = getattr(rnn, kind)(8, 8, backend=backend)
    x = torch.randn(5, 2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = module(x)
        y2, _ = module(x, state)
        z, _ = top(y)
        # cuDNN's RNN runs in float16 even under a bfloat16 autocast: accept that state too
        half = tuple(s.half() for s in as_tuple(state))
        module(x, half if kind == "LSTM" else half[0])
    assert torch.isfinite(y2.float()).all() and torch.isfinite(z.float()).all()
