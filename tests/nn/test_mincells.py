"""MinGRU / MinLSTM: log-space scan vs step loop vs the NumPy reference, gradients, layouts,
state across windows, bf16 autocast, long sequences, errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call

from rnnlab.errors import InputError
from rnnlab.nn import MinGRU, MinLSTM
from rnnlab.nn.mincells import log_g
from rnnlab.reference import mingru_backward, mingru_forward, minlstm_backward, minlstm_forward

F64 = torch.float64
CLASSES = {"MinGRU": MinGRU, "MinLSTM": MinLSTM}
REFERENCE = {
    "MinGRU": (mingru_forward, mingru_backward),
    "MinLSTM": (minlstm_forward, minlstm_backward),
}

configs = st.tuples(
    st.integers(1, 7),  # T
    st.integers(1, 3),  # B
    st.integers(1, 4),  # I
    st.integers(1, 5),  # H
    st.integers(1, 3),  # num_layers
    st.booleans(),  # bias
    st.integers(0, 2**16),  # seed
)


def build(kind, I, H, num_layers=1, bias=True, seed=0, dtype=F64, scale=1.5, **kwargs):
    """A module whose weights are spread wider than the init, so gates cover (0, 1) and g's
    two branches are both exercised."""
    torch.manual_seed(seed)
    module = CLASSES[kind](I, H, num_layers, bias, dtype=dtype, **kwargs)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, scale)
    return module


def data(T, B, I, H, num_layers, seed=0, dtype=F64):
    """x (T, B, I) and h0 (L, B, H) of both signs, some entries well below zero."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=gen, dtype=dtype)
    h0 = 2 * torch.randn(num_layers, B, H, generator=gen, dtype=dtype) - 1
    return x, h0


def stepped(module, x, h0):
    """The sequential recurrence via `step`: outputs (T, B, H) and the final state."""
    state, ys = h0, []
    for x_t in x:
        y, state = module.step(x_t, state)
        ys.append(y)
    return torch.stack(ys), state


def reference(kind, module, x, h0, dhs=None, dhT=None):
    """The NumPy reference layer by layer: outputs, finals (L, B, H) and, given upstream
    gradients, the gradients of x, h0 and every parameter (backward chained through layers)."""
    forward, backward = REFERENCE[kind]
    out, finals, caches = x.detach().numpy(), [], []
    for k in range(module.num_layers):
        w, b = module.layer_weights(k)
        b = None if b is None else b.detach().numpy()
        out, hT, cache = forward(out, h0[k].detach().numpy(), w.detach().numpy(), b)
        finals.append(hT)
        caches.append(cache)
    if dhs is None:
        return out, np.stack(finals), None
    grads, d_out = {}, dhs.numpy()
    dh0 = [None] * module.num_layers
    for k in reversed(range(module.num_layers)):
        g = backward(d_out, dhT[k].numpy(), caches[k])
        grads[f"weight_ih_l{k}"] = g["w_ih"]
        if module.bias:
            grads[f"bias_ih_l{k}"] = g["b_ih"]
        dh0[k], d_out = g["h0"], g["x"]
    grads["x"], grads["h0"] = d_out, np.stack(dh0)
    return out, np.stack(finals), grads


def as_array(value):
    return value.detach().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def close(actual, expected, tol):
    np.testing.assert_allclose(as_array(actual), as_array(expected), rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", CLASSES)
@settings(max_examples=15)
@given(config=configs)
def test_scan_matches_step_loop_and_reference(kind, config):
    T, B, I, H, L, bias, seed = config
    module = build(kind, I, H, L, bias, seed)
    x, h0 = data(T, B, I, H, L, seed)
    out, h_n = module(x, h0)
    step_out, step_state = stepped(module, x, h0)
    ref_out, ref_finals, _ = reference(kind, module, x, h0)
    assert out.dtype == h_n.dtype == F64
    assert out.shape == (T, B, H) and h_n.shape == (L, B, H)
    close(out, step_out, 1e-9)
    close(h_n, step_state, 1e-9)
    close(out, ref_out, 1e-9)
    close(h_n, ref_finals, 1e-9)


@pytest.mark.parametrize("kind", CLASSES)
@settings(max_examples=10)
@given(config=configs)
def test_autograd_through_scan_matches_reference_bptt(kind, config):
    T, B, I, H, L, bias, seed = config
    module = build(kind, I, H, L, bias, seed)
    x, h0 = data(T, B, I, H, L, seed)
    x.requires_grad_()
    h0.requires_grad_()
    out, h_n = module(x, h0)
    gen = torch.Generator().manual_seed(seed + 1)
    dhs = torch.randn(out.shape, generator=gen, dtype=F64)
    dhT = torch.randn(h_n.shape, generator=gen, dtype=F64)
    ((out * dhs).sum() + (h_n * dhT).sum()).backward()
    _, _, grads = reference(kind, module, x, h0, dhs, dhT)
    got = {"x": x.grad, "h0": h0.grad, **{n: p.grad for n, p in module.named_parameters()}}
    assert set(got) == set(grads)
    for name, expected in grads.items():
        scale = max(np.abs(expected).max(), 1.0)
        np.testing.assert_allclose(got[name].numpy(), expected, rtol=1e-8, atol=1e-8 * scale)


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("bias", [True, False])
def test_torch_gradcheck(kind, bias):
    module = build(kind, 2, 3, num_layers=2, bias=bias, seed=3)
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    x, h0 = data(4, 2, 2, 3, 2, seed=3)

    def f(x, h0, *weights):
        return functional_call(module, dict(zip(names, weights, strict=True)), (x, h0))

    assert torch.autograd.gradcheck(f, (x.requires_grad_(), h0.requires_grad_(), *params))


@pytest.mark.parametrize("kind", CLASSES)
def test_stacked_layers_with_negative_h0(kind):
    module = build(kind, 3, 4, num_layers=3, seed=5)
    x, _ = data(6, 2, 3, 4, 3, seed=5)
    h0 = -3.0 - torch.rand(3, 2, 4, dtype=F64)  # every entry well below zero
    out, h_n = module(x, h0)
    ref_out, ref_finals, _ = reference(kind, module, x, h0)
    close(out, ref_out, 1e-9)
    close(h_n, ref_finals, 1e-9)
    zero_out, _ = module(x)
    assert not torch.allclose(out, zero_out)  # h0 reaches the output
    close(zero_out, reference(kind, module, x, torch.zeros_like(h0))[0], 1e-9)


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("split", [1, 4, 8])
def test_state_carries_across_windows(kind, split):
    module = build(kind, 3, 4, num_layers=2, seed=7)
    x, h0 = data(9, 2, 3, 4, 2, seed=7)
    whole, h_whole = module(x, h0)
    first, h = module(x[:split], h0)
    second, h_n = module(x[split:], h)
    close(torch.cat([first, second]), whole, 1e-12)
    close(h_n, h_whole, 1e-12)


@pytest.mark.parametrize("kind", CLASSES)
def test_batch_first_and_unbatched(kind):
    module = build(kind, 3, 4, num_layers=2, seed=9)
    x, h0 = data(5, 2, 3, 4, 2, seed=9)
    out, h_n = module(x, h0)
    module.batch_first = True
    bf_out, bf_h = module(x.transpose(0, 1), h0)
    assert bf_out.shape == (2, 5, 4)
    close(bf_out.transpose(0, 1), out, 1e-12)
    close(bf_h, h_n, 1e-12)
    single, single_h = module(x[:, 1], h0[:, 1])  # unbatched ignores batch_first
    assert single.shape == (5, 4) and single_h.shape == (2, 4)
    close(single, out[:, 1], 1e-12)
    close(single_h, h_n[:, 1], 1e-12)
    none_out, none_h = module(x[:, 0])
    assert none_h.shape == (2, 4)
    close(none_out, module(x[:, :1].transpose(0, 1))[0][0], 1e-12)


@pytest.mark.parametrize("kind", CLASSES)
def test_bf16_autocast_runs_close_to_fp32(kind):
    torch.manual_seed(11)
    module = CLASSES[kind](8, 16, num_layers=2)
    x = torch.randn(50, 3, 8)
    h0 = torch.randn(2, 3, 16)
    ref, ref_h = module(x, h0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, h_n = module(x, h0)
    assert out.dtype == h_n.dtype == torch.bfloat16  # the linear layers' dtype
    for low, high in ((out, ref), (h_n, ref_h)):
        assert (low.float() - high).abs().max() <= 1e-2 * high.abs().max()
    out.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())
    state = h0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for x_t in x[:5]:
            y, state = module.step(x_t, state)
    assert y.dtype == torch.bfloat16
    assert (y.float() - ref[4]).abs().max() <= 1e-2 * ref[4].abs().max()


@pytest.mark.parametrize("kind", CLASSES)
def test_long_sequence_stays_finite_and_matches_float64_steps(kind):
    torch.manual_seed(13)
    module = CLASSES[kind](4, 8)
    wide = CLASSES[kind](4, 8, dtype=F64)
    wide.load_state_dict(module.state_dict())
    x, h0 = torch.randn(4096, 2, 4), torch.randn(1, 2, 8)
    out, h_n = module(x, h0)
    assert torch.isfinite(out).all() and torch.isfinite(h_n).all()
    with torch.no_grad():
        steps, state = stepped(wide, x.double(), h0.double())
        out64, h64 = wide(x.double(), h0.double())
    close(out64, steps, 1e-9)
    close(h64, state, 1e-9)
    # float32 log space: error grows like |log a*_T|·2⁻²⁴ (|log a*_T| ≈ 3000 here)
    assert (out.double() - steps).abs().max() <= 2e-3 * steps.abs().max()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


def test_log_g_is_finite_with_finite_gradients_everywhere():
    a = torch.tensor([-800.0, -30.0, -0.5, 0.0, 0.5, 30.0, 1e6], dtype=F64, requires_grad=True)
    value = log_g(a)
    expected = [-800.0, -30.0 - math.log1p(math.exp(-30.0)), math.log(1 / (1 + math.exp(0.5)))]
    expected += [math.log(0.5), 0.0, math.log(30.5), math.log(1e6 + 0.5)]
    close(value, expected, 1e-12)
    value.sum().backward()
    assert torch.isfinite(a.grad).all()
    assert a.grad[3] == 2.0  # right derivative at 0: d/da log(a + ½) = 2


@pytest.mark.parametrize("kind", CLASSES)
def test_extreme_gates_stay_finite(kind):
    module = build(kind, 2, 3, seed=15, scale=40.0)  # pre-activations in the hundreds
    x, h0 = data(30, 2, 2, 3, 1, seed=15)
    out, h_n = module(x, h0)
    assert torch.isfinite(out).all() and torch.isfinite(h_n).all()
    close(out, stepped(module, x, h0)[0], 1e-9)


@pytest.mark.parametrize("kind", CLASSES)
def test_float64_stays_float64_and_parameters(kind):
    gates = 2 if kind == "MinGRU" else 3
    module = CLASSES[kind](5, 7, num_layers=2)
    shapes = {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (gates * 7, 5),
        "bias_ih_l0": (gates * 7,),
        "weight_ih_l1": (gates * 7, 7),
        "bias_ih_l1": (gates * 7,),
    }
    bound = 1 / math.sqrt(7)
    assert all(p.abs().max() <= bound for p in module.parameters())
    assert all(p.std() > bound / 3 for p in module.parameters())
    assert [n for n, _ in CLASSES[kind](5, 7, bias=False).named_parameters()] == ["weight_ih_l0"]
    wide = module.double()
    out, h_n = wide(torch.randn(3, 2, 5, dtype=F64))
    assert out.dtype == h_n.dtype == F64
    assert repr(CLASSES[kind](5, 7, 2, False, True, 0.5)) == (
        f"{kind}(5, 7, num_layers=2, bias=False, batch_first=True, dropout=0.5)"
    )


@pytest.mark.parametrize("kind", CLASSES)
def test_init_state_and_step_contract(kind):
    module = build(kind, 3, 4, num_layers=2, seed=17).eval()
    state = module.init_state(5)
    assert state.shape == (2, 5, 4) and state.dtype == F64 and not state.any()
    assert module.init_state(1, dtype=torch.float32).dtype == torch.float32
    x, _ = data(6, 5, 3, 4, 2, seed=17)
    out, h_n = module(x)
    for t in range(6):
        y, state = module.step(x[t], state)
        close(y, out[t], 1e-9)
    close(state, h_n, 1e-9)


@pytest.mark.parametrize("kind", CLASSES)
def test_dropout_between_layers_in_training_only(kind):
    module = build(kind, 3, 4, num_layers=2, seed=19, dropout=0.5)
    x, _ = data(5, 2, 3, 4, 2, seed=19)
    module.eval()
    ref, ref_h = module(x)
    close(reference(kind, module, x, torch.zeros(2, 2, 4, dtype=F64))[0], ref, 1e-9)
    module.train()
    torch.manual_seed(0)
    a, a_h = module(x)
    torch.manual_seed(0)
    b, _ = module(x)
    close(a, b, 0)
    assert not torch.allclose(a, ref)
    close(a_h[0], ref_h[0], 1e-12)  # no dropout on the input of the first layer
    with pytest.warns(UserWarning, match=rf"{kind}: dropout acts between stacked layers"):
        CLASSES[kind](3, 4, dropout=0.2)


@pytest.mark.parametrize("kind", CLASSES)
def test_constructor_errors(kind):
    cls = CLASSES[kind]
    unsupported = "min cells are unidirectional without projection"
    with pytest.raises(ValueError, match=rf"{kind}: bidirectional=True .*{unsupported}"):
        cls(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match=rf"{kind}: proj_size=2 .*{unsupported}"):
        cls(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=rf"{kind}: unsupported option\(s\) layer_norm"):
        cls(3, 4, layer_norm=True)
    with pytest.raises(ValueError, match=rf"{kind}: expected hidden_size ≥ 1, got 0"):
        cls(3, 0)
    with pytest.raises(ValueError, match=rf"{kind}: expected dropout to be a probability"):
        cls(3, 4, 2, dropout=1.5)


@pytest.mark.parametrize("kind", CLASSES)
def test_forward_errors(kind):
    module = CLASSES[kind](3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    with pytest.raises(InputError, match=rf"{kind}: expected input of shape \(T, B, 3\), got"):
        module(torch.randn(5, 2, 2))
    with pytest.raises(InputError, match=rf"{kind}: expected unbatched input of shape \(T, 3\)"):
        module(torch.randn(5, 2))
    with pytest.raises(InputError, match=rf"{kind}: expected input of shape .* got shape \(5,\)"):
        module(torch.randn(5))
    with pytest.raises(InputError, match=rf"{kind}: expected at least one time step \(T ≥ 1\)"):
        module(torch.randn(0, 2, 3))
    y, h = module(torch.randn(5, 0, 3))  # an empty batch is a batch (as in torch.nn)
    assert y.shape == (5, 0, 4) and h.shape[1] == 0
    with pytest.raises(InputError, match=rf"{kind}: expected h_0 of shape \(2, 2, 4\), got"):
        module(x, torch.zeros(1, 2, 4))
    with pytest.raises(InputError, match=rf"{kind}: expected h_0 of shape \(2, 4\), got"):
        module(x[:, 0], torch.zeros(2, 2, 4))
    with pytest.raises(InputError, match=rf"{kind}: expected input of dtype torch.float32"):
        module(x.double())
    module.batch_first = True
    with pytest.raises(InputError, match=rf"{kind}: expected input of shape \(B, T, 3\)"):
        module(torch.randn(2, 5, 4))
    step = f"{kind}.step"
    with pytest.raises(InputError, match=rf"{step}: expected x_t of shape \(B, 3\), got"):
        module.step(x, module.init_state(2))
    with pytest.raises(InputError, match=rf"{step}: expected state of shape \(2, 2, 4\), got"):
        module.step(x[0], module.init_state(3))
    with pytest.raises(InputError, match=rf"{step}: expected state of dtype torch.float32"):
        module.step(x[0], module.init_state(2, dtype=F64))
