"""RNNCell/LSTMCell/GRUCell equal torch.nn's cells; extras (layer norm, zoneout, init)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn as tnn

import rnnlab.nn as rnn
from nnhelpers import as_tuple, assert_close
from rnnlab.errors import InputError
from rnnlab.functional import lstm_cell

CELLS = ["RNNCell", "LSTMCell", "GRUCell"]


def cell_twins(kind, *args, seed=0, **kwargs):
    torch.manual_seed(seed)
    theirs = getattr(tnn, kind)(*args, **kwargs)
    torch.manual_seed(seed)
    ours = getattr(rnn, kind)(*args, **kwargs)
    return ours, theirs


@given(
    kind=st.sampled_from(CELLS),
    batch=st.integers(0, 4),
    sizes=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    bias=st.booleans(),
    relu=st.booleans(),
    given_hx=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cells_equal_torch_cells(kind, batch, sizes, bias, relu, given_hx, seed):
    kwargs = {"bias": bias}
    if kind == "RNNCell" and relu:
        kwargs["nonlinearity"] = "relu"
    ours, theirs = cell_twins(kind, *sizes, seed=seed, **kwargs)
    for (name, p), (ref_name, q) in zip(
        ours.named_parameters(), theirs.named_parameters(), strict=True
    ):
        assert name == ref_name and torch.equal(p, q)
    lead = (batch,) if batch else ()  # batch 0 stands for unbatched input
    x = torch.randn(*lead, sizes[0], requires_grad=True)
    hx = None
    if given_hx:
        hx = tuple(torch.randn(*lead, sizes[1], requires_grad=True) for _ in range(2))
        hx = hx if kind == "LSTMCell" else hx[0]
    out, ref = ours(x, hx), theirs(x, hx)
    for o, r in zip(as_tuple(out), as_tuple(ref), strict=True):
        assert_close(o, r)
    weights = [torch.randn(o.shape) for o in as_tuple(out)]
    leaves = [x, *(as_tuple(hx) if hx is not None else ()), *ours.parameters()]
    ref_leaves = [x, *(as_tuple(hx) if hx is not None else ()), *theirs.parameters()]
    loss = sum((o * w).sum() for o, w in zip(as_tuple(out), weights, strict=True))
    ref_loss = sum((o * w).sum() for o, w in zip(as_tuple(ref), weights, strict=True))
    for g, r in zip(
        torch.autograd.grad(loss, leaves), torch.autograd.grad(ref_loss, ref_leaves), strict=True
    ):
        assert_close(g, r, atol=1e-5)


@pytest.mark.parametrize("kind", CELLS)
def test_cell_state_dict_round_trip_and_bias_false_attributes(kind):
    ours, theirs = cell_twins(kind, 3, 4, bias=False)
    assert ours.bias_ih is None and ours.bias_hh is None
    theirs.load_state_dict(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours).startswith(f"{kind}(3, 4, bias=False")


def test_layer_norm_lstm_cell_uses_the_functional_formulation():
    cell = rnn.LSTMCell(3, 4, layer_norm=True)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                p.copy_(torch.randn_like(p))
    names = sorted(n for n, _ in cell.named_parameters() if n.startswith("ln_"))
    assert names == sorted(
        f"ln_{part}_{which}" for part in ("weight", "bias") for which in ("ih", "hh", "c")
    )
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    expected = lstm_cell(
        x,
        (h, c),
        cell.weight_ih,
        cell.weight_hh,
        cell.bias_ih,
        cell.bias_hh,
        ln_ih=(cell.ln_weight_ih, cell.ln_bias_ih),
        ln_hh=(cell.ln_weight_hh, cell.ln_bias_hh),
        ln_c=(cell.ln_weight_c, cell.ln_bias_c),
    )
    for o, e in zip(cell(x, (h, c)), expected, strict=True):
        assert_close(o, e)


@pytest.mark.parametrize("kind", CELLS)
def test_cell_zoneout_semantics(kind):
    torch.manual_seed(0)
    plain = getattr(rnn, kind)(3, 4)
    zoned = getattr(rnn, kind)(3, 4, zoneout=1.0)
    half = getattr(rnn, kind)(3, 4, zoneout=0.25)
    zoned.load_state_dict(plain.state_dict())
    half.load_state_dict(plain.state_dict())
    x = torch.randn(50, 3)
    hx = tuple(torch.randn(50, 4) for _ in range(2))
    hx = hx if kind == "LSTMCell" else hx[0]
    new = as_tuple(plain(x, hx))
    for kept, prev in zip(as_tuple(zoned.train()(x, hx)), as_tuple(hx), strict=True):
        assert torch.equal(kept, prev)
    for mixed, prev, fresh in zip(as_tuple(half.eval()(x, hx)), as_tuple(hx), new, strict=True):
        assert_close(mixed, 0.25 * prev + 0.75 * fresh)
    for sampled, prev, fresh in zip(as_tuple(half.train()(x, hx)), as_tuple(hx), new, strict=True):
        took_prev = sampled == prev
        assert torch.equal(sampled[~took_prev], fresh[~took_prev])
        assert 0.1 < took_prev.float().mean().item() < 0.4


def test_lstm_cell_forget_bias_and_chrono():
    cell = rnn.LSTMCell(3, 5, forget_bias=1.0)
    assert torch.equal(cell.bias_ih[5:10] + cell.bias_hh[5:10], torch.ones(5))
    torch.manual_seed(0)
    chrono = rnn.LSTMCell(3, 5, init="chrono", t_max=20)
    total = chrono.bias_ih + chrono.bias_hh
    f, i = total[5:10], total[:5]
    assert torch.all((f >= 0) & (f <= torch.log(torch.tensor(19.0))))
    assert torch.equal(i, -f)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("variant", [{}, {"layer_norm": True}, {"zoneout": 0.3}])
def test_cell_gradcheck(kind, variant):
    torch.manual_seed(1)
    cell = getattr(rnn, kind)(3, 2, dtype=torch.float64, **variant).eval()
    if variant.get("layer_norm"):
        with torch.no_grad():
            for name, p in cell.named_parameters():
                if name.startswith("ln_"):
                    p.add_(torch.randn_like(p) * 0.3)
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    n = 3 if kind == "LSTMCell" else 2
    inputs = tuple(torch.randn(2, k, dtype=torch.float64, requires_grad=True) for k in (3, 2, 2))

    def f(*args):
        x, *state = args[:n]
        state = tuple(state) if kind == "LSTMCell" else state[0]
        weights = dict(zip(names, args[n:], strict=True))
        return torch.func.functional_call(cell, weights, (x, state))

    assert torch.autograd.gradcheck(f, inputs[:n] + tuple(params))


@pytest.mark.parametrize(
    ("make", "call", "message"),
    [
        (
            lambda: rnn.LSTMCell(3, 4),
            lambda m: m(torch.randn(2, 5)),
            r"LSTMCell: expected input of shape \(B, 3\), got \(2, 5\)",
        ),
        (
            lambda: rnn.GRUCell(3, 4),
            lambda m: m(torch.randn(2, 2, 3)),
            r"GRUCell: expected input of shape \(B, 3\) or unbatched \(3,\), got shape \(2, 2, 3\)",
        ),
        (
            lambda: rnn.RNNCell(3, 4),
            lambda m: m(torch.randn(2, 3), torch.randn(3, 4)),
            r"RNNCell: expected hx of shape \(2, 4\), got \(3, 4\)",
        ),
        (
            lambda: rnn.LSTMCell(3, 4),
            lambda m: m(torch.randn(2, 3), torch.randn(2, 4)),
            r"LSTMCell: expected hx to be a pair \(h, c\), got Tensor",
        ),
        (
            lambda: rnn.LSTMCell(3, 4),
            lambda m: m(torch.randn(3), (torch.randn(4), torch.randn(2, 4))),
            r"LSTMCell: expected c of shape \(4,\), got \(2, 4\)",
        ),
        (
            lambda: rnn.GRUCell(3, 4),
            lambda m: m(torch.randn(2, 3, dtype=torch.float64)),
            r"GRUCell: expected input of dtype torch.float32 \(the parameters' dtype\), "
            r"got torch.float64",
        ),
        (
            lambda: rnn.RNNCell(3, 4, nonlinearity="gelu"),
            None,
            r"RNNCell: expected nonlinearity in \('tanh', 'relu'\), got 'gelu'",
        ),
        (lambda: rnn.GRUCell(3, 0), None, r"GRUCell: expected hidden_size ≥ 1, got 0"),
        (
            lambda: rnn.GRUCell(3, 4, zoneout=(0.1, 0.2)),
            None,
            r"GRUCell: expected zoneout to be one probability",
        ),
        (
            lambda: rnn.RNNCell(3, 4, init="chrono", t_max=5),
            None,
            r"RNNCell: init='chrono' sets gate biases; a vanilla RNN has none",
        ),
    ],
)
def test_cell_bad_input_messages(make, call, message):
    with pytest.raises(InputError, match=message):
        module = make()
        if call is not None:
            call(module)
