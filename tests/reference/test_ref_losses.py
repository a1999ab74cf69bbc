"""Softmax cross-entropy against torch.nn.functional.cross_entropy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.errors import InputError
from rnnlab.reference import softmax_cross_entropy, softmax_cross_entropy_backward


@given(
    n=st.integers(1, 9),
    v=st.integers(1, 11),
    scale=st.sampled_from([0.1, 3.0, 300.0]),
    seed=st.integers(0, 999),
)
def test_matches_torch_cross_entropy_and_its_gradient(n, v, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, v)) * scale
    targets = rng.integers(0, v, n)
    loss, cache = softmax_cross_entropy(logits, targets)
    dlogits = softmax_cross_entropy_backward(cache)
    t = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(t, torch.from_numpy(targets))
    ref.backward()
    assert isinstance(loss, float)
    assert loss == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(dlogits, t.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_huge_logits_stay_finite():
    logits = np.array([[1000.0, -1000.0, 0.0], [-5e3, 5e3, 5e3]])
    loss, cache = softmax_cross_entropy(logits, np.array([0, 1]))
    assert loss == pytest.approx(np.log(2) / 2)
    assert np.isfinite(softmax_cross_entropy_backward(cache)).all()


def test_float32_stays_float32():
    logits = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    _, cache = softmax_cross_entropy(logits, np.array([0, 1, 2, 3]))
    assert softmax_cross_entropy_backward(cache).dtype == np.float32


@pytest.mark.parametrize(
    ("logits", "targets", "message"),
    [
        (np.ones(3), np.array([0]), r"expected logits of shape \(N, V\), got \(3,\)"),
        (np.ones((2, 3)), np.array([0, 1, 2]), r"expected targets of shape \(N=2\), got \(3,\)"),
        (np.ones((2, 3)), np.array([0.0, 1.0]), r"expected integer targets"),
        (np.ones((2, 3)), np.array([0, 3]), r"expected targets in \[0, 3\)"),
    ],
)
def test_rejects_bad_input(logits, targets, message):
    with pytest.raises(InputError, match="softmax_cross_entropy: " + message):
        softmax_cross_entropy(logits, targets)
