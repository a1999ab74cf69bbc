"""RNN/LSTM/GRU equal torch.nn's: outputs, final states and every gradient, for both backends."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn as tnn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnlab.nn as rnn
from nnhelpers import as_tuple, assert_close, onednn_off, readout, twins

INPUTS = ["padded", "lengths", "packed_sorted", "packed_unsorted", "unbatched"]


@st.composite
def configs(draw, inputs):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden = draw(st.integers(2, 5))
    kwargs = {
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
    }
    if kind == "RNN":
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "LSTM" and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(1, hidden - 1))
    steps, batch = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    if inputs == "packed_sorted":
        lengths.sort(reverse=True)
    return {
        "kind": kind,
        "sizes": (draw(st.integers(1, 4)), hidden),
        "kwargs": kwargs,
        "steps": steps,
        "batch": batch,
        "inputs": inputs,
        "lengths": lengths,
        "given_hx": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def make_data(cfg, module):
    """Input tensor (leaf), initial state (leaves or None), following the config."""
    kw = cfg["kwargs"]
    input_size, hidden = cfg["sizes"]
    steps, batch = cfg["steps"], cfg["batch"]
    rows = kw["num_layers"] * (2 if kw["bidirectional"] else 1)
    out = kw.get("proj_size") or hidden
    if cfg["inputs"] == "unbatched":
        x = torch.randn(steps, input_size)
        shapes = [(rows, out), (rows, hidden)]
    else:
        x = torch.randn(*((batch, steps) if kw["batch_first"] else (steps, batch)), input_size)
        shapes = [(rows, batch, out), (rows, batch, hidden)]
    hx = None
    if cfg["given_hx"]:
        hx = tuple(torch.randn(s).requires_grad_() for s in shapes)
        hx = hx if cfg["kind"] == "LSTM" else hx[0]
    return x.requires_grad_(), hx


def run(cfg, module, x, hx, *, ours):
    """Forward in the config's input form; returns padded output (zeros past lengths), state."""
    batch_first = cfg["kwargs"]["batch_first"]
    lengths = cfg["lengths"]
    if cfg["inputs"] in ("padded", "unbatched"):
        return module(x, hx)
    if cfg["inputs"] == "lengths" and ours:
        return module(x, hx, lengths=lengths)
    sorted_ = cfg["inputs"] == "packed_sorted"
    packed = pack_padded_sequence(
        x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=sorted_
    )
    out, state = module(packed, hx)
    assert isinstance(out, PackedSequence)
    if packed.sorted_indices is not None:
        assert torch.equal(out.sorted_indices, packed.sorted_indices)
        assert torch.equal(out.unsorted_indices, packed.unsorted_indices)
    padded, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=cfg["steps"])
    return padded, state


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("inputs", INPUTS)
@given(data=st.data())
def test_forward_and_gradients_equal_torch_nn(backend, inputs, data):
    cfg = data.draw(configs(inputs))
    ours, theirs = twins(
        cfg["kind"], *cfg["sizes"], backend=backend, seed=cfg["seed"], **cfg["kwargs"]
    )
    x, hx = make_data(cfg, theirs)
    out, state = run(cfg, ours, x, hx, ours=True)
    with onednn_off():
        ref_out, ref_state = run(cfg, theirs, x, hx, ours=False)
    assert_close(out, ref_out)
    for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
        assert_close(s, r)

    leaves = [x, *([] if hx is None else as_tuple(hx))]
    grads = torch.autograd.grad(readout(out, state), [*leaves, *ours.parameters()])
    with onednn_off():
        ref_grads = torch.autograd.grad(
            readout(ref_out, ref_state), [*leaves, *theirs.parameters()]
        )
    for g, r in zip(grads, ref_grads, strict=True):
        assert_close(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["auto", "loop"])
@given(
    kind=st.sampled_from(["RNN", "LSTM", "GRU"]),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_lengths_equal_each_sequence_alone(
    backend, kind, num_layers, bidirectional, batch_first, lengths, seed
):
    steps, batch = max(lengths) + 1, len(lengths)
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    ours, theirs = twins(kind, 3, 4, backend=backend, seed=seed, **kwargs)
    x = torch.randn((batch, steps, 3) if batch_first else (steps, batch, 3))
    rows = num_layers * (2 if bidirectional else 1)
    h0 = torch.randn(rows, batch, 4)
    hx = (h0, torch.randn(rows, batch, 4)) if kind == "LSTM" else h0
    out, state = ours(x, hx, lengths=torch.tensor(lengths))
    out_tm = out.transpose(0, 1) if batch_first else out  # (T, B, D·H)
    x_tm = x.transpose(0, 1) if batch_first else x
    for b, n in enumerate(lengths):
        alone_hx = tuple(s[:, b] for s in as_tuple(hx))
        alone_out, alone_state = theirs(x_tm[:n, b], alone_hx if kind == "LSTM" else alone_hx[0])
        assert_close(out_tm[:n, b], alone_out)
        assert torch.count_nonzero(out_tm[n:, b]) == 0
        for s, r in zip(as_tuple(state), as_tuple(alone_state), strict=True):
            assert_close(s[:, b], r)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_default_init_equals_torch_under_the_same_seed(kind):
    kwargs = dict(num_layers=2, bidirectional=True, bias=True)
    if kind == "LSTM":
        kwargs["proj_size"] = 2
    torch.manual_seed(7)
    theirs = getattr(tnn, kind)(3, 5, **kwargs)
    for extra in ({}, {"layer_norm": True}):
        torch.manual_seed(7)
        ours = getattr(rnn, kind)(3, 5, **kwargs, **extra)
        named = dict(ours.named_parameters())
        names = [n for n, _ in theirs.named_parameters()]
        assert list(named)[: len(names)] == names
        for name, p in theirs.named_parameters():
            assert torch.equal(named[name], p), name


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_state_dict_loads_both_ways_strictly(kind):
    kwargs = dict(num_layers=2, bidirectional=True, bias=False)
    if kind == "LSTM":
        kwargs["proj_size"] = 3
    ours = getattr(rnn, kind)(4, 6, **kwargs)
    theirs = getattr(tnn, kind)(4, 6, **kwargs)
    theirs.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, p), (_, q) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert torch.equal(p, q), name
    ours2 = getattr(rnn, kind)(4, 6, **kwargs)
    ours2.load_state_dict(theirs.state_dict())
    assert all(
        torch.equal(a, b) for a, b in zip(ours2.parameters(), ours.parameters(), strict=True)
    )


def test_layer_norm_module_loads_torch_weights_non_strictly():
    theirs = tnn.LSTM(3, 4, num_layers=2)
    ours = rnn.LSTM(3, 4, num_layers=2, layer_norm=True)
    result = ours.load_state_dict(theirs.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        f"ln_{part}_{which}_l{layer}"
        for part in ("weight", "bias")
        for which in ("ih", "hh", "c")
        for layer in (0, 1)
    )
    assert torch.equal(ours.weight_hh_l1, theirs.weight_hh_l1)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_all_weights_and_attributes_mirror_torch(kind):
    kwargs = dict(num_layers=2, bidirectional=True)
    ours, theirs = twins(kind, 3, 4, **kwargs)
    assert [[p.shape for p in ws] for ws in ours.all_weights] == [
        [p.shape for p in ws] for ws in theirs.all_weights
    ]
    assert ours._flat_weights_names == theirs._flat_weights_names
    for attr in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.dropout == theirs.dropout and ours.proj_size == theirs.proj_size
    ours.flatten_parameters()
    x = torch.randn(2, 3, 3)
    assert_close(ours(x)[0], theirs(x)[0])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_training_dropout_matches_torch_on_the_fused_path(kind):
    ours, theirs = twins(kind, 3, 4, num_layers=3, dropout=0.5)
    x = torch.randn(4, 2, 3)
    torch.manual_seed(11)
    out, _ = ours(x)
    torch.manual_seed(11)
    ref, _ = theirs(x)
    assert_close(out, ref)


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_full_dropout_zeroes_what_the_next_layer_sees(backend):
    ours, _ = twins("GRU", 3, 4, num_layers=2, dropout=1.0, backend=backend)
    top = rnn.GRU(4, 4)
    top.load_state_dict(
        {k.replace("_l1", "_l0"): v for k, v in ours.state_dict().items() if "_l1" in k}
    )
    out, _ = ours(torch.randn(5, 2, 3))
    expected, _ = top(torch.zeros(5, 2, 4))
    assert_close(out, expected)
    ours.eval()
    assert not torch.equal(ours(torch.randn(5, 2, 3))[0], expected)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_init_state_shapes(kind):
    module = getattr(rnn, kind)(3, 4, num_layers=2, bidirectional=True)
    state = module.init_state(5)
    for s in as_tuple(state):
        assert s.shape == (4, 5, 4) and torch.count_nonzero(s) == 0
    out, _ = module(torch.randn(2, 5, 3), state)
    assert out.shape == (2, 5, 8)
