"""read_text_head: the start of a text file of any size, read in one bounded read."""

from pathlib import Path

import pytest

from rnnlab.cli.options import read_text_arg
from rnnlab.data.textfiles import read_text_file, read_text_head
from rnnlab.errors import DataError, InputError


def spy_reads(monkeypatch):
    """Record the size of every read of a file opened through Path.open."""
    sizes = []
    real_open = Path.open

    def spying_open(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        read = handle.read

        class Spy:
            def read(self, n=-1):
                sizes.append(n)
                return read(n)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

        return Spy()

    monkeypatch.setattr(Path, "open", spying_open)
    return sizes


def test_a_long_file_is_read_in_one_bounded_read(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"ab\r\n" * 50_000)  # BOM and CRLF, as corpora have
    sizes = spy_reads(monkeypatch)
    text, cut = read_text_head(path, 1_000)
    assert cut and text == ("ab\n" * 334)[:1_000]
    assert sizes == [4 * 1_001 + 3, 1]  # never the whole file


@pytest.mark.parametrize("text", ["😀" * 50, "aé" * 60, "é😀x" * 40, "abc" * 30])
@pytest.mark.parametrize("limit", [1, 7, 10, 11, 12])
def test_the_head_equals_the_whole_files_start_even_when_the_read_cuts_a_character(
    tmp_path, text, limit
):
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    head, cut = read_text_head(path, limit)
    whole = read_text_file(path)
    assert head == whole[:limit]
    assert cut == (len(whole) > limit)


def test_lengths_at_the_limit(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("x" * 10, encoding="utf-8")
    assert read_text_head(path, 10) == ("x" * 10, False)
    assert read_text_head(path, 9) == ("x" * 9, True)
    assert read_text_head(path, 11) == ("x" * 10, False)


def test_bad_bytes_within_the_head_are_a_data_error(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9 " * 100)
    with pytest.raises(DataError, match="not valid UTF-8"):
        read_text_head(path, 50)


def test_text_option_errors_name_the_command(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = [
        (tmp_path / "missing.txt", "no such file"),
        (tmp_path, "is a directory"),
        (latin, "is not UTF-8 text"),
        (empty, "is empty"),
    ]
    for path, message in cases:
        for limit in (None, 5):
            with pytest.raises(InputError, match=f"^viz cells: --text .*{message}"):
                read_text_arg("viz cells", path, limit)
    good = tmp_path / "good.txt"
    good.write_text("hello\r\nworld\n", encoding="utf-8")
    assert read_text_arg("gradflow", good) == ("hello\nworld\n", False)
    assert read_text_arg("viz cells", good, 5) == ("hello", True)
