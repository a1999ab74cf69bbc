"""TSV pairs, tokenizers, token vocabularies and the seeded split of one TSV file."""

import pytest

from rnnlab.data.parallel import (
    TokenVocab,
    detokenize,
    filter_lengths,
    read_tsv_pairs,
    tokenize,
    tsv_splits,
)
from rnnlab.errors import DataError, InputError


def test_tokenizers_and_their_inverse():
    assert tokenize("¿Dónde está?", "word") == ["¿", "Dónde", "está", "?"]
    assert detokenize(tokenize("¿Dónde está? (aquí), sí.", "word"), "word") == (
        "¿Dónde está? (aquí), sí."
    )
    assert tokenize("a b", "char") == ["a", " ", "b"]
    assert detokenize(["a", " ", "b"], "char") == "a b"
    with pytest.raises(InputError, match="expected tokens in char, word"):
        tokenize("x", "bpe")


def test_vocabulary_specials_frequency_and_round_trip():
    vocab = TokenVocab.build([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert vocab.tokens == ["<pad>", "<s>", "</s>", "<unk>", "b", "a"]
    assert vocab.encode(["a", "zzz"]) == [5, vocab.unk]
    assert vocab.decode([1, 4, 0, 5, 2, 4]) == ["b", "a"]  # <s>, <pad> out; stops at </s>
    assert TokenVocab.from_json(vocab.to_json()).tokens == vocab.tokens
    assert TokenVocab.build([["x", "y", "y"]], max_size=1).tokens[4:] == ["y"]
    assert vocab.unknown_rate([["a", "q"]]) == 0.5
    with pytest.raises(DataError):
        TokenVocab.from_json({"not": "a list"})
    with pytest.raises(InputError, match="min_freq >= 1"):
        TokenVocab.build([], min_freq=0)


def test_a_tsv_file_splits_by_a_seeded_shuffle(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("".join(f"s{i}\tt{i}\n" for i in range(100)), encoding="utf-8")
    kw = dict(owner="t", what="a<TAB>b", builtin="x", items="pairs", val_fraction=0.1,
              test_fraction=0.2)  # fmt: skip
    a = tsv_splits(path, seed=3, **kw)
    assert [len(a[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    seen = [p for s in a.values() for p in s]
    assert len(set(seen)) == 100 and a == tsv_splits(path, seed=3, **kw)
    assert a != tsv_splits(path, seed=4, **kw)
    assert a["train"] == sorted(a["train"], key=lambda p: int(p[0][1:]))  # file order kept
    (tmp_path / "d").mkdir()
    for s in ("train", "val", "test"):
        (tmp_path / "d" / f"{s}.tsv").write_text(f"{s}\tx\n", encoding="utf-8")
    assert tsv_splits(tmp_path / "d", seed=0, **kw)["val"] == [("val", "x")]
    (tmp_path / "two.tsv").write_text("a\tb\nc\td\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 pairs cannot be split"):
        tsv_splits(tmp_path / "two.tsv", seed=0, **kw)
    with pytest.raises(DataError, match=r"no data .*expected x, a TSV file of a<TAB>b lines"):
        tsv_splits(tmp_path / "missing.tsv", seed=0, **kw)


def test_reading_and_length_filter(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("\ufeffa b\tc\n\n x \t y \n", encoding="utf-8")
    assert read_tsv_pairs(path) == [("a b", "c"), ("x", "y")]
    (tmp_path / "empty.tsv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no source<TAB>target lines"):
        read_tsv_pairs(tmp_path / "empty.tsv")
    with pytest.raises(DataError, match="cannot read it"):
        read_tsv_pairs(tmp_path / "nope.tsv")
    pairs = [(["a"] * 3, ["b"]), (["a"], ["b"] * 5)]
    assert filter_lengths(pairs, 4) == [pairs[0]] and filter_lengths(pairs, None) == pairs
