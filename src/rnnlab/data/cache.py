"""Where the download cache lives.

Location: the `cache_dir` argument, else the `RNNLAB_CACHE` environment variable, else
`~/.cache/rnnlab`. Files are written into it atomically (`rnnlab.atomic`), so a reader never
sees a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "RNNLAB_CACHE"


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
