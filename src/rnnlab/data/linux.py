"""The Linux kernel's C sources as a character corpus (`--data linux-kernel`).

Karpathy, Johnson & Fei-Fei (2015) trained character models on the kernel's C code to find
cells that track quotes, comments, bracket depth and indentation. This corpus is the C files
(`*.c`, `*.h`) of the kernel's core directories, `kernel/` and `mm/` (about 17 MB in 6.1),
read from the source tarball that Debian's `linux-source` package installs as
`/usr/src/linux-source-X.Y.tar.xz`, sorted by path, each file preceded by a
`// file: <path>` line, files joined with a blank line between them. Files that are not valid
UTF-8 are left out (`Corpus.skipped`).

Where the sources come from, in order: the `source` argument, else the `RNNLAB_LINUX_SOURCE`
environment variable, else the newest `/usr/src/linux-source-*.tar.*`; each may be a tarball
(`.tar.xz`, `.tar.bz2`, `.tar.gz`, `.tar`) or an unpacked kernel tree. Reading the tarball
takes a few seconds (xz decompression), so the text is cached in the rnnlab cache
(`linux-kernel/`), keyed by the source's path, size and modification time; with no source
installed, an existing cache is used.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path, PurePosixPath

from rnnlab.atomic import atomic_write_json, atomic_write_text
from rnnlab.data.cache import resolve_cache_dir
from rnnlab.data.textfiles import decode_utf8, join_texts, read_text_file
from rnnlab.errors import DataError

SOURCE_ENV = "RNNLAB_LINUX_SOURCE"
DEBIAN_SOURCES = Path("/usr/src")
DIRECTORIES = ("kernel", "mm")
SUFFIXES = (".c", ".h")
CACHE_SUBDIR = "linux-kernel"
_TARBALL = re.compile(r"linux-source-[\w.+-]+\.tar(\.(xz|bz2|gz))?$")
_HOW_TO_GET = (
    "install Debian's kernel sources with `apt-get install linux-source`, set "
    f"{SOURCE_ENV} to a kernel source tarball or tree, or pass a directory of C files as "
    "--data PATH (`--data python-stdlib` gives code without any package)"
)


def _version_key(path: Path) -> list:
    """Sort key that orders linux-source-6.10 after linux-source-6.9."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]


def find_source(source: str | os.PathLike | None = None) -> Path | None:
    """The kernel sources to read: `source`, else $RNNLAB_LINUX_SOURCE, else the newest
    /usr/src/linux-source-*.tar.* (None when there is none).

    Raises:
        DataError: if an explicitly given source does not exist.
    """
    given = source if source is not None else os.environ.get(SOURCE_ENV) or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.exists():
            origin = "linux-kernel source" if source is not None else SOURCE_ENV
            raise DataError(
                f"{origin} {path}: expected a kernel source tarball or tree, found nothing there"
            )
        return path
    if not DEBIAN_SOURCES.is_dir():
        return None
    found = [p for p in DEBIAN_SOURCES.iterdir() if p.is_file() and _TARBALL.match(p.name)]
    return max(found, key=_version_key) if found else None


def _wanted(rel: PurePosixPath) -> bool:
    """A C file under one of the corpus directories."""
    return len(rel.parts) > 1 and rel.parts[0] in DIRECTORIES and rel.suffix in SUFFIXES


def _read_tarball(path: Path) -> dict[str, bytes]:
    """{path inside the tree: bytes} of the wanted files, read in one streaming pass."""
    files = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                rel = PurePosixPath(*PurePosixPath(member.name).parts[1:])  # drop linux-X.Y/
                if member.isfile() and _wanted(rel):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        files[rel.as_posix()] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataError(
            f"linux-kernel source {path}: expected a readable kernel source tarball, got "
            f"{type(err).__name__}: {err}"
        ) from None
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    """{path inside the tree: bytes} of the wanted files of an unpacked kernel tree."""
    files = {}
    for directory in DIRECTORIES:
        for path in (root / directory).rglob("*"):
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_file() and _wanted(rel):
                files[rel.as_posix()] = path.read_bytes()
    return files


def build_text(files: dict[str, bytes]) -> tuple[str, list[str], list[str]]:
    """Join the files, sorted by path, each under a `// file: <path>` line.

    Returns:
        (text, sources, skipped): the files used and those left out (not UTF-8, or binary).
    """
    texts, sources, skipped = [], [], []
    for rel in sorted(files, key=lambda r: PurePosixPath(r).parts):
        try:
            text = decode_utf8(files[rel], rel)
        except DataError:
            skipped.append(rel)
            continue
        texts.append(f"// file: {rel}\n{text}")
        sources.append(rel)
    return join_texts(texts), sources, skipped


def _stamp(path: Path) -> dict:
    """What identifies a source: its path, size and modification time."""
    info = path.stat()
    return {
        "source": str(path.resolve()),
        "size": info.st_size,
        "mtime": int(info.st_mtime),
        "directories": list(DIRECTORIES),
    }


def load_linux_kernel(
    cache_dir: str | os.PathLike | None = None, source: str | os.PathLike | None = None
) -> tuple[str, list[str], list[str]]:
    """The kernel's C sources as one text, read once and cached.

    Args:
        cache_dir: the rnnlab cache (default: `RNNLAB_CACHE`, else ~/.cache/rnnlab).
        source: a kernel source tarball or tree (default: $RNNLAB_LINUX_SOURCE, else the
            newest /usr/src/linux-source-*.tar.*).

    Returns:
        (text, sources, skipped), as `build_text`.

    Raises:
        DataError: when no sources are installed and nothing is cached (the message says how
            to get them), or the sources cannot be read or hold no C file.
    """
    cache = resolve_cache_dir(cache_dir) / CACHE_SUBDIR
    text_file, manifest_file = cache / "linux-kernel.txt", cache / "manifest.json"
    path = find_source(source)
    manifest = None
    if manifest_file.is_file() and text_file.is_file():
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            manifest = None  # damaged: rebuilt below when the sources are there
    if manifest is not None and isinstance(manifest, dict):
        if path is None or manifest.get("stamp") == _stamp(path):
            return read_text_file(text_file), manifest["sources"], manifest.get("skipped", [])
    if path is None:
        raise DataError(
            f"linux-kernel: expected the kernel's sources ({DEBIAN_SOURCES}/linux-source-*"
            f".tar.xz), found none; {_HOW_TO_GET}"
        )
    files = _read_tree(path) if path.is_dir() else _read_tarball(path)
    if not files:
        raise DataError(
            f"linux-kernel source {path}: expected C files (*.c, *.h) under "
            f"{', '.join(d + '/' for d in DIRECTORIES)}, found none"
        )
    text, sources, skipped = build_text(files)
    if not sources:
        raise DataError(f"linux-kernel source {path}: none of its C files is UTF-8 text")
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text_file, text)
    atomic_write_json(
        manifest_file, {"stamp": _stamp(path), "sources": sources, "skipped": skipped}
    )
    return text, sources, skipped
