"""Cell math: equals torch's own cells, the layer-norm formulation, gradients (gradcheck)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.errors import InputError
from rnnlab.functional import (
    gate_projection,
    gru_cell,
    gru_pointwise,
    lstm_cell,
    lstm_pointwise,
    rnn_cell,
    rnn_pointwise,
)

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def weights(mode, i, h, *, bias=True, proj=0, dtype=torch.float32, ln=False):
    g = GATES[mode] * h
    p = proj or h
    w = {
        "w_ih": torch.randn(g, i, dtype=dtype) * 0.5,
        "w_hh": torch.randn(g, p, dtype=dtype) * 0.5,
        "b_ih": torch.randn(g, dtype=dtype) if bias else None,
        "b_hh": torch.randn(g, dtype=dtype) if bias else None,
    }
    extra = {}
    if proj:
        extra["w_hr"] = torch.randn(proj, h, dtype=dtype) * 0.5
    if ln:
        extra["ln_ih"] = (torch.rand(g, dtype=dtype) + 0.5, torch.randn(g, dtype=dtype))
        extra["ln_hh"] = (torch.rand(g, dtype=dtype) + 0.5, torch.randn(g, dtype=dtype))
        if mode == "lstm":
            extra["ln_c"] = (torch.rand(h, dtype=dtype) + 0.5, torch.randn(h, dtype=dtype))
    return w, extra


@given(
    mode=st.sampled_from(["rnn_tanh", "rnn_relu", "lstm", "gru"]),
    batch=st.integers(1, 4),
    i=st.integers(1, 5),
    h=st.integers(1, 5),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cells_equal_torch_cells(mode, batch, i, h, bias, seed):
    torch.manual_seed(seed)
    w, _ = weights(mode, i, h, bias=bias)
    x = torch.randn(batch, i)
    hx = torch.randn(batch, h)
    args = (w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"])
    if mode == "lstm":
        cx = torch.randn(batch, h)
        ours = lstm_cell(x, (hx, cx), *args)
        theirs = torch.lstm_cell(x, (hx, cx), *args)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    elif mode == "gru":
        torch.testing.assert_close(
            gru_cell(x, hx, *args), torch.gru_cell(x, hx, *args), rtol=1e-5, atol=1e-6
        )
    else:
        act = mode.removeprefix("rnn_")
        theirs = getattr(torch, f"rnn_{act}_cell")(x, hx, *args)
        torch.testing.assert_close(
            rnn_cell(x, hx, *args, nonlinearity=act), theirs, rtol=1e-5, atol=1e-6
        )


def test_lstm_projection_is_applied_after_the_cell():
    torch.manual_seed(0)
    w, extra = weights("lstm", 3, 5, proj=2)
    x, h, c = torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 5)
    h_new, c_new = lstm_cell(x, (h, c), *w.values(), w_hr=extra["w_hr"])
    gi = x @ w["w_ih"].T + w["b_ih"]
    gh = h @ w["w_hh"].T + w["b_hh"]
    plain_h, plain_c = lstm_pointwise(gi, gh, c)
    torch.testing.assert_close(c_new, plain_c)
    torch.testing.assert_close(h_new, plain_h @ extra["w_hr"].T)
    assert h_new.shape == (4, 2) and c_new.shape == (4, 5)


def test_layer_norm_formulation():
    """LN on the whole W_ih x and W_hh h, then biases; LSTM also LN(c') inside tanh only."""
    torch.manual_seed(1)
    i, h, b = 3, 4, 5
    w, extra = weights("lstm", i, h, ln=True)
    x, h0, c0 = torch.randn(b, i), torch.randn(b, h), torch.randn(b, h)
    h1, c1 = lstm_cell(x, (h0, c0), *w.values(), **extra)

    def ln(v, params):
        mean = v.mean(-1, keepdim=True)
        var = v.var(-1, unbiased=False, keepdim=True)
        return (v - mean) / torch.sqrt(var + 1e-5) * params[0] + params[1]

    pre = ln(x @ w["w_ih"].T, extra["ln_ih"]) + w["b_ih"]
    pre = pre + ln(h0 @ w["w_hh"].T, extra["ln_hh"]) + w["b_hh"]
    i_, f_, g_, o_ = pre.chunk(4, -1)
    c_expected = torch.sigmoid(f_) * c0 + torch.sigmoid(i_) * torch.tanh(g_)
    h_expected = torch.sigmoid(o_) * torch.tanh(ln(c_expected, extra["ln_c"]))
    torch.testing.assert_close(c1, c_expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h1, h_expected, rtol=1e-5, atol=1e-6)


def test_gru_layer_norm_keeps_reset_gate_on_recurrent_candidate():
    torch.manual_seed(2)
    w, extra = weights("gru", 3, 4, ln=True)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    gi = F.layer_norm(x @ w["w_ih"].T, (12,), *extra["ln_ih"]) + w["b_ih"]
    gh = F.layer_norm(h @ w["w_hh"].T, (12,), *extra["ln_hh"]) + w["b_hh"]
    r = torch.sigmoid(gi[:, :4] + gh[:, :4])
    z = torch.sigmoid(gi[:, 4:8] + gh[:, 4:8])
    n = torch.tanh(gi[:, 8:] + r * gh[:, 8:])
    torch.testing.assert_close(gru_cell(x, h, *w.values(), **extra), (1 - z) * n + z * h)


def test_projection_hoists_over_time():
    torch.manual_seed(3)
    x = torch.randn(6, 2, 3)
    w, b = torch.randn(8, 3), torch.randn(8)
    ln = (torch.rand(8) + 0.5, torch.randn(8))
    whole = gate_projection(x, w, b, ln=ln)  # (T, B, 8)
    steps = torch.stack([gate_projection(x[t], w, b, ln=ln) for t in range(6)])
    torch.testing.assert_close(whole, steps)


def test_pointwise_shapes_and_unknown_nonlinearity():
    gi, gh = torch.randn(2, 3), torch.randn(2, 3)
    assert rnn_pointwise(gi, gh, nonlinearity="relu").min() >= 0
    assert gru_pointwise(torch.randn(2, 9), torch.randn(2, 9), torch.randn(2, 3)).shape == (2, 3)
    with pytest.raises(InputError, match=r"rnn_pointwise: expected nonlinearity in .*'gelu'"):
        rnn_pointwise(gi, gh, nonlinearity="gelu")


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("ln", [False, True])
def test_cells_gradcheck(mode, ln):
    torch.manual_seed(4)
    dtype = torch.float64
    w, extra = weights(mode, 3, 2, dtype=dtype, ln=ln, proj=0)
    x = torch.randn(2, 3, dtype=dtype)
    h = torch.randn(2, 2, dtype=dtype)
    c = torch.randn(2, 2, dtype=dtype)
    tensors = [x, h, c, *w.values()]
    ln_keys = sorted(extra)
    for key in ln_keys:
        tensors.extend(extra[key])
    tensors = [t.requires_grad_() for t in tensors]

    def f(x, h, c, w_ih, w_hh, b_ih, b_hh, *ln_params):
        lns = {k: (ln_params[2 * j], ln_params[2 * j + 1]) for j, k in enumerate(ln_keys)}
        if mode == "lstm":
            return lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh, **lns)
        if mode == "gru":
            return gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, **lns) + 0 * c.sum()
        act = mode.removeprefix("rnn_")
        return rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity=act, **lns) + 0 * c.sum()

    assert torch.autograd.gradcheck(f, tensors)


def test_lstm_projection_gradcheck():
    torch.manual_seed(5)
    dtype = torch.float64
    w, extra = weights("lstm", 3, 3, dtype=dtype, proj=2, ln=True)
    x, h, c = (torch.randn(2, n, dtype=dtype) for n in (3, 2, 3))
    tensors = [t.requires_grad_() for t in (x, h, c, *w.values(), extra["w_hr"])]

    def f(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
        ln = {k: extra[k] for k in ("ln_ih", "ln_hh", "ln_c")}
        return lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh, w_hr=w_hr, **ln)

    assert torch.autograd.gradcheck(f, tensors)
