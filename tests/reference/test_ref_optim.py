"""NumPy optimisers against torch.optim over several steps on identical float64 tensors."""

import numpy as np
import pytest
import torch

from rnnlab.errors import InputError
from rnnlab.reference import SGD, Adagrad, Adam

CASES = [
    (lambda: SGD(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    (lambda: SGD(0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    (lambda: Adagrad(0.1), lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-8)),
    (lambda: Adagrad(0.3, eps=1e-10), lambda ps: torch.optim.Adagrad(ps, lr=0.3)),
    (lambda: Adam(1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    (
        lambda: Adam(3e-3, beta1=0.8, beta2=0.99, eps=1e-6),
        lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
    ),
]


@pytest.mark.parametrize(("make_ours", "make_torch"), CASES)
def test_matches_torch_optim(make_ours, make_torch):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(3)}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours, theirs = make_ours(), make_torch(list(tparams.values()))
    for step in range(6):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        if step == 2:
            grads["b"] = None
        for k, p in tparams.items():
            p.grad = None if grads[k] is None else torch.tensor(grads[k])
        ours.step(params, grads)
        theirs.step()
        for k, p in tparams.items():
            np.testing.assert_allclose(params[k], p.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_step_updates_in_place_and_keeps_dtype():
    w = np.ones(3, np.float32)
    params = {"w": w}
    Adam(0.1).step(params, {"w": np.ones(3)})
    assert params["w"] is w
    assert w.dtype == np.float32
    assert (w < 1).all()


def test_optimisers_reject_bad_input():
    with pytest.raises(InputError, match=r"SGD: expected a positive lr"):
        SGD(0.0)
    with pytest.raises(InputError, match=r"Adam: expected betas in \[0, 1\)"):
        Adam(0.1, beta1=1.0)
    with pytest.raises(InputError, match=r"Adagrad.step: expected grads\['w'\] of shape \(3,\)"):
        Adagrad(0.1).step({"w": np.ones(3)}, {"w": np.ones(4)})
    with pytest.raises(InputError, match=r"SGD.step: expected params\['w'\] to be a floating"):
        SGD(0.1).step({"w": np.ones(3, int)}, {"w": np.ones(3)})
