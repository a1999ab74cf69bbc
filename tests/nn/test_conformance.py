"""Conformance with torch.nn: the CPU cases of PyTorch's own recurrent-layer tests (test_nn.py,
the RNN entries of its module-info tests) that apply to a drop-in layer, written anew and run
against torch.nn and rnnlab.nn with the same expectations.

Error cases are checked against what torch itself does on the same call: where torch raises,
rnnlab raises an exception of the same type (its InputError is a ValueError, TypeError and
RuntimeError) whose message names the module; where torch accepts, rnnlab accepts.
"""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab import nn as rnn
from rnnlab.backends.torch_fused import onednn_off

IMPLS = {"torch": torch.nn, "rnnlab": rnn}
D64 = torch.float64


def pair(name, *args, seed=0, **kwargs):
    """The torch.nn and rnnlab.nn modules with the same weights."""
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(rnn, name)(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def flat(out):
    if isinstance(out, torch.nn.utils.rnn.PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def same(a, b, tol=1e-5):
    fa, fb = flat(a), flat(b)
    assert len(fa) == len(fb)
    for x, y in zip(fa, fb, strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)


def outcome(call):
    """(error, None) or (None, result) of `call`; the same random inputs on every call."""
    torch.manual_seed(1)
    try:
        return None, call()
    except Exception as err:
        return err, None


# -- argument checks and their error types ----------------------------------------------------

CONSTRUCTOR_CASES = [
    ("LSTM", (10, 20), {"num_layers": 0}),
    ("LSTM", (10, 20), {"dropout": 1.5}),
    ("GRU", (10, 20), {"dropout": -0.1}),
    ("LSTM", (10, 20), {"proj_size": 20}),
    ("LSTM", (10, 20), {"proj_size": -1}),
    ("GRU", (10, 20), {"proj_size": 5}),
    ("RNN", (10, 20), {"nonlinearity": "gelu"}),
    ("LSTM", (10, 0), {}),
    ("GRU", (10, 20), {"num_layers": 1.5}),
    ("LSTM", (10, 20), {"num_layers": 2, "dropout": 0.3}),
]

# Deliberate differences: rnnlab rejects at construction what torch.nn accepts there (torch
# fails at the first forward on the unknown nonlinearity, and builds a cell of width 0).
EARLY_CASES = [
    ("RNNCell", (10, 20), {"nonlinearity": "gelu"}),
    ("LSTMCell", (10, 0), {}),
    ("GRUCell", (0, 20), {}),
]


@pytest.mark.parametrize("name, args, kwargs", CONSTRUCTOR_CASES)
def test_constructor_checks_match_torch(name, args, kwargs):
    err_t, _ = outcome(lambda: getattr(torch.nn, name)(*args, **kwargs))
    err_r, _ = outcome(lambda: getattr(rnn, name)(*args, **kwargs))
    if err_t is None:
        assert err_r is None, err_r
    else:
        assert isinstance(err_r, type(err_t)), (type(err_t), err_r)
        assert str(err_r).startswith(name), str(err_r)


@pytest.mark.parametrize("name, args, kwargs", EARLY_CASES)
def test_rnnlab_rejects_early_what_torch_accepts_at_construction(name, args, kwargs):
    getattr(torch.nn, name)(*args, **kwargs)
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        getattr(rnn, name)(*args, **kwargs)


def _h(layers, batch, hidden):
    return torch.zeros(layers, batch, hidden)


FORWARD_CASES = [
    ("LSTM", {}, lambda m: m(torch.randn(5, 3, 11))),  # input size
    ("GRU", {}, lambda m: m(torch.randn(2, 5, 3, 10))),  # 4-D input
    ("RNN", {}, lambda m: m(torch.randn(5, 3, 10), _h(2, 3, 20))),  # h0 layers
    ("GRU", {}, lambda m: m(torch.randn(5, 3, 10), _h(1, 4, 20))),  # h0 batch
    ("LSTM", {}, lambda m: m(torch.randn(5, 3, 10), (_h(1, 3, 20), _h(1, 3, 21)))),  # c0
    ("LSTM", {"proj_size": 4}, lambda m: m(torch.randn(5, 3, 10), (_h(1, 3, 20), _h(1, 3, 20)))),
    ("GRU", {}, lambda m: m(torch.randn(5, 10), _h(1, 3, 20))),  # unbatched x, batched h
    ("RNN", {}, lambda m: m(torch.randn(5, 3, 10).double())),  # dtype
    ("RNN", {"batch_first": True}, lambda m: m(torch.randn(3, 5, 10))),  # fine
    ("LSTM", {}, lambda m: m(torch.randn(5, 10), (torch.zeros(1, 20), torch.zeros(1, 20)))),
]


@pytest.mark.parametrize("name, kwargs, call", FORWARD_CASES)
def test_forward_checks_match_torch(name, kwargs, call):
    theirs, ours = pair(name, 10, 20, **kwargs)
    err_t, out_t = outcome(lambda: call(theirs))
    err_r, out_r = outcome(lambda: call(ours))
    if err_t is None:
        assert err_r is None, err_r
        same(out_t, out_r)
    else:
        assert isinstance(err_r, type(err_t)), (type(err_t), err_r)
        assert str(err_r).startswith(name), str(err_r)


CELL_CASES = [
    ("LSTMCell", lambda m: m(torch.randn(3, 11))),
    ("GRUCell", lambda m: m(torch.randn(3, 10), torch.zeros(4, 20))),
    ("RNNCell", lambda m: m(torch.randn(2, 3, 10))),
    ("LSTMCell", lambda m: m(torch.randn(10), (torch.zeros(20), torch.zeros(20)))),
]


@pytest.mark.parametrize("name, call", CELL_CASES)
def test_cell_checks_match_torch(name, call):
    theirs, ours = pair(name, 10, 20)
    err_t, out_t = outcome(lambda: call(theirs))
    err_r, out_r = outcome(lambda: call(ours))
    if err_t is None:
        assert err_r is None, err_r
        same(out_t, out_r)
    else:
        assert isinstance(err_r, type(err_t)), (type(err_t), err_r)
        assert str(err_r).startswith(name), str(err_r)


# -- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_dropout_acts_in_training_only(impl):
    torch.manual_seed(0)
    m = IMPLS[impl].LSTM(10, 20, num_layers=2, dropout=0.5)
    x = torch.randn(6, 3, 10)
    assert not torch.equal(m(x)[0], m(x)[0])
    m.eval()
    assert torch.equal(m(x)[0], m(x)[0])
    quiet = IMPLS[impl].LSTM(10, 20, num_layers=2, dropout=0.0).train()
    assert torch.equal(quiet(x)[0], quiet(x)[0])


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_flatten_parameters_changes_nothing(name):
    theirs, ours = pair(name, 10, 20, num_layers=2, bidirectional=True)
    x = torch.randn(6, 3, 10)
    before = ours(x)
    theirs.flatten_parameters()
    ours.flatten_parameters()
    same(before, ours(x))
    same(theirs(x), ours(x))


def test_proj_size_shapes_and_values():
    theirs, ours = pair("LSTM", 10, 20, num_layers=2, proj_size=5, bidirectional=True)
    x = torch.randn(6, 3, 10)
    with onednn_off():  # oneDNN has no projection (torch would warn and fall back)
        out_t = theirs(x)
    out_r = ours(x)
    y, (h, c) = out_r
    assert y.shape == (6, 3, 10) and h.shape == (4, 3, 5) and c.shape == (4, 3, 20)
    same(out_t, out_r)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_packed_sequences(name, enforce_sorted):
    theirs, ours = pair(name, 10, 20, num_layers=2, bidirectional=True)
    lengths = torch.tensor([6, 4, 4, 1]) if enforce_sorted else torch.tensor([4, 6, 1, 4])
    x = torch.randn(6, 4, 10)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    out_t, out_r = theirs(packed), ours(packed)
    same(out_t, out_r)
    padded_t, len_t = pad_packed_sequence(out_t[0])
    padded_r, len_r = pad_packed_sequence(out_r[0])
    assert torch.equal(len_t, len_r)
    torch.testing.assert_close(padded_t, padded_r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_unbatched_input(name):
    theirs, ours = pair(name, 10, 20, num_layers=2)
    x = torch.randn(6, 10)
    same(theirs(x), ours(x))
    y, state = ours(x)
    assert y.shape == (6, 20)
    assert all(s.shape == (2, 20) for s in flat(state))
    hx = (torch.randn(2, 20), torch.randn(2, 20)) if name == "LSTM" else torch.randn(2, 20)
    same(theirs(x, hx), ours(x, hx))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_batch_first(name):
    theirs, ours = pair(name, 10, 20, batch_first=True, bidirectional=True)
    x = torch.randn(3, 6, 10)
    same(theirs(x), ours(x))
    assert ours(x)[0].shape == (3, 6, 40)


@pytest.mark.parametrize("convert", ["double", "to"])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_double_precision_and_flat_weights_after_conversion(name, convert):
    theirs, ours = pair(name, 10, 20, num_layers=2)
    for m in (theirs, ours):
        if convert == "double":
            m.double()
        else:
            m.to(D64)
        assert [w.dtype for w in m._flat_weights] == [D64] * len(m._flat_weights)
        for w, n in zip(m._flat_weights, m._flat_weights_names, strict=True):
            assert w is getattr(m, n)
    assert ours._flat_weights_names == theirs._flat_weights_names
    x = torch.randn(6, 3, 10, dtype=D64)
    same(theirs(x), ours(x), tol=1e-12)
    assert ours(x)[0].dtype == D64


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_gradcheck_and_gradgradcheck(impl, name):
    torch.manual_seed(0)
    m = getattr(IMPLS[impl], name)(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(4, 2, 3, dtype=D64, requires_grad=True)

    def f(x):
        return flat(m(x))[0]

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_state_dict_round_trips(name):
    args = (10, 20)
    kwargs = {} if name.endswith("Cell") else {"num_layers": 2, "bidirectional": True}
    theirs, ours = pair(name, *args, **kwargs)
    back = getattr(torch.nn, name)(*args, **kwargs)
    back.load_state_dict(ours.state_dict())
    assert list(back.state_dict()) == list(theirs.state_dict()) == list(ours.state_dict())
    for key, value in theirs.state_dict().items():
        assert torch.equal(back.state_dict()[key], value)
    x = torch.randn(3, 10) if name.endswith("Cell") else torch.randn(6, 3, 10)
    same(theirs(x), ours(x))
