"""The linux-kernel corpus: C files of kernel/ and mm/ from a source tarball or tree, cached."""

import io
import os
import tarfile

import pytest

from rnnlab.data import linux
from rnnlab.data.corpora import load_corpus
from rnnlab.errors import DataError

FILES = {
    "kernel/fork.c": b"int fork(void)\n{\n\treturn 0; /* child */\n}\n",
    "kernel/sched/core.c": b'// core\nchar *s = "{";\n',
    "mm/slab.h": b"#define SLAB 1\n",
    "mm/latin1.c": "/* caf\xe9 */\n".encode("latin-1"),  # not UTF-8: left out
    "drivers/net/x.c": b"int driver;\n",  # not a corpus directory
    "kernel/Makefile": b"obj-y += fork.o\n",  # not a C file
    "Documentation/mm.rst": b"text\n",
}


def make_tarball(path, files=FILES, top="linux-source-9.9"):
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_tree(root, files=FILES):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def no_debian_sources(tmp_path, monkeypatch):
    """Nothing under /usr/src and no environment variable, whatever this machine has."""
    monkeypatch.delenv(linux.SOURCE_ENV, raising=False)
    monkeypatch.setattr(linux, "DEBIAN_SOURCES", tmp_path / "usr-src")


EXPECTED_SOURCES = ["kernel/fork.c", "kernel/sched/core.c", "mm/slab.h"]


def test_tarball_gives_the_c_files_of_kernel_and_mm_sorted_with_headers(
    tmp_path, no_debian_sources
):
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    text, sources, skipped = linux.load_linux_kernel(tmp_path / "cache", tarball)
    assert sources == EXPECTED_SOURCES
    assert skipped == ["mm/latin1.c"]
    assert text.startswith("// file: kernel/fork.c\nint fork(void)\n{\n\treturn 0;")
    assert "\n\n// file: kernel/sched/core.c\n// core\n" in text
    assert text.endswith("// file: mm/slab.h\n#define SLAB 1\n")
    assert "driver" not in text and "obj-y" not in text and "caf" not in text


def test_an_unpacked_tree_reads_the_same_as_the_tarball(tmp_path, no_debian_sources):
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    tree = make_tree(tmp_path / "tree")
    from_tar = linux.load_linux_kernel(tmp_path / "cache-a", tarball)
    from_tree = linux.load_linux_kernel(tmp_path / "cache-b", tree)
    assert from_tar == from_tree


def test_cached_after_the_first_read_and_rebuilt_when_the_source_changes(
    tmp_path, no_debian_sources, monkeypatch
):
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    first = linux.load_linux_kernel(tmp_path / "cache", tarball)

    def must_not_read(path):
        raise AssertionError("the tarball was read again")

    with monkeypatch.context() as patched:
        patched.setattr(linux, "_read_tarball", must_not_read)
        assert linux.load_linux_kernel(tmp_path / "cache", tarball) == first
    make_tarball(tarball, {**FILES, "mm/new.c": b"int new_file;\n"})
    os.utime(tarball, (1, 1))
    text, sources, _ = linux.load_linux_kernel(tmp_path / "cache", tarball)
    assert "mm/new.c" in sources and "int new_file;" in text


def test_the_cache_serves_when_the_package_is_gone(tmp_path, no_debian_sources, monkeypatch):
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    first = linux.load_linux_kernel(tmp_path / "cache", tarball)
    tarball.unlink()
    assert linux.load_linux_kernel(tmp_path / "cache") == first


def test_a_damaged_manifest_is_rebuilt_from_the_sources(tmp_path, no_debian_sources):
    tarball = make_tarball(tmp_path / "linux-source-9.9.tar.xz")
    first = linux.load_linux_kernel(tmp_path / "cache", tarball)
    (tmp_path / "cache" / linux.CACHE_SUBDIR / "manifest.json").write_text("{not json")
    assert linux.load_linux_kernel(tmp_path / "cache", tarball) == first


def test_debian_tarballs_are_found_newest_version_first(tmp_path, monkeypatch):
    monkeypatch.delenv(linux.SOURCE_ENV, raising=False)
    src = tmp_path / "usr-src"
    src.mkdir()
    for name in ("linux-source-6.9.tar.xz", "linux-source-6.10.tar.xz", "other.tar.xz"):
        (src / name).write_bytes(b"")
    monkeypatch.setattr(linux, "DEBIAN_SOURCES", src)
    assert linux.find_source() == src / "linux-source-6.10.tar.xz"
    monkeypatch.setenv(linux.SOURCE_ENV, str(src / "linux-source-6.9.tar.xz"))
    assert linux.find_source() == src / "linux-source-6.9.tar.xz"


def test_load_corpus_by_name_through_the_environment(tmp_path, no_debian_sources, monkeypatch):
    monkeypatch.setenv(linux.SOURCE_ENV, str(make_tree(tmp_path / "tree")))
    corpus = load_corpus("linux-kernel", cache_dir=tmp_path / "cache")
    assert corpus.name == "linux-kernel"
    assert corpus.sources == EXPECTED_SOURCES and corpus.skipped == ["mm/latin1.c"]


def test_missing_sources_say_how_to_get_them(tmp_path, no_debian_sources):
    with pytest.raises(DataError, match=r"apt-get install linux-source.*RNNLAB_LINUX_SOURCE"):
        load_corpus("linux-kernel", cache_dir=tmp_path / "cache")


def test_bad_sources_are_clear_errors(tmp_path, no_debian_sources, monkeypatch):
    with pytest.raises(DataError, match="found nothing there"):
        linux.load_linux_kernel(tmp_path / "cache", tmp_path / "missing.tar.xz")
    monkeypatch.setenv(linux.SOURCE_ENV, str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"RNNLAB_LINUX_SOURCE .*found nothing there"):
        linux.load_linux_kernel(tmp_path / "cache")
    truncated = tmp_path / "linux-source-9.9.tar.xz"
    make_tarball(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(DataError, match="expected a readable kernel source tarball"):
        linux.load_linux_kernel(tmp_path / "cache", truncated)
    no_c = make_tarball(tmp_path / "docs.tar.xz", {"Documentation/a.rst": b"x\n"})
    with pytest.raises(DataError, match=r"expected C files .* kernel/, mm/"):
        linux.load_linux_kernel(tmp_path / "cache", no_c)
