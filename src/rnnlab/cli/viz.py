"""`rnnlab viz cells CKPT --text FILE --out DIR`: what a character LM's units do on a text.

Records every layer's hidden state, cell state and gates over the text (streamed in chunks,
the state carried), then writes to DIR:

* ``cells.html``: the first ``--page-chars`` characters coloured by a chosen unit, with the
  model's top-5 next-character predictions on hover and the units the search found;
* ``search.csv``: for each feature, the ``--top`` units that correlate most with it
  (columns ``feature, layer, quantity, unit, correlation``), also printed as a table;
* ``saturation.png``: each gate unit's fraction of left- against right-saturated steps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnlab.cli.options import add_unknown_flags, read_text_arg

CELLS_HELP = (
    "Record a character LM's hidden state, cell state and gates over a text and write "
    "DIR/cells.html (a self-contained page colouring the text by any unit, with the model's "
    "top-5 next-character predictions on hover), DIR/search.csv (the units that correlate "
    "most with each feature: inside a string or quote, bracket or brace depth, column, "
    "distance to the next newline, indentation, inside a comment, upper case, and each "
    "--regex) and DIR/saturation.png (gate saturation per layer). CKPT is a run directory "
    "(its latest checkpoint) or a checkpoint file of `rnnlab train charlm`."
)
TOP_K = 5  # next-character predictions shown per position


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "viz",
        help="visualise what a trained model's units do",
        description="Visualise what a trained model's units do.",
    )
    kinds = parser.add_subparsers(dest="viz", metavar="VIEW", required=True)
    cells = kinds.add_parser(
        "cells",
        help="interpretable cells of a character LM: HTML page, unit search, gate saturation",
        description=CELLS_HELP,
    )
    cells.add_argument("ckpt", metavar="CKPT", help="run directory or checkpoint file")
    cells.add_argument("--text", metavar="FILE", required=True, help="UTF-8 text to run over")
    cells.add_argument("--out", metavar="DIR", required=True, help="directory to write into")
    cells.add_argument(
        "--regex",
        metavar="NAME=PATTERN",
        action="append",
        default=[],
        help="a feature of your own: 1 on characters inside a match of PATTERN (repeatable)",
    )
    cells.add_argument(
        "--syntax",
        choices=("any", "c", "python"),
        default="any",
        help="comment and string rules of the text: c (// and /* */), python (# and triple "
        "quotes), any (all of them; the default)",
    )
    cells.add_argument(
        "--max-chars",
        type=int,
        default=200_000,
        metavar="N",
        help="characters of the text to record for the search and the saturation figure "
        "(a longer text is cut, with a note; default: 200,000)",
    )
    cells.add_argument(
        "--page-chars",
        type=int,
        default=5_000,
        metavar="N",
        help="characters shown on the page (the first N). The page holds every unit's "
        "activation at each one, one byte each (4/3 in base64): e.g. about 20 MB for 5,000 "
        "characters of a 2x256 LSTM (6 quantities) (default: 5,000)",
    )
    cells.add_argument(
        "--top", type=int, default=5, metavar="K", help="units listed per feature (default: 5)"
    )
    cells.add_argument(
        "--layer",
        type=int,
        default=None,
        help="layer shown first on the page (default: the top unit found)",
    )
    cells.add_argument(
        "--quantity", default=None, help="quantity shown first: h, c or a gate of the cell"
    )
    cells.add_argument("--unit", type=int, default=None, help="unit shown first on the page")
    cells.add_argument(
        "--chunk", type=int, default=2_000, help="characters recorded at a time (default: 2,000)"
    )
    cells.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    add_unknown_flags(cells, "what to do with characters the model never saw (default: error)")
    cells.set_defaults(run=run_cells)


def _positive(name: str, value: int) -> None:
    from rnnlab.errors import InputError

    if value < 1:
        raise InputError(f"viz cells: expected {name} >= 1, got {value}")


def check_charlm(path: str) -> None:
    """InputError unless `path` holds a character LM (the only model with a text to show)."""
    from rnnlab.errors import InputError
    from rnnlab.models.recurrent import CELLS
    from rnnlab.tasks import task_of
    from rnnlab.train.checkpoint import load_meta

    spec = task_of(path)
    if spec.name == "charlm":
        return
    config = load_meta(path).get("config") or {}
    model = config.get("model") if isinstance(config, dict) else None
    article = "an" if spec.name[0] in "aeiou" else "a"
    what = f"{article} {spec.name} checkpoint" + (f" of a {model} model" if model else "")
    raise InputError(
        f"viz cells needs a character LM with a recurrent cell ({', '.join(CELLS)}); "
        f"{path} is {what} (train one with `rnnlab train charlm`)"
    )


def encode(vocab, text: str, unknown: str, replacement: str | None) -> tuple[str, object]:
    """(the text as recorded, its ids): characters dropped by --unknown drop leave the text."""
    from rnnlab.errors import InputError

    ids = vocab.encode(text, unknown=unknown, replacement=replacement)
    if unknown == "drop" and len(ids) != len(text):
        text = "".join(c for c in text if c in vocab)
    if not text:
        raise InputError("viz cells: no character of the text is in the model's vocabulary")
    return text, ids


def run_cells(args: argparse.Namespace) -> int:
    import numpy as np

    from rnnlab.diagnostics.features import builtin_features, parse_regex, regex_feature
    from rnnlab.diagnostics.html import write_cells_page
    from rnnlab.diagnostics.record import CellRecorder, Recording, check_unit, record_chunks
    from rnnlab.diagnostics.saturation import SaturationCounter, plot_saturation
    from rnnlab.diagnostics.search import UnitSearch
    from rnnlab.tasks.charlm import load_charlm

    for name in ("max_chars", "page_chars", "top", "chunk"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    regexes = [parse_regex(spec) for spec in args.regex]
    text, cut = read_text_arg("viz cells", args.text, args.max_chars)
    check_charlm(args.ckpt)
    model, vocab, _, _ = load_charlm(args.ckpt, args.device)
    recorder = CellRecorder(model)
    if cut:
        note(
            f"the text is longer than {args.max_chars:,} characters; recording the first "
            f"{args.max_chars:,} (--max-chars)"
        )
    text, ids = encode(vocab, text, args.unknown, args.replace_with)
    widths = recorder.widths
    page = min(args.page_chars, len(text))
    initial = None
    if (args.layer, args.quantity, args.unit) != (None, None, None):
        initial = (args.layer or 0, args.quantity or "h", args.unit or 0)
        check_unit(widths, *initial)

    features = builtin_features(text, syntax=args.syntax)
    features.update({name: regex_feature(text, pattern) for name, pattern in regexes})
    search = UnitSearch(features, widths)
    saturation = SaturationCounter(recorder.gates)
    kept: list[Recording] = []
    for part in record_chunks(recorder, ids, chunk=args.chunk, top_k=TOP_K, progress=True):
        search.update(part.values, part.start)
        saturation.update(part.values)
        if part.start < page:
            n = page - part.start
            part.values = {q: v[:, :n] for q, v in part.values.items()}
            part.top_ids, part.top_probs = part.top_ids[:n], part.top_probs[:n]
            kept.append(part)
    shown = Recording(
        0,
        {q: np.concatenate([p.values[q] for p in kept], 1) for q in widths},
        np.concatenate([p.top_ids for p in kept]),
        np.concatenate([p.top_probs for p in kept]),
    )
    result = search.result(args.top)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layers, hidden = model.config.layers, model.config.hidden
    about = f"{recorder.cell}, {layers} layer{'s' * (layers > 1)} of {hidden} units"
    summary = (
        f"{Path(args.ckpt).name}: {about}; the first {page:,} of {len(text):,} characters "
        f"recorded (the search ran over all {len(text):,})"
    )
    print(f"viz cells: {about}; {len(text):,} characters recorded, {page:,} on the page")
    print(f"units that correlate most with each feature (Pearson r over {len(text):,} characters):")
    print(result.table())
    result.write_csv(out / "search.csv")
    write_cells_page(
        out / "cells.html",
        shown,
        text[:page],
        vocab=vocab.chars,
        ranges=recorder.ranges(),
        hits=result.hits,
        skipped=list(result.skipped),
        initial=initial,
        title=f"cells of {Path(args.ckpt).name} on {Path(args.text).name}",
        summary=summary,
    )
    written = [out / "cells.html", out / "search.csv"]
    title = f"gate saturation over {len(text):,} characters ({about})"
    if plot_saturation(
        saturation.fractions(),
        out / "saturation.png",
        layers=layers,
        cell=recorder.cell,
        title=title,
    ):
        written.append(out / "saturation.png")
    else:
        note("matplotlib is not installed; skipping saturation.png (pip install 'rnnlab[viz]')")
    size = (out / "cells.html").stat().st_size / 1e6
    print("wrote " + ", ".join(map(str, written)) + f" (the page: {size:.1f} MB)")
    return 0


def note(message: str) -> None:
    print(f"viz cells: {message}", file=sys.stderr, flush=True)
