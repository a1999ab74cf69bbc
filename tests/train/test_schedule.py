"""Learning-rate schedule factors at known points."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.errors import InputError
from rnnlab.train.config import TrainConfig
from rnnlab.train.schedule import SCHEDULES, lr_factor


def test_constant_with_warmup_ramps_from_one_over_warmup():
    cfg = TrainConfig(schedule="constant", warmup=4)
    assert [lr_factor(s, 0.5, cfg) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor(0, 0.0, TrainConfig(schedule="constant", warmup=0)) == 1.0
    assert lr_factor(0, 0.0, TrainConfig(schedule="constant", warmup=1)) == 1.0


def test_cosine_ends():
    cfg = TrainConfig(schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, 0.0, cfg) == 1.0
    assert lr_factor(500, 0.5, cfg) == pytest.approx(0.55, abs=1e-15)
    assert lr_factor(1000, 1.0, cfg) == pytest.approx(0.1, abs=1e-15)
    assert lr_factor(1200, 1.3, cfg) == pytest.approx(0.1, abs=1e-15)
    assert lr_factor(250, 0.25, TrainConfig(schedule="cosine")) == pytest.approx(
        0.5 * (1 + math.cos(math.pi / 4)), abs=1e-15
    )


def test_cosine_is_multiplied_by_warmup_over_the_whole_budget():
    cfg = TrainConfig(schedule="cosine", warmup=10, min_lr_ratio=0.0)
    assert lr_factor(0, 0.0, cfg) == pytest.approx(0.1)
    expected = 0.5 * (1 + math.cos(math.pi * 0.01))
    assert lr_factor(9, 0.01, cfg) == pytest.approx(expected, abs=1e-15)
    assert lr_factor(50, 0.05, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.05)))


def test_step_decay():
    cfg = TrainConfig(schedule="step", decay_every=100, decay_rate=0.5)
    factors = [lr_factor(s, 0.0, cfg) for s in (0, 99, 100, 199, 200, 350)]
    assert factors == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]
    warm = TrainConfig(schedule="step", warmup=200, decay_every=100, decay_rate=0.5)
    assert lr_factor(149, 0.0, warm) == 0.75 * 0.5


@given(
    schedule=st.sampled_from(SCHEDULES),
    step=st.integers(0, 10_000),
    progress=st.floats(0.0, 2.0),
    warmup=st.integers(0, 500),
    min_lr_ratio=st.floats(0.0, 1.0),
)
def test_factor_is_in_unit_interval(schedule, step, progress, warmup, min_lr_ratio):
    cfg = TrainConfig(schedule=schedule, warmup=warmup, min_lr_ratio=min_lr_ratio)
    assert 0.0 <= lr_factor(step, progress, cfg) <= 1.0


def test_unknown_schedule_lists_valid_ones():
    with pytest.raises(
        InputError, match="unknown schedule 'linear'; expected one of constant, cosine, step"
    ):
        lr_factor(0, 0.0, TrainConfig(schedule="linear"))


@pytest.mark.parametrize(
    ("step", "progress", "overrides", "match"),
    [
        (-1, 0.0, {}, "step >= 0"),
        (0, -0.1, {}, "progress"),
        (0, math.nan, {}, "progress"),
        (0, 0.0, {"warmup": -1}, "warmup"),
        (0, 0.0, {"min_lr_ratio": 1.5}, "min_lr_ratio"),
        (0, 0.0, {"schedule": "step", "decay_every": 0}, "decay_every"),
        (0, 0.0, {"schedule": "step", "decay_rate": 0.0}, "decay_rate"),
    ],
)
def test_bad_settings_raise(step, progress, overrides, match):
    with pytest.raises(InputError, match=match):
        lr_factor(step, progress, TrainConfig(**overrides))
