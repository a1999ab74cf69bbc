"""`rnnlab.diagnostics.gradflow_sweep`: vanishing and exploding as the theory orders them."""

import numpy as np
import pytest
import torch

from rnnlab.diagnostics.gradflow_sweep import (
    distance_norms,
    fresh_layer,
    gradient_sweep,
    rescale_recurrent_,
    spectrum,
)
from rnnlab.errors import InputError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread is fastest (and a busy machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("by", ["radius", "singular"])
def test_rescaling_sets_every_gate_block_exactly(by):
    layer = fresh_layer("lstm", hidden=6, inputs=3, seed=0)
    rescale_recurrent_(layer, 1.3, by=by)
    for block in layer.weight_hh_l0.split(6):
        radius, sigma = spectrum(block)
        assert (radius if by == "radius" else sigma) == pytest.approx(1.3, rel=1e-9)
        assert sigma >= radius - 1e-12


def test_a_linear_recurrence_vanishes_below_radius_one_and_explodes_above():
    result = gradient_sweep(["linear"], [0.5, 0.9, 1.1, 1.5], hidden=8, steps=30, batch=2, seeds=2)
    small, large = result.norms["linear", 0.5], result.norms["linear", 1.5]
    assert small[0] == pytest.approx(1.0) and large[0] == pytest.approx(1.0)
    assert (np.diff(small[5:]) < 0).all() and small[-1] < 1e-6
    assert (np.diff(large[5:]) > 0).all() and large[-1] > 1e3
    at_30 = [result.norms["linear", s][-1] for s in (0.5, 0.9, 1.1, 1.5)]
    assert at_30 == sorted(at_30)
    # the rate is the spectral radius: ‖W^d‖^(1/d) → ρ
    assert large[-1] ** (1 / 30) == pytest.approx(1.5, rel=0.1)
    assert small[-1] ** (1 / 30) == pytest.approx(0.5, rel=0.1)


def test_a_tanh_rnn_in_its_linear_regime_does_the_same():
    # no bias and a tiny input keep tanh near 0, where tanh' ≈ 1: almost a linear recurrence
    x = 1e-7 * torch.randn(
        15, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    norms = {}
    for scale in (0.5, 1.5):
        layer = fresh_layer("rnn_tanh", hidden=8, inputs=8, seed=0, scale=scale)
        with torch.no_grad():
            layer.bias_ih_l0.zero_()
            layer.bias_hh_l0.zero_()
        norms[scale] = distance_norms("rnn_tanh", layer, x, norm="spectral")
    assert (np.diff(norms[0.5][3:]) < 0).all() and norms[0.5][-1] < 1e-3
    assert (np.diff(norms[1.5][3:]) > 0).all() and norms[1.5][-1] > 10


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu"])
def test_below_one_singular_value_the_gradient_obeys_the_vanishing_bound(cell):
    """Pascanu et al.: ‖∂h_T/∂h_t‖₂ ≤ (γ σ₁)^d with γ = 1, for every input."""
    result = gradient_sweep([cell], [0.5, 0.9], by="singular", hidden=8, steps=25, batch=3, seeds=2)
    for scale in (0.5, 0.9):
        norms = result.norms[cell, scale]
        bound = scale ** np.arange(len(norms))
        assert (norms <= bound * (1 + 1e-9)).all()
        assert norms[-1] < bound[-1]  # strict somewhere: saturation only helps


def test_the_lstm_keeps_its_gradient_longer_than_the_tanh_rnn():
    """Torch's initialisation for both; chrono initialisation keeps the LSTM's far longer."""
    x = torch.randn(50, 4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    at_40 = {}
    for cell in ("rnn_tanh", "lstm", "lstm_chrono"):
        norms = [
            distance_norms(
                cell, fresh_layer(cell, hidden=16, inputs=16, seed=k, t_max=50), x, norm="spectral"
            )
            for k in range(3)
        ]
        at_40[cell] = np.mean(norms, axis=0)[40]
    assert at_40["lstm"] > 100 * at_40["rnn_tanh"]
    assert at_40["lstm_chrono"] > 1e4 * at_40["lstm"]


def test_the_sweep_lists_every_cell_scale_and_distance():
    result = gradient_sweep(["gru", "rnn_relu"], [0.7, 1.2], hidden=4, steps=6, batch=1, seeds=1)
    rows = result.rows()
    assert len(rows) == 2 * 2 * 7
    assert rows[0] == ("gru", 0.7, 0, pytest.approx(1.0))
    assert {(c, s) for c, s, _, _ in rows} == {
        (c, s) for c in ("gru", "rnn_relu") for s in (0.7, 1.2)
    }
    assert result.cells == ["gru", "rnn_relu"] and result.scales == [0.7, 1.2]
    radius, sigma = result.spectra["gru", 1.2]
    assert radius == pytest.approx(1.2) and sigma > radius


def test_a_sweep_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    one = gradient_sweep(["rnn_tanh"], [1.0], hidden=4, steps=5, batch=2, seeds=2)
    assert torch.equal(torch.get_rng_state(), before)
    two = gradient_sweep(["rnn_tanh"], [1.0], hidden=4, steps=5, batch=2, seeds=2)
    np.testing.assert_array_equal(one.norms["rnn_tanh", 1.0], two.norms["rnn_tanh", 1.0])


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(cells=["lstm", "mlp"]), "expected cells among linear, rnn_tanh"),
        (dict(cells=[]), "got none"),
        (dict(scales=[1.0, 0.0]), "expected scales > 0"),
        (dict(steps=0), "expected steps >= 1, got 0"),
        (dict(norm="nuclear"), "expected norm in spectral, fro"),
        (dict(by="trace"), "expected by in radius, singular"),
    ],
)
def test_bad_sweeps_are_clear_errors(options, message):
    with pytest.raises(InputError, match=message):
        gradient_sweep(**{"hidden": 4, "steps": 4, "seeds": 1, **options})
