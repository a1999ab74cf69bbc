"""TemporalConvNet: causality, receptive field, streaming, weight norm, init, errors."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.autograd import gradcheck
from torch.func import functional_call
from torch.nn.utils import parametrize

from rnnlab.errors import InputError
from rnnlab.nn import TemporalConvNet

F64 = torch.float64

configs = st.tuples(
    st.integers(1, 4),  # input_size
    st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),  # channels
    st.integers(1, 8),  # kernel_size
    st.integers(0, 2**16),  # seed
)


def build(input_size, channels, kernel_size, seed=0, **kwargs):
    """A float64 network in eval mode with unit-norm weight rows (g = 1) and random biases."""
    torch.manual_seed(seed)
    tcn = TemporalConvNet(input_size, channels, kernel_size, dtype=F64, **kwargs).eval()
    with torch.no_grad():
        for conv in weight_normed(tcn):
            conv.parametrizations.weight.original0.fill_(1.0)
        for name, p in tcn.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.1)
    return tcn


def weight_normed(tcn):
    return [conv for block in tcn.blocks for conv in (block.conv1, block.conv2)]


def positive_(tcn):
    """All weights ≥ 0 and biases 0.1: with inputs ≥ 0 every ReLU is active (no dead paths)."""
    with torch.no_grad():
        for conv in weight_normed(tcn):
            conv.parametrizations.weight.original1.abs_()
            conv.bias.fill_(0.1)
        for block in tcn.blocks:
            if block.downsample is not None:
                block.downsample.weight.abs_()
                block.downsample.bias.fill_(0.1)
    return tcn


def reach(tcn, x, t):
    """Per time step, whether output[..., t] depends on the input there: (T,) bool."""
    x = x.clone().requires_grad_()
    tcn(x)[..., t].sum().backward()
    return x.grad.abs().sum(dim=(0, 1)) > 0


def conv_twin(z, conv, dilation, causal):
    """A dilated convolution via F.conv1d: explicit left padding, or torch's "same"."""
    if causal:
        total = (conv.kernel_size[0] - 1) * dilation
        return F.conv1d(F.pad(z, (total, 0)), conv.weight, conv.bias, dilation=dilation)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using padding='same'")
        return F.conv1d(z, conv.weight, conv.bias, dilation=dilation, padding="same")


def twin(tcn, x):
    """The network written out from its equations: (B, C_in, T) → (B, C_out, T)."""
    h = x
    for i, block in enumerate(tcn.blocks):
        a = F.relu(conv_twin(h, block.conv1, 2**i, tcn.causal))
        a = F.relu(conv_twin(a, block.conv2, 2**i, tcn.causal))
        ds = block.downsample
        residual = h if ds is None else F.conv1d(h, ds.weight, ds.bias)
        h = F.relu(a + residual)
    return h


# ---- structure, receptive field ---------------------------------------------------------------


@given(config=configs, steps=st.integers(1, 40), data=st.data())
def test_causal_output_ignores_the_future(config, steps, data):
    input_size, channels, k, seed = config
    tcn = build(input_size, channels, k, seed)
    t = data.draw(st.integers(0, steps - 1))
    x = torch.randn(2, input_size, steps, dtype=F64)
    changed = x.clone()
    changed[..., t + 1 :] = torch.randn_like(changed[..., t + 1 :])
    assert torch.equal(tcn(x)[..., : t + 1], tcn(changed)[..., : t + 1])
    assert not reach(tcn, x, t)[t + 1 :].any()


@given(config=configs, extra=st.integers(0, 4), data=st.data())
def test_receptive_field_is_exact(config, extra, data):
    input_size, channels, k, seed = config
    tcn = positive_(build(input_size, channels, k, seed))
    rf = tcn.receptive_field
    steps = rf + extra + 1
    t = data.draw(st.integers(rf, steps - 1))
    first = t - rf + 1
    x = torch.rand(2, input_size, steps, dtype=F64)
    depends = reach(tcn, x, t)
    assert depends[first] and not depends[:first].any() and not depends[t + 1 :].any()
    y = tcn(x)[..., t]
    at_edge, before = x.clone(), x.clone()
    at_edge[..., first] += 1.0
    before[..., :first] = torch.rand_like(before[..., :first])
    assert not torch.equal(tcn(at_edge)[..., t], y)
    assert torch.equal(tcn(before)[..., t], y)


@pytest.mark.parametrize(
    ("kernel_size", "levels", "expected"),
    [(1, 3, 1), (2, 1, 3), (2, 4, 31), (3, 4, 61), (5, 2, 25), (8, 6, 883)],
)
def test_receptive_field_formula(kernel_size, levels, expected):
    tcn = TemporalConvNet(2, [3] * levels, kernel_size)
    assert tcn.receptive_field == expected == 1 + 2 * (kernel_size - 1) * (2**levels - 1)
    spans = [(kernel_size - 1) * c.dilation[0] for c in weight_normed(tcn)]
    assert [c.dilation[0] for c in weight_normed(tcn)] == [
        2**i for i in range(levels) for _ in "ab"
    ]
    assert tcn.receptive_field == 1 + sum(spans)


def test_kernel_size_one_mixes_no_time_steps():
    tcn = build(3, (4, 2), 1)
    x = torch.randn(2, 3, 7, dtype=F64)
    y = tcn(x)
    for t in range(7):
        torch.testing.assert_close(tcn(x[..., t : t + 1])[..., 0], y[..., t], rtol=0, atol=1e-12)


@given(config=configs, steps=st.integers(1, 30), causal=st.booleans())
def test_forward_matches_the_equations(config, steps, causal):
    input_size, channels, k, seed = config
    tcn = build(input_size, channels, k, seed, causal=causal)
    x = torch.randn(2, input_size, steps, dtype=F64)
    torch.testing.assert_close(tcn(x), twin(tcn, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize(("input_size", "channels"), [(3, (3, 5, 5, 2)), (2, [4]), (4, (4,))])
def test_projection_exactly_when_widths_differ(input_size, channels):
    tcn = TemporalConvNet(input_size, channels)
    widths = (input_size, *channels)
    for i, block in enumerate(tcn.blocks):
        assert (block.downsample is not None) == (widths[i] != widths[i + 1])
        if block.downsample is not None:
            assert block.downsample.weight.shape == (widths[i + 1], widths[i], 1)
            assert not parametrize.is_parametrized(block.downsample)


def test_block_output_is_relu_of_branch_plus_residual():
    tcn = build(3, (3, 5), 3)
    with torch.no_grad():
        for conv in weight_normed(tcn):
            conv.bias.fill_(-1e6)  # every branch ReLU is off: branch = 0
    x = torch.randn(2, 3, 6, dtype=F64)
    identity = F.relu(x)
    ds = tcn.blocks[1].downsample
    expected = F.relu(F.conv1d(identity, ds.weight, ds.bias))
    torch.testing.assert_close(tcn.blocks[0](x), identity)
    torch.testing.assert_close(tcn(x), expected)


# ---- weight norm and initialisation ----------------------------------------------------------


def test_every_dilated_conv_is_weight_normed_with_the_parametrization_api():
    tcn = TemporalConvNet(3, (4, 4, 6), 3)
    convs = weight_normed(tcn)
    assert len(convs) == 6
    for conv in convs:
        assert parametrize.is_parametrized(conv, "weight")
        assert type(conv.parametrizations.weight[0]).__name__ == "_WeightNorm"
        assert not hasattr(conv, "weight_g") and not conv._forward_pre_hooks
        g = conv.parametrizations.weight.original0
        v = conv.parametrizations.weight.original1
        torch.testing.assert_close(conv.weight, g * v / v.norm(dim=(1, 2), keepdim=True))
    names = {n for n, _ in tcn.named_parameters()}
    assert "blocks.0.conv1.parametrizations.weight.original0" in names
    assert "blocks.2.downsample.weight" in names


@pytest.mark.parametrize("init_std", [None, 0.01])
def test_initial_weight_is_the_v_draw(init_std):
    tcn = TemporalConvNet(64, (64, 128), 3, init_std=init_std)
    torch.manual_seed(7)
    tcn.reset_parameters()
    torch.manual_seed(7)
    first_draw = torch.empty(64, 64, 3)
    if init_std is None:  # what torch.nn.Conv1d draws
        torch.nn.init.kaiming_uniform_(first_draw, a=math.sqrt(5))
    else:
        first_draw.normal_(0.0, init_std)
    conv = tcn.blocks[0].conv1
    torch.testing.assert_close(conv.parametrizations.weight.original1, first_draw, rtol=0, atol=0)
    torch.testing.assert_close(conv.weight, first_draw)
    for conv in weight_normed(tcn):
        weight = conv.parametrizations.weight
        torch.testing.assert_close(conv.weight, weight.original1)
        norms = weight.original1.norm(dim=(1, 2), keepdim=True)
        torch.testing.assert_close(weight.original0, norms)
        fan_in = weight.original1[0].numel()
        expected = 1 / math.sqrt(3 * fan_in) if init_std is None else init_std
        assert abs(conv.weight.std().item() - expected) < 0.1 * expected
        if init_std is None:  # torch's default bias U(±1/√fan_in)
            assert conv.bias.abs().max() <= 1 / math.sqrt(fan_in) and conv.bias.any()
        else:
            assert not conv.bias.any()
    ds = tcn.blocks[1].downsample
    expected = 1 / math.sqrt(3 * 64) if init_std is None else init_std
    assert abs(ds.weight.std().item() - expected) < 0.1 * expected
    assert ds.bias.any() == (init_std is None)


def test_init_std_must_be_positive():
    with pytest.raises(InputError, match="init_std > 0"):
        TemporalConvNet(3, (4,), init_std=0.0)


def test_default_init_learns_the_adding_problem_where_the_small_one_does_not():
    """At N(0, 0.01²) the network is near-constant in its real-valued input at first."""
    from rnnlab.data.tasks import adding_problem

    torch.manual_seed(0)
    spread = {}
    x, _ = adding_problem(64, 50, seed=1)
    for init_std in (None, 0.01):
        torch.manual_seed(0)
        tcn = TemporalConvNet(2, (16,) * 4, 4, init_std=init_std)
        features = tcn(x.transpose(1, 2))[:, :, -1]  # (B, C)
        spread[init_std] = features.std(dim=0).mean().item()
    assert spread[None] > 5 * spread[0.01]


# ---- shapes, non-causal ------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
@pytest.mark.parametrize("steps", [1, 9])
def test_output_shapes(causal, kernel_size, steps):
    tcn = TemporalConvNet(3, (4, 6), kernel_size, causal=causal).eval()
    x = torch.randn(5, 3, steps)
    y = tcn(x)
    assert y.shape == (5, 6, steps)
    unbatched = tcn(x[1])
    assert unbatched.shape == (6, steps)
    torch.testing.assert_close(unbatched, y[1])


@given(config=configs, extra=st.integers(0, 3))
def test_non_causal_window(config, extra):
    input_size, channels, k, seed = config
    tcn = positive_(build(input_size, channels, k, seed, causal=False))
    left = sum(2 * ((k - 1) * 2**i // 2) for i in range(len(channels)))
    right = tcn.receptive_field - 1 - left
    if k % 2:
        assert left == right
    steps = tcn.receptive_field + 2 + extra
    t = left + 1 + extra // 2
    depends = reach(tcn, torch.rand(2, input_size, steps, dtype=F64), t)
    assert depends[t - left] and depends[t + right]
    assert not depends[: t - left].any() and not depends[t + right + 1 :].any()


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_non_causal_odd_kernels_commute_with_time_reversal(kernel_size):
    tcn = build(2, (3, 3, 4), kernel_size, causal=False)
    flipped = build(2, (3, 3, 4), kernel_size, causal=False)
    flipped.load_state_dict(tcn.state_dict())
    with torch.no_grad():
        for conv in weight_normed(flipped):
            v = conv.parametrizations.weight.original1
            v.copy_(v.flip(-1))
    x = torch.randn(2, 2, 11, dtype=F64)
    torch.testing.assert_close(flipped(x.flip(-1)), tcn(x).flip(-1), rtol=0, atol=1e-12)


# ---- streaming ------------------------------------------------------------------------------


@given(config=configs, batch=st.integers(1, 3), steps=st.integers(1, 24))
def test_step_matches_forward_at_every_step(config, batch, steps):
    input_size, channels, k, seed = config
    tcn = build(input_size, channels, k, seed, dropout=0.3)
    x = torch.randn(batch, input_size, steps, dtype=F64)
    full = tcn(x)
    state = tcn.init_state(batch)
    assert all(s.dtype == F64 and not s.any() for s in state)
    shapes = [s.shape for s in state]
    for t in range(steps):
        y, state = tcn.step(x[..., t], state)
        torch.testing.assert_close(y, full[..., t], rtol=0, atol=1e-10)
    assert [s.shape for s in state] == shapes
    torch.testing.assert_close(state[0], F.pad(x, (k - 1, 0))[..., steps:], rtol=0, atol=0)


def test_step_applies_no_dropout_even_in_training_mode():
    tcn = build(3, (4, 4), 3, dropout=0.5)
    x = torch.randn(2, 3, 8, dtype=F64)
    expected = tcn(x)
    tcn.train()
    assert not torch.equal(tcn(x), expected)  # forward does drop while training
    state = tcn.init_state(2)
    for t in range(8):
        y, state = tcn.step(x[..., t], list(state))
        torch.testing.assert_close(y, expected[..., t], rtol=0, atol=1e-10)


def test_init_state_shapes_and_defaults():
    tcn = TemporalConvNet(3, (4, 5), 3)
    state = tcn.init_state(2)
    assert isinstance(state, tuple)
    assert [s.shape for s in state] == [(2, 3, 2), (2, 4, 2), (2, 4, 4), (2, 5, 4)]
    assert all(s.dtype == torch.float32 for s in state)
    assert all(s.dtype == F64 for s in tcn.init_state(1, dtype=F64))
    assert all(s.dtype == F64 for s in tcn.to(F64).init_state(1))


# ---- gradients, serialisation, modes -----------------------------------------------------


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    tcn = TemporalConvNet(3, (4, 4, 2), 2).train()
    x = torch.randn(2, 3, 10, requires_grad=True)
    tcn(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in tcn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_gradcheck_tiny_float64():
    tcn = build(2, (3, 2), 2)
    x = torch.randn(2, 2, 6, dtype=F64, requires_grad=True)
    assert gradcheck(tcn, (x,))
    names, values = zip(*tcn.named_parameters(), strict=True)

    def of_parameters(*params):
        return functional_call(tcn, dict(zip(names, params, strict=True)), (x.detach(),))

    assert gradcheck(of_parameters, tuple(v.detach().clone().requires_grad_() for v in values))


def test_state_dict_round_trip():
    torch.manual_seed(0)
    tcn = TemporalConvNet(3, (4, 5), 3, 0.2).eval()
    torch.manual_seed(1)
    fresh = TemporalConvNet(3, (4, 5), 3, 0.2).eval()
    x = torch.randn(2, 3, 9)
    assert not torch.equal(fresh(x), tcn(x))
    fresh.load_state_dict(tcn.state_dict())
    assert torch.equal(fresh(x), tcn(x))


def test_no_grad_and_dtype_moves():
    tcn = TemporalConvNet(3, (4, 5), 2).eval()
    x = torch.randn(2, 3, 9)
    with torch.no_grad():
        y = tcn(x)
    assert not y.requires_grad
    assert torch.equal(y, tcn(x).detach())
    wide = tcn.to(torch.float64)
    assert wide is tcn and all(p.dtype == F64 for p in tcn.parameters())
    torch.testing.assert_close(wide(x.double()), y.double(), rtol=1e-5, atol=1e-6)
    assert TemporalConvNet(3, (4,), dtype=F64).blocks[0].conv1.weight.dtype == F64


def test_extra_repr():
    text = repr(TemporalConvNet(3, [4, 5], 3, 0.1, causal=False))
    assert (
        "3, channels=(4, 5), kernel_size=3, dropout=0.1, causal=False, receptive_field=13" in text
    )


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_size": 0}, r"input_size ≥ 1, got 0"),
        ({"channels": ()}, r"at least one level in channels"),
        ({"channels": []}, r"at least one level in channels"),
        ({"channels": (4, 0)}, r"channels\[1\] ≥ 1, got 0"),
        ({"channels": (-2,)}, r"channels\[0\] ≥ 1, got -2"),
        ({"channels": (4, 2.5)}, r"channels\[1\] to be an int, got float"),
        ({"channels": 4}, r"channels as a tuple or list of ints .*got int"),
        ({"channels": "44"}, r"channels as a tuple or list of ints .*got str"),
        ({"kernel_size": 0}, r"kernel_size ≥ 1, got 0"),
        ({"dropout": -0.1}, r"dropout to be a probability in \[0, 1\), got -0.1"),
        ({"dropout": 1.0}, r"dropout to be a probability in \[0, 1\), got 1.0"),
        ({"causal": "yes"}, r"causal to be a bool"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = {"input_size": 3, "channels": (4, 4), **kwargs}
    with pytest.raises(InputError, match=r"^TemporalConvNet: expected " + match):
        TemporalConvNet(**args)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.randn(4, 5, 10), r"input of shape \(B, 3, T\), got \(4, 5, 10\)$"),
        (torch.randn(5, 10), r"unbatched input of shape \(3, T\), got \(5, 10\)"),
        (torch.randn(10), r"input of shape \(B, 3, T\) or unbatched \(3, T\), got shape \(10,\)"),
        (torch.randn(1, 2, 3, 4), r".* or unbatched \(3, T\), got shape \(1, 2, 3, 4\)"),
        ([[1.0]], r".* or unbatched \(3, T\), got list"),
        (torch.randn(2, 3, 0), r"at least one time step \(T ≥ 1\)"),
        (torch.randn(2, 3, 5, dtype=F64), r"input of dtype torch.float32 .*got torch.float64"),
    ],
)
def test_bad_forward_input(x, match):
    tcn = TemporalConvNet(3, (4, 4))
    with pytest.raises(InputError, match=r"^TemporalConvNet: expected " + match):
        tcn(x)


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError, match="TemporalConvNet"):
        TemporalConvNet(3, ())


@pytest.mark.parametrize(
    ("x_t", "state", "match"),
    [
        (torch.randn(2, 4), None, r"x_t of shape \(B, 3\), got \(2, 4\)"),
        (torch.randn(2, 3, 1), None, r"x_t of shape \(B, 3\), got \(2, 3, 1\)"),
        (torch.randn(2, 3, dtype=F64), None, r"x_t of dtype torch.float32"),
        (torch.randn(2, 3), "tensor", r"state as a tuple of 4 tensors .*got shape \(2, 3, 2\)"),
        (torch.randn(2, 3), "text", r"state as a tuple of 4 tensors .*got str"),
        (torch.randn(2, 3), "short", r"state as a tuple of 4 tensors .*got tuple of length 3"),
        (
            torch.randn(1, 3),
            None,
            r"state\[0\] \(level 0, conv1 input buffer\) of shape \(1, 3, 2\)",
        ),
        (torch.randn(2, 3), "wide", r"state\[3\] \(level 1, conv2 .* of shape \(2, 4, 4\), got"),
        (torch.randn(2, 3), "double", r"state\[0\] .* dtype torch.float32 \(like x_t\)"),
        (torch.randn(2, 3), "not tensor", r"state\[1\] .* tensor of shape \(2, 4, 2\), got int"),
    ],
)
def test_bad_step_arguments(x_t, state, match):
    tcn = TemporalConvNet(3, (4, 4), 3)
    good = tcn.init_state(2)
    state = {
        None: good,
        "tensor": torch.zeros(2, 3, 2),
        "text": "zeros",
        "short": good[:3],
        "wide": (*good[:3], torch.zeros(2, 4, 5)),
        "double": (good[0].double(), *good[1:]),
        "not tensor": (good[0], 0, *good[2:]),
    }[state]
    with pytest.raises(InputError, match=r"^TemporalConvNet.step: expected " + match):
        tcn.step(x_t, state)


def test_step_on_a_non_causal_network_is_refused():
    tcn = TemporalConvNet(3, (4,), 3, causal=False)
    with pytest.raises(InputError, match=r"^TemporalConvNet.step: streaming needs a causal"):
        tcn.step(torch.randn(2, 3), tcn.init_state(2))


def test_init_state_needs_a_batch():
    with pytest.raises(InputError, match=r"^TemporalConvNet.init_state: expected batch ≥ 1"):
        TemporalConvNet(3, (4,)).init_state(0)
