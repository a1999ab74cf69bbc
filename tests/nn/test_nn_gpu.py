"""CUDA: cuDNN parity, weight drop without cuDNN's non-contiguous-weights warning, autocast.

pytest turns every warning into an error, so these tests also fail if cuDNN warns that "RNN
module weights are not part of single contiguous chunk of memory".
"""

import pytest
import torch
from torch import nn as tnn

import rnnlab.nn as rnn
from nnhelpers import as_tuple

pytestmark = pytest.mark.gpu

CLOSE = {"rtol": 1e-7, "atol": 1e-9}


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_cudnn_matches_torch_nn_and_loop(kind):
    kwargs = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    torch.manual_seed(0)
    theirs = getattr(tnn, kind)(3, 5, **kwargs).cuda()
    ours = getattr(rnn, kind)(3, 5, **kwargs).cuda()
    loop = getattr(rnn, kind)(3, 5, backend="loop", **kwargs).cuda()
    ours.load_state_dict(theirs.state_dict())
    loop.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 4, 3, dtype=torch.float64, device="cuda")
    ref, ref_state = theirs(x)
    for module in (ours, loop):
        out, state = module(x)
        torch.testing.assert_close(out, ref, **CLOSE)
        for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
            torch.testing.assert_close(s, r, **CLOSE)
        out, _ = module(x, lengths=[6, 1, 3, 6])
        assert torch.count_nonzero(out[1:, 1]) == 0


@pytest.mark.parametrize("proj_size", [0, 2])
def test_weight_drop_on_cudnn_keeps_one_weight_chunk(proj_size):
    kwargs = dict(num_layers=2, bidirectional=True, proj_size=proj_size, dtype=torch.float64)
    fused = rnn.LSTM(3, 5, weight_drop=0.5, **kwargs).cuda().train()
    loop = rnn.LSTM(3, 5, weight_drop=0.5, backend="loop", **kwargs).cuda().train()
    loop.load_state_dict(fused.state_dict())
    storages = {p.untyped_storage().data_ptr() for p in fused.parameters()}
    assert len(storages) == 1  # flattened into cuDNN's buffer
    x = torch.randn(6, 4, 3, dtype=torch.float64, device="cuda")
    torch.manual_seed(3)
    out, _ = fused(x)  # would warn (an error under pytest) if cuDNN had to copy the weights
    torch.manual_seed(3)
    ref, _ = loop(x)
    torch.testing.assert_close(out, ref, **CLOSE)
    out.sum().backward()
    ref.sum().backward()
    for p, q in zip(fused.parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("weight_drop", [0.0, 0.3])
def test_bf16_autocast_on_cuda(backend, weight_drop):
    module = rnn.LSTM(4, 8, num_layers=2, weight_drop=weight_drop, backend=backend).cuda()
    x = torch.randn(5, 3, 4, device="cuda")
    module.eval()
    ref, _ = module(x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, _ = module(x)
    torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)
    module.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, state = module(x, lengths=[5, 2, 4])
        again, _ = module(x, tuple(s.detach() for s in state))  # truncated BPTT carries it
        stacked, _ = rnn.LSTM(8, 8, backend=backend).cuda()(out)
    (out.float().sum() + again.float().sum() + stacked.float().sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize("weight_drop", [0.0, 0.3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_locked_dropout_on_cuda_without_weight_warning(weight_drop, bidirectional):
    """One fused call per layer, each with its weights in a cuDNN buffer of their own."""
    torch.manual_seed(0)
    module = rnn.LSTM(
        4,
        8,
        num_layers=3,
        dropout=0.3,
        locked_dropout=True,
        weight_drop=weight_drop,
        bidirectional=bidirectional,
        dtype=torch.float64,
    ).cuda()
    loop = rnn.LSTM(
        4,
        8,
        num_layers=3,
        dropout=0.3,
        locked_dropout=True,
        weight_drop=weight_drop,
        bidirectional=bidirectional,
        backend="loop",
        dtype=torch.float64,
    ).cuda()
    loop.load_state_dict(module.state_dict())
    x = torch.randn(6, 3, 4, dtype=torch.float64, device="cuda")
    torch.manual_seed(1)
    out, _ = module(x)  # warnings are errors: cuDNN's copy-and-warn path would fail here
    torch.manual_seed(1)
    ref, _ = loop(x)
    torch.testing.assert_close(out, ref, **CLOSE)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())
