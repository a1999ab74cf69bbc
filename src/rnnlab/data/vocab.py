"""Character vocabulary: Unicode code points <-> integer ids, vectorised for large texts.

A character is one Python `str` element, i.e. one Unicode code point: emoji outside the BMP are
single characters (never split into UTF-16 surrogates), combining marks are characters of their
own, and lone surrogates (e.g. from `surrogateescape`) are kept as they are.

Encoding views the text as UTF-32 code points (`np.frombuffer`) and maps them through a dense
code point -> id table (`np.take`), so tens of megabytes encode in about a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rnnlab.errors import DataError

_CODEC = "utf-32-le"
_ERRORS = "surrogatepass"
_SHOW_MAX = 20
_UNKNOWN_MODES = ("error", "drop", "replace")


def _code_points(text: str) -> np.ndarray:
    """Code points of `text` as a (len(text),) uint32 array."""
    return np.frombuffer(text.encode(_CODEC, _ERRORS), dtype="<u4")


def _from_code_points(points: np.ndarray) -> str:
    """Inverse of `_code_points`."""
    return np.ascontiguousarray(points, dtype="<u4").tobytes().decode(_CODEC, _ERRORS)


def _describe_chars(chars: Sequence[str], limit: int = _SHOW_MAX) -> str:
    """Comma-separated reprs of `chars`, the first `limit` of them, then 'and N more'."""
    shown = ", ".join(repr(c) for c in chars[:limit])
    if len(chars) > limit:
        shown += f" and {len(chars) - limit} more"
    return shown


class CharVocab:
    """A fixed list of characters; character `chars[i]` has id `i`.

    Args:
        chars: distinct one-character strings, in id order.

    Raises:
        DataError: if `chars` is empty, has duplicates or an element that is not one character.
    """

    def __init__(self, chars: Iterable[str]):
        chars = tuple(chars)
        if not chars:
            raise DataError("CharVocab: expected at least one character, got none")
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise DataError(
                f"CharVocab: expected one-character strings, got {_describe_chars(bad)}"
            )
        counts = Counter(chars)
        dups = [c for c, n in counts.items() if n > 1]
        if dups:
            raise DataError(
                "CharVocab: expected distinct characters, got duplicates of "
                f"{_describe_chars(dups)}"
            )
        self._chars = chars
        self._index = {c: i for i, c in enumerate(chars)}
        self._points = _code_points("".join(chars))  # (V,) code point of each id
        # (max code point + 2,) id of each code point, -1 if unknown; the last entry stays -1
        # and catches every larger code point (np.take with mode="clip").
        self._table = np.full(int(self._points.max()) + 2, -1, dtype=np.int64)
        self._table[self._points] = np.arange(len(chars))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted (by code point) set of characters occurring in `text`.

        Raises:
            DataError: if `text` is empty.
        """
        if not isinstance(text, str):
            raise DataError(f"CharVocab.from_text: expected a str, got {type(text).__name__}")
        if not text:
            raise DataError("CharVocab.from_text: expected a non-empty text, got ''")
        return cls(sorted(set(text)))

    @property
    def chars(self) -> tuple[str, ...]:
        """The characters in id order."""
        return self._chars

    def __len__(self) -> int:
        return len(self._chars)

    def __contains__(self, char: object) -> bool:
        return isinstance(char, str) and len(char) == 1 and char in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharVocab):
            return NotImplemented
        return self._chars == other._chars

    def __hash__(self) -> int:
        return hash(("char", self._chars))

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)}, chars={_describe_chars(self._chars, 10)})"

    def _lookup(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of `points` (N,) and a (N,) mask of the points that are in the vocabulary."""
        ids = np.take(self._table, points, mode="clip")  # (N,)
        return ids, ids >= 0

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` not in the vocabulary, in order of first occurrence."""
        points = _code_points(text)
        _, known = self._lookup(points)
        if known.all():
            return []
        unknown = points[~known]
        uniq, first = np.unique(unknown, return_index=True)
        return list(_from_code_points(uniq[np.argsort(first)]))

    def encode(
        self, text: str, *, unknown: str = "error", replacement: str | None = None
    ) -> np.ndarray:
        """Map each character of `text` to its id.

        Args:
            text: any Python string.
            unknown: what to do with characters not in the vocabulary: "error" raises a
                DataError listing them, "drop" leaves them out, "replace" maps them to
                `replacement`.
            replacement: a character of the vocabulary; required with unknown="replace".

        Returns:
            (N,) int64 ids, N = len(text) (fewer with unknown="drop").

        Raises:
            DataError: on unknown characters with unknown="error", a bad `unknown` mode or a
                replacement that is not a character of the vocabulary.
        """
        if unknown not in _UNKNOWN_MODES:
            raise DataError(
                f"CharVocab.encode: expected unknown to be one of {_UNKNOWN_MODES}, got {unknown!r}"
            )
        fill = None
        if unknown == "replace":
            if replacement is None or replacement not in self:
                what = "none" if replacement is None else f"{replacement!r}, not in it"
                raise DataError(
                    "replacing unknown characters needs a replacement: one character of the "
                    f"model's vocabulary (--replace-with CHAR; replacement= in Python), got {what}"
                )
            fill = self._index[replacement]
        if not isinstance(text, str):
            raise DataError(f"CharVocab.encode: expected a str, got {type(text).__name__}")
        ids, known = self._lookup(_code_points(text))
        if known.all():
            return ids
        if unknown == "drop":
            return ids[known]
        if unknown == "replace":
            ids[~known] = fill
            return ids
        missing = self.unknown_chars(text)
        raise DataError(
            f"CharVocab.encode: the text has {len(missing)} character(s) not in the vocabulary "
            f"of {len(self)}: {_describe_chars(missing)}; map them to a known character with "
            "unknown='replace', replacement=CHAR (on the command line: --unknown replace "
            "--replace-with CHAR), or leave them out with unknown='drop' (--unknown drop)"
        )

    def decode(self, ids: Any) -> str:
        """The text of a sequence of ids.

        Args:
            ids: (N,) integer ids: a NumPy array, a torch tensor (any device) or a list.

        Returns:
            the string of N characters.

        Raises:
            DataError: if `ids` is not one-dimensional, not integers or out of range.
        """
        if hasattr(ids, "detach"):
            ids = ids.detach().cpu().numpy()
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise DataError(
                f"CharVocab.decode: expected (N,) integer ids, got shape {arr.shape} "
                f"of dtype {arr.dtype}"
            )
        bad = (arr < 0) | (arr >= len(self))
        if bad.any():
            raise DataError(
                f"CharVocab.decode: expected ids in [0, {len(self)}), got {int(arr[bad][0])}"
            )
        return _from_code_points(self._points[arr])

    def to_json(self) -> dict[str, Any]:
        """A JSON-able description: `{"type": "char", "chars": [...]}`."""
        return {"type": "char", "chars": list(self._chars)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CharVocab:
        """Rebuild a vocabulary from `to_json()`'s dictionary.

        Raises:
            DataError: if `obj` is not such a dictionary.
        """
        if not isinstance(obj, dict) or obj.get("type") != "char":
            found = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
            raise DataError(f"CharVocab.from_json: expected a dict with type 'char', got {found!r}")
        chars = obj.get("chars")
        if not isinstance(chars, list):
            raise DataError(
                f"CharVocab.from_json: expected 'chars' to be a list, got {type(chars).__name__}"
            )
        return cls(chars)
