"""CharVocab: round trips over arbitrary Unicode, JSON, unknown characters, vectorised encode."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.data import CharVocab
from rnnlab.errors import DataError

SPECIAL = [
    "\n",
    "\t",
    "\r",
    "\r\n",
    "🙂",
    "👩‍👩‍👧",
    "e\u0301",
    "\u0300",
    "\x00",
    "\ud800",
    "\U0010ffff",
]
# Any code point, lone surrogates included, plus newlines, emoji and combining marks.
unicode_text = st.lists(
    st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL)), min_size=1
).map("".join)


@given(unicode_text)
def test_encode_decode_round_trip(text):
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.int64
    assert ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.chars == tuple(sorted(set(text)))


@given(unicode_text)
def test_json_round_trip(text):
    vocab = CharVocab.from_text(text)
    again = CharVocab.from_json(json.loads(json.dumps(vocab.to_json())))
    assert again == vocab
    assert again.chars == vocab.chars
    assert again.decode(vocab.encode(text)) == text


def test_characters_are_code_points():
    vocab = CharVocab.from_text("a🙂e\u0301\U0001f1fa")
    assert len(vocab) == 5
    assert vocab.encode("🙂").tolist() == [vocab.chars.index("🙂")]
    assert vocab.decode(vocab.encode("e\u0301🙂")) == "e\u0301🙂"


def test_from_text_is_sorted_and_deterministic():
    assert CharVocab.from_text("banana\n").chars == ("\n", "a", "b", "n")
    assert CharVocab.from_text("nab\n") == CharVocab.from_text("ban\n\n")
    assert hash(CharVocab.from_text("ab")) == hash(CharVocab(["a", "b"]))
    assert CharVocab(["b", "a"]) != CharVocab(["a", "b"])


def test_json_form():
    assert CharVocab.from_text("b\na").to_json() == {"type": "char", "chars": ["\n", "a", "b"]}
    with pytest.raises(DataError, match="type 'char'"):
        CharVocab.from_json({"type": "bpe", "chars": ["a"]})
    with pytest.raises(DataError, match="'chars' to be a list"):
        CharVocab.from_json({"type": "char", "chars": "ab"})


def test_custom_order_encodes_by_position():
    vocab = CharVocab(["z", "🙂", "a"])
    assert vocab.encode("a🙂z").tolist() == [2, 1, 0]
    assert vocab.decode([0, 1, 2]) == "z🙂a"


def test_unknown_error_lists_characters_once():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(DataError) as err:
        vocab.encode("abxyzxé🙂")
    msg = str(err.value)
    for ch in ["x", "y", "z", "é", "🙂"]:
        assert msg.count(repr(ch)) == 1
    assert "unknown='replace'" in msg
    assert "--unknown replace --replace-with CHAR" in msg and "--unknown drop" in msg


def test_unknown_error_truncates_long_lists():
    vocab = CharVocab.from_text("a")
    text = "".join(chr(0x4E00 + i) for i in range(30))
    with pytest.raises(DataError, match="and 10 more"):
        vocab.encode(text)


def test_unknown_chars_in_first_occurrence_order():
    vocab = CharVocab.from_text("abc")
    assert vocab.unknown_chars("zabyzx") == ["z", "y", "x"]
    assert vocab.unknown_chars("cab") == []


def test_drop_and_replace():
    vocab = CharVocab.from_text("ab?")
    assert vocab.decode(vocab.encode("axb🙂", unknown="drop")) == "ab"
    assert vocab.decode(vocab.encode("axb🙂", unknown="replace", replacement="?")) == "a?b?"
    assert vocab.encode("ab", unknown="replace", replacement="?").tolist() == [1, 2]


def test_replace_needs_known_replacement():
    vocab = CharVocab.from_text("ab")
    with pytest.raises(DataError, match=r"--replace-with CHAR.*got none"):
        vocab.encode("abc", unknown="replace")
    with pytest.raises(DataError, match="got '\\?', not in it"):
        vocab.encode("abc", unknown="replace", replacement="?")
    with pytest.raises(DataError, match="one of"):
        vocab.encode("abc", unknown="ignore")


def test_decode_accepts_tensors_and_checks_range():
    vocab = CharVocab.from_text("hello")
    ids = vocab.encode("hello")
    assert vocab.decode(torch.from_numpy(ids)) == "hello"
    assert vocab.decode(ids.tolist()) == "hello"
    assert vocab.decode([]) == ""
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        vocab.decode([0, 4])
    with pytest.raises(DataError, match=r"\[0, 4\)"):
        vocab.decode([-1])
    with pytest.raises(DataError, match="shape"):
        vocab.decode([[0, 1]])


def test_bad_construction():
    with pytest.raises(DataError, match="at least one"):
        CharVocab([])
    with pytest.raises(DataError, match="non-empty"):
        CharVocab.from_text("")
    with pytest.raises(DataError, match="duplicates of 'a'"):
        CharVocab(["a", "b", "a"])
    with pytest.raises(DataError, match="one-character"):
        CharVocab(["ab"])


def test_encode_large_text_matches_a_dict_lookup():
    rng = np.random.default_rng(0)
    alphabet = [*"abcdefghij \n.,;:!?'", "é", "🙂", "\u0301", "中"]
    text = "".join(rng.choice(alphabet, size=5_000_000))
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    index = {c: i for i, c in enumerate(vocab.chars)}
    head = text[:20_000] + text[-20_000:]
    expected = [index[c] for c in head]
    assert np.concatenate([ids[:20_000], ids[-20_000:]]).tolist() == expected
    assert np.bincount(ids, minlength=len(vocab)).sum() == len(text)
