"""The cells page: one self-contained HTML file that colours a text by a unit's activation.

The page (template `cells_page.html`, shipped with the package) needs no network: its
script, style and data are inline, and it names no external resource. The data is one JSON
document in a ``<script type="application/json">`` element (every ``<``, ``>`` and ``&``
escaped, so no text can close the element); the script builds one element per character
with `textContent`, so the text is never parsed as HTML. Activations are quantised per unit
to int8 (``q = round(127 · v / max|v|)``, with max|v| over the shown text kept as the
unit's scale) and stored unit-major in base64, one block per layer and quantity; the top-k
next-character predictions are stored as uint16/uint32 ids and uint16 probabilities.

On the page the reader picks the layer, the quantity and the unit; hovering a character
shows its value and the model's top-5 predictions for the next character; the units the
search found are listed as links (``#layer=1&quantity=c&unit=17``) that select them.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np

from rnnlab.atomic import atomic_write_text
from rnnlab.diagnostics.record import DESCRIPTIONS, Recording, check_unit
from rnnlab.diagnostics.search import Hit
from rnnlab.errors import InputError

TEMPLATE = "cells_page.html"
_DATA_MARK = "{{DATA}}"
_TITLE_MARK = "{{TITLE}}"


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _quantise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, U) floats → ((U, T) int8 unit-major, (U,) scales max|v|; 1 for a zero unit)."""
    v = np.asarray(values, np.float64).T  # (U, T)
    scale = np.abs(v).max(axis=1) if v.shape[1] else np.zeros(v.shape[0])
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    q = np.rint(np.nan_to_num(v / scale[:, None]) * 127).clip(-127, 127).astype(np.int8)
    return q, scale


def page_data(
    recording: Recording,
    text: str,
    *,
    vocab: Sequence[str],
    ranges: Mapping[str, str],
    hits: Sequence[Hit] = (),
    skipped: Sequence[str] = (),
    initial: tuple[int, str, int] | None = None,
    title: str = "cells",
    summary: str = "",
) -> dict:
    """The page's JSON document.

    Args:
        recording: the activations of `text` (`rnnlab.diagnostics.record.record`), with
            top-k predictions if the page is to show them.
        text: the characters recorded, one per step.
        vocab: the vocabulary's characters in id order (to name the predictions).
        ranges: quantity → "gate", "tanh" or "free" (`CellRecorder.ranges`).
        hits: the units to list (`SearchResult.hits`).
        skipped: features the search skipped (`SearchResult.skipped`), named on the page.
        initial: (layer, quantity, unit) selected when the page opens (default: the first
            hit's, else layer 0, h, unit 0).
        title: the page title.
        summary: one line shown under the title.
    """
    chars = list(text)
    if len(chars) != len(recording):
        raise InputError(
            f"cells page: the text has {len(chars)} characters but the recording "
            f"{len(recording)} steps"
        )
    layers = next(iter(recording.values.values())).shape[0]
    quantities, blocks = [], {}
    for q, values in recording.values.items():
        quantities.append(
            {
                "name": q,
                "label": DESCRIPTIONS.get(q, q),
                "range": ranges[q],
                "units": values.shape[2],
            }
        )
        for layer in range(layers):
            data, scale = _quantise(values[layer])
            blocks[f"{layer}/{q}"] = {"q": _b64(data), "scale": [float(f"{s:.6g}") for s in scale]}
    if initial is None:
        initial = (hits[0].layer, hits[0].quantity, hits[0].unit) if hits else (0, "h", 0)
    check_unit({q: (v.shape[0], v.shape[2]) for q, v in recording.values.items()}, *initial)
    doc = {
        "title": title,
        "summary": summary,
        "text": text,
        "layers": layers,
        "quantities": quantities,
        "blocks": blocks,
        "initial": {"layer": initial[0], "quantity": initial[1], "unit": initial[2]},
        "hits": [
            {
                "feature": h.feature,
                "layer": h.layer,
                "quantity": h.quantity,
                "unit": h.unit,
                "r": round(h.correlation, 4),
            }
            for h in hits
        ],
        "skipped": list(skipped),
        "top": None,
    }
    if recording.top_ids is not None:
        ids = recording.top_ids.astype("<u2" if len(vocab) < 2**16 else "<u4")  # little-endian
        probs = np.rint(np.clip(recording.top_probs, 0, 1) * 65535).astype("<u2")
        doc["top"] = {
            "k": int(ids.shape[1]),
            "vocab": list(vocab),
            "idBytes": ids.itemsize,
            "ids": _b64(ids),
            "probs": _b64(probs),
        }
    return doc


def render_page(doc: Mapping) -> str:
    """The HTML of the page for `page_data`'s document."""
    template = resources.files("rnnlab.diagnostics").joinpath(TEMPLATE).read_text("utf-8")
    data = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = template.replace(_TITLE_MARK, html.escape(str(doc.get("title", ""))))
    return page.replace(_DATA_MARK, data)


def write_cells_page(path: str | os.PathLike, recording: Recording, text: str, **options) -> None:
    """Write the page for `recording` of `text` to `path` atomically (options: `page_data`)."""
    atomic_write_text(path, render_page(page_data(recording, text, **options)))
