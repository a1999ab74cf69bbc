"""Vanishing and exploding gradients against the spectrum of W_hh, on freshly initialised cells.

For each cell and scale s, a fresh one-layer cell (torch's default initialisation, seeded)
has every gate block of its W_hh rescaled so that its spectral radius ρ (``by="radius"``) or
its largest singular value σ₁ (``by="singular"``) equals s. It reads a random input
x_t ~ N(0, input_scale²) from h_0 = 0, and ‖∂h_T/∂h_t‖ (`rnnlab.diagnostics.gradflow`) is
recorded against the distance d = T − t, averaged over the batch and the seeds.

What the theory says (Pascanu, Mikolov & Bengio 2013, section 2.2):

* ``linear``, h_t = W_hh h_{t−1} + W_ih x_t + b: ∂h_T/∂h_t = W_hh^d, whose norm behaves like
  ρ^d: it vanishes for ρ < 1 and explodes for ρ > 1.
* ``rnn_tanh``, ``rnn_relu``: ∂h_T/∂h_t = ∏ diag(σ'(a_k)) W_hh with |σ'| ≤ γ (γ = 1 for tanh
  and relu), so ‖∂h_T/∂h_t‖₂ ≤ (γ σ₁)^d: σ₁ < 1/γ is sufficient for vanishing, and σ₁ > 1/γ
  necessary for exploding (not sufficient: saturation shrinks σ').
* ``lstm``, ``gru``: the Jacobian depends on the gates (the LSTM's cell path carries
  f_t ⊙ c_{t−1} additively, the GRU's z_t ⊙ h_{t−1}), so W_hh's spectrum alone does not
  decide. At torch's initialisation the gate biases are near 0, so f ≈ σ(0) = 1/2 and the
  cell path itself decays like 2^−d; ``lstm_chrono`` (chrono initialisation, Tallec &
  Ollivier 2018, t_max = T: forget gates near 1) shows the additive path keeping it alive.

The ``linear`` cell is not a layer of `rnnlab.nn`: it is an `rnnlab.nn.RNN`'s weights with
the nonlinearity left out, the recurrence the theory is written for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rnnlab import nn as rnn
from rnnlab.diagnostics.gradflow import check_norm, state_jacobian_norms, unroll_layers
from rnnlab.errors import InputError
from rnnlab.functional.cells import gate_projection
from rnnlab.nn.recurrent import RecurrentBase

CELLS = ("linear", "rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_chrono")
SCALES = (0.5, 0.9, 1.0, 1.1, 1.5)
BY = ("radius", "singular")
GAMMA = {"linear": 1.0, "rnn_tanh": 1.0, "rnn_relu": 1.0}  # bound on |σ'|


def check_cells(owner: str, cells) -> tuple[str, ...]:
    cells = tuple(cells)
    unknown = [c for c in cells if c not in CELLS]
    if not cells or unknown:
        raise InputError(
            f"{owner}: expected cells among {', '.join(CELLS)}, got {', '.join(cells) or 'none'}"
        )
    return cells


def spectrum(matrix: Tensor) -> tuple[float, float]:
    """(spectral radius ρ, largest singular value σ₁) of a square matrix."""
    m = matrix.detach().double()
    return float(torch.linalg.eigvals(m).abs().max()), float(torch.linalg.matrix_norm(m, ord=2))


def rescale_recurrent_(layer: RecurrentBase, scale: float, *, by: str = "radius") -> None:
    """Rescale every gate block (H×H) of every W_hh so its ρ or σ₁ equals `scale`, in place.

    Args:
        layer: an rnnlab.nn RNN, LSTM or GRU without projection.
        scale: the target value, > 0.
        by: "radius" (spectral radius) or "singular" (largest singular value).
    """
    if by not in BY:
        raise InputError(f"rescale_recurrent_: expected by in {', '.join(BY)}, got {by!r}")
    if not scale > 0:
        raise InputError(f"rescale_recurrent_: expected scale > 0, got {scale}")
    if layer.proj_size:
        raise InputError("rescale_recurrent_: a projected LSTM's W_hh blocks are not square")
    hidden = layer.hidden_size
    with torch.no_grad():
        for weights in layer.layer_weights():
            for block in weights.w_hh.split(hidden):  # G × (H, H), views
                radius, sigma = spectrum(block)
                block.mul_(scale / (radius if by == "radius" else sigma))


def fresh_layer(
    cell: str,
    *,
    hidden: int,
    inputs: int,
    seed: int,
    scale: float | None = None,
    by: str = "radius",
    t_max: float = 100.0,
    dtype: torch.dtype = torch.float64,
) -> RecurrentBase:
    """A one-layer cell with torch's default initialisation from `seed`, W_hh rescaled.

    ``linear`` gives the tanh RNN's layer (its weights; `gradient_sweep` leaves out the tanh);
    ``lstm_chrono`` an LSTM with chrono initialisation for dependencies up to `t_max`.
    `scale` None keeps the initialisation as drawn. The global RNG is left untouched.
    """
    check_cells("fresh_layer", [cell])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cell == "lstm":
            layer = rnn.LSTM(inputs, hidden, dtype=dtype)
        elif cell == "lstm_chrono":
            layer = rnn.LSTM(inputs, hidden, dtype=dtype, init="chrono", t_max=t_max)
        elif cell == "gru":
            layer = rnn.GRU(inputs, hidden, dtype=dtype)
        else:
            act = "relu" if cell == "rnn_relu" else "tanh"
            layer = rnn.RNN(inputs, hidden, nonlinearity=act, dtype=dtype)
    if scale is not None:
        rescale_recurrent_(layer, scale, by=by)
    return layer.eval()


def _linear_states(layer: RecurrentBase, x: Tensor) -> list[Tensor]:
    """h_0 … h_T of h_t = W_hh h_{t−1} + b_hh + W_ih x_t + b_ih, h_0 = 0 (a graph leaf)."""
    (w,) = layer.layer_weights()
    h = x.new_zeros(x.shape[1], layer.hidden_size).requires_grad_(True)
    states = [h]
    for x_t in x:
        h = gate_projection(x_t, w.w_ih, w.b_ih) + gate_projection(h, w.w_hh, w.b_hh)  # (B, H)
        states.append(h)
    return states


def distance_norms(cell: str, layer: RecurrentBase, x: Tensor, *, norm: str) -> np.ndarray:
    """(T + 1,) batch means of ‖∂h_T/∂h_t‖ by distance d = T − t, for input x (T, B, I)."""
    if cell == "linear":
        states = _linear_states(layer, x)
    else:
        _, _, (trace,) = unroll_layers(layer, x)
        states = trace.h
    norms = state_jacobian_norms(states[-1], states, norm=norm).mean(1)  # (T + 1,) by t
    return norms.flip(0).detach().cpu().double().numpy()


@dataclass
class GradientSweep:
    """‖∂h_T/∂h_t‖ by distance for each cell and scale.

    Attributes:
        by: "radius" or "singular": what `scale` sets.
        norm: the Jacobian norm, "spectral" or "fro".
        norms: (cell, scale) → (T + 1,) mean norm at distance 0 … T.
        spectra: (cell, scale) → (mean ρ, mean σ₁) of the rescaled W_hh gate blocks.
    """

    by: str
    norm: str
    norms: dict[tuple[str, float], np.ndarray] = field(default_factory=dict)
    spectra: dict[tuple[str, float], tuple[float, float]] = field(default_factory=dict)

    @property
    def cells(self) -> list[str]:
        return list(dict.fromkeys(cell for cell, _ in self.norms))

    @property
    def scales(self) -> list[float]:
        return list(dict.fromkeys(scale for _, scale in self.norms))

    def rows(self) -> list[tuple[str, float, int, float]]:
        """(cell, scale, distance, norm) for every entry, as the CSV lists them."""
        return [
            (cell, scale, d, float(value))
            for (cell, scale), norms in self.norms.items()
            for d, value in enumerate(norms)
        ]


def gradient_sweep(
    cells=CELLS,
    scales=SCALES,
    *,
    by: str = "radius",
    hidden: int = 32,
    steps: int = 60,
    batch: int = 4,
    seeds: int = 3,
    input_scale: float = 1.0,
    norm: str = "spectral",
    seed: int = 0,
    progress: bool = False,
) -> GradientSweep:
    """‖∂h_T/∂h_t‖ against the distance for fresh cells with W_hh rescaled (module docstring).

    Args:
        cells: among "linear", "rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_chrono".
        scales: the values of ρ (or σ₁) to set, each > 0.
        by: "radius" or "singular".
        hidden: H, also the input width.
        steps: T.
        batch: sequences per seed.
        seeds: independently drawn layers and inputs per (cell, scale).
        input_scale: standard deviation of the input.
        norm: "spectral" or "fro".
        seed: the first seed (seeds seed … seed + seeds − 1); computed in float64.
        progress: show a tqdm bar on stderr (when it is a terminal).

    Returns:
        A `GradientSweep`.
    """
    from tqdm.auto import tqdm

    cells = check_cells("gradflow sweep", cells)
    check_norm("gradflow sweep", norm)
    if by not in BY:
        raise InputError(f"gradflow sweep: expected by in {', '.join(BY)}, got {by!r}")
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise InputError(f"gradflow sweep: expected scales > 0, got {scales}")
    for name, value in (("hidden", hidden), ("steps", steps), ("batch", batch), ("seeds", seeds)):
        if value < 1:
            raise InputError(f"gradflow sweep: expected {name} >= 1, got {value}")
    if not input_scale >= 0:
        raise InputError(f"gradflow sweep: expected input_scale >= 0, got {input_scale}")
    result = GradientSweep(by=by, norm=norm)
    cases = [(cell, scale) for cell in cells for scale in scales]
    bar = tqdm(cases, desc="gradflow sweep", unit="case", disable=None if progress else True)
    for cell, scale in bar:
        runs, found = [], []
        for k in range(seed, seed + seeds):
            layer = fresh_layer(
                cell, hidden=hidden, inputs=hidden, seed=k, scale=scale, by=by, t_max=steps
            )
            generator = torch.Generator().manual_seed(k)
            x = input_scale * torch.randn(
                steps, batch, hidden, generator=generator, dtype=torch.float64
            )
            runs.append(distance_norms(cell, layer, x, norm=norm))
            found += [spectrum(b) for b in layer.weight_hh_l0.split(hidden)]
        result.norms[cell, scale] = np.mean(runs, axis=0)
        result.spectra[cell, scale] = tuple(np.mean(found, axis=0).tolist())
    return result
