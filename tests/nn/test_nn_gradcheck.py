"""torch.autograd.gradcheck (float64) of the layers through the loop backend, every variant."""

import pytest
import torch

import rnnlab.nn as rnn
from nnhelpers import as_tuple

VARIANTS = {
    "plain": ({}, None, False),
    "layer_norm": ({"layer_norm": True}, None, False),
    "zoneout_eval": ({"zoneout": 0.3}, None, False),
    "weight_drop_seeded": ({"weight_drop": 0.4}, None, True),
    "locked_dropout_seeded": ({"dropout": 0.3, "locked_dropout": True}, None, True),
    "lengths": ({}, [3, 1], False),
    "layer_norm_lengths": ({"layer_norm": True, "zoneout": 0.2}, [2, 3], False),
}


def gradcheck_layer(kind, options, lengths, training, num_layers=2):
    torch.manual_seed(0)
    module = getattr(rnn, kind)(
        2,
        2,
        num_layers=num_layers,
        bidirectional=True,
        backend="loop",
        dtype=torch.float64,
        **options,
    ).train(training)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))  # away from the trivial gain 1, bias 0
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    rows, width = num_layers * 2, module.proj_size or module.hidden_size
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(rows, 2, width, dtype=torch.float64, requires_grad=True)]
    if kind == "LSTM":
        states.append(torch.randn(rows, 2, 2, dtype=torch.float64, requires_grad=True))

    def f(x, *rest):
        hx = tuple(rest[: len(states)]) if kind == "LSTM" else rest[0]
        weights = dict(zip(names, rest[len(states) :], strict=True))
        torch.manual_seed(1)  # the same DropConnect / locked-dropout masks at every call
        out, state = torch.func.functional_call(module, weights, (x, hx), {"lengths": lengths})
        return (out, *as_tuple(state))

    assert torch.autograd.gradcheck(f, (x, *states, *params))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_layer_gradcheck(kind, variant):
    options, lengths, training = VARIANTS[variant]
    gradcheck_layer(kind, options, lengths, training)


def test_lstm_projection_gradcheck():
    gradcheck_layer("LSTM", {"proj_size": 1}, [3, 2], False)
    gradcheck_layer("LSTM", {"proj_size": 1, "layer_norm": True}, None, False, num_layers=1)
