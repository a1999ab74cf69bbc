"""Metrics log: one JSON object per line, `{"step": N, "split": "train" | "val" | ..., ...}`.

Each record is written with one `write` call and flushed, so a crash can only leave the last
line incomplete; readers skip such a line and `MetricsLog` repairs it before appending. Losses
are in nats; `bits(nats)` converts them to bits (per character for a character model).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnlab.atomic import atomic_write_bytes
from rnnlab.errors import DataError, InputError

LN2 = math.log(2.0)


def bits(nats):
    """Convert nats to bits: bits = nats / ln 2.

    Args:
        nats: a float (or a tensor/array) in nats.

    Returns:
        The same quantity in bits.
    """
    return nats / LN2


def _repair_final_line(path: Path) -> None:
    """Fix a final line that lacks its newline (a write interrupted by a crash).

    A final line that is a complete JSON record gets its newline; anything else is cut, so
    the log reads the same as `read_metrics` read it before.

    Args:
        path: an existing log file.
    """
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            complete = isinstance(json.loads(data[start:]), dict)
        except (UnicodeDecodeError, json.JSONDecodeError):
            complete = False
        if complete:
            f.write(b"\n")
        else:
            f.truncate(start)


class MetricsLog:
    """Append-only JSON-lines metrics log, flushed after every record.

    Opening an existing log appends to it, after repairing a final line left incomplete by a
    crash (completed if it is a whole record, else dropped). On resume, call
    `truncate_after(path, step)` before opening the log.
    """

    def __init__(self, path: str | os.PathLike):
        """Open (or create) the log; missing parent directories are created.

        Args:
            path: the `.jsonl` file.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _repair_final_line(self.path)
        self._file = open(self.path, "a", encoding="utf-8", newline="\n")

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as a line and flush it.

        Args:
            record: a JSON-serialisable mapping with an int "step" and a str "split", e.g.
                `{"step": 100, "split": "train", "loss": 1.23, "lr": 2e-3}`.

        Raises:
            InputError: no int "step", no str "split", or not JSON-serialisable.
        """
        step, split = record.get("step"), record.get("split")
        if isinstance(step, bool) or not isinstance(step, int) or not isinstance(split, str):
            raise InputError(
                f"MetricsLog: expected a record with an int 'step' and a str 'split', "
                f"got step={step!r}, split={split!r}"
            )
        try:
            line = json.dumps(dict(record), ensure_ascii=False) + "\n"
        except (TypeError, ValueError) as e:
            raise InputError(f"MetricsLog: record must be JSON-serialisable ({e})") from None
        self._file.write(line)
        self._file.flush()

    def close(self) -> None:
        """Close the file (further appends fail)."""
        self._file.close()

    def __enter__(self) -> MetricsLog:
        """Use as a context manager.

        Returns:
            self.
        """
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the log.

        Args:
            *exc_info: ignored.
        """
        self.close()


def _parse(path: Path) -> list[tuple[bytes, dict[str, Any]]]:
    """Parse a log into (raw line, record) pairs, skipping a truncated final line.

    Args:
        path: the log file.

    Returns:
        The records in file order with their raw bytes (newline included).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"no metrics log at {path}") from None
    lines = data.splitlines(keepends=True)
    out = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            if number == len(lines) and not raw.endswith(b"\n"):
                break
            start = raw[:60].decode("utf-8", "replace")
            raise DataError(
                f"{path}:{number}: expected a JSON metrics record, got {start!r}"
            ) from None
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, bool) or not isinstance(step, int):
            raise DataError(f"{path}:{number}: expected an object with an int 'step'")
        out.append((raw, record))
    return out


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read every record of a metrics log.

    A final line cut short by a crash (no newline, not valid JSON) is skipped.

    Args:
        path: the `.jsonl` file.

    Returns:
        The records in file order.

    Raises:
        DataError: the file is missing, or a line other than a truncated last one is not a
            JSON object with an int "step" (the message gives file and line number).
    """
    return [record for _, record in _parse(Path(path))]


def truncate_after(path: str | os.PathLike, step: int) -> int:
    """Drop the records logged after `step` (used on resume), rewriting the log atomically.

    Kept lines are copied byte for byte; a truncated final line is dropped too.

    Args:
        path: the `.jsonl` file; a missing file is left missing.
        step: the checkpoint's step; records with a larger step are removed.

    Returns:
        The number of records removed.
    """
    file = Path(path)
    if not file.exists():
        return 0
    entries = _parse(file)
    kept = [raw if raw.endswith(b"\n") else raw + b"\n" for raw, r in entries if r["step"] <= step]
    atomic_write_bytes(file, b"".join(kept))
    return len(entries) - len(kept)
