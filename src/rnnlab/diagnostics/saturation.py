"""Gate saturation: how often each gate unit is nearly shut or nearly open.

For every sigmoid gate unit (LSTM i, f, o; GRU r, z; the min cells' gates) the fraction of
characters at which it is left-saturated (value < 0.1) and right-saturated (> 0.9) is
counted over the text, chunk by chunk. Plotted one against the other, one panel per layer,
as in Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent
Networks", Fig. 4: a unit near the top left is almost always open (e.g. a forget gate that
remembers), near the bottom right almost always shut, on the diagonal x + y = 1 it acts as
a switch, near the origin it stays in its linear range.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping

import numpy as np

from rnnlab.atomic import atomic_write_bytes
from rnnlab.diagnostics.record import DESCRIPTIONS

LOW, HIGH = 0.1, 0.9
COLOURS = {
    "i": "tab:blue",
    "f": "tab:green",
    "o": "tab:red",
    "r": "tab:purple",
    "z": "tab:orange",
}


class SaturationCounter:
    """Counts, per gate unit, the characters at which it is below `low` and above `high`.

    Args:
        gates: the gate quantities to count (`rnnlab.diagnostics.record.GATES[cell]`).
        low, high: the saturation thresholds.
    """

    def __init__(self, gates: tuple[str, ...], *, low: float = LOW, high: float = HIGH):
        self.gates = tuple(gates)
        self.low, self.high = low, high
        self.left: dict[str, np.ndarray] = {}
        self.right: dict[str, np.ndarray] = {}
        self.n = 0

    def update(self, values: Mapping[str, np.ndarray]) -> None:
        """Add a chunk: quantity → (layers, T, units) activations."""
        t = 0
        for q in self.gates:
            v = np.asarray(values[q])  # (L, T, U)
            t = v.shape[1]
            left, right = (v < self.low).sum(1), (v > self.high).sum(1)  # (L, U)
            self.left[q] = self.left.get(q, 0) + left
            self.right[q] = self.right.get(q, 0) + right
        self.n += t

    def fractions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """gate → (left, right) fractions, each (layers, units)."""
        n = max(self.n, 1)
        return {q: (self.left[q] / n, self.right[q] / n) for q in self.gates if q in self.left}


def plot_saturation(
    fractions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike,
    *,
    layers: int,
    cell: str,
    title: str | None = None,
) -> bool:
    """Scatter each gate unit's left- against right-saturated fraction, one panel per layer.

    Args:
        fractions: `SaturationCounter.fractions()`; empty for a cell without gates.
        path: the PNG to write (atomically).
        layers: number of recurrent layers (panels).
        cell: the cell's name, for the legend and the note of a cell without gates.
        title: the figure title.

    Returns:
        True if written; False if matplotlib is not installed (nothing written).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = max(layers, 1)
    figure = Figure(figsize=(3.6 * panels + 0.6, 4.0), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, panels, k + 1) for k in range(panels)]
    for k, ax in enumerate(axes):
        ax.plot([0, 1], [1, 0], color="0.75", linewidth=0.8, linestyle="--", zorder=0)
        for q, (left, right) in fractions.items():
            ax.scatter(
                left[k],
                right[k],
                s=12,
                alpha=0.7,
                color=COLOURS.get(q),
                label=f"{q} ({DESCRIPTIONS.get(q, q)})",
                edgecolors="none",
            )
        if not fractions:
            ax.text(0.5, 0.5, f"the {cell} cell has no gates", ha="center", va="center")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(f"layer {k}")
        ax.set_xlabel(f"fraction left-saturated (< {LOW})")
        if k == 0:
            ax.set_ylabel(f"fraction right-saturated (> {HIGH})")
        ax.grid(True, alpha=0.3)
    if fractions:
        axes[-1].legend(loc="upper right", fontsize="small", markerscale=1.5)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True
