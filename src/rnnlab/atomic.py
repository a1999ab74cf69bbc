"""Atomic file writes: a reader sees the old file or the new one, never a torn mix.

Every writer follows the same recipe: write a temporary file in the target's directory, flush
and `os.fsync` it, `os.replace` it onto the target (atomic on POSIX and Windows when both lie
on one file system), then fsync the directory so the rename itself survives a power cut. If
anything fails before the rename, the temporary file is removed and the target is untouched.

Temporary files are named `.<target name>.<random>.tmp`, so a directory listing that matches
final names (e.g. `step-*.safetensors`) never picks one up.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _create_temp(directory: Path, name: str) -> Path:
    """Create an empty, unused temporary file next to the target.

    Args:
        directory: the target's directory.
        name: the target's file name, embedded in the temporary name.

    Returns:
        The path of the new empty file, created with the process umask like a normal file.
    """
    while True:
        temp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp


def _fsync_file(path: Path) -> None:
    """Flush a file's data to stable storage.

    Args:
        path: the file to sync.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (the rename) to stable storage, where supported.

    Args:
        directory: the directory whose entries changed. Platforms and file systems that
            cannot open or sync a directory are skipped silently.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit it atomically becomes `path`.

    For writers that need a file name (e.g. `safetensors.torch.save_file`). The yielded file
    already exists (empty) in the target's directory; the writer may overwrite it. On exit
    the file is fsynced and renamed onto `path`, and the directory is fsynced. If the block
    raises, the temporary file is deleted and `path` keeps its previous content.

    Args:
        path: the final file path; its directory must exist.

    Returns:
        A context manager yielding the temporary `Path`.
    """
    target = Path(path)
    temp = _create_temp(target.parent, target.name)
    mode = temp.stat().st_mode & 0o777  # what the umask gives a new file
    try:
        yield temp
        os.chmod(temp, mode)  # writers that recreate the file may have narrowed it
        _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically replace `path` with `data`.

    Args:
        path: the file to write; its directory must exist.
        data: the complete new content.
    """
    with atomic_path(path) as temp, open(temp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically replace `path` with `text` encoded as UTF-8 (newlines written as given).

    Args:
        path: the file to write; its directory must exist.
        text: the complete new content.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def append_markdown_section(
    path: str | os.PathLike, section: str, *, title: str, owner: str
) -> None:
    """Append `section` to a Markdown file (created with `title`), atomically.

    The whole new content is written as `atomic_write_text` writes, so a reader sees the old
    file or the new one.

    Raises:
        InputError: the directory is missing or `path` is not a file (`owner` names the caller).
    """
    from rnnlab.errors import InputError

    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{owner}: record: directory {target.parent} does not exist")
    if target.exists() and not target.is_file():
        raise InputError(f"{owner}: record: {target} is not a file")
    old = target.read_text(encoding="utf-8") if target.exists() else title
    atomic_write_text(target, old.rstrip("\n") + "\n\n" + section)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically replace `path` with `obj` as pretty JSON (indent 2, sorted keys, UTF-8).

    Args:
        path: the file to write; its directory must exist.
        obj: a JSON-serialisable value. Non-finite floats are written as Python's `json`
            writes them (`NaN`, `Infinity`).

    Raises:
        TypeError: `obj` is not JSON-serialisable (nothing is written).
    """
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)
