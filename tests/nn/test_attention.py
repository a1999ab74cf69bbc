"""Attention: scores against their equations written as loops, masking, modules, gradients."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnlab.functional as F
from rnnlab.errors import InputError
from rnnlab.nn import AdditiveAttention, DotAttention, GeneralAttention
from rnnlab.nn.attention import make_attention

D64 = torch.float64


def loop_scores(kind, q, k, params):
    """Each score from its equation, one (b, s) at a time."""
    B, S = k.shape[:2]
    out = torch.empty(B, S, dtype=q.dtype)
    for b in range(B):
        for s in range(S):
            if kind == "dot":
                out[b, s] = q[b] @ k[b, s]
            elif kind == "general":
                out[b, s] = q[b] @ params["W"] @ k[b, s]
            else:
                pre = params["Wq"] @ q[b] + params["Wk"] @ k[b, s] + params["b"]
                out[b, s] = params["v"] @ torch.tanh(pre)
    return out


def loop_attend(scores, values, lengths):
    B, S = scores.shape
    ctx = torch.zeros(B, values.shape[-1], dtype=values.dtype)
    weights = torch.zeros(B, S, dtype=values.dtype)
    for b in range(B):
        n = lengths[b]
        e = torch.exp(scores[b, :n] - scores[b, :n].max())
        a = e / e.sum()
        weights[b, :n] = a
        ctx[b] = (a[:, None] * values[b, :n]).sum(0)
    return ctx, weights


shapes = st.tuples(
    st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(0, 99)
)


@given(shapes)
def test_scores_and_context_match_the_equations(shape):
    B, S, Q, K, seed = shape
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, Q, generator=g, dtype=D64)
    k = torch.randn(B, S, K, generator=g, dtype=D64)
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    params = {
        "W": torch.randn(Q, K, generator=g, dtype=D64),
        "Wq": torch.randn(3, Q, generator=g, dtype=D64),
        "Wk": torch.randn(3, K, generator=g, dtype=D64),
        "b": torch.randn(3, generator=g, dtype=D64),
        "v": torch.randn(3, generator=g, dtype=D64),
    }
    got = {
        "general": F.general_scores(q, k, params["W"]),
        "additive": F.additive_scores(q, k, params["Wq"], params["Wk"], params["v"], params["b"]),
    }
    if Q == K:
        got["dot"] = F.dot_scores(q, k)
        torch.testing.assert_close(
            F.dot_scores(q, k, scaled=True), got["dot"] / math.sqrt(K), rtol=1e-12, atol=1e-12
        )
    mask = F.lengths_mask(lengths, S)
    for kind, scores in got.items():
        torch.testing.assert_close(scores, loop_scores(kind, q, k, params), rtol=1e-12, atol=1e-12)
        ctx, w = F.attend(scores, k, mask)
        ref_ctx, ref_w = loop_attend(scores, k, lengths.tolist())
        torch.testing.assert_close(ctx, ref_ctx, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(w, ref_w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["additive", "dot", "general", "scaled_dot"])
def test_several_queries_at_once_equal_one_at_a_time(kind):
    torch.manual_seed(0)
    attn = make_attention(kind, 6, 6).double()
    q = torch.randn(3, 4, 6, dtype=D64)
    k = torch.randn(3, 5, 6, dtype=D64)
    lengths = torch.tensor([5, 2, 3])
    ctx, w = attn(q, k, lengths=lengths)
    assert ctx.shape == (3, 4, 6) and w.shape == (3, 4, 5)
    for t in range(4):
        c1, w1 = attn(q[:, t], k, lengths=lengths)
        torch.testing.assert_close(ctx[:, t], c1, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(w[:, t], w1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_masked_keys_get_no_weight_and_no_gradient(kind):
    torch.manual_seed(1)
    attn = make_attention(kind, 4, 4).double()
    q = torch.randn(2, 4, dtype=D64)
    k = torch.randn(2, 6, 4, dtype=D64, requires_grad=True)
    lengths = torch.tensor([3, 6])
    ctx, w = attn(q, k, lengths=lengths)
    assert torch.all(w[0, 3:] == 0) and torch.all(w[0, :3] > 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, dtype=D64))
    ctx.sum().backward()
    assert torch.all(k.grad[0, 3:] == 0)
    assert torch.all(torch.isfinite(k.grad))
    # what lies past a row's length changes nothing
    k2 = k.detach().clone()
    k2[0, 3:] = 1e6
    ctx2, _ = attn(q, k2, lengths=lengths)
    torch.testing.assert_close(ctx2[0], ctx[0].detach(), rtol=1e-12, atol=1e-12)


def test_prepared_keys_give_the_same_result():
    torch.manual_seed(2)
    for attn in (AdditiveAttention(5, 7, 3), GeneralAttention(5, 7)):
        q, k = torch.randn(2, 5), torch.randn(2, 4, 7)
        a = attn(q, k)
        b = attn(q, k, prepared=attn.prepare(k))
        torch.testing.assert_close(a[0], b[0])
        torch.testing.assert_close(a[1], b[1])


def test_values_other_than_the_keys():
    torch.manual_seed(3)
    q, k, v = torch.randn(2, 3), torch.randn(2, 4, 3), torch.randn(2, 4, 9)
    ctx, w = DotAttention()(q, k, v)
    assert ctx.shape == (2, 9)
    torch.testing.assert_close(ctx, torch.einsum("bs,bsd->bd", w, v))


@pytest.mark.parametrize("cls", ["additive", "general", "dot"])
def test_gradcheck(cls):
    torch.manual_seed(4)
    attn = make_attention(cls, 3, 3).double()
    q = torch.randn(2, 3, dtype=D64, requires_grad=True)
    k = torch.randn(2, 4, 3, dtype=D64, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert torch.autograd.gradcheck(lambda q, k: attn(q, k, mask=mask), (q, k))
    assert torch.autograd.gradgradcheck(lambda q, k: attn(q, k, mask=mask)[0], (q, k))


def test_a_fully_masked_row_is_an_error_not_nan():
    q, k = torch.randn(2, 3), torch.randn(2, 4, 3)
    with pytest.raises(InputError, match=r"every key of batch row\(s\) \[1\] is masked"):
        DotAttention()(q, k, lengths=torch.tensor([2, 0]))
    mask = torch.zeros(2, 4, dtype=torch.bool)
    with pytest.raises(InputError, match="masked"):
        F.masked_softmax(torch.randn(2, 4), mask)


def test_bad_shapes_and_settings_are_clear_errors():
    with pytest.raises(InputError, match="same width"):
        F.dot_scores(torch.randn(2, 3), torch.randn(2, 4, 5))
    with pytest.raises(InputError, match=r"keys of shape \(B, S, K\)"):
        DotAttention()(torch.randn(2, 3), torch.randn(4, 3))
    with pytest.raises(InputError, match=r"query of shape \(2, Q\)"):
        DotAttention()(torch.randn(3, 3), torch.randn(2, 4, 3))
    with pytest.raises(InputError, match="mask of shape"):
        F.masked_softmax(torch.randn(2, 4), torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(InputError, match="exceeds"):
        F.lengths_mask(torch.tensor([5]), 4)
    with pytest.raises(InputError, match="lengths >= 0"):
        F.lengths_mask(torch.tensor([-1]))
    with pytest.raises(InputError, match="mask or lengths"):
        DotAttention()(
            torch.randn(1, 2), torch.randn(1, 3, 2), mask=torch.ones(1, 3, dtype=bool), lengths=[3]
        )
    with pytest.raises(InputError, match="expected one of"):
        make_attention("cosine", 3, 3)
    with pytest.raises(InputError, match="widths to agree"):
        make_attention("dot", 3, 4)
    with pytest.raises(InputError, match="attn_dim >= 1"):
        AdditiveAttention(3, 3, 0)
