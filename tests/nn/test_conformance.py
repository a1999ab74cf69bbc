"""Conformance with torch.nn: the CPU cases of PyTorch's own recurrent-layer tests (test_nn.py,
the RNN entries of its module-info tests) that apply to a drop-in layer, written anew and run
against torch.nn and rnnlab.nn with the same expectations.

Error cases are checked against what torch itself does on the same call: where torch raises,
rnnlab raises an exception of the same type (its InputError is a ValueError, TypeError and
RuntimeError) whose message names the module; where torch accepts, rnnlab accepts.
"""

import contextlib
import copy
import io
import itertools
import pickle
import re

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
    ("RNN", (30, 20, 2), {"proj_size": 10}),
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


# -- PyTorch's argument checks, case by case ----------------------------------------------------


def raises(impl, error, name):
    """pytest.raises(error), and for rnnlab a message that starts with the module's name."""
    return pytest.raises(error, match=rf"^{name}: " if impl is rnn else None)


# test_rnn_args_check, test_projections_lstm_args_check (test_nn.py): a wrong size anywhere in
# the input or the state is a RuntimeError in both.

ARGS_MODES = ["RNN", "GRU", "LSTM"]


def _args_check_calls(mode):
    """(what is wrong, input shape, state shapes): input batch, hidden batch, input size,
    hidden size, layers; for the LSTM the wrong shape in h, then in c."""
    good_x, good_h = (6, 4, 3), (2, 4, 5)
    wrong = {"input batch": ((6, 7, 3), good_h), "hidden batch": (good_x, (2, 7, 5)),
             "input size": ((6, 4, 7), good_h), "hidden size": (good_x, (2, 4, 7)),
             "hidden layers": (good_x, (7, 4, 5))}  # fmt: skip
    calls = []
    for what, (x_shape, h_shape) in wrong.items():
        if mode != "LSTM":
            calls.append((what, x_shape, h_shape))
        elif h_shape == good_h:
            calls.append((what, x_shape, (h_shape, h_shape)))
        else:
            calls.append((what + " in h", x_shape, (h_shape, good_h)))
            calls.append((what + " in c", x_shape, (good_h, h_shape)))
    return calls


@pytest.mark.parametrize(
    "mode, what, x_shape, h_shape",
    [(mode, *call) for mode in ARGS_MODES for call in _args_check_calls(mode)],
)
def test_rnn_args_check(mode, what, x_shape, h_shape):
    def call(impl):
        torch.manual_seed(0)
        module = getattr(impl, mode)(3, 5, 2)
        hx = tuple(torch.randn(s) for s in h_shape) if mode == "LSTM" else torch.randn(h_shape)
        return module(torch.randn(x_shape), hx)

    for impl in IMPLS.values():
        with raises(impl, RuntimeError, mode):
            call(impl)


PROJ_WRONG = {
    "input batch": ((6, 7, 3), (2, 4, 2), (2, 4, 5)),
    "hidden batch": ((6, 4, 3), (2, 7, 2), (2, 7, 5)),
    "input size": ((6, 4, 7), (2, 4, 2), (2, 4, 5)),
    "hidden size": ((6, 4, 3), (2, 4, 7), (2, 4, 7)),
    "hidden layers": ((6, 4, 3), (7, 4, 2), (7, 4, 5)),
    "h of hidden_size, not proj_size": ((6, 4, 3), (2, 4, 5), (2, 4, 5)),
    "h layers only": ((6, 4, 3), (7, 4, 2), (2, 4, 5)),
    "c layers only": ((6, 4, 3), (2, 4, 2), (7, 4, 5)),
}


@pytest.mark.parametrize("what", PROJ_WRONG)
def test_projections_lstm_args_check(what):
    x_shape, h_shape, c_shape = PROJ_WRONG[what]
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = impl.LSTM(3, 5, 2, proj_size=2)
        with raises(impl, RuntimeError, "LSTM"), onednn_off():
            module(torch.randn(x_shape), (torch.randn(h_shape), torch.randn(c_shape)))


# module_error_inputs_torch_nn_RNN_GRU (common_modules.py): constructor arguments of the wrong
# type or value; torch raises TypeError or ValueError, rnnlab an InputError that is both.
MODULE_ERROR_CASES = [
    ((10, 0, 1), {}),
    ((10, 10, 0), {}),
    ((3, 5), {"bias": 0}),
    ((3, 5), {"bias": 1}),
    ((3, 5), {"bias": "True"}),
    ((3, 5), {"batch_first": 0}),
    ((3, 5), {"batch_first": 1}),
    ((3, 5), {"batch_first": "False"}),
    ((3.0, 5), {}),
    (("10", 5), {}),
    ((0, 5), {}),
    ((-1, 5), {}),
    ((3, 5.0), {}),
    ((3, 5, 2), {"dropout": True}),
]


@pytest.mark.parametrize("name", ARGS_MODES)
@pytest.mark.parametrize("args, kwargs", MODULE_ERROR_CASES)
def test_module_error_inputs_of_the_layers(name, args, kwargs):
    err_t, _ = outcome(lambda: getattr(torch.nn, name)(*args, **kwargs))
    err_r, _ = outcome(lambda: getattr(rnn, name)(*args, **kwargs))
    assert err_t is not None
    assert isinstance(err_r, type(err_t)), (type(err_t), err_r)
    assert str(err_r).startswith(name), str(err_r)


@pytest.mark.parametrize("name", ARGS_MODES)
def test_input_dtype_mismatch_is_a_value_error(name):
    """module_error_inputs_torch_nn_RNN_GRU: an input of another dtype than the weights is a
    ValueError (torch: "RNN input dtype ... does not match weight dtype")."""
    for impl in IMPLS.values():
        module = getattr(impl, name)(3, 5)
        for dtype in (torch.float64, torch.int64):
            with raises(impl, ValueError, name):
                module(torch.ones(2, 4, 3, dtype=dtype))


# module_error_inputs_torch_nn_RNN_GRU_Cell / _LSTMCell (common_modules.py),
# test_RNN_cell_no_broadcasting, test_LSTM_cell_forward_input_size and
# test_LSTM_cell_forward_hidden_size (test_nn.py): every size mismatch, and no broadcasting of a
# batch or width of 1.
def _cell_state(name, *shapes):
    if name == "LSTMCell":
        return tuple(torch.randn(s) for s in shapes)
    return torch.randn(shapes[0])


CELL_ERROR_CASES = [
    ("input size", (3, 11), ((3, 20), (3, 20)), RuntimeError),
    ("hidden size", (3, 10), ((3, 21), (3, 21)), RuntimeError),
    ("batch", (3, 10), ((5, 20), (5, 20)), RuntimeError),
    ("4-D state", (3, 10), ((3, 1, 1, 20), (3, 1, 1, 20)), ValueError),
    ("3-D input", (2, 3, 10), ((3, 20), (3, 20)), ValueError),
    ("broadcast batch of 1", (3, 10), ((1, 20), (3, 20)), RuntimeError),
    ("broadcast width of 1", (3, 10), ((3, 1), (3, 20)), RuntimeError),
    ("broadcast input width of 1", (3, 1), ((3, 20), (3, 20)), RuntimeError),
    ("cell state batch of 1", (3, 10), ((3, 20), (1, 20)), RuntimeError),
    ("cell state size", (3, 10), ((3, 20), (3, 21)), RuntimeError),
]


@pytest.mark.parametrize(
    "name, what, x_shape, state_shapes, error",
    [(name, *case) for name in ("RNNCell", "GRUCell", "LSTMCell") for case in CELL_ERROR_CASES
     if name == "LSTMCell" or not case[0].startswith("cell state")],
)  # fmt: skip
def test_cell_error_inputs(name, what, x_shape, state_shapes, error):
    for impl in IMPLS.values():
        cell = getattr(impl, name)(10, 20)
        with raises(impl, error, name):
            cell(torch.randn(x_shape), _cell_state(name, *state_shapes))


def test_rnn_cell_with_relu_where_bias_stands():
    """module_error_inputs_torch_nn_RNN_GRU_Cell builds RNNCell(10, 20, 'relu'): the third
    positional argument is `bias`, so torch builds a tanh cell with biases and fails only at
    the forward's hidden-size check. Deliberate difference: rnnlab rejects the string at
    construction. Either way the mistake is a RuntimeError (InputError is one) before any
    output."""
    torch.nn.RNNCell(10, 20, "relu")
    with pytest.raises(RuntimeError, match=r"^RNNCell: expected bias to be a bool, got 'relu'"):
        rnn.RNNCell(10, 20, "relu")
    for impl in IMPLS.values():
        with pytest.raises(RuntimeError):
            impl.RNNCell(10, 20, "relu")(torch.randn(3, 10), torch.randn(3, 21))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_cudnn_forward_exception(name):
    """test_cudnn_forward_exception (runs on the CPU too): a state of the wrong size and an
    input of the wrong width, batch_first. Same exception type; the messages differ on
    purpose (rnnlab's name the module and the expected shape)."""
    state = (
        (torch.zeros(1, 2, 19), torch.zeros(1, 2, 19)) if name == "LSTM" else torch.zeros(1, 2, 19)
    )
    x_right, x_wrong = torch.randn(2, 3, 10), torch.randn(2, 3, 3)
    theirs, ours = pair(name, 10, 20, batch_first=True)
    with pytest.raises(RuntimeError, match=r"Expected hidden.*size.*got"):
        theirs(x_right, state)
    with pytest.raises(RuntimeError, match=rf"^{name}: expected h_0 of shape"):
        ours(x_right, state)
    with pytest.raises(RuntimeError, match=re.escape("input.size(-1) must be equal to input_size")):
        theirs(x_wrong)
    with pytest.raises(RuntimeError, match=rf"^{name}: expected input of shape \(B, T, 10\)"):
        ours(x_wrong)


# Deliberate difference: where torch.nn fails by accident of its implementation (an IndexError,
# an AttributeError), rnnlab raises its InputError (a ValueError, TypeError and RuntimeError).
ACCIDENTAL_CASES = [
    ("LSTM", lambda m: m(torch.randn(2, 4, 3), torch.zeros(1, 4, 5)), IndexError),
    ("GRU", lambda m: m(torch.randn(2, 4, 3), (torch.zeros(1, 4, 5),)), AttributeError),
    ("GRU", lambda m: m([[1.0, 2.0, 3.0]]), AttributeError),
]


@pytest.mark.parametrize("name, call, torch_error", ACCIDENTAL_CASES)
def test_rnnlab_names_what_torch_fails_on_by_accident(name, call, torch_error):
    theirs, ours = pair(name, 3, 5)
    with pytest.raises(torch_error):
        call(theirs)
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        call(ours)


def test_cell_bias_as_an_int():
    """torch.nn's cells take `bias` as any int (`bias=0`: no biases); so do rnnlab's."""
    x = torch.randn(2, 3)
    for name in ("RNNCell", "GRUCell", "LSTMCell"):
        for bias in (0, 1):
            theirs, ours = pair(name, 3, 5, bias=bias)
            assert ours.bias is bool(bias) and (ours.bias_ih is None) == (theirs.bias_ih is None)
            assert list(ours.state_dict()) == list(theirs.state_dict())
            same(theirs(x), ours(x))


def test_bidirectional_as_an_int():
    """Deliberate difference: torch.nn builds a layer with `bidirectional=1` and fails at the
    first forward (its fused op wants a bool, a TypeError); rnnlab rejects it at construction
    with a TypeError too (as with the other early checks above)."""
    theirs = torch.nn.GRU(3, 5, bidirectional=1)
    with pytest.raises(TypeError):
        theirs(torch.randn(4, 2, 3))
    with pytest.raises(TypeError, match=r"^GRU: expected bidirectional to be a bool, got 1"):
        rnn.GRU(3, 5, bidirectional=1)


@pytest.mark.parametrize("impl", IMPLS)
def test_RNN_nonlinearity(impl):
    """test_RNN_nonlinearity, test_RNN_nonlinearity_passed_as_arg."""
    assert IMPLS[impl].RNN(1, 10).nonlinearity == "tanh"
    assert IMPLS[impl].RNN(1, 10, nonlinearity="relu").nonlinearity == "relu"
    assert IMPLS[impl].RNN(2, 3, 1, "relu").nonlinearity == "relu"
    with pytest.raises(ValueError):
        IMPLS[impl].RNN(1, 10, nonlinearity="garbage")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_dropout_with_one_layer_warns(impl, name):
    """torch.nn warns (UserWarning) when dropout is set on a one-layer stack; so does rnnlab."""
    with pytest.warns(UserWarning, match="dropout"):
        getattr(IMPLS[impl], name)(3, 5, dropout=0.5)


# -- PyTorch's behaviour tests ---------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_RNN_cell_and_LSTM_cell(name, bias):
    """test_RNN_cell, test_LSTM_cell: six steps of a cell, then backward; rnnlab gives torch's
    states and gradients."""
    theirs, ours = pair(name, 10, 20, bias=bias)
    results = []
    for cell in (theirs, ours):
        torch.manual_seed(3)
        x = torch.randn(3, 10)
        state = (
            (torch.randn(3, 20), torch.randn(3, 20)) if name == "LSTMCell" else torch.randn(3, 20)
        )
        for _ in range(6):
            state = cell(x, state)
        sum(s.sum() for s in flat(state)).backward()
        results.append((state, [p.grad for p in cell.parameters()]))
    same(results[0], results[1], tol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name, proj_size", [("RNN", 0), ("GRU", 0), ("LSTM", 0), ("LSTM", 10)])
def test_rnn_initial_hidden_state(name, proj_size, bidirectional):
    """test_rnn_initial_hidden_state, test_projections_lstm_initial_hidden_state: a zero state
    gives what no state gives."""
    dirs = 2 if bidirectional else 1
    x = torch.randn(10, 4, 30)
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = getattr(impl, name)(30, 20, 2, bidirectional=bidirectional,
                                     **({"proj_size": proj_size} if proj_size else {}))  # fmt: skip
        h = torch.zeros(2 * dirs, 4, proj_size or 20)
        hx = (h, torch.zeros(2 * dirs, 4, 20)) if name == "LSTM" else h
        with onednn_off():
            with_state, without = module(x, hx), module(x)
        same(with_state, without, tol=0)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("p", [0.0, 0.276, 0.731, 1.0])
def test_RNN_dropout(p, train):
    """test_RNN_dropout (its CPU half): two relu layers of 1000 units with all weights 1 and one
    input of ones; dropout sits between the layers only and scales by 1 / (1 − p)."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = impl.RNN(10, 1000, 2, bias=False, dropout=p, nonlinearity="relu").train(train)
        with torch.no_grad():
            for weight in module.parameters():
                weight.fill_(1)
        output, hy = module(torch.ones(1, 1, 10), torch.zeros(2, 1, 1000))
        value = output[0, 0, 0].item()
        assert output.min() == output.max()
        if p == 0 or not train:
            assert value == 10000
        elif p == 1:
            assert value == 0
        else:
            assert 8000 < value < 12000
            kept = value * (1 - p) % 10
            assert min(kept, 10 - kept) < 1e-2
        assert hy[0].min() == hy[0].max() == 10
        assert hy[1].min() == hy[1].max() == value


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("p", [0.0, 0.1234])
def test_RNN_dropout_state(p, train):
    """test_RNN_dropout_state (its CPU half): repeated calls, and a copy saved and loaded with
    torch.save / torch.load (the whole module), agree exactly unless dropout acts."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = impl.RNN(100, 100, 2, bias=False, dropout=p, nonlinearity="relu").train(train)
        x, hx = torch.rand(1, 1, 100), torch.rand(2, 1, 100)
        first, second = module(x, hx), module(x, hx)
        buffer = io.BytesIO()
        torch.save(module, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        assert type(loaded) is type(module)
        loaded.flatten_parameters()
        third = loaded(x, hx)
        for a, b in ((first, second), (first, third)):
            equal = all(torch.equal(u, v) for u, v in zip(flat(a), flat(b), strict=True))
            assert equal == (p == 0 or not train)


@pytest.mark.parametrize("train", [True, False])
def test_RNN_change_dropout(train):
    """test_RNN_change_dropout (its CPU half): assigning `module.dropout` takes effect at the
    next call."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = impl.RNN(100, 100, 2, dropout=0, nonlinearity="relu").train(train)
        x = torch.rand(3, 2, 100)
        previous = None
        for p in (0, 0.5, 0, 0.7, 0.2, 1, 0.2, 0):
            module.dropout = p
            (out1, h1), (out2, h2) = module(x), module(x)
            repeats = p in (0, 1) or not train
            assert torch.equal(out1, out2) == repeats and torch.equal(h1, h2) == repeats
            if previous is not None:
                assert torch.equal(out1, previous) == (not train)
            previous = out1


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_rnn_retain_variables(name):
    """test_rnn_retain_variables: backward through a retained graph five times gives the same
    gradients each time (float64)."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = getattr(impl, name)(10, 20, num_layers=2).double()
        x = torch.randn(5, 6, 10, dtype=D64, requires_grad=True)
        output = module(x)[0]
        output.sum().backward(retain_graph=True)
        grads = [x.grad.clone()] + [p.grad.clone() for p in module.parameters()]
        for _ in range(4):
            module.zero_grad()
            x.grad.zero_()
            output.sum().backward(retain_graph=True)
            again = [x.grad] + [p.grad for p in module.parameters()]
            for a, b in zip(grads, again, strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize("impl", IMPLS)
def test_lstmcell_backward_only_one_output_grad(impl):
    """test_lstmcell_backward_only_one_output_grad (CUDA-only in torch; the CPU case): backward
    from h' alone or from c' alone reaches the input."""
    cell = IMPLS[impl].LSTMCell(2, 3).double()
    x = torch.randn(1, 2, dtype=D64, requires_grad=True)
    for i in range(2):
        x.grad = None
        cell(x)[i].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_LSTM_and_GRU_grad_and_gradgrad(name, bias):
    """test_LSTM_grad_and_gradgrad, test_GRU_grad_and_gradgrad: gradcheck and gradgradcheck of
    every output (sequence and states) with respect to the input, with and without biases."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = getattr(impl, name)(4, 4, bias=bias).double()
        x = torch.rand(1, 3, 4, dtype=D64, requires_grad=True)

        def outputs(x, module=module):
            return tuple(flat(module(x)))

        assert torch.autograd.gradcheck(outputs, (x,), check_batched_grad=False)
        assert torch.autograd.gradgradcheck(outputs, (x,), check_batched_grad=False)


def test_LSTM_differentiable_backward_using_oneDNN():
    """test_LSTM_differentiable_backward_using_oneDNN: the input gradient, taken with
    create_graph and differentiated again, is the same with oneDNN on and off; rnnlab's equals
    torch's."""
    theirs, ours = pair("LSTM", 3, 3, 4, batch_first=True)  # torch takes 20 layers
    x = torch.rand(10, 12, 3)
    results = []
    for module in (theirs, ours):
        for onednn in (False, True):
            module.zero_grad()
            leaf = x.clone().requires_grad_(True)
            with contextlib.nullcontext() if onednn else onednn_off():
                out, _ = module(leaf)
                (der,) = torch.autograd.grad(out, leaf, torch.ones_like(out), create_graph=True)
                der.sum().backward()
            results.append((der.detach(), leaf.grad))
    for der, grad in results[1:]:
        torch.testing.assert_close(der, results[0][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("lengths_kind", ["list", "tensor"])
def test_variable_sequence(lengths_kind):
    """test_variable_sequence: a packed batch gives, forward and backward, what running each
    sequence alone gives (bidirectional 2-layer LSTM)."""
    lengths = [10, 10, 6, 2, 2, 1, 1]
    packed_lengths = torch.tensor(lengths) if lengths_kind == "tensor" else lengths
    for impl in IMPLS.values():
        torch.manual_seed(0)
        lstm = impl.LSTM(3, 4, bidirectional=True, num_layers=2).double()
        alone = copy.deepcopy(lstm)
        x = torch.randn(10, len(lengths), 3, dtype=D64, requires_grad=True)
        outs, states = [], []
        for i, n in enumerate(lengths):
            out, state = alone(x[:n, i : i + 1])
            outs.append(torch.cat([out, out.new_zeros(10 - n, 1, 8)]))
            states.append(state)
        separate = torch.cat(outs, 1)
        separate_state = tuple(torch.cat(parts, 1) for parts in zip(*states, strict=True))
        packed_out, packed_state = lstm(pack_padded_sequence(x, packed_lengths))
        unpacked, unpacked_lengths = pad_packed_sequence(packed_out)
        same(packed_state, separate_state, tol=1e-12)
        same(unpacked, separate, tol=1e-12)
        assert unpacked_lengths.tolist() == lengths
        grads_separate = torch.autograd.grad(separate.sum(), [x, *alone.parameters()])
        grads_packed = torch.autograd.grad(unpacked.sum(), [x, *lstm.parameters()])
        same(grads_packed, grads_separate, tol=1e-12)


def _noncontiguous(t):
    """The same values in a tensor with a stride of 2 in its last dimension."""
    return torch.stack([torch.zeros_like(t), t], t.dim()).select(t.dim(), 1)


def _forward_backward(module, x, hx, lengths, batch_first, contiguous, grads_out):
    """Outputs and gradients (input, states, weights) of one call, as _test_RNN_cpu_vs_cudnn
    takes them; a non-contiguous input and state are strided views of the leaves."""
    module.zero_grad()
    leaf = x.detach().clone().requires_grad_(True)
    leaves = [h.detach().clone().requires_grad_(True) for h in hx]
    view = (lambda t: t) if contiguous else _noncontiguous
    inp = view(leaf) if lengths is None else pack_padded_sequence(view(leaf), lengths, batch_first)
    states = tuple(view(h) for h in leaves)
    with onednn_off():
        output, hy = module(inp, states if len(states) == 2 else states[0])
    outputs = flat(output) + flat(hy)
    torch.autograd.backward(outputs, grads_out)
    grads = [leaf.grad] + [h.grad for h in leaves] + [p.grad for p in module.parameters()]
    return [o.detach() for o in outputs], grads


@pytest.mark.parametrize("name", ["RNN_tanh", "RNN_relu", "GRU", "LSTM", "LSTM_proj"])
def test_RNN_cpu_vs_cudnn_on_the_cpu(name):
    """_test_RNN_cpu_vs_cudnn's matrix (bias, bidirectional, batch_first, contiguous or not,
    padded or packed, lengths as a list or a tensor), run on torch.nn and rnnlab on the CPU in
    float64: outputs, final states and every gradient (input, h_0, c_0, weights) agree."""
    module_name = name.split("_")[0]
    kwargs = {"nonlinearity": name.split("_")[1]} if name.startswith("RNN") else {}
    if name == "LSTM_proj":
        kwargs["proj_size"] = 3
    hidden, steps, batch, layers = 6, 7, 6, 2
    out_width = 3 if name == "LSTM_proj" else hidden
    for bias, bidirectional, batch_first, contiguous, packed, as_tensor in itertools.product(
        (True, False), repeat=6
    ):
        if as_tensor and not packed:
            continue
        dirs = 2 if bidirectional else 1
        torch.manual_seed(1)
        x = torch.randn((batch, steps, 10) if batch_first else (steps, batch, 10), dtype=D64)
        grad_out = torch.randn((*x.shape[:2], out_width * dirs), dtype=D64)
        h = torch.randn(layers * dirs, batch, out_width, dtype=D64)
        c = torch.randn(layers * dirs, batch, hidden, dtype=D64)
        hx = (h, c) if module_name == "LSTM" else (h,)
        grads_out = [grad_out] + [torch.randn_like(s) for s in hx]
        lengths = None
        if packed:
            lengths = [7, 5, 5, 2, 1, 1]
            lengths = torch.tensor(lengths) if as_tensor else lengths
            grads_out[0] = pack_padded_sequence(grad_out, lengths, batch_first).data
        theirs, ours = pair(module_name, 10, hidden, layers, bias=bias, batch_first=batch_first,
                            bidirectional=bidirectional, **kwargs)  # fmt: skip
        theirs.double()
        ours.double()
        want = _forward_backward(theirs, x, hx, lengths, batch_first, contiguous, grads_out)
        got = _forward_backward(ours, x, hx, lengths, batch_first, contiguous, grads_out)
        for a, b in zip(got[0] + got[1], want[0] + want[1], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# -- weights replaced, tied, deleted, reparametrised -------------------------------------------


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_cudnn_weight_format_on_the_cpu(name):
    """test_cudnn_weight_format (its CPU part): a weight whose storage is swapped with `set_`
    still computes the same outputs and gradients, and keeps sharing the new storage."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = getattr(impl, name)(10, 20, batch_first=True)
        x = torch.randn(5, 4, 10, requires_grad=True)

        def run(module=module, x=x):
            module.zero_grad()
            x.grad = None
            out = module(x)[0]
            out.sum().backward()
            return [out.detach(), x.grad] + [p.grad for p in module.parameters()]

        before = run()
        weight = module.weight_hh_l0
        data = weight.data.clone()
        with torch.no_grad():
            weight.set_(data)
        same(run(), before, tol=0)
        data[:] = 4
        assert torch.equal(module.weight_hh_l0.data, data)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_cudnn_weight_tying_on_the_cpu(name):
    """test_cudnn_weight_tying (its CPU part): tying the reverse direction's bias to the
    forward one (`m.bias_ih_l0_reverse = m.bias_ih_l0`) trains one shared tensor; rnnlab gives
    torch's outputs and updates."""
    theirs, ours = pair(name, 10, 20, batch_first=True, bidirectional=True)
    results = []
    for module in (theirs, ours):
        module.bias_ih_l0_reverse = module.bias_ih_l0
        torch.manual_seed(1)
        x = torch.randn(5, 4, 10)
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
        optimizer.zero_grad()
        module(x)[0].sum().backward()
        optimizer.step()
        assert module.bias_ih_l0_reverse is module.bias_ih_l0
        results.append((module(x), [p.detach().clone() for p in module.parameters()]))
    assert list(theirs.state_dict()) == list(ours.state_dict())
    same(results[0], results[1])


@pytest.mark.parametrize("impl", IMPLS)
def test_partial_flat_weights_on_the_cpu(impl):
    """test_partial_flat_weights (its CPU part): with a weight deleted the module still
    converts (`.double()`, `.float()`), and works again once the weight is put back."""
    torch.manual_seed(0)
    module = IMPLS[impl].LSTM(10, 6, 2)
    x = torch.randn(3, 2, 10)
    expected = module(x)[0]
    weight = module.weight_hh_l0
    del module.weight_hh_l0
    assert not hasattr(module, "weight_hh_l0")
    module.double().float()
    module.weight_hh_l0 = weight
    assert module._flat_weights[1] is weight
    torch.testing.assert_close(module(x)[0], expected)


@pytest.mark.parametrize(
    "name, proj_size, count", [("weight_ih_l0", 0, 4), ("weight_hr_l0", 16, 5)]
)
def test_rnn_weight_norm(name, proj_size, count):
    """test_rnn_weight_norm: torch.nn.utils.weight_norm (deprecated, it warns) turns the weight
    into a computed tensor in `_flat_weights`, and removing it restores the Parameter."""
    for impl in IMPLS.values():
        module = impl.LSTM(32, 32, proj_size=proj_size)
        with pytest.warns(FutureWarning, match="weight_norm"):
            module = torch.nn.utils.weight_norm(module, name=name)
        assert sum(isinstance(p, torch.nn.Parameter) for p in module._flat_weights) == count - 1
        module = torch.nn.utils.remove_weight_norm(module, name=name)
        assert sum(isinstance(p, torch.nn.Parameter) for p in module._flat_weights) == count
        assert module._parameters[name] is not None
        assert name + "_v" not in module._parameters and name + "_g" not in module._parameters
        assert name in dict(module.named_parameters())


@pytest.mark.parametrize("name, proj_size", [("weight_hh_l0", 0), ("weight_hr_l0", 3)])
def test_RNN_cudnn_weight_norm_on_the_cpu(name, proj_size):
    """test_RNN_cudnn_weight_norm (its CPU part): with weight norm on a weight (as a
    parametrization) the output is unchanged, and again after removing it; rnnlab's is
    torch's."""
    theirs, ours = pair("LSTM", 10, 6, 2, proj_size=proj_size)
    x = torch.randn(7, 6, 10)
    outputs = []
    for module in (theirs, ours):
        with onednn_off():
            expected = module(x)
            torch.nn.utils.parametrizations.weight_norm(module, name=name)
            normed = module(x)
            torch.nn.utils.parametrize.remove_parametrizations(module, name)
            removed = module(x)
        same(normed, expected)
        same(removed, expected)
        outputs.append(normed)
    same(outputs[0], outputs[1])


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_assigning_a_new_weight(name):
    """A Parameter assigned over `weight_hh_l0` is what the next call computes with, and what
    `_flat_weights` lists (torch.nn refreshes its list on assignment)."""
    theirs, ours = pair(name, 10, 6, 2)
    new = torch.randn_like(theirs.weight_hh_l0)
    for module in (theirs, ours):
        module.weight_hh_l0 = torch.nn.Parameter(new.clone())
        assert module._flat_weights[1] is module.weight_hh_l0
    x = torch.randn(5, 3, 10)
    same(theirs(x), ours(x))


# -- module_inputs_torch_nn_* (common_modules.py) ----------------------------------------------


def _module_input_cases():
    """The samples of module_inputs_torch_nn_RNN_GRU (with_packed_sequence) and _LSTM:
    (name, constructor kwargs, input kind, state kind)."""
    cases = []
    for name, nonlinearity in (("RNN", "relu"), ("RNN", "tanh"), ("GRU", None)):
        for bias, batch_first, bidirectional in itertools.product((False, True), repeat=3):
            base = {"input_size": 2, "num_layers": 2, "bias": bias,
                    "batch_first": batch_first, "bidirectional": bidirectional}  # fmt: skip
            if nonlinearity:
                base["nonlinearity"] = nonlinearity
            cases.append((name, {**base, "hidden_size": 2}, "unbatched", None))
            cases.append((name, {**base, "hidden_size": 3}, "unbatched", "state"))
            cases.append((name, {**base, "hidden_size": 2}, "packed [5, 3]", None))
            cases.append((name, {**base, "hidden_size": 2}, "packed [5, 3, 3, 2, 2]", None))
    for bias, batch_first, bidirectional, proj_size in itertools.product(
        (False, True), (False, True), (False, True), (0, 2)
    ):
        base = {"input_size": 2, "hidden_size": 3, "num_layers": 2, "proj_size": proj_size,
                "bias": bias, "batch_first": batch_first,
                "bidirectional": bidirectional}  # fmt: skip
        cases.append(("LSTM", base, "unbatched", None))
        cases.append(("LSTM", base, "unbatched", "state"))
    return cases


def _module_input(name, kwargs, kind, state):
    """The sample's input, its state (or None), and the leaf the input is made from."""
    dirs = 2 if kwargs["bidirectional"] else 1
    rows = kwargs["num_layers"] * dirs
    if kind == "unbatched":
        leaf = torch.randn(3, 2, dtype=D64, requires_grad=True)
        inp = leaf
    else:
        lengths = [int(n) for n in kind.removeprefix("packed [").removesuffix("]").split(",")]
        leaf = torch.randn(5, len(lengths), 2, dtype=D64, requires_grad=True)
        inp = pack_padded_sequence(leaf, lengths)
    if state is None:
        return inp, None, leaf
    width = kwargs.get("proj_size") or kwargs["hidden_size"]
    h = torch.randn(rows, width, dtype=D64)
    hx = (h, torch.randn(rows, kwargs["hidden_size"], dtype=D64)) if name == "LSTM" else h
    return inp, hx, leaf


def _sample_id(value):
    if isinstance(value, dict):
        return ",".join(f"{key}={option}" for key, option in value.items())
    return str(value)


@pytest.mark.parametrize("name, kwargs, kind, state", _module_input_cases(), ids=_sample_id)
def test_module_inputs(name, kwargs, kind, state):
    """module_inputs_torch_nn_RNN_GRU / _LSTM: every sample, float64, against torch.nn after
    copying its state dict: outputs and the gradients of input and weights; an unbatched call
    also equals the batched call of batch 1 (no_batch_dim_reference_rnn_gru / _lstm)."""
    theirs, ours = pair(name, **kwargs)
    theirs.double()
    ours.double()
    results = []
    for module in (theirs, ours):
        torch.manual_seed(5)
        inp, hx, leaf = _module_input(name, kwargs, kind, state)
        with onednn_off():
            out = module(inp, hx)
        outputs = flat(out)
        grads = torch.autograd.grad(sum(o.square().sum() for o in outputs),
                                    [leaf, *module.parameters()])  # fmt: skip
        results.append((outputs, grads))
        if kind == "unbatched":
            hx_batched = None if hx is None else tuple(h.unsqueeze(1) for h in flat(hx))
            if hx_batched is not None and name != "LSTM":
                hx_batched = hx_batched[0]
            x_batched = inp.unsqueeze(0 if kwargs["batch_first"] else 1)
            with onednn_off():
                batched = flat(module(x_batched, hx_batched))
            squeezed = [batched[0].squeeze(0 if kwargs["batch_first"] else 1)]
            squeezed += [s.squeeze(1) for s in batched[1:]]
            same(outputs, squeezed, tol=1e-12)
    same(results[0], results[1], tol=1e-10)


@pytest.mark.parametrize(
    "name, kwargs",
    [("RNNCell", {}), ("RNNCell", {"bias": True, "nonlinearity": "relu"}), ("GRUCell", {}),
     ("LSTMCell", {})],
)  # fmt: skip
def test_cell_module_inputs(name, kwargs):
    """module_inputs_torch_nn_RNN_GRU_Cell / _LSTMCell: an unbatched input (5,) with its state
    (10,) equals torch.nn and the batched call of batch 1."""
    theirs, ours = pair(name, 5, 10, **kwargs)
    x = torch.randn(5)
    hx = (torch.randn(10), torch.randn(10)) if name == "LSTMCell" else torch.randn(10)
    same(theirs(x, hx), ours(x, hx))
    batched_hx = tuple(h[None] for h in hx) if name == "LSTMCell" else hx[None]
    same(ours(x, hx), [s.squeeze(0) for s in flat(ours(x[None], batched_hx))], tol=0)


# -- TestModule's generic checks (test_modules.py) ---------------------------------------------

PLAIN = [
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 5, "bias": False,
              "batch_first": True, "dropout": 0.5}),
    ("GRU", {}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bias": False}),
    ("RNNCell", {"nonlinearity": "relu", "bias": False}),
    ("GRUCell", {}),
    ("LSTMCell", {"bias": False}),
]  # fmt: skip


@pytest.mark.parametrize("name, kwargs", PLAIN)
def test_repr(name, kwargs):
    """test_repr: a cell prints as torch.nn's; a layer prints torch.nn's fields in torch.nn's
    order, then rnnlab's (torch.nn.RNN shows no nonlinearity; every layer shows its backend)."""
    theirs, ours = pair(name, 10, 20, **kwargs)
    if name.endswith("Cell"):
        assert repr(ours) == repr(theirs)
    else:
        assert repr(ours).startswith(repr(theirs)[:-1] + ", ")
        assert "backend=auto→" in repr(ours)


@pytest.mark.parametrize("name, kwargs", PLAIN)
def test_pickle_and_deepcopy(name, kwargs):
    """test_pickle (test_modules.py), test_container_copy (test_nn.py): pickling, torch.save of
    the whole module and deepcopy give an independent module computing the same."""
    theirs, ours = pair(name, 10, 20, **kwargs)
    x = torch.randn(10) if name.endswith("Cell") else torch.randn(4, 10)
    for module in (theirs, ours):
        module.eval()
        buffer = io.BytesIO()
        torch.save(module, buffer)
        buffer.seek(0)
        copies = [pickle.loads(pickle.dumps(module)), copy.deepcopy(module),
                  torch.load(buffer, weights_only=False)]  # fmt: skip
        for other in copies:
            assert type(other) is type(module)
            assert next(other.parameters()) is not next(module.parameters())
            with onednn_off():
                same(other(x), module(x), tol=0)
    with onednn_off():
        same(theirs(x), ours(x))


@pytest.mark.parametrize("name, kwargs", PLAIN)
def test_factory_kwargs_and_device_context(name, kwargs):
    """test_factory_kwargs, test_device_ctx_init, test_to_empty (test_modules.py): `device=` and
    `dtype=` reach every parameter; built under `torch.device("meta")` the parameters are on
    the meta device, and `to_empty` + `reset_parameters` makes the module usable."""
    x = torch.randn(10, dtype=D64) if name.endswith("Cell") else torch.randn(4, 10, dtype=D64)
    for impl in IMPLS.values():
        module = getattr(impl, name)(10, 20, **kwargs, device="cpu", dtype=D64)
        assert {p.dtype for p in module.parameters()} == {D64}
        with torch.device("meta"):
            module = getattr(impl, name)(10, 20, **kwargs)
        assert {p.device.type for p in module.parameters()} == {"meta"}
        on_cpu = getattr(impl, name)(10, 20, **kwargs)
        assert [(p.shape, p.dtype) for p in module.parameters()] == [
            (p.shape, p.dtype) for p in on_cpu.parameters()
        ]
        module.to_empty(device="cpu").double()
        module.reset_parameters()
        with onednn_off():
            assert all(torch.isfinite(t).all() for t in flat(module(x)))


@pytest.mark.parametrize("name, kwargs", PLAIN)
def test_train_eval_share_memory(name, kwargs):
    """test_if_train_and_eval_modes_differ (test_modules.py), test_share_memory (test_nn.py):
    the forward reads `training` where torch.nn's does (the layers, for dropout; not the plain
    cells); train()/eval() set it and return the module; share_memory puts every parameter in
    shared memory."""
    theirs, ours = pair(name, 10, 20, **kwargs)
    x = torch.randn(10) if name.endswith("Cell") else torch.randn(4, 10)
    reads_training = []
    for module in (copy.deepcopy(theirs), copy.deepcopy(ours)):
        delattr(module, "training")
        try:
            with onednn_off():
                module(x)
            reads_training.append(False)
        except AttributeError as err:
            assert "'training'" in str(err)
            reads_training.append(True)
    assert reads_training[0] == reads_training[1] == (not name.endswith("Cell"))
    for module in (theirs, ours):
        assert module.training
        assert module.eval() is module and not module.training
        assert module.train() is module and module.training
        assert module.share_memory() is module
        assert all(p.is_shared() for p in module.parameters())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_half_and_bfloat16_on_the_cpu(name, dtype):
    """`.half()` / `.bfloat16()` on the CPU: where torch.nn computes in that dtype, rnnlab does
    too, with the same result."""
    theirs, ours = pair(name, 10, 20)
    x = (torch.randn(3, 10) if name.endswith("Cell") else torch.randn(5, 3, 10)).to(dtype)
    for module in (theirs, ours):
        module.to(dtype)
        assert {p.dtype for p in module.parameters()} == {dtype}
    out_t, out_r = flat(theirs(x)), flat(ours(x))
    assert [o.dtype for o in out_r] == [o.dtype for o in out_t] == [dtype] * len(out_t)
    for a, b in zip(out_r, out_t, strict=True):
        torch.testing.assert_close(a, b)


GRAD_CASES = [
    ("LSTM", {"proj_size": 2, "bidirectional": True}),
    ("GRU", {"num_layers": 2}),
    ("RNN", {"bias": False}),
    ("LSTMCell", {}),
    ("GRUCell", {}),
    ("RNNCell", {}),
]


@pytest.mark.parametrize("name, kwargs", GRAD_CASES)
def test_grad_with_respect_to_the_parameters(name, kwargs):
    """test_grad (test_modules.py): gradcheck of every output with respect to the input and
    every parameter together (float64), in both."""
    for impl in IMPLS.values():
        torch.manual_seed(0)
        module = getattr(impl, name)(2, 3, **kwargs).double()
        names = [n for n, _ in module.named_parameters()]
        shape = (2,) if name.endswith("Cell") else (3, 2)
        x = torch.randn(shape, dtype=D64, requires_grad=True)

        def outputs(x, *params, module=module, names=names):
            weights = dict(zip(names, params, strict=True))
            with onednn_off():
                return tuple(flat(torch.func.functional_call(module, weights, (x,))))

        params = [p.detach().clone().requires_grad_(True) for p in module.parameters()]
        assert torch.autograd.gradcheck(outputs, (x, *params), check_batched_grad=False)
