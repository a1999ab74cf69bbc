"""The download cache: where it lives and how files are written into it.

Location: the `cache_dir` argument, else the `RNNLAB_CACHE` environment variable, else
`~/.cache/rnnlab`. Files are written to a temporary file in the same directory, flushed to disk
and renamed over the target, so a reader never sees a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_ENV = "RNNLAB_CACHE"
_MODE = 0o644


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory to use (not created).

    Args:
        cache_dir: an explicit directory; overrides `RNNLAB_CACHE` and the default.

    Returns:
        the directory, with "~" expanded.
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rnnlab"
    return Path(cache_dir).expanduser()


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (temporary file, fsync, `os.replace`).

    Parent directories are created as needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
