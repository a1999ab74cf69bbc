"""Optimizer construction from TrainConfig and gradient clipping against torch's own."""

import math

import pytest
import torch

from rnnlab.errors import InputError
from rnnlab.train.config import TrainConfig
from rnnlab.train.optim import OPTIMIZERS, build_optimizer, clip_gradients

EXPECTED = {
    "adam": (torch.optim.Adam, {"betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.01}),
    "adamw": (torch.optim.AdamW, {"betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.01}),
    "rmsprop": (torch.optim.RMSprop, {"alpha": 0.95, "eps": 1e-6, "momentum": 0.5}),
    "adagrad": (torch.optim.Adagrad, {"eps": 1e-6, "weight_decay": 0.01}),
    "sgd": (torch.optim.SGD, {"momentum": 0.5, "weight_decay": 0.01}),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_builds_and_steps(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    cfg = TrainConfig(
        optimizer=name,
        lr=0.05,
        weight_decay=0.01,
        beta1=0.8,
        beta2=0.95,
        alpha=0.95,
        eps=1e-6,
        momentum=0.5,
    )
    optimizer = build_optimizer(model.parameters(), cfg)
    cls, settings = EXPECTED[name]
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.05
    for key, value in settings.items():
        assert group[key] == value, key
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(8, 3)
    for _ in range(2):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_build_optimizer_accepts_param_groups():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    groups = [{"params": [a]}, {"params": [b], "weight_decay": 0.0}]
    optimizer = build_optimizer(groups, TrainConfig(optimizer="adamw", weight_decay=0.1))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]


@pytest.mark.parametrize(
    ("params", "cfg", "match"),
    [
        (
            "model",
            TrainConfig(optimizer="lamb"),
            "unknown optimizer 'lamb'; expected one of adam, adamw, rmsprop, adagrad, sgd",
        ),
        ([], TrainConfig(), "no parameters"),
        ("model", TrainConfig(lr=-1.0), "adam: Invalid learning rate"),
        ("model", TrainConfig(optimizer="sgd", momentum=-0.5), "sgd: Invalid momentum"),
    ],
)
def test_build_optimizer_errors(params, cfg, match):
    params = torch.nn.Linear(2, 2).parameters() if params == "model" else params
    with pytest.raises(InputError, match=match):
        build_optimizer(params, cfg)


def _grads(seed, scale=1.0):
    """Two parameter sets with identical random gradients (one of them without a grad)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    grads = [scale * torch.randn(s, generator=gen) for s in shapes]
    sets = []
    for _ in range(2):
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        params.append(torch.nn.Parameter(torch.zeros(2)))  # no grad: skipped
        sets.append(params)
    return sets


def _same_grads(a, b):
    return all(
        (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)
        for p, q in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("clip_norm", [None, 0.5, 100.0])
@pytest.mark.parametrize("clip_value", [None, 0.3])
def test_clip_matches_torch(clip_norm, clip_value):
    ours, theirs = _grads(seed=1, scale=2.0)
    norm = clip_gradients(ours, clip_norm=clip_norm, clip_value=clip_value)
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(theirs, clip_value)
    # max_norm=inf scales by exactly 1.0: the gradients stay as they are
    expected = torch.nn.utils.clip_grad_norm_(theirs, math.inf if clip_norm is None else clip_norm)
    assert isinstance(norm, float)
    assert norm == expected.item()
    assert _same_grads(ours, theirs)
    if clip_norm == 0.5:
        assert norm > 0.5
        total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours[:3]]))
        assert total.item() == pytest.approx(0.5, rel=1e-5)


def test_clip_norm_without_get_total_norm(monkeypatch):
    ours, theirs = _grads(seed=2)
    expected = torch.nn.utils.get_total_norm([p.grad for p in theirs[:3]])
    monkeypatch.delattr(torch.nn.utils, "get_total_norm")
    norm = clip_gradients(ours)
    assert norm == pytest.approx(expected.item(), rel=1e-6)
    assert _same_grads(ours, theirs)


def test_clip_single_tensor_and_no_grads():
    p = torch.nn.Parameter(torch.zeros(2))
    assert clip_gradients(p, clip_norm=1.0) == 0.0
    p.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients(p) == 5.0
    assert clip_gradients(iter([p]), clip_norm=1.0) == 5.0
    assert torch.allclose(p.grad, torch.tensor([0.6, 0.8]))


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_clip_returns_non_finite_norm(bad):
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([1.0, bad])
    norm = clip_gradients([p])
    assert not math.isfinite(norm)
    assert math.isnan(norm) == math.isnan(bad)
    assert not math.isfinite(clip_gradients([p], clip_norm=1.0))


@pytest.mark.parametrize(
    "kwargs", [{"clip_norm": 0.0}, {"clip_value": -1.0}, {"clip_norm": math.nan}]
)
def test_clip_rejects_non_positive_limits(kwargs):
    with pytest.raises(InputError, match="> 0 or None"):
        clip_gradients([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_adam_uses_fused_kernels_where_possible():
    model = torch.nn.Linear(2, 2)
    for name in ("adam", "adamw"):
        optimizer = build_optimizer(model.parameters(), TrainConfig(optimizer=name))
        assert optimizer.param_groups[0]["fused"] is True
    generated = build_optimizer(
        [{"params": (p for p in model.parameters())}], TrainConfig(optimizer="adam")
    )
    assert len(generated.param_groups[0]["params"]) == 2
    assert generated.param_groups[0]["fused"] is True
    named = build_optimizer(list(model.named_parameters()), TrainConfig(optimizer="adamw"))
    assert named.param_groups[0]["fused"] is True
    z = torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))
    optimizer = build_optimizer([z, *model.parameters()], TrainConfig(optimizer="adam"))
    assert optimizer.param_groups[0]["fused"] is None
    z.grad = torch.ones(2, dtype=torch.complex64)
    optimizer.step()
    assert z.abs().sum() > 0


def test_a_one_group_state_is_regrouped_for_decay_exemptions():
    """Checkpoints from before the bias/gain exemption hold one group; they still resume."""
    from rnnlab.train.optim import param_groups, regroup_state

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    old = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    for _ in range(3):
        old.zero_grad()
        model(torch.randn(5, 3)).square().sum().backward()
        old.step()
    saved = old.state_dict()
    new = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3, weight_decay=0.1)
    assert len(new.param_groups) == 2
    with pytest.raises(ValueError):  # what loading it as is would do
        torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3).load_state_dict(saved)
    new.load_state_dict(regroup_state(saved, new, list(model.parameters())))
    assert [g["weight_decay"] for g in new.param_groups] == [0.1, 0.0]
    for param in model.parameters():  # every parameter kept its own moments and step
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(new.state[param][key], old.state[param][key])
    assert (
        regroup_state(new.state_dict(), new, list(model.parameters()))["param_groups"]
        == (new.state_dict()["param_groups"])
    )  # a state that fits is left as it is
