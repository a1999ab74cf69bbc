"""`rnnlab.diagnostics.gradflow_clip`: the unclipped run diverges, the clipped ones stay finite,
and each clipping bounds the update as it says."""

import math

import pytest
import torch

from rnnlab.diagnostics.gradflow_clip import ClipSettings, clip_experiment, exploding_model
from rnnlab.errors import InputError

# small and quick; the unclipped run overflows within about 25 steps
SMALL = dict(scale=2.0, steps=60, hidden=16, seq_len=30, batch=16, lr=0.3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread is fastest (and a busy machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def experiment():
    return clip_experiment(ClipSettings(**SMALL))


def test_the_unclipped_run_diverges_and_the_clipped_ones_stay_finite(experiment):
    none, norm, value = (experiment.runs[k] for k in ("none", "norm", "value"))
    assert none.diverged_at is not None and none.diverged_at < SMALL["steps"] - 1
    assert len(none.loss) == none.diverged_at + 1
    assert not (math.isfinite(none.loss[-1]) and math.isfinite(none.grad_norm[-1]))
    assert math.isnan(none.update_norm[-1])
    for run in (norm, value):
        assert run.diverged_at is None and len(run.loss) == SMALL["steps"]
        assert all(math.isfinite(v) for v in run.loss + run.grad_norm + run.update_norm)
        assert sum(run.loss[-10:]) / 10 < 1.0  # near the mean predictor's 1/6, not exploding
    # the same weights and batches: the first step is the same in every run
    assert none.loss[0] == norm.loss[0] == value.loss[0]
    assert none.grad_norm[0] == norm.grad_norm[0] == value.grad_norm[0]


def test_clipping_by_norm_bounds_the_gradient_and_the_update(experiment):
    run, c, lr = experiment.runs["norm"], experiment.settings.clip_norm, SMALL["lr"]
    assert max(run.grad_norm) > 10 * c  # the gradients it clipped were large
    for grad, clipped, update in zip(run.grad_norm, run.clipped_norm, run.update_norm, strict=True):
        assert clipped <= c * (1 + 1e-6)
        assert clipped == pytest.approx(min(grad, c), rel=1e-5)
        assert update == pytest.approx(lr * clipped, rel=1e-4)  # plain SGD: Δθ = −lr·g
        assert update <= lr * c * (1 + 1e-4)


def test_clipping_by_value_bounds_every_element(experiment):
    run, v, lr = experiment.runs["value"], experiment.settings.clip_value, SMALL["lr"]
    parameters = sum(p.numel() for p in exploding_model(experiment.settings).parameters())
    # a gradient longer than any vector of elements within ±v: clipping had to change it
    assert max(run.grad_norm) > v * math.sqrt(parameters)
    assert max(run.max_abs) == pytest.approx(v)  # some element hit the bound
    for largest, clipped, update in zip(
        run.max_abs, run.clipped_norm, run.update_norm, strict=True
    ):
        assert largest <= v * (1 + 1e-7)  # v as a float32
        assert update == pytest.approx(lr * clipped, rel=1e-4)
        assert update <= lr * v * math.sqrt(parameters)
    # by value changes the direction but not the norm's scale: larger steps than by norm
    assert max(run.update_norm) > lr * experiment.settings.clip_norm


def test_the_rows_list_every_recorded_step(experiment):
    rows = experiment.rows()
    assert len(rows) == sum(len(run.loss) for run in experiment.runs.values())
    assert rows[0][:2] == ("none", 0) and rows[-1][:2] == ("value", SMALL["steps"] - 1)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(cell="gru"), "expected cell tanh or relu, got 'gru'"),
        (dict(steps=0), "expected steps >= 1, got 0"),
        (dict(seq_len=1), "expected seq_len >= 2, got 1"),
        (dict(clip_norm=0.0), "expected clip_norm > 0, got 0.0"),
        (dict(lr=-1.0), "expected lr > 0, got -1.0"),
    ],
)
def test_bad_settings_are_clear_errors(change, message):
    with pytest.raises(InputError, match=message):
        clip_experiment(ClipSettings(**{**SMALL, **change}))
