"""Empty batches (B = 0) work as in torch.nn: outputs and states of the right shapes, gradients
defined; zero time steps stay an error, catchable as torch's RuntimeError."""

import pytest
import torch

from rnnlab import nn as rnn
from rnnlab.errors import InputError

LAYERS = ["LSTM", "GRU", "RNN"]
TORCH_OPTIONS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True},
    {"num_layers": 2, "dropout": 0.3},
]
EXTRAS = [
    {"layer_norm": True},
    {"zoneout": 0.1},
    {"weight_drop": 0.2},
    {"num_layers": 2, "dropout": 0.2, "locked_dropout": True},
    {"backend": "loop"},
]


def _states(state):
    return state if isinstance(state, tuple) else (state,)


def _empty(batch_first):
    return torch.randn(0, 5, 8) if batch_first else torch.randn(5, 0, 8)


@pytest.mark.parametrize(
    "name, options",
    [(n, o) for n in LAYERS for o in TORCH_OPTIONS] + [("LSTM", {"proj_size": 4})],
)
@pytest.mark.parametrize("train", [True, False])
def test_an_empty_batch_gives_what_torch_nn_gives(name, options, train):
    torch.manual_seed(0)
    ours = getattr(rnn, name)(8, 16, **options).train(train)
    theirs = getattr(torch.nn, name)(8, 16, **options).train(train)
    x = _empty(options.get("batch_first", False))
    y, state = ours(x)
    y_t, state_t = theirs(x)
    assert y.shape == y_t.shape
    for s, s_t in zip(_states(state), _states(state_t), strict=True):
        assert s.shape == s_t.shape
    y.sum().backward()
    y_t.sum().backward()
    for (n, p), (_, p_t) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert (p.grad is None) == (p_t.grad is None), n
        if p.grad is not None:
            assert torch.all(p.grad == 0), n


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("extras", EXTRAS)
def test_an_empty_batch_with_the_extras_and_lengths(name, extras):
    layers = extras.get("num_layers", 1)
    m = getattr(rnn, name)(8, 16, **extras).train()
    x = torch.randn(5, 0, 8, requires_grad=True)
    for lengths in (None, torch.zeros(0, dtype=torch.long), []):
        y, state = m(x, lengths=lengths)
        assert y.shape == (5, 0, 16)
        assert all(s.shape == (layers, 0, 16) for s in _states(state))
    h0 = tuple(torch.zeros(layers, 0, 16) for _ in _states(state))
    y, _ = m(x, h0 if name == "LSTM" else h0[0])
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_take_an_empty_batch(name):
    ours, theirs = getattr(rnn, name)(8, 16), getattr(torch.nn, name)(8, 16)
    x = torch.randn(0, 8)
    out, out_t = ours(x), theirs(x)
    for a, b in zip(_states(out), _states(out_t), strict=True):
        assert a.shape == b.shape == (0, 16)
    sum(a.sum() for a in _states(out)).backward()
    assert all(p.grad is not None for p in ours.parameters())


@pytest.mark.parametrize("name", ["MinGRU", "MinLSTM"])
def test_min_cells_take_an_empty_batch(name):
    m = getattr(rnn, name)(8, 16, num_layers=2)
    y, h = m(torch.randn(5, 0, 8))
    assert y.shape == (5, 0, 16) and h.shape == (2, 0, 16)


@pytest.mark.parametrize("name", LAYERS)
def test_zero_time_steps_stay_an_error_of_torchs_type(name):
    x = torch.randn(0, 3, 8)
    with pytest.raises(RuntimeError):
        getattr(torch.nn, name)(8, 16)(x)
    with pytest.raises(RuntimeError, match=r"at least one time step \(T ≥ 1\)") as err:
        getattr(rnn, name)(8, 16)(x)
    assert isinstance(err.value, InputError)
