"""Zoneout, weight drop (DropConnect) and locked dropout in the layers; LockedDropout."""

import pytest
import torch

import rnnlab.nn as rnn
from nnhelpers import as_tuple, assert_close
from rnnlab.errors import InputError
from rnnlab.functional import dropout_mask, gru_cell, lstm_cell

BACKENDS = ["auto", "loop"]


def copy_of(module, **changes):
    """A module of the same class and sizes with other options, holding the same weights."""
    kwargs = dict(
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        dropout=module.dropout,
    )
    kwargs.update(changes)
    other = type(module)(module.input_size, module.hidden_size, **kwargs)
    other.load_state_dict(module.state_dict())
    return other


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_zoneout_one_keeps_the_initial_state_while_training(kind):
    module = getattr(rnn, kind)(3, 4, num_layers=2, zoneout=1.0).train()
    h0 = torch.randn(2, 5, 4)
    hx = (h0, torch.randn(2, 5, 4)) if kind == "LSTM" else h0
    out, state = module(torch.randn(6, 5, 3), hx, lengths=[6, 1, 3, 2, 6])
    for s, s0 in zip(as_tuple(state), as_tuple(hx), strict=True):
        assert torch.equal(s, s0)
    mask = (torch.arange(6)[:, None] < torch.tensor([6, 1, 3, 2, 6])).unsqueeze(-1)
    assert torch.equal(out, torch.where(mask, h0[1].expand(6, 5, 4), torch.zeros(())))


def test_zoneout_zero_is_the_plain_lstm():
    module = rnn.LSTM(3, 4, zoneout=(0.0, 0.0)).train()
    assert module.selected_backend().name == "torch"
    plain = copy_of(module, backend="loop")
    x = torch.randn(5, 2, 3)
    assert_close(module(x)[0], plain(x)[0])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_zoneout_evaluation_is_the_expectation(kind):
    p_h, p_c = 0.3, 0.6
    zoneout = (p_h, p_c) if kind == "LSTM" else p_h
    module = getattr(rnn, kind)(3, 4, zoneout=zoneout).eval()
    x, h = torch.randn(5, 2, 3), torch.randn(2, 4)
    c = torch.randn(2, 4)
    out, state = module(x, (h[None], c[None]) if kind == "LSTM" else h[None])
    w = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
    expected = []
    for t in range(5):
        if kind == "LSTM":
            h_new, c_new = lstm_cell(x[t], (h, c), *w)
            c = p_c * c + (1 - p_c) * c_new
        else:
            h_new = gru_cell(x[t], h, *w)
        h = p_h * h + (1 - p_h) * h_new
        expected.append(h)
    assert_close(out, torch.stack(expected))
    assert_close(as_tuple(state)[0][0], h)
    if kind == "LSTM":
        assert_close(state[1][0], c)


def test_zoneout_training_mixes_previous_and_new_per_element():
    torch.manual_seed(0)
    module = rnn.GRU(3, 8, zoneout=0.4).train()
    plain = copy_of(module)
    x, h0 = torch.randn(1, 64, 3), torch.randn(1, 64, 8)
    out, _ = module(x, h0)
    new, _ = plain(x, h0)
    kept = out[0] == h0[0]
    assert_close(out[0][~kept], new[0][~kept])
    assert 0.3 < kept.float().mean().item() < 0.5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_weight_drop_uses_one_mask_for_all_timesteps(backend, kind):
    p = 0.4
    module = getattr(rnn, kind)(
        3, 4, num_layers=2, bidirectional=True, weight_drop=p, backend=backend
    ).train()
    x = torch.randn(6, 2, 3)
    torch.manual_seed(5)
    out, state = module(x, lengths=[6, 4])
    torch.manual_seed(5)
    masks = [dropout_mask(w.w_hh.shape, p) for w in module.layer_weights()]
    plain = copy_of(module, weight_drop=0.0).eval()
    with torch.no_grad():
        hh = [name for name, _ in plain.named_parameters() if name.startswith("weight_hh")]
        for name, mask in zip(hh, masks, strict=True):
            getattr(plain, name).mul_(mask)
    ref, ref_state = plain(x, lengths=[6, 4])
    assert_close(out, ref)
    for s, r in zip(as_tuple(state), as_tuple(ref_state), strict=True):
        assert_close(s, r)
    out.sum().backward()
    grad = module.weight_hh_l0.grad
    assert torch.count_nonzero(grad[masks[0] == 0]) == 0
    assert torch.count_nonzero(grad[masks[0] != 0]) > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_drop_is_absent_in_evaluation(backend):
    module = rnn.LSTM(3, 4, weight_drop=0.5, backend=backend).eval()
    plain = copy_of(module)
    x = torch.randn(5, 2, 3)
    assert_close(module(x)[0], plain(x)[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_locked_dropout_shares_one_mask_per_sequence(backend, kind):
    p = 0.5
    module = getattr(rnn, kind)(
        3, 4, num_layers=3, bidirectional=True, dropout=p, locked_dropout=True, backend=backend
    ).train()
    x, lengths = torch.randn(6, 5, 3), [6, 2, 5, 1, 6]
    torch.manual_seed(9)
    out, state = module(x, lengths=lengths)
    torch.manual_seed(9)
    masks = [dropout_mask((5, 8), p) for _ in range(2)]
    layers = []
    for layer in range(3):
        single = getattr(rnn, kind)(3 if layer == 0 else 8, 4, bidirectional=True)
        single.load_state_dict(
            {
                k.replace(f"_l{layer}", "_l0"): v
                for k, v in module.state_dict().items()
                if f"_l{layer}" in k
            }
        )
        layers.append(single)
    h, finals = x, []
    for layer, single in enumerate(layers):
        if layer:
            h = h * masks[layer - 1]
        h, final = single(h, lengths=lengths)
        finals.append(as_tuple(final))
    assert_close(out, h)
    for i, s in enumerate(as_tuple(state)):
        assert_close(s, torch.cat([f[i] for f in finals]))


def test_locked_dropout_is_plain_in_evaluation():
    module = rnn.GRU(3, 4, num_layers=2, dropout=0.5, locked_dropout=True).eval()
    plain = copy_of(module, dropout=0.0)
    x = torch.randn(5, 2, 3)
    assert_close(module(x)[0], plain(x)[0])


def test_locked_dropout_module():
    torch.manual_seed(0)
    drop = rnn.LockedDropout(0.5)
    y = drop(torch.ones(7, 4, 6))
    assert torch.equal(y, y[:1].expand_as(y))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    y_bf = rnn.LockedDropout(0.5, batch_first=True)(torch.ones(4, 7, 6))
    assert torch.equal(y_bf, y_bf[:, :1].expand_as(y_bf))
    x = torch.randn(3, 2, 5)
    assert torch.equal(drop.eval()(x), x)
    assert (
        repr(rnn.LockedDropout(0.3, batch_first=True)) == "LockedDropout(p=0.3, batch_first=True)"
    )
    with pytest.raises(InputError, match=r"LockedDropout: expected input of shape \(T, B, F\)"):
        drop(torch.randn(3, 4))
    with pytest.raises(InputError, match=r"LockedDropout: expected p to be a probability"):
        rnn.LockedDropout(1.5)
