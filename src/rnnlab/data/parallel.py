"""Parallel and labelled text: TSV files, tokenizers, token vocabularies, length filtering.

- **TSV.** A parallel corpus is a UTF-8 file of `source<TAB>target` lines (a labelled corpus:
  `label<TAB>text`); blank lines are skipped; any other line without exactly one tab, or with
  an empty side, is a DataError naming the file and the line.
- **Tokenizers.** "char": every character is a token (spaces included), joined back with "".
  "word": `\\w+` runs and single other non-space characters, per Unicode (so "¿Dónde?" is
  "¿ Dónde ?"), joined back with spaces except before closing punctuation and after opening
  punctuation (`detokenize`). Case is kept.
- **Vocabulary.** `TokenVocab`: the special tokens <pad> 0, <s> 1, </s> 2, <unk> 3, then the
  tokens seen at least `min_freq` times (at most `max_size`), most frequent first; unknown
  tokens encode as <unk>. It round-trips through JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rnnlab.errors import DataError, InputError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
TOKENIZERS = ("char", "word")

_WORD = re.compile(r"\w+|[^\w\s]")
_NO_SPACE_BEFORE = set(".,;:!?)]}%»”’")
_NO_SPACE_AFTER = set("([{¿¡«“‘$")


def tokenize(text: str, kind: str) -> list[str]:
    """Split `text` into "char" or "word" tokens."""
    if kind == "char":
        return list(text)
    if kind == "word":
        return _WORD.findall(text)
    raise InputError(f"tokenize: expected tokens in {', '.join(TOKENIZERS)}, got {kind!r}")


def detokenize(tokens: Sequence[str], kind: str) -> str:
    """Join tokens back into text (the inverse of `tokenize` up to spacing for "word")."""
    if kind == "char":
        return "".join(tokens)
    if kind != "word":
        raise InputError(f"detokenize: expected tokens in {', '.join(TOKENIZERS)}, got {kind!r}")
    out: list[str] = []
    previous = None
    for tok in tokens:
        glue = previous is None or tok in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
        if tok in ("'", "’") or (previous in ("'", "’") and tok.isalpha()):
            glue = previous is not None  # don't, o'er
        out.append(tok if glue else " " + tok)
        previous = tok
    return "".join(out)


class TokenVocab:
    """Tokens to ids and back, with <pad>, <s>, </s> and <unk> first."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[: len(SPECIALS)] != list(SPECIALS):
            tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            raise DataError("vocabulary: the token list has duplicates")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.pad, self.bos, self.eos, self.unk = range(4)

    @classmethod
    def build(
        cls, sequences: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> TokenVocab:
        """The vocabulary of `sequences`: tokens seen >= min_freq times, most frequent first
        (ties by the token itself), at most `max_size` tokens besides the specials."""
        if min_freq < 1:
            raise InputError(f"vocabulary: expected min_freq >= 1, got {min_freq}")
        if max_size is not None and max_size < 1:
            raise InputError(f"vocabulary: expected max_size >= 1, got {max_size}")
        counts = Counter(t for seq in sequences for t in seq)
        ranked = sorted((t for t, n in counts.items() if n >= min_freq and t not in SPECIALS),
                        key=lambda t: (-counts[t], t))  # fmt: skip
        return cls(list(SPECIALS) + ranked[:max_size])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens are <unk>."""
        return [self.index.get(t, self.unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`, stopping at </s>, leaving out <pad> and <s>."""
        out = []
        for i in ids:
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            out.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return out

    def unknown_rate(self, sequences: Iterable[Sequence[str]]) -> float:
        """The fraction of tokens of `sequences` that are not in the vocabulary."""
        total = unknown = 0
        for seq in sequences:
            total += len(seq)
            unknown += sum(t not in self.index for t in seq)
        return unknown / total if total else 0.0

    def to_json(self) -> list[str]:
        return list(self.tokens)

    @classmethod
    def from_json(cls, tokens: object) -> TokenVocab:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError("vocabulary: expected a list of token strings")
        return cls(tokens)


def read_tsv_pairs(path: str | Path, *, what: str = "source<TAB>target") -> list[tuple[str, str]]:
    """The (left, right) pairs of a UTF-8 TSV file, one per non-blank line.

    Raises:
        DataError: naming the file (and line) when it cannot be read, is not UTF-8, or a line
        has no tab, more than one, or an empty side.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({err.reason})") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            found = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            raise DataError(f"{path}:{number}: expected {what} (one tab), found {found}")
        left, right = parts[0].strip(), parts[1].strip()
        if not left or not right:
            side = what.split("<TAB>")[0 if not left else 1]
            raise DataError(f"{path}:{number}: expected {what}, the {side} is empty")
        pairs.append((left, right))
    if not pairs:
        raise DataError(f"{path}: no {what} lines in it")
    return pairs


def filter_lengths(
    pairs: Sequence[tuple[list[str], list[str]]], max_len: int | None
) -> list[tuple[list[str], list[str]]]:
    """The tokenized pairs whose source and target both have at most `max_len` tokens."""
    if max_len is None:
        return list(pairs)
    return [(s, t) for s, t in pairs if len(s) <= max_len and len(t) <= max_len]


SPLITS = ("train", "val", "test")


def tsv_splits(
    path: str | Path,
    *,
    owner: str,
    what: str,
    builtin: str,
    items: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[tuple[str, str]]]:
    """The train/val/test pairs of a TSV file (split by a seeded shuffle) or of a directory
    holding train.tsv, val.tsv and test.tsv.

    Args:
        owner: the task, for messages; what: the line format ("source<TAB>target");
        builtin: the built-in data names, for the message when `path` is neither;
        items: what a pair is called ("pairs", "texts");
        val_fraction, test_fraction: the held-out shares of a single file (at least one each);
        seed: the shuffle's seed.
    Returns:
        {"train": [...], "val": [...], "test": [...]}, each in file order.
    """
    path = Path(path)
    if path.is_dir():
        missing = [s for s in SPLITS if not (path / f"{s}.tsv").is_file()]
        if missing:
            raise DataError(
                f"{owner}: {path} is a directory without "
                f"{', '.join(m + '.tsv' for m in missing)} (expected train.tsv, val.tsv and "
                f"test.tsv of {what} lines)"
            )
        return {s: read_tsv_pairs(path / f"{s}.tsv", what=what) for s in SPLITS}
    if not path.is_file():
        raise DataError(
            f"{owner}: no data {str(path)!r}: expected {builtin}, a TSV file of {what} lines, "
            "or a directory of train.tsv, val.tsv and test.tsv"
        )
    pairs = read_tsv_pairs(path, what=what)
    if len(pairs) < 3:
        raise DataError(f"{path}: {len(pairs)} {items} cannot be split into train, val and test")
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, round(val_fraction * len(pairs)))
    n_test = max(1, round(test_fraction * len(pairs)))
    parts = {"val": order[:n_val], "test": order[n_val : n_val + n_test],
             "train": order[n_val + n_test :]}  # fmt: skip
    return {s: [pairs[i] for i in sorted(idx.tolist())] for s, idx in parts.items()}
