"""`rnnlab.diagnostics.gradflow`: the per-step states and their gradients equal autograd on a
stack written out with explicit loops (float64), and misuse is a clear error."""

import math

import pytest
import torch
from torch import nn

from rnnlab import nn as rnn
from rnnlab.diagnostics.gradflow import (
    gradient_flow,
    state_jacobian_norms,
    unroll_layers,
)
from rnnlab.errors import InputError
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig

T, B, I, H = 5, 2, 3, 4
F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread is fastest (and a busy machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_layer(mode, layers=2, **options):
    torch.manual_seed(0)
    if mode == "lstm":
        return rnn.LSTM(I, H, layers, dtype=F64, **options)
    if mode == "gru":
        return rnn.GRU(I, H, layers, dtype=F64, **options)
    return rnn.RNN(I, H, layers, nonlinearity=mode.removeprefix("rnn_"), dtype=F64, **options)


@pytest.mark.parametrize(
    "mode, options",
    [
        ("rnn_tanh", {}),
        ("rnn_relu", {"dropout": 0.3}),
        ("lstm", {"proj_size": 3, "layer_norm": True, "zoneout": (0.2, 0.1)}),
        ("lstm", {"weight_drop": 0.5, "forget_bias": 1.0}),
        ("gru", {"layer_norm": True, "zoneout": 0.3}),
    ],
)
def test_the_step_by_step_run_computes_what_the_layer_computes(mode, options):
    layer = make_layer(mode, layers=3, **options).eval()
    x = torch.randn(T, B, I, dtype=F64)
    hx = layer.init_state(B)
    hx = tuple(torch.randn_like(s) for s in hx) if isinstance(hx, tuple) else torch.randn_like(hx)
    want_y, want_state = layer(x, hx)
    y, state, traces = unroll_layers(layer, x, hx)
    torch.testing.assert_close(y, want_y, rtol=1e-12, atol=1e-12)
    for got, want in zip(
        state if isinstance(state, tuple) else (state,),
        want_state if isinstance(want_state, tuple) else (want_state,),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert len(traces) == 3 and all(len(trace.h) == T + 1 for trace in traces)
    assert (traces[0].c is not None) == (mode == "lstm")
    torch.testing.assert_close(torch.stack(traces[-1].h[1:]), want_y, rtol=1e-12, atol=1e-12)


# -- an independent computation: the stack written out, one state replaced by a variable ------


def explicit_stack(mode, weights, x, replace=None):
    """Top layer's outputs (T, B, H) and each layer's last h, with the state (layer, t, "h"
    or "c") replaced by `replace[3]`: the derivative with respect to that value is the
    derivative with respect to the state as a node of the graph."""
    where = replace[:3] if replace else None
    inputs, lasts = x, []
    for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        h = x.new_zeros(x.shape[1], w_hh.shape[1])
        c = x.new_zeros(x.shape[1], w_hh.shape[1])
        if where == (layer, 0, "h"):
            h = replace[3]
        if where == (layer, 0, "c"):
            c = replace[3]
        outs = []
        for t in range(1, len(inputs) + 1):
            a_x = inputs[t - 1] @ w_ih.T + b_ih
            a_h = h @ w_hh.T + b_hh
            if mode == "rnn_tanh":
                h = torch.tanh(a_x + a_h)
            elif mode == "lstm":
                i, f, g, o = (a_x + a_h).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                if where == (layer, t, "c"):
                    c = replace[3]
                h = torch.sigmoid(o) * torch.tanh(c)
            else:  # gru
                xr, xz, xn = a_x.chunk(3, dim=-1)
                hr, hz, hn = a_h.chunk(3, dim=-1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
                h = (1 - z) * n + z * h
            if where == (layer, t, "h"):
                h = replace[3]
            outs.append(h)
        inputs = torch.stack(outs)
        lasts.append(h)
    return inputs, lasts


class Tiny(nn.Module):
    """A recurrent stack and a read-out, as task models are built."""

    def __init__(self, layer):
        super().__init__()
        self.rnn = layer
        self.head = nn.Linear(H, 2, dtype=F64)

    def forward(self, x):
        return self.head(self.rnn(x)[0])  # (T, B, 2)


def loss_of(outputs, head, last_only):
    y = head(outputs[-1:] if last_only else outputs)
    return torch.sin(3 * y).sum()  # a sum over sequences of a nonlinear loss per sequence


def expected(mode, model, x, last_only, norm):
    """dL/d state and d h_T / d state norms from the explicit stack, per layer and t."""
    layer = model.rnn
    weights = [(w.w_ih, w.w_hh, w.b_ih, w.b_hh) for w in layer.layer_weights()]
    weights = [tuple(t.detach() for t in w) for w in weights]
    states = {}
    with torch.no_grad():
        _, _, traces = unroll_layers(layer, x)
    kinds = ("h", "c") if mode == "lstm" else ("h",)
    d_loss = {k: torch.zeros(len(weights), T + 1, dtype=F64) for k in kinds}
    d_last = {k: torch.zeros(len(weights), T + 1, dtype=F64) for k in kinds}
    for layer_index, trace in enumerate(traces):
        for t in range(T + 1):
            for kind in kinds:
                value = (trace.h if kind == "h" else trace.c)[t].detach()

                def loss(v, layer_index=layer_index, t=t, kind=kind):
                    out, _ = explicit_stack(mode, weights, x, (layer_index, t, kind, v))
                    return loss_of(out, model.head, last_only)

                def last(v, layer_index=layer_index, t=t, kind=kind):
                    _, lasts = explicit_stack(mode, weights, x, (layer_index, t, kind, v))
                    return lasts[layer_index]

                g = torch.autograd.functional.jacobian(loss, value)  # (B, S)
                d_loss[kind][layer_index, t] = g.norm(dim=-1).mean()
                j = torch.autograd.functional.jacobian(last, value)  # (B, P, B, S)
                blocks = torch.stack([j[b, :, b, :] for b in range(B)])  # (B, P, S)
                ord_ = 2 if norm == "spectral" else "fro"
                d_last[kind][layer_index, t] = torch.linalg.matrix_norm(blocks, ord=ord_).mean()
    states.update(d_loss=d_loss, d_last=d_last)
    return states


@pytest.mark.parametrize(
    "mode, last_only, norm",
    [
        ("rnn_tanh", True, "spectral"),
        ("rnn_tanh", False, "fro"),
        ("lstm", False, "spectral"),
        ("lstm", True, "fro"),
        ("gru", True, "spectral"),
    ],
)
def test_gradients_and_jacobians_equal_autograd_on_the_explicit_stack(mode, last_only, norm):
    model = Tiny(make_layer(mode))
    x = torch.randn(T, B, I, dtype=F64)
    flow = gradient_flow(
        model, lambda m: loss_of(m.rnn(x)[0], m.head, last_only), norm=norm, chunk=3
    )
    want = expected(mode, model, x, last_only, norm)
    assert flow.dL_dh.shape == flow.dhT_dh.shape == (2, T + 1)
    assert flow.cell == mode and flow.norm == norm and flow.steps == T
    torch.testing.assert_close(torch.from_numpy(flow.dL_dh), want["d_loss"]["h"], rtol=1e-9, atol=0)
    torch.testing.assert_close(
        torch.from_numpy(flow.dhT_dh), want["d_last"]["h"], rtol=1e-9, atol=1e-15
    )
    if mode == "lstm":
        torch.testing.assert_close(
            torch.from_numpy(flow.dL_dc), want["d_loss"]["c"], rtol=1e-9, atol=0
        )
        torch.testing.assert_close(
            torch.from_numpy(flow.dhT_dc), want["d_last"]["c"], rtol=1e-9, atol=1e-15
        )
    else:
        assert flow.dL_dc is None and flow.dhT_dc is None
    # the loss's gradient reaches the lower layer's states, and every value is positive
    assert (flow.dL_dh > 0).all() and (flow.dhT_dh > 0).all()
    rows = flow.rows()
    assert len(rows) == 2 * (T + 1) and rows[0][:2] == (0, 0) and rows[-1][:2] == (1, T)


@pytest.mark.parametrize("norm, value", [("spectral", 1.0), ("fro", math.sqrt(H))])
def test_the_last_state_has_the_identity_jacobian(norm, value):
    model = Tiny(make_layer("gru"))
    x = torch.randn(T, B, I, dtype=F64)
    flow = gradient_flow(model, lambda m: m(x).sum(), norm=norm)
    assert flow.dhT_dh[:, T] == pytest.approx([value, value], rel=1e-12)
    assert (flow.dhT_dh[:, :T] != value).all()


def test_state_jacobian_norms_of_a_linear_map_are_its_norms():
    w = torch.randn(3, 3, dtype=F64)
    h0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    h1 = h0 @ w.T  # ∂h1/∂h0 = w for every row
    h2 = torch.tanh(h1)
    norms = state_jacobian_norms(h2, [h0, h1, h2], chunk=2)
    d = 1 - torch.tanh(h1.detach()) ** 2  # (B, 3)
    for b in range(2):
        want = torch.linalg.matrix_norm(d[b, :, None] * w, ord=2)
        assert norms[0, b] == pytest.approx(float(want), rel=1e-12)
        assert norms[1, b] == pytest.approx(float(d[b].max()), rel=1e-12)
        assert norms[2, b] == pytest.approx(1.0, rel=1e-12)
    fro = state_jacobian_norms(h2, [h0], norm="fro")
    assert fro[0, 0] == pytest.approx(float(torch.linalg.matrix_norm(d[0, :, None] * w)), rel=1e-12)


def test_a_batch_first_model_gives_what_the_time_major_one_gives():
    config = SequenceModelConfig(model="lstm", hidden=H, layers=2)
    torch.manual_seed(1)
    model = SequenceModel(I, 1, config, every_step=True).double()  # batch-first encoder
    x = torch.randn(B, T, I, dtype=F64)
    flow = gradient_flow(model, lambda m: m(x)[:, -1].square().sum())
    twin = Tiny(rnn.LSTM(I, H, 2, dtype=F64))
    twin.rnn.load_state_dict(model.encoder.state_dict())
    head = model.readout
    ref = gradient_flow(twin, lambda m: head(m.rnn(x.transpose(0, 1))[0][-1]).square().sum())
    torch.testing.assert_close(torch.from_numpy(flow.dL_dh), torch.from_numpy(ref.dL_dh))
    torch.testing.assert_close(torch.from_numpy(flow.dhT_dh), torch.from_numpy(ref.dhT_dh))


def test_the_model_gets_its_layer_and_mode_back_even_after_an_error():
    model = Tiny(make_layer("rnn_tanh")).train()
    layer = model.rnn

    def failing(m):
        assert not m.training and m.rnn is not layer  # evaluation mode, the layer swapped
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        gradient_flow(model, failing)
    assert model.rnn is layer and model.training
    assert [name for name, _ in model.named_modules()] == ["", "rnn", "head"]


def test_a_layer_alone_can_be_measured():
    layer = make_layer("rnn_relu")
    x = torch.randn(T, B, I, dtype=F64)
    flow = gradient_flow(layer, lambda m: m(x)[0][-1].sum())
    assert flow.dL_dh.shape == (2, T + 1) and flow.cell == "rnn_relu"


def test_models_without_one_unidirectional_recurrent_layer_are_clear_errors():
    x = torch.randn(B, T, I)
    tcn = SequenceModel(I, 1, SequenceModelConfig(model="tcn", channels=(4, 4)))
    with pytest.raises(InputError, match=r"SequenceModel has no recurrent layer .* a TCN has no"):
        gradient_flow(tcn, lambda m: m(x).sum())
    mingru = SequenceModel(I, 1, SequenceModelConfig(model="mingru", hidden=4))
    with pytest.raises(InputError, match="min cells are not supported"):
        gradient_flow(mingru, lambda m: m(x).sum())
    two = nn.Sequential(rnn.GRU(I, H), rnn.GRU(H, H))
    with pytest.raises(InputError, match=r"Sequential has 2 recurrent layers \(0, 1\)"):
        gradient_flow(two, lambda m: m(x).sum())
    both = rnn.LSTM(I, H, bidirectional=True)
    with pytest.raises(InputError, match="a bidirectional LSTM has no single last state"):
        gradient_flow(both, lambda m: m(x)[0].sum())


def test_bad_losses_and_options_are_clear_errors():
    model = Tiny(make_layer("gru"))
    x = torch.randn(T, B, I, dtype=F64)
    with pytest.raises(InputError, match="expected the loss function to return a scalar"):
        gradient_flow(model, lambda m: m(x))
    with pytest.raises(InputError, match="never ran the model's recurrent layer"):
        gradient_flow(model, lambda m: torch.ones((), requires_grad=True))
    with pytest.raises(InputError, match="ran its recurrent layer more than once"):
        gradient_flow(model, lambda m: m(x).sum() + m(x).sum())
    with pytest.raises(InputError, match="expected norm in spectral, fro, got 'max'"):
        gradient_flow(model, lambda m: m(x).sum(), norm="max")
    with pytest.raises(InputError, match=r"expected input of shape \(T, B, 3\), got \(5, 2, 4\)"):
        unroll_layers(model.rnn, torch.randn(T, B, 4, dtype=F64))
