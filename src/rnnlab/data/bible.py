"""English-Spanish verse pairs: the King James Version aligned with the Reina-Valera 1909.

Source: the SWORD modules engKJV2006eb (Debian package `sword-text-kjv`) and spaRV1909eb
(`sword-text-sparv`), read with PyPI `pysword`. Both declare the KJV versification, so verses
are paired by (book, chapter, verse); book names are pysword's ("Genesis", "I Samuel",
"Song of Solomon", "Revelation of John").

Cleaning, per verse: footnotes (`<note>`) are dropped with their text; every other OSIS tag
is removed and its text kept (KJV italics, Psalm titles, the Pauline subscriptions, the
Psalm 119 letter headings: the Spanish text carries all of these as plain text too); line and
paragraph markup becomes a space; the KJV's "¶" paragraph signs and a few stray USFM markers
("\\nd") are dropped; whitespace is collapsed; text is NFC. The Spanish module sometimes runs
two tagged words together with no space ("enviada</transChange><w>por"). Such a junction
gets a space unless the right-hand part is an enclitic pronoun (me, te, se, nos, os, le, les,
lo, la, los, las) and either the joined form is a word the module uses elsewhere or the
left-hand part is no word by itself ("oyéndo"+"lo" → "oyéndolo", "Señor"+"es" → "Señor es").
This heuristic gets most of the 435 junctions right, not all ("Oid lo" stays apart). The
Spanish keeps its typography, e.g. a capitalised first word in each chapter ("EN el
principio crió Dios los cielos y la tierra.").

Alignment: a verse empty on either side (after cleaning) is dropped. The RV 1909 module
follows the Hebrew verse numbering in a few places while claiming the KJV one, so there the
numbers disagree (its Jonah 2:1 is KJV Jonah 1:17, …). Such chapters are dropped whole:
a chapter with a verse empty on one side only (12 chapters, e.g. Numbers 12, Job 38), and a
chapter where pairing each English verse with a Spanish one a verse or two away fits the
verse lengths clearly better than pairing it with its own number (`_shifted_chapters`:
Numbers 13 and 30, I Samuel 24, I Kings 22, I Chronicles 21, Job 39, Hosea 12, Jonah 2).
Measured with Debian 12's packages (engKJV2006eb 14.3, spaRV1909eb 2.60): 31,102 verse
slots, 20 chapters dropped, 30,593 pairs kept.

Held-out books (`HELD_OUT`), whole books so that no test verse has a near-copy in training
(hence no synoptic gospel: Mark is largely repeated in Matthew and Luke); each genre they
come from is also in training:
- val: Ruth (85 pairs), Joel (73), Galatians (149), I John (105): 412 pairs;
- test: Esther (167), Micah (105), John (879), James (108): 1,259 pairs;
- train: the other 58 books, 28,922 pairs.

The aligned pairs are cached as a UTF-8 TSV, `<cache>/bible-en-es/verses.tsv`: a header line
`book chapter verse en es` (tab-separated), then one verse per line in canonical order.
Later loads read the cache (checked line by line) and need neither pysword nor the modules;
a cache that fails the check is rebuilt from the modules.
"""

from __future__ import annotations

import functools
import math
import os
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.atomic import atomic_write_text
from rnnlab.data.cache import resolve_cache_dir
from rnnlab.data.textfiles import read_text_file
from rnnlab.errors import DataError

MODULES = {"en": "engKJV2006eb", "es": "spaRV1909eb"}
DEBIAN_PACKAGES = ("sword-text-kjv", "sword-text-sparv")
SWORD_PATH_ENV = "SWORD_PATH"
DEFAULT_SWORD_PATHS = (Path("/usr/share/sword"), Path("~/.sword"))
CACHE_SUBDIR = "bible-en-es"
CACHE_NAME = "verses.tsv"
CACHE_HEADER = "book\tchapter\tverse\ten\tes"
SPLITS = ("train", "val", "test")
HELD_OUT = {
    "val": ("Ruth", "Joel", "Galatians", "I John"),
    "test": ("Esther", "Micah", "John", "James"),
}

_HOW_TO_INSTALL = (
    f"to build the corpus, install the modules with `apt-get install {' '.join(DEBIAN_PACKAGES)}`"
    " and their reader with `pip install pysword`; or pass a TSV file of source<TAB>target lines"
    " instead (--data PATH.tsv)"
)
_NOTE = re.compile(r"<note\b.*?</note>", re.DOTALL)
_JUNCTION = re.compile(r"</(?:w|transChange)>(?=<(?:w|transChange)\b)")
_BREAK_TAG = re.compile(r"</?(?:div|chapter|title|lg|lb|l|p|milestone)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_USFM = re.compile(r"\\\+?[a-z]+[0-9]*\*?")  # stray USFM markers such as \nd
_JOIN = "\x00"  # marks a tag junction until it is resolved to "" or " "
_WORD = re.compile(r"[^\W\d_]+")
_LAST_WORD = re.compile(r"[^\W\d_]+$")
_ENCLITICS = frozenset("me te se nos os le les lo la los las".split())
_OPENING = frozenset("¿¡([«“‘\"'")
_CLOSING = frozenset(".,;:!?)]»”’\"'")
_POSITIVE = re.compile(r"[1-9][0-9]*")
_SHIFT_WINDOW = 3  # verses each side
_SHIFTS = (-2, -1, 1, 2)
_SHIFT_MIN_COST = 0.3  # |log length ratio - median| a shift must improve on …
_SHIFT_GAIN = 0.6  # … by this factor
_SHIFT_MIN_VERSES = 3  # flagged verses that condemn a chapter
_CHAPTER_SHIFTS = (-3, -2, -1, 1, 2, 3)
_CHAPTER_MIN_COST = 0.25
_CHAPTER_GAIN = 0.8


@dataclass(frozen=True)
class Verse:
    """One aligned verse: where it is and its English and Spanish text."""

    book: str
    chapter: int
    verse: int
    en: str
    es: str


def sword_paths(sword_path: str | os.PathLike | None = None) -> list[Path]:
    """The SWORD library directories to search, in order.

    Args:
        sword_path: an explicit directory (holding `mods.d/`); then only it is searched.

    Returns:
        `[sword_path]`, else `[$SWORD_PATH]` when that is set, else /usr/share/sword and
        ~/.sword.
    """
    if sword_path is not None:
        return [Path(sword_path).expanduser()]
    if os.environ.get(SWORD_PATH_ENV):
        return [Path(os.environ[SWORD_PATH_ENV]).expanduser()]
    return [p.expanduser() for p in DEFAULT_SWORD_PATHS]


def cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the aligned verses are cached: `<cache>/bible-en-es/verses.tsv`."""
    return resolve_cache_dir(cache_dir) / CACHE_SUBDIR / CACHE_NAME


def _open_modules(paths: list[Path]) -> dict[str, Any]:
    """The two SWORD modules as pysword bibles, keyed "en" and "es".

    Args:
        paths: SWORD library directories, searched in order.

    Returns:
        {"en": KJV bible, "es": RV 1909 bible}.

    Raises:
        DataError: if pysword is not installed, or a module is in none of `paths` or cannot
            be read.
    """
    try:
        from pysword.modules import SwordModules
    except ImportError:
        raise DataError(
            f"corpus 'bible': the Python package pysword is not installed; {_HOW_TO_INSTALL}"
        ) from None
    found: dict[str, Any] = {}
    for lib in paths:
        if not (lib / "mods.d").is_dir():
            continue
        library = SwordModules(str(lib))
        try:
            names = library.parse_modules()
        except OSError as err:
            raise DataError(
                f"corpus 'bible': cannot read the SWORD library {lib} ({err})"
            ) from None
        for name in MODULES.values():
            if name in names and name not in found:
                found[name] = (library, lib)
    missing = [name for name in MODULES.values() if name not in found]
    if missing:
        searched = ", ".join(str(p) for p in paths)
        raise DataError(
            f"corpus 'bible': SWORD module(s) {', '.join(missing)} not found (searched {searched}"
            f"; set {SWORD_PATH_ENV} or pass sword_path to look elsewhere); {_HOW_TO_INSTALL}"
        )
    bibles = {}
    for lang, name in MODULES.items():
        library, lib = found[name]
        try:
            bible = library.get_bible_from_module(name)
        except (OSError, KeyError, ValueError) as err:
            raise DataError(
                f"corpus 'bible': SWORD module {name} in {lib} cannot be read ({err}); "
                f"reinstall it; {_HOW_TO_INSTALL}"
            ) from None
        # pysword decompresses a whole book for every verse it reads; keeping the last blocks
        # makes reading a module 300x faster (0.1 s instead of 30 s).
        if hasattr(bible, "_decompressed_text"):
            bible._decompressed_text = functools.lru_cache(maxsize=2)(bible._decompressed_text)
        bibles[lang] = bible
    return bibles


def read_module(bible: Any) -> dict[tuple[str, int, int], str]:
    """Every verse slot of a pysword bible, with its raw (OSIS) markup.

    Args:
        bible: a `pysword.bible.SwordBible`.

    Returns:
        {(book, chapter, verse): raw text} in canonical order; a verse the module lacks is "".

    Raises:
        DataError: if a book yields a different number of verses than its structure lists.
    """
    verses = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            texts = list(bible.get_iter(books=[book.name], clean=False))
            refs = [
                (book.name, chapter, verse)
                for chapter, n_verses in enumerate(book.chapter_lengths, start=1)
                for verse in range(1, n_verses + 1)
            ]
            if len(texts) != len(refs):
                raise DataError(
                    f"corpus 'bible': book {book.name}: expected {len(refs)} verses, the module "
                    f"gave {len(texts)}; reinstall the module ({_HOW_TO_INSTALL})"
                )
            verses.update(zip(refs, texts, strict=True))
    return verses


def _strip_markup(raw: str) -> str:
    """Verse text without OSIS markup; tag junctions are left marked with `_JOIN`."""
    text = _NOTE.sub("", raw)
    text = _JUNCTION.sub(lambda m: m.group() + _JOIN, text)
    text = _BREAK_TAG.sub(" ", text)
    text = _USFM.sub("", _TAG.sub("", text)).replace("¶", "")
    return unicodedata.normalize("NFC", text)


def _vocabulary(texts: Iterable[str]) -> set[str]:
    """Lower-cased words of `texts`, leaving out the fragments that touch a junction."""
    vocab: set[str] = set()
    touching = re.compile(rf"[^\W\d_]*{_JOIN}[^\W\d_]*(?:{_JOIN}[^\W\d_]*)*")
    for text in texts:
        vocab.update(w.lower() for w in _WORD.findall(touching.sub(" ", text)))
    return vocab


def _glue(left: str, right: str, vocab: set[str]) -> str:
    """What goes at a tag junction between `left` and `right`: "" or " " (see the module doc)."""
    a, b = left[-1:], right[:1]
    if not a or not b or a.isspace() or b.isspace() or a in _OPENING or b in _CLOSING:
        return ""
    last, first = _LAST_WORD.search(left), _WORD.match(right)
    if last and first and first.group().lower() in _ENCLITICS:
        joined = (last.group() + first.group()).lower()
        if joined in vocab or last.group().lower() not in vocab:
            return ""
    return " "


def clean_verses(raw: dict[tuple[str, int, int], str]) -> dict[tuple[str, int, int], str]:
    """Plain text of every verse of one module (see the module docstring for the rules).

    Args:
        raw: {(book, chapter, verse): OSIS text}, as `read_module` returns.

    Returns:
        {(book, chapter, verse): clean text}, same keys and order; "" for an empty verse.
    """
    stripped = {ref: _strip_markup(text) for ref, text in raw.items()}
    vocab = _vocabulary(stripped.values())
    clean = {}
    for ref, text in stripped.items():
        parts = text.split(_JOIN)
        out = parts[0]
        for part in parts[1:]:
            out += _glue(out, part, vocab) + part
        clean[ref] = " ".join(out.split())
    return clean


def _cost(en: str, es: str, median: float) -> float:
    """How far a pair's length ratio is from the typical one: |log(len es / len en) - median|."""
    return abs(math.log(len(es) / len(en)) - median)


def _mean_cost(
    en: list[str], es: list[str], idx: Iterable[int], shift: int, median: float
) -> float:
    """Mean `_cost` of pairing `en[k]` with `es[k + shift]` over `idx` (inf if none exist)."""
    costs = [_cost(en[k], es[k + shift], median) for k in idx if 0 <= k + shift < len(es)]
    return statistics.fmean(costs) if costs else math.inf


def _shifted_chapters(pairs: list[tuple[tuple[str, int, int], str, str]]) -> set[tuple[str, int]]:
    """Chapters whose Spanish verses fit better a verse or two away from their own number.

    Within each book, in verse order, verse i is flagged when over the window i±3 the mean
    `_cost` of pairing English k with Spanish k exceeds 0.3 while pairing English k with
    Spanish k+s (s in ±1, ±2) costs under 0.6 of that. A chapter with 3 or more flagged verses
    is shifted; so is one whose whole-chapter cost exceeds 0.25 while a shift of up to 3
    verses costs under 0.8 of it.

    Args:
        pairs: [((book, chapter, verse), en, es)] in canonical order, both texts non-empty.

    Returns:
        {(book, chapter)} to drop.
    """
    median = statistics.median(math.log(len(es) / len(en)) for _, en, es in pairs)
    by_book: dict[str, list[tuple[tuple[str, int, int], str, str]]] = {}
    for pair in pairs:
        by_book.setdefault(pair[0][0], []).append(pair)
    shifted = set()
    for book_pairs in by_book.values():
        n = len(book_pairs)
        en = [p[1] for p in book_pairs]
        es = [p[2] for p in book_pairs]
        flagged: Counter[tuple[str, int]] = Counter()
        chapters: dict[tuple[str, int], list[int]] = {}
        for i, (ref, _, _) in enumerate(book_pairs):
            chapters.setdefault(ref[:2], []).append(i)
            window = range(max(0, i - _SHIFT_WINDOW), min(n, i + _SHIFT_WINDOW + 1))
            here = _mean_cost(en, es, window, 0, median)
            best = min(_mean_cost(en, es, window, s, median) for s in _SHIFTS)
            if here > _SHIFT_MIN_COST and best < _SHIFT_GAIN * here:
                flagged[ref[:2]] += 1
        for chapter, idx in chapters.items():
            here = _mean_cost(en, es, idx, 0, median)
            best = min(_mean_cost(en, es, idx, s, median) for s in _CHAPTER_SHIFTS)
            if flagged[chapter] >= _SHIFT_MIN_VERSES or (
                here > _CHAPTER_MIN_COST and best < _CHAPTER_GAIN * here
            ):
                shifted.add(chapter)
    return shifted


def align(en: dict[tuple[str, int, int], str], es: dict[tuple[str, int, int], str]) -> list[Verse]:
    """Pair clean English and Spanish verses by reference, dropping what does not align.

    Args:
        en: {(book, chapter, verse): text} of the English module, canonical order.
        es: the same for the Spanish module.

    Returns:
        the kept verses in `en`'s order (see the module docstring for what is dropped).
    """
    gappy = {ref[:2] for ref in en if bool(en[ref]) != bool(es.get(ref, ""))}
    pairs = [
        (ref, en[ref], es[ref]) for ref in en if en[ref] and es.get(ref) and ref[:2] not in gappy
    ]
    shifted = _shifted_chapters(pairs)
    return [Verse(*ref, e, s) for ref, e, s in pairs if ref[:2] not in shifted]


def build_bible_pairs(sword_path: str | os.PathLike | None = None) -> list[Verse]:
    """Read, clean and align both SWORD modules (no cache involved).

    Args:
        sword_path: SWORD library directory (default: see `sword_paths`).

    Returns:
        the aligned verses in canonical order.

    Raises:
        DataError: if pysword or a module is missing or unreadable; the message says how to
            install them or what to pass instead.
    """
    bibles = _open_modules(sword_paths(sword_path))
    en, es = (clean_verses(read_module(bibles[lang])) for lang in ("en", "es"))
    return align(en, es)


def _format_tsv(verses: list[Verse]) -> str:
    """The cache file's text: header, then one tab-separated verse per line."""
    lines = [CACHE_HEADER]
    lines += [f"{v.book}\t{v.chapter}\t{v.verse}\t{v.en}\t{v.es}" for v in verses]
    return "\n".join(lines) + "\n"


def read_cache(path: Path) -> list[Verse]:
    """Read and check a cache file written by `load_bible_pairs`.

    Args:
        path: the TSV file.

    Returns:
        the verses, in file order.

    Raises:
        DataError: if the file cannot be read, is not UTF-8, has another header, a line
            without exactly five fields, a chapter or verse that is not a positive integer, an
            empty text, or no verses; the message names the file and the line.
    """
    lines = read_text_file(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != CACHE_HEADER:
        raise DataError(
            f"bible cache {path}: expected the header {CACHE_HEADER!r} on line 1, got "
            f"{(lines[0] if lines else '')[:60]!r}"
        )
    verses = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if (
            len(fields) != 5
            or not all(_POSITIVE.fullmatch(f) for f in fields[1:3])
            or not all(f.strip() for f in fields)
        ):
            raise DataError(
                f"bible cache {path}, line {number}: expected book, chapter, verse (positive "
                f"integers), English and Spanish text separated by tabs, got {line[:80]!r}"
            )
        verses.append(Verse(fields[0], int(fields[1]), int(fields[2]), fields[3], fields[4]))
    if not verses:
        raise DataError(f"bible cache {path}: expected verses after the header, found none")
    return verses


def load_bible_pairs(
    *, sword_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> list[Verse]:
    """The aligned English-Spanish verses, built from the SWORD modules once, then cached.

    Args:
        sword_path: SWORD library directory to read the modules from (default: `$SWORD_PATH`,
            else /usr/share/sword and ~/.sword); not consulted when the cache is valid.
        cache_dir: cache directory (default: `RNNLAB_CACHE`, else `~/.cache/rnnlab`).

    Returns:
        the verses in canonical order (Genesis 1:1 first).

    Raises:
        DataError: if there is no valid cache and the modules or pysword are missing; the
            message says how to install them or to pass a TSV file instead.
    """
    path = cache_path(cache_dir)
    problem = ""
    if path.is_file():
        try:
            return read_cache(path)
        except DataError as err:
            problem = f" (the cache was unusable and is being rebuilt: {err})"
    try:
        verses = build_bible_pairs(sword_path)
    except DataError as err:
        raise DataError(f"{err}{problem}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _format_tsv(verses))
    return verses


def split_of_book(book: str) -> str:
    """The split a book belongs to: "val" or "test" for `HELD_OUT` books, else "train"."""
    for split, books in HELD_OUT.items():
        if book in books:
            return split
    return "train"


def bible_splits(
    *, sword_path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> dict[str, list[tuple[str, str]]]:
    """The verse pairs cut into train / val / test by whole books (`HELD_OUT`).

    Args:
        sword_path: as for `load_bible_pairs`.
        cache_dir: as for `load_bible_pairs`.

    Returns:
        {"train": [(en, es), ...], "val": [...], "test": [...]}, each in canonical order.

    Raises:
        DataError: as `load_bible_pairs`.
    """
    splits: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for v in load_bible_pairs(sword_path=sword_path, cache_dir=cache_dir):
        splits[split_of_book(v.book)].append((v.en, v.es))
    return splits
