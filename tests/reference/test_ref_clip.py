"""Gradient clipping against torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""

import numpy as np
import pytest
import torch

from rnnlab.errors import InputError
from rnnlab.reference import clip_by_global_norm, clip_by_value


def random_grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "w": rng.standard_normal((4, 3)) * scale,
        "b": rng.standard_normal(4) * scale,
        "absent": None,
        "h": rng.standard_normal((2, 2, 3)) * scale,
    }


def as_torch_params(grads):
    params = []
    for g in grads.values():
        if g is not None:
            p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
            p.grad = torch.tensor(g)
            params.append(p)
    return params


@pytest.mark.parametrize(("scale", "max_norm"), [(0.01, 1.0), (3.0, 1.0), (3.0, 0.5), (1.0, 50.0)])
def test_global_norm_matches_torch(scale, max_norm):
    grads = random_grads(scale)
    params = as_torch_params(grads)
    ref_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    norm = clip_by_global_norm(grads, max_norm)
    assert norm == pytest.approx(ref_norm.item(), rel=1e-12)
    mine = [g for g in grads.values() if g is not None]
    for g, p in zip(mine, params, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=0)
    assert grads["absent"] is None


@pytest.mark.parametrize("limit", [0.1, 1.0, 100.0])
def test_value_matches_torch(limit):
    grads = random_grads(2.0, seed=1)
    params = as_torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, limit)
    w = grads["w"]
    assert clip_by_value(grads, limit) is None
    assert grads["w"] is w
    mine = [g for g in grads.values() if g is not None]
    for g, p in zip(mine, params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())


def test_clipping_rejects_bad_input():
    with pytest.raises(InputError, match=r"clip_by_value: expected a positive limit"):
        clip_by_value(random_grads(1.0), 0.0)
    with pytest.raises(InputError, match=r"clip_by_global_norm: expected a positive max_norm"):
        clip_by_global_norm(random_grads(1.0), -1.0)
    with pytest.raises(InputError, match=r"clip_by_global_norm: expected grads\['w'\] to be"):
        clip_by_global_norm({"w": [1.0, 2.0]}, 1.0)
    with pytest.raises(InputError, match=r"clip_by_value: expected grads to be a dict"):
        clip_by_value([np.ones(2)], 1.0)
