"""Reading plain UTF-8 text: one file, a directory tree, and joining several texts into one.

Every text is normalised the same way: a leading UTF-8 byte order mark is dropped and line
endings ("\\r\\n", lone "\\r") become "\\n", as Python's own text mode does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rnnlab.errors import DataError

_BOM = b"\xef\xbb\xbf"


def normalise_newlines(text: str) -> str:
    """`text` with "\\r\\n" and lone "\\r" line endings replaced by "\\n"."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_utf8(data: bytes, name: str) -> str:
    """Decode UTF-8 `data` (an optional BOM is dropped) with newlines normalised.

    Args:
        data: the raw bytes.
        name: the file's name, for error messages.

    Returns:
        the text.

    Raises:
        DataError: if the bytes contain a NUL byte (binary data) or are not valid UTF-8; the
            message names the file and the byte offset.
    """
    skip = len(_BOM) if data.startswith(_BOM) else 0
    nul = data.find(b"\x00", skip)
    if nul >= 0:
        raise DataError(
            f"text file {name}: expected UTF-8 text, found binary data (a NUL byte at byte "
            f"offset {nul}); remove the file or point at the text files only"
        )
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skip + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise DataError(
            f"text file {name}: expected UTF-8, found the byte 0x{data[offset]:02x} at byte "
            f"offset {offset} (line {line}), which is not valid UTF-8 ({err.reason}); convert "
            "the file to UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return normalise_newlines(text)


def read_text_file(path: Path, name: str | None = None) -> str:
    """Read one UTF-8 text file (see `decode_utf8`).

    Args:
        path: the file.
        name: how to name the file in error messages (default: the path).

    Returns:
        the text.

    Raises:
        DataError: if the file cannot be read or is not UTF-8 text.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"text file {path}: cannot be read ({err.strerror or err})") from None
    return decode_utf8(data, name or str(path))


def _whole_utf8(data: bytes) -> int:
    """Length of the longest prefix of ``data`` that does not end inside a UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or a lead byte (not a continuation byte)
            need = (
                1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            )
            return len(data) if need <= back else len(data) - back
    return len(data)  # no lead byte in reach: the decoder reports it


def read_text_head(path: Path, limit: int, name: str | None = None) -> tuple[str, bool]:
    """The first ``limit`` characters of a UTF-8 text file, and whether the file holds more.

    Decoded and normalised as `decode_utf8`, from at most 4·(limit + 1) + 3 bytes (a UTF-8
    character takes at most 4), so a file of any size costs about ``limit`` characters.

    Raises:
        OSError: if the file cannot be read.
        DataError: if what was read is not UTF-8 text.
    """
    with path.open("rb") as handle:
        data = handle.read(4 * (limit + 1) + len(_BOM))
        more = bool(handle.read(1))
    if more:  # the read may have stopped inside a character: decode whole ones only
        data = data[: _whole_utf8(data)]
    text = decode_utf8(data, name or str(path))
    return text[:limit], len(text) > limit


def list_text_files(root: Path) -> list[Path]:
    """Regular files under `root`, recursively, sorted by relative path; hidden ones skipped.

    A file or directory is hidden when its name starts with "."; symbolic links to directories
    are not followed.

    Returns:
        paths relative to `root`.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for fname in filenames:
            if not fname.startswith(".") and (base / fname).is_file():
                found.append((base / fname).relative_to(root))
    return sorted(found, key=lambda p: p.parts)


def join_texts(texts: Iterable[str]) -> str:
    """Join texts into one, a blank line between them, ending with a single newline.

    Blank lines at the start and end of each text are dropped; empty texts are skipped.
    """
    parts = [t.strip("\n") for t in texts]
    return "\n\n".join(p for p in parts if p) + "\n"
