"""Interpretable-cell search: correlate every recorded unit with every character feature.

For each feature φ (N,) and each unit's activation series a (N,) (every layer, every recorded
quantity: h, c, the gates), the Pearson correlation

    r(a, φ) = Σ (a_t − ā)(φ_t − φ̄) / sqrt(Σ (a_t − ā)² · Σ (φ_t − φ̄)²)

is accumulated chunk by chunk (`UnitSearch.update`, merging centred sums as Chan et al. 1979
do, in float64), so a text of any length is searched without holding its activations. The
units with the largest |r| per feature are reported, sign kept. A feature constant over the
text has no correlation and is skipped with a note; a constant unit correlates 0.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from rnnlab.atomic import atomic_write_text
from rnnlab.errors import InputError

CSV_COLUMNS = ("feature", "layer", "quantity", "unit", "correlation")
_TINY = 1e-12  # relative variance below which a series counts as constant


@dataclass(frozen=True)
class Hit:
    """One unit's correlation with one feature."""

    feature: str
    layer: int
    quantity: str
    unit: int
    correlation: float


@dataclass
class SearchResult:
    """The top units per feature.

    Attributes:
        hits: for each feature in order, its top units by |correlation|, best first.
        skipped: feature → why it was not searched (e.g. constant over the text).
        characters: how many characters were searched.
    """

    hits: list[Hit]
    skipped: dict[str, str] = field(default_factory=dict)
    characters: int = 0

    def by_feature(self) -> dict[str, list[Hit]]:
        """The hits grouped by feature, in order."""
        groups: dict[str, list[Hit]] = {}
        for hit in self.hits:
            groups.setdefault(hit.feature, []).append(hit)
        return groups

    def to_csv(self) -> str:
        """The hits as CSV with the header ``feature,layer,quantity,unit,correlation``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for h in self.hits:
            writer.writerow([h.feature, h.layer, h.quantity, h.unit, f"{h.correlation:.6f}"])
        return out.getvalue()

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write `to_csv()` to `path` atomically."""
        atomic_write_text(path, self.to_csv())

    def table(self) -> str:
        """A readable table: one block per feature, its top units with r, then the notes."""
        rows = [("feature", "layer", "quantity", "unit", "r")]
        for feature, hits in self.by_feature().items():
            for i, h in enumerate(hits):
                name = feature if i == 0 else ""
                rows.append((name, str(h.layer), h.quantity, str(h.unit), f"{h.correlation:+.3f}"))
        widths = [max(len(row[c]) for row in rows) for c in range(5)]
        lines = []
        for row in rows:
            cells = [
                row[0].ljust(widths[0]),
                row[1].rjust(widths[1]),
                row[2].ljust(widths[2]),
                row[3].rjust(widths[3]),
                row[4].rjust(widths[4]),
            ]
            lines.append("  ".join(cells).rstrip())
        lines += [f"{name}: skipped ({why})" for name, why in self.skipped.items()]
        return "\n".join(lines)


class UnitSearch:
    """Streaming Pearson correlations of every unit with every feature.

    Args:
        features: name → (N,) values per character of the whole text (`features.py`).
        widths: quantity → (layers, units) of what `update` will receive.
    """

    def __init__(self, features: Mapping[str, np.ndarray], widths: Mapping[str, tuple[int, int]]):
        if not features:
            raise InputError("UnitSearch: expected at least one feature")
        lengths = {len(v) for v in features.values()}
        if len(lengths) != 1:
            raise InputError(f"UnitSearch: expected features of one length, got {sorted(lengths)}")
        self.names = list(features)
        self.phi = np.stack([np.asarray(v, np.float64) for v in features.values()], 1)  # (N, K)
        self.columns = [
            (layer, q, unit)
            for q, (layers, units) in widths.items()
            for layer in range(layers)
            for unit in range(units)
        ]
        self.widths = dict(widths)
        m, k = len(self.columns), len(self.names)
        self.n = 0
        self.mean_a = np.zeros(m)
        self.mean_f = np.zeros(k)
        self.m2_a = np.zeros(m)
        self.m2_f = np.zeros(k)
        self.cross = np.zeros((m, k))

    def _matrix(self, values: Mapping[str, np.ndarray], start: int) -> np.ndarray:
        """The chunk's activations as one (T, M) float64 matrix in `self.columns` order."""
        blocks = []
        for q, (layers, units) in self.widths.items():
            v = np.asarray(values[q])
            if v.ndim != 3 or v.shape[0] != layers or v.shape[2] != units:
                raise InputError(
                    f"UnitSearch: expected {q} of shape ({layers}, T, {units}), got {v.shape}"
                )
            blocks.append(v.transpose(1, 0, 2).reshape(v.shape[1], layers * units))
        a = np.concatenate(blocks, 1).astype(np.float64)  # (T, M)
        if start + len(a) > len(self.phi):
            raise InputError(
                f"UnitSearch: characters {start}..{start + len(a)} lie past the features' "
                f"{len(self.phi)}"
            )
        return a

    def update(self, values: Mapping[str, np.ndarray], start: int) -> None:
        """Add a chunk: quantity → (layers, T, units) activations of characters start..start+T."""
        a = self._matrix(values, start)  # (T, M)
        t = len(a)
        if t == 0:
            return
        f = self.phi[start : start + t]  # (T, K)
        mean_a, mean_f = a.mean(0), f.mean(0)
        da, df = a - mean_a, f - mean_f
        n = self.n + t
        delta_a, delta_f = mean_a - self.mean_a, mean_f - self.mean_f
        w = self.n * t / n
        self.cross += da.T @ df + w * np.outer(delta_a, delta_f)
        self.m2_a += np.einsum("tm,tm->m", da, da) + w * delta_a**2
        self.m2_f += np.einsum("tk,tk->k", df, df) + w * delta_f**2
        self.mean_a += delta_a * t / n
        self.mean_f += delta_f * t / n
        self.n = n

    def correlations(self) -> np.ndarray:
        """(M, K) Pearson r of every column with every feature (0 where either is constant)."""
        var_a = self.m2_a / max(self.n, 1)
        var_f = self.m2_f / max(self.n, 1)
        ok_a = var_a > _TINY * np.maximum(1.0, self.mean_a**2)
        ok_f = var_f > _TINY * np.maximum(1.0, self.mean_f**2)
        denom = np.sqrt(np.outer(np.where(ok_a, self.m2_a, 1), np.where(ok_f, self.m2_f, 1)))
        r = np.where(np.outer(ok_a, ok_f), self.cross / denom, 0.0)
        return np.clip(r, -1.0, 1.0)

    def result(self, top: int = 5) -> SearchResult:
        """The `top` units per feature by |r| (ties: earlier layer, quantity, unit first)."""
        if top < 1:
            raise InputError(f"UnitSearch: expected top >= 1, got {top}")
        r = self.correlations()
        var_f = self.m2_f / max(self.n, 1)
        hits, skipped = [], {}
        for k, name in enumerate(self.names):
            if self.n < 2 or not var_f[k] > _TINY * max(1.0, self.mean_f[k] ** 2):
                skipped[name] = "constant over the text"
                continue
            order = np.argsort(-np.abs(r[:, k]), kind="stable")[:top]
            for j in order:
                layer, q, unit = self.columns[j]
                hits.append(Hit(name, layer, q, unit, float(r[j, k])))
        return SearchResult(hits, skipped, self.n)


def search_units(
    features: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray], *, top: int = 5
) -> SearchResult:
    """One-shot search over activations already in memory.

    Args:
        features: name → (N,) feature values.
        values: quantity → (layers, N, units) activations (`Recording.values`).
        top: units reported per feature.

    Returns:
        The `SearchResult`.
    """
    widths = {q: (v.shape[0], v.shape[2]) for q, v in values.items()}
    search = UnitSearch(features, widths)
    search.update(values, 0)
    return search.result(top)
