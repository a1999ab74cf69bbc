"""Initialisation schemes: forget_bias, chrono, orthogonal, reset_parameters."""

import math

import pytest
import torch

import rnnlab.nn as rnn
from rnnlab.errors import InputError


def test_forget_bias_sets_the_total_forget_bias_in_every_layer_direction():
    module = rnn.LSTM(3, 5, num_layers=2, bidirectional=True, forget_bias=1.5)
    for w in module.layer_weights():
        assert torch.equal(w.b_ih[5:10], torch.full((5,), 1.5))
        assert torch.equal(w.b_hh[5:10], torch.zeros(5))
    assert "forget_bias=1.5" in repr(module)


def test_chrono_lstm_biases():
    torch.manual_seed(0)
    t_max = 30
    module = rnn.LSTM(3, 64, num_layers=2, init="chrono", t_max=t_max)
    for w in module.layer_weights():
        b_f = w.b_ih[64:128]
        assert torch.all(b_f >= 0) and torch.all(b_f <= math.log(t_max - 1))
        assert b_f.max() - b_f.min() > 1.0  # drawn, not constant
        assert torch.equal(w.b_ih[:64], -b_f)
        assert torch.count_nonzero(w.b_hh[:128]) == 0
        assert torch.all(w.b_hh[128:].abs() <= 1 / 8)  # the other gates keep torch's init


def test_chrono_gru_update_gate_starts_near_one():
    torch.manual_seed(1)
    t_max = 50
    module = rnn.GRUCell(3, 64, init="chrono", t_max=t_max)
    b_z = module.bias_ih[64:128] + module.bias_hh[64:128]
    assert torch.count_nonzero(module.bias_hh[64:128]) == 0
    z = torch.sigmoid(b_z)
    assert torch.all(z >= 0.5) and torch.all(1 / (1 - z) <= t_max + 1e-3)
    assert z.mean() > 0.8


@pytest.mark.parametrize(
    ("kind", "kwargs"), [("LSTM", {}), ("LSTM", {"proj_size": 3}), ("GRU", {}), ("RNN", {})]
)
def test_orthogonal_init_per_gate_block(kind, kwargs):
    module = getattr(rnn, kind)(4, 5, num_layers=2, init="orthogonal", **kwargs)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    for w in module.layer_weights():
        for block in w.w_hh.chunk(gates):  # (H, P)
            rows, cols = block.shape
            gram = block @ block.T if rows <= cols else block.T @ block
            torch.testing.assert_close(gram, torch.eye(min(rows, cols)), atol=1e-5, rtol=0)
        for block in w.w_ih.chunk(gates):
            bound = math.sqrt(6.0 / (block.shape[0] + block.shape[1]))
            assert block.abs().max() <= bound
        assert torch.count_nonzero(w.b_ih) == 0 and torch.count_nonzero(w.b_hh) == 0
        if w.w_hr is not None:
            torch.testing.assert_close(w.w_hr @ w.w_hr.T, torch.eye(3), atol=1e-5, rtol=0)


def test_orthogonal_with_forget_bias():
    module = rnn.LSTMCell(3, 4, init="orthogonal", forget_bias=1.0)
    assert torch.equal(module.bias_ih, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))
    assert torch.count_nonzero(module.bias_hh) == 0


def test_reset_parameters_reapplies_the_scheme():
    module = rnn.LSTM(3, 4, forget_bias=2.0, layer_norm=True)
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(7.0)
    module.reset_parameters()
    assert torch.equal(module.bias_ih_l0[4:8], torch.full((4,), 2.0))
    assert torch.equal(module.ln_weight_c_l0, torch.ones(4))
    assert torch.equal(module.ln_bias_ih_l0, torch.zeros(16))
    assert module.weight_hh_l0.abs().max() <= 0.5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rnn.LSTM(3, 4, init="chrono"), r"LSTM: init='chrono' needs t_max"),
        (lambda: rnn.LSTM(3, 4, t_max=10), r"LSTM: t_max is used only with init='chrono'"),
        (lambda: rnn.GRU(3, 4, init="chrono", t_max=1), r"GRU: expected t_max to be a number ≥ 2"),
        (
            lambda: rnn.LSTM(3, 4, init="chrono", t_max=9, forget_bias=1.0),
            r"LSTM: forget_bias and init='chrono' both set the forget-gate bias",
        ),
        (lambda: rnn.RNN(3, 4, init="chrono", t_max=9), r"RNN: init='chrono' sets gate biases"),
        (lambda: rnn.LSTM(3, 4, bias=False, forget_bias=1.0), r"LSTM: forget_bias needs biases"),
        (lambda: rnn.GRU(3, 4, init="xavier"), r"GRU: expected init in \('torch', 'orthogonal'"),
        (lambda: rnn.LSTM(3, 4, forget_bias="1"), r"LSTM: expected forget_bias to be a number"),
    ],
)
def test_bad_init_options(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_forget_bias_is_lstm_only():
    with pytest.raises(TypeError, match="forget_bias"):
        rnn.GRU(3, 4, forget_bias=1.0)
