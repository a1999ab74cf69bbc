"""The files the gradient-flow diagnostics write: CSV tables and PNG figures (log-scale axes).

matplotlib is the optional `viz` extra: it is imported lazily, only its object-oriented API
with the Agg canvas is used (no pyplot state), and each plot function returns False without
writing anything when it is missing. Every file is written atomically (`rnnlab.atomic`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence

import numpy as np

from rnnlab.atomic import atomic_write_bytes, atomic_write_text
from rnnlab.diagnostics.gradflow import GradFlow
from rnnlab.diagnostics.gradflow_clip import ClipExperiment
from rnnlab.diagnostics.gradflow_sweep import GAMMA, GradientSweep

GRADFLOW_COLUMNS = ("layer", "t", "dL_dh", "dhT_dh")
SWEEP_COLUMNS = ("cell", "scale", "distance", "norm")
CLIP_COLUMNS = ("run", "step", "loss", "grad_norm", "clipped_norm", "update_norm")

THEORY = {  # each panel's title: the cell, what the theory says, what the dotted lines are
    "linear": "linear (no nonlinearity): ∂h_T/∂h_t = W^d\n"
    "ρ < 1 vanishes, ρ > 1 explodes (dotted: ρ^d)",
    "rnn_tanh": "rnn_tanh: ‖∂h_T/∂h_t‖ ≤ (γσ₁)^d, |tanh'| ≤ γ = 1\n"
    "σ₁ < 1/γ suffices to vanish (dotted: σ₁^d)",
    "rnn_relu": "rnn_relu: ‖∂h_T/∂h_t‖ ≤ (γσ₁)^d, relu' ∈ {0, 1}, γ = 1\n"
    "σ₁ < 1/γ suffices to vanish (dotted: σ₁^d)",
    "lstm": "lstm, torch init (forget gate ≈ σ(0) = 1/2)\n"
    "the Jacobian depends on the gates, not W_hh alone",
    "gru": "gru, torch init\nthe Jacobian depends on the gates, not W_hh alone",
    "lstm_chrono": "lstm, chrono init (forget gate ≈ 1)\n"
    "the additive cell path c' = f ⊙ c + i ⊙ g carries it",
}
RUN_COLORS = {"none": "tab:red", "norm": "tab:blue", "value": "tab:green"}
RUN_LABELS = {"none": "no clipping", "norm": "clip by norm", "value": "clip by value"}


def _cell(value) -> str:
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A CSV file with a header row, floats to 6 significant digits (nan, inf as such)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(v) for v in row] for row in rows)
    atomic_write_text(path, buffer.getvalue())


def _figure(rows: int, columns: int, size: tuple[float, float]):
    """A Figure on an Agg canvas and its axes grid, or None when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _save(figure, path: str | os.PathLike) -> bool:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True


def _positive(values) -> np.ndarray:
    """The values with those a log axis cannot show (≤ 0, nan, inf) as NaN."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _limits(ax, values: list[np.ndarray], *, headroom: float = 3.0) -> None:
    """Fit a log y-axis to the given values (other lines may run outside it)."""
    shown = np.concatenate([_positive(v) for v in values])
    shown = shown[np.isfinite(shown)]
    if shown.size:
        ax.set_ylim(max(shown.min() / 3, 1e-300), shown.max() * headroom)


def plot_gradflow(flow: GradFlow, path: str | os.PathLike) -> bool:
    """‖∂L/∂h_t‖ and ‖∂h_T/∂h_t‖ against t, one line per layer (LSTM: c dashed)."""
    made = _figure(1, 2, (12, 4.6))
    if made is None:
        return False
    figure, axes = made
    steps = np.arange(flow.steps + 1)
    panels = (
        (axes[0, 0], flow.dL_dh, flow.dL_dc, "‖∂L/∂h_t‖₂", "‖∂L/∂c_t‖₂"),
        (axes[0, 1], flow.dhT_dh, flow.dhT_dc, f"‖∂h_T/∂h_t‖ ({flow.norm})", "‖∂h_T/∂c_t‖"),
    )
    for ax, values, cells, label, cell_label in panels:
        shown = []
        for layer in range(flow.layers):
            (line,) = ax.plot(steps, _positive(values[layer]), label=f"h, layer {layer}")
            shown.append(values[layer])
            if cells is not None:
                ax.plot(
                    steps,
                    _positive(cells[layer]),
                    "--",
                    color=line.get_color(),
                    linewidth=1.0,
                    label=f"c, layer {layer}",
                )
                shown.append(cells[layer])
        ax.set_yscale("log")
        _limits(ax, shown)
        ax.set_xlabel("t (step; T at the right, t = 0 the initial state)")
        ax.set_ylabel(label if cells is None else f"{label}, {cell_label} (dashed)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=8)
    axes[0, 0].set_title("gradient of the loss reaching each state")
    axes[0, 1].set_title("Jacobian of the layer's last state")
    figure.suptitle(f"{flow.cell}, {flow.layers} layer(s): {flow.source}", fontsize=10)
    return _save(figure, path)


def _scale_color(scale: float, scales: list[float]):
    """Blues below 1, black at 1, reds above; deeper further from 1."""
    from matplotlib import colormaps

    spread = max(abs(math.log(s)) for s in scales) or 1.0
    strength = abs(math.log(scale)) / spread  # in [0, 1]
    if strength < 1e-9:
        return "black"
    return colormaps["Blues" if scale < 1 else "Reds"](0.45 + 0.5 * strength)


def plot_sweep(result: GradientSweep, path: str | os.PathLike) -> bool:
    """One panel per cell, one line per scale: ‖∂h_T/∂h_t‖ against the distance, log y."""
    made = _figure(2, 3, (15, 8.4))
    if made is None:
        return False
    figure, axes = made
    scales = result.scales
    set_by, other = ("ρ", "σ₁") if result.by == "radius" else ("σ₁", "ρ")
    for ax, cell in zip(axes.flat, result.cells, strict=False):
        shown = []
        for scale in scales:
            norms = result.norms[cell, scale]
            radius, sigma = result.spectra[cell, scale]
            color = _scale_color(scale, scales)
            found = sigma if result.by == "radius" else radius
            distance = np.arange(len(norms))
            ax.plot(
                distance,
                _positive(norms),
                color=color,
                label=f"{set_by} = {scale:g} ({other} ≈ {found:.2f})",
            )
            shown.append(norms)
            if cell == "linear":
                ax.plot(distance, radius**distance, ":", color=color, linewidth=1.0)
            elif cell in GAMMA and GAMMA[cell] * sigma < 1:
                ax.plot(
                    distance, (GAMMA[cell] * sigma) ** distance, ":", color=color, linewidth=1.0
                )
        ax.set_yscale("log")
        _limits(ax, shown)
        ax.set_title(THEORY[cell], fontsize=9.5)
        ax.set_xlabel("distance d = T − t")
        ax.set_ylabel(f"‖∂h_T/∂h_t‖ ({result.norm})")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(result.cells) :]:
        ax.axis("off")
    what = "spectral radius ρ" if result.by == "radius" else "largest singular value σ₁"
    figure.suptitle(
        f"Vanishing and exploding gradients: fresh cells, every W_hh gate block scaled to "
        f"{what}; mean over batch and seeds (Pascanu, Mikolov & Bengio 2013)",
        fontsize=11,
    )
    return _save(figure, path)


def plot_clip(experiment: ClipExperiment, path: str | os.PathLike) -> bool:
    """Loss, gradient norm before clipping and update norm per step, per run, log y."""
    made = _figure(1, 3, (16, 4.6))
    if made is None:
        return False
    figure, axes = made
    s = experiment.settings
    panels = (
        (axes[0, 0], "loss", "loss (mean squared error)"),
        (axes[0, 1], "grad_norm", "‖g‖ before clipping"),
        (axes[0, 2], "update_norm", "‖Δθ‖ of the step"),
    )
    stable = [run for run in experiment.runs.values() if run.diverged_at is None]
    for ax, key, label in panels:
        for name, run in experiment.runs.items():
            values = getattr(run, key)
            color = RUN_COLORS[name]
            ax.plot(
                np.arange(len(values)),
                _positive(values),
                color=color,
                linewidth=1.0,
                label=RUN_LABELS[name],
            )
            if run.diverged_at is not None:
                ax.axvline(run.diverged_at, color=color, linestyle=":", linewidth=1.0)
        ax.set_yscale("log")
        # fitted to the runs that stayed finite: a diverging one leaves through the top
        _limits(
            ax, [getattr(run, key) for run in stable or experiment.runs.values()], headroom=30.0
        )
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.25)
    axes[0, 1].axhline(s.clip_norm, color="grey", linestyle="--", linewidth=0.8)
    axes[0, 2].axhline(
        s.lr * s.clip_norm,
        color="grey",
        linestyle="--",
        linewidth=0.8,
        label=f"lr·c = {s.lr * s.clip_norm:g}",
    )
    for name, run in experiment.runs.items():
        if run.diverged_at is not None:
            axes[0, 0].plot(
                [],
                [],
                ":",
                color=RUN_COLORS[name],
                label=f"{RUN_LABELS[name]}: diverged at step {run.diverged_at} "
                f"(loss {max(run.loss):.2g}, ‖g‖ {max(run.grad_norm):.2g})",
            )
    axes[0, 0].legend(fontsize=8)
    axes[0, 2].legend(fontsize=8)
    figure.suptitle(
        f"Clipping an exploding run: {s.cell} RNN, H = {s.hidden}, W_hh at ρ = {s.scale:g}, "
        f"adding problem T = {s.seq_len}, SGD lr {s.lr:g}, batch {s.batch}; clip by norm "
        f"c = {s.clip_norm:g}, by value v = {s.clip_value:g}",
        fontsize=10,
    )
    return _save(figure, path)
