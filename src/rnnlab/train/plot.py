"""Loss curves as a PNG: train loss per step, validation points, in nats and bits.

matplotlib is an optional dependency (the `viz` extra). It is imported lazily and only its
object-oriented API with the Agg canvas is used, so plotting never touches pyplot's global
figure registry (no figure is left open) nor the process-wide backend choice.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from rnnlab.atomic import atomic_write_bytes
from rnnlab.train.metrics import LN2, bits


def _points(records: Iterable[Mapping[str, Any]], key: str) -> dict[str, list[tuple[int, float]]]:
    """Group finite `(step, value)` points by split.

    Args:
        records: metrics records (`{"step", "split", key, ...}`).
        key: the field to plot.

    Returns:
        split → points in record order; records without a numeric step and a finite numeric
        value are skipped.
    """
    groups: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        step, value = record.get("step"), record.get(key)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (step, value)):
            continue
        if math.isfinite(value):
            groups.setdefault(str(record.get("split")), []).append((step, value))
    return groups


def plot_losses(
    records: Iterable[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    key: str = "loss",
    log_x: bool = False,
    log_y: bool = False,
    unit: str | None = "character",
    title: str | None = None,
    metric: str | None = None,
) -> bool:
    """Plot train and validation losses to a PNG file, written atomically.

    Train records (`split == "train"`) are drawn as a line; every other split (val, test, …)
    as markers joined by a thin line. The left y-axis is in nats, the right one in bits per
    `unit` (bits = nats / ln 2); without a unit (a loss that is not a cross-entropy, e.g. a
    mean squared error) there is no bits axis. With `metric`, a second panel beside the loss
    shows that field (e.g. validation accuracy).

    Args:
        records: metrics records, e.g. from `read_metrics`; non-finite values are skipped.
        path: the PNG file to write.
        key: the record field holding the loss in nats.
        log_x: use a logarithmic step axis.
        log_y: use a logarithmic loss axis (for losses that fall by orders of magnitude).
        unit: what one loss term is per, for the bits axis label ("character", "token", …),
            or None for no bits axis.
        title: an optional figure title.
        metric: a second field to plot in its own panel, or None.

    Returns:
        True if the PNG was written; False if matplotlib is not installed (nothing written),
        in which case the caller prints a one-line note such as "matplotlib is not
        installed; skipping the loss plot (pip install 'rnnlab[viz]')".
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = list(records)
    figure = Figure(figsize=(12 if metric else 8, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    panels = [(figure.add_subplot(1, 2 if metric else 1, 1), key)]
    if metric:
        panels.append((figure.add_subplot(1, 2, 2), metric))
    for ax, field in panels:
        groups = _points(records, field)
        for split in sorted(groups, key=lambda s: (s != "train", s)):
            steps, values = zip(*groups[split], strict=True)
            if split == "train":
                ax.plot(steps, values, linewidth=1.0, label=split)
            else:
                ax.plot(steps, values, "o-", markersize=4, linewidth=0.8, label=split)
        if groups:
            ax.legend()
        else:
            ax.text(0.5, 0.5, f"no finite {field!r} values", ha="center", transform=ax.transAxes)
        if log_x:
            ax.set_xscale("log")
        if log_y and field == key and groups and all(v > 0 for g in groups.values() for _, v in g):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    ax = panels[0][0]
    if unit is not None:
        ax.set_ylabel(f"{key} (nats)")
        right = ax.secondary_yaxis("right", functions=(bits, lambda b: b * LN2))
        right.set_ylabel(f"bits per {unit}")
    else:
        ax.set_ylabel(key)
    if metric:
        panels[1][0].set_ylabel(metric)
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return True
