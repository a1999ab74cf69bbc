"""bf16 autocast runs through both backends (and the cells), close to float32."""

import json
import os
import platform
import subprocess
import sys

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


# --- CPUs whose oneDNN has no bf16 LSTM primitive (no AVX-512: AVX2-only such as AMD Zen 3) ---

_AVX2_ONLY_SCRIPT = r"""
import json, torch
import rnnlab.nn as rnn
torch.manual_seed(0)
x = torch.randn(6, 3, 4)
out = {}
try:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.nn.LSTM(4, 8)(x)
    out["torch_nn"] = "ok"
except RuntimeError as error:
    out["torch_nn"] = str(error)[:80]
for kind in ("LSTM", "GRU", "RNN"):
    module = getattr(rnn, kind)(4, 8, num_layers=2, bidirectional=True)
    ref, _ = module(x)
    ref_lengths, _ = module(x, lengths=[6, 2, 5])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, state = module(x)
        y_lengths, _ = module(x, lengths=[6, 2, 5])
    (y.float().sum() + y_lengths.float().sum()).backward()
    out[kind] = {
        "dtype": str(y.dtype),
        "err": max(
            float((y.float() - ref).abs().max()),
            float((y_lengths.float() - ref_lengths).abs().max()),
        ),
        "grads_finite": all(bool(torch.isfinite(p.grad).all()) for p in module.parameters()),
    }
print(json.dumps(out))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN ISA cap is x86")
def test_bf16_autocast_where_onednn_has_no_bf16_lstm():
    """ONEDNN_MAX_CPU_ISA=AVX2 makes any x86 CPU look like one without AVX-512: torch.nn.LSTM
    under bf16 autocast fails there; rnnlab's layers still compute in bf16."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    done = subprocess.run(
        [sys.executable, "-c", _AVX2_ONLY_SCRIPT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for kind in ("LSTM", "GRU", "RNN"):
        if kind != "GRU":  # (the GRU's dtype under CPU autocast is torch's choice)
            assert result[kind]["dtype"] == "torch.bfloat16", result
        assert result[kind]["err"] < 5e-2, result
        assert result[kind]["grads_finite"], result


def test_fused_op_falls_back_when_onednn_refuses_bf16(monkeypatch):
    """The fallback itself, simulated on any CPU: the op refuses under autocast, the backend
    computes on bf16 operands with autocast off, and keeps doing so."""
    import rnnlab.backends.torch_fused as fused

    real = fused._OPS["lstm"]
    calls = []

    def refusing(*args):
        calls.append((torch.is_autocast_enabled("cpu"), args[0].dtype))
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError("could not create a primitive descriptor for the LSTM forward")
        return real(*args)

    monkeypatch.setitem(fused._OPS, "lstm", refusing)
    monkeypatch.setattr(fused, "_AUTOCAST_PRIMITIVE_FAILS", False)
    torch.manual_seed(2)
    module = rnn.LSTM(4, 8)
    x = torch.randn(5, 2, 4)
    ref, _ = module(x)
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, (h, c) = module(x)
        assert y.dtype == h.dtype == c.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), ref, **LOOSE)
    # refused once, then straight to the cast route
    fp32, bf16 = torch.float32, torch.bfloat16
    assert calls == [(False, fp32), (True, fp32), (False, bf16), (False, bf16)]

    def broken(*args):
        raise RuntimeError("some other failure")

    monkeypatch.setitem(fused._OPS, "lstm", broken)
    monkeypatch.setattr(fused, "_AUTOCAST_PRIMITIVE_FAILS", False)
    with pytest.raises(RuntimeError, match="some other failure"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            module(x)
