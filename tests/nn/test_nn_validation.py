"""Bad options and inputs fail early with InputError naming the module and the expectation."""

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

import rnnlab.nn as rnn
from rnnlab.errors import InputError


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: rnn.LSTM(3, 4, dropout=1.5),
            r"LSTM: expected dropout to be a probability in \[0, 1\], got 1.5",
        ),
        (lambda: rnn.GRU(3, 4, dropout=True), r"GRU: expected dropout to be a probability"),
        (lambda: rnn.GRU(3, 4, proj_size=2), r"GRU: proj_size is supported only by LSTM, got 2"),
        (lambda: rnn.RNN(3, 4, proj_size=2), r"RNN: proj_size is supported only by LSTM"),
        (lambda: rnn.LSTM(3, 4, proj_size=4), r"LSTM: expected proj_size < hidden_size = 4, got 4"),
        (lambda: rnn.LSTM(3, 4, proj_size=-1), r"LSTM: expected proj_size ≥ 0, got -1"),
        (lambda: rnn.LSTM(3, 0), r"LSTM: expected hidden_size ≥ 1, got 0"),
        (lambda: rnn.LSTM(3.0, 4), r"LSTM: expected input_size to be an int, got float"),
        (lambda: rnn.GRU(3, 4, num_layers=0), r"GRU: expected num_layers ≥ 1, got 0"),
        (lambda: rnn.GRU(3, 4, bias=1), r"GRU: expected bias to be a bool, got 1"),
        (lambda: rnn.GRU(3, 4, batch_first="yes"), r"GRU: expected batch_first to be a bool"),
        (
            lambda: rnn.RNN(3, 4, nonlinearity="sigmoid"),
            r"RNN: expected nonlinearity in \('tanh', 'relu'\)",
        ),
        (
            lambda: rnn.LSTM(3, 4, backend="cuda"),
            r"LSTM: expected backend in \('auto', 'torch', 'loop', 'triton'\), got 'cuda'",
        ),
        (
            lambda: rnn.LSTM(3, 4, backend="torch", layer_norm=True),
            r"LSTM: backend 'torch' cannot run this configuration: "
            r"layer_norm is computed only by the loop backend",
        ),
        (
            lambda: rnn.GRU(3, 4, backend="torch", zoneout=0.1),
            r"GRU: backend 'torch' cannot run this configuration: "
            r"zoneout is computed only by the loop backend",
        ),
        (
            lambda: rnn.LSTM(3, 4, backend="triton"),
            r"LSTM: backend 'triton': the triton backend is not available "
            r"in this version of rnnlab \(planned\)",
        ),
        (
            lambda: rnn.LSTM(3, 4, zoneout=1.2),
            r"LSTM: expected zoneout to be a probability in \[0, 1\]",
        ),
        (
            lambda: rnn.LSTM(3, 4, zoneout=(0.1, 0.2, 0.3)),
            r"LSTM: expected zoneout to be a probability or a pair",
        ),
        (lambda: rnn.GRU(3, 4, zoneout=(0.1, 0.2)), r"GRU: expected zoneout to be one probability"),
        (
            lambda: rnn.LSTM(3, 4, weight_drop=1.0),
            r"LSTM: expected weight_drop to be a probability in \[0, 1\)",
        ),
        (lambda: rnn.LSTM(3, 4, layer_norm=1), r"LSTM: expected layer_norm to be a bool"),
        (
            lambda: rnn.LSTM(3, 4, locked_dropout=None),
            r"LSTM: expected locked_dropout to be a bool",
        ),
    ],
)
def test_bad_constructor_options(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_single_layer_dropout_warns_like_torch():
    with pytest.warns(UserWarning, match=r"LSTM: dropout acts between stacked layers"):
        rnn.LSTM(3, 4, dropout=0.2)


def lstm():
    return rnn.LSTM(32, 64, num_layers=2)


@pytest.mark.parametrize(
    ("module", "call", "message"),
    [
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 31)),
            r"LSTM: expected input of shape \(T, B, 32\), got \(5, 3, 31\)",
        ),
        (
            lambda: rnn.GRU(32, 8, batch_first=True),
            lambda m: m(torch.randn(3, 5, 31)),
            r"GRU: expected input of shape \(B, T, 32\), got \(3, 5, 31\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 31)),
            r"LSTM: expected unbatched input of shape \(T, 32\), got \(5, 31\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(2, 5, 3, 32)),
            r"LSTM: expected input of shape \(T, B, 32\), unbatched \(T, 32\) "
            r"or a PackedSequence, got shape \(2, 5, 3, 32\)",
        ),
        (lstm, lambda m: m([[0.0] * 32]), r"LSTM: expected input of shape .* got list"),
        (
            lstm,
            lambda m: m(torch.randn(0, 3, 32)),
            r"LSTM: expected at least one time step \(T ≥ 1\), got input of shape \(0, 3, 32\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), (torch.zeros(1, 3, 64), torch.zeros(2, 3, 64))),
            r"LSTM: expected h_0 of shape \(2, 3, 64\), got \(1, 3, 64\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), (torch.zeros(2, 3, 64), torch.zeros(2, 3, 63))),
            r"LSTM: expected c_0 of shape \(2, 3, 64\), got \(2, 3, 63\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), torch.zeros(2, 3, 64)),
            r"LSTM: expected hx to be a pair \(h_0, c_0\), got Tensor",
        ),
        (
            lambda: rnn.GRU(32, 8),
            lambda m: m(torch.randn(5, 32), torch.zeros(1, 1, 8)),
            r"GRU: expected h_0 of shape \(1, 8\), got \(1, 1, 8\)",
        ),
        (
            lambda: rnn.LSTM(32, 8, proj_size=4),
            lambda m: m(torch.randn(5, 2, 32), (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))),
            r"LSTM: expected h_0 of shape \(1, 2, 4\), got \(1, 2, 8\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32, dtype=torch.float64)),
            r"LSTM: expected input of dtype torch.float32 \(the parameters' dtype\), "
            r"got torch.float64; "
            r"convert it with .to\(torch.float32\) or the module with .to\(torch.float64\)",
        ),
        (
            lambda: rnn.GRU(32, 8),
            lambda m: m(torch.randn(5, 3, 32), torch.zeros(1, 3, 8, dtype=torch.float64)),
            r"GRU: expected h_0 of dtype torch.float32",
        ),
        (
            lambda: rnn.GRU(32, 8),
            lambda m: m(torch.empty(5, 3, 32, device="meta")),
            r"GRU: expected input on cpu \(where the parameters are\), got meta",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=[5, 0, 2]),
            r"LSTM: expected every length in \[1, 5\] \(1 ≤ length ≤ T\), got 0",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=[5, 6, 2]),
            r"LSTM: expected every length in \[1, 5\] \(1 ≤ length ≤ T\), got 6",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=[5, 2]),
            r"LSTM: expected lengths of shape \(3,\), one per sequence, got \(2,\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=torch.tensor([[5, 2, 1]])),
            r"LSTM: expected lengths of shape \(3,\), one per sequence, got \(1, 3\)",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=torch.tensor([5.0, 2.0, 1.0])),
            r"LSTM: expected integer lengths, got dtype torch.float32",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=[5, 2.5, 1]),
            r"LSTM: expected integer lengths, got \[5, 2.5, 1\]",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=torch.tensor([True, True, True])),
            r"LSTM: expected integer lengths, got dtype torch.bool",
        ),
        (
            lstm,
            lambda m: m(torch.randn(5, 3, 32), lengths=5),
            r"LSTM: expected lengths as a 1-D integer tensor or a list of ints, got int",
        ),
        (
            lstm,
            lambda m: m(pack_sequence([torch.randn(3, 32), torch.randn(2, 32)]), lengths=[3, 2]),
            r"LSTM: lengths= cannot be combined with a PackedSequence input",
        ),
        (
            lstm,
            lambda m: m(pack_sequence([torch.randn(3, 31), torch.randn(2, 31)])),
            r"LSTM: expected packed data of shape \(N, 32\), got \(5, 31\)",
        ),
    ],
)
def test_bad_inputs(module, call, message):
    m = module()
    with pytest.raises(InputError, match=message):
        call(m)


def test_input_error_is_caught_as_torch_would_raise_it():
    m = rnn.GRU(4, 5)
    for family in (RuntimeError, ValueError, TypeError):
        with pytest.raises(family):
            m(torch.randn(2, 3, 5))


def test_lengths_accept_tensors_lists_and_any_order():
    m = rnn.GRU(4, 5)
    x = torch.randn(6, 3, 4)
    a, _ = m(x, lengths=[2, 6, 1])
    b, _ = m(x, lengths=torch.tensor([2, 6, 1], dtype=torch.int32))
    torch.testing.assert_close(a, b)
