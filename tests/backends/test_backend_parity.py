"""The loop and torch-fused backends agree to 1e-5 (float32) on random configurations."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab.backends import (
    GATES,
    LayerWeights,
    LoopBackend,
    Masks,
    RecurrentSpec,
    TorchFusedBackend,
)
from rnnlab.backends.torch_fused import onednn_off
from rnnlab.functional import dropout_mask

TOL = {"rtol": 1e-5, "atol": 1e-5}


@st.composite
def problems(draw, form):
    mode = draw(st.sampled_from(sorted(GATES)))
    hidden = draw(st.integers(2, 5))
    layers = draw(st.integers(1, 3))
    spec = RecurrentSpec(
        mode=mode,
        input_size=draw(st.integers(1, 4)),
        hidden_size=hidden,
        num_layers=layers,
        bias=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        proj_size=draw(st.integers(0, hidden - 1)) if mode == "lstm" else 0,
        dropout=0.5 if layers > 1 else 0.0,
        locked_dropout=draw(st.booleans()),
        weight_drop=draw(st.sampled_from([0.0, 0.5])),
    )
    steps, batch = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return spec, steps, batch, lengths, form, draw(st.integers(0, 2**16))


def random_weights(spec):
    weights = []
    for layer in range(spec.num_layers):
        for _ in range(spec.num_directions):
            g, p = spec.gate_size, spec.output_size
            w = LayerWeights(
                w_ih=torch.randn(g, spec.layer_input_size(layer)) * 0.5,
                w_hh=torch.randn(g, p) * 0.5,
                b_ih=torch.randn(g) * 0.5 if spec.bias else None,
                b_hh=torch.randn(g) * 0.5 if spec.bias else None,
                w_hr=torch.randn(p, spec.hidden_size) * 0.5 if spec.proj_size else None,
            )
            weights.append(w)
    return weights


def leaves(weights):
    return [t.requires_grad_() for w in weights for t in w.torch_order()]


@pytest.mark.parametrize("form", ["padded", "lengths", "packed"])
@given(data=st.data())
def test_loop_equals_torch_fused(form, data):
    spec, steps, batch, lengths, form, seed = data.draw(problems(form))
    torch.manual_seed(seed)
    weights = random_weights(spec)
    params = leaves(weights)
    rows = spec.num_layers * spec.num_directions
    x = torch.randn(steps, batch, spec.input_size, requires_grad=True)
    h0 = torch.randn(rows, batch, spec.output_size, requires_grad=True)
    c0 = torch.randn(rows, batch, spec.hidden_size, requires_grad=True)
    state = (h0, c0) if spec.mode == "lstm" else h0
    masks = Masks(
        training=True,
        weight_hh=tuple(dropout_mask(w.w_hh.shape, spec.weight_drop) for w in weights)
        if spec.weight_drop
        else None,
        between_layers=tuple(
            dropout_mask((batch, spec.num_directions * spec.output_size), spec.dropout)
            for _ in range(spec.num_layers - 1)
        )
        if spec.locked_dropout and spec.num_layers > 1
        else None,
    )
    if masks.between_layers is None:
        spec = RecurrentSpec(**{**spec.__dict__, "dropout": 0.0})  # per-step masks are random
    call = {"masks": masks}
    data = x
    if form == "lengths":
        call["lengths"] = torch.tensor(lengths)
    elif form == "packed":
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        data, call["batch_sizes"] = packed.data, packed.batch_sizes
        order = packed.sorted_indices
        state = (
            tuple(s.index_select(1, order) for s in state)
            if spec.mode == "lstm"
            else (state.index_select(1, order))
        )
        if masks.between_layers is not None:
            call["masks"] = Masks(
                training=True,
                weight_hh=masks.weight_hh,
                between_layers=tuple(m.index_select(0, order) for m in masks.between_layers),
            )
    results = []
    for backend in (LoopBackend(), TorchFusedBackend()):
        with onednn_off():
            out, final = backend.forward(spec, weights, data, state, **call)
        finals = final if isinstance(final, tuple) else (final,)
        gen = torch.Generator().manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=gen)).sum() for t in (out, *finals))
        grads = torch.autograd.grad(loss, [x, h0, *params], retain_graph=True)
        results.append((out, finals, grads))
    (out, finals, grads), (ref, ref_finals, ref_grads) = results
    torch.testing.assert_close(out, ref, **TOL)
    for s, r in zip(finals, ref_finals, strict=True):
        torch.testing.assert_close(s, r, **TOL)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, **TOL)
