"""KJV / RV 1909 verse pairs: clear errors, cleaning, book splits, known verses, the cache."""

import re
import sys
from pathlib import Path

import pytest

from rnnlab.data import bible
from rnnlab.errors import DataError

SYSTEM_SWORD = Path("/usr/share/sword")


def _modules_installed():
    try:
        import pysword.modules  # noqa: F401
    except ImportError:
        return False
    return all((SYSTEM_SWORD / "mods.d" / f"{m}.conf").is_file() for m in bible.MODULES.values())


needs_modules = pytest.mark.skipif(
    not _modules_installed(),
    reason="needs pysword and the SWORD modules in /usr/share/sword "
    "(apt-get install sword-text-kjv sword-text-sparv; pip install pysword)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The verses built from the installed modules into a fresh cache, and that cache dir."""
    cache = tmp_path_factory.mktemp("bible-cache")
    return bible.load_bible_pairs(sword_path=SYSTEM_SWORD, cache_dir=cache), cache


def test_missing_modules_say_how_to_install(tmp_path):
    empty = tmp_path / "sword"
    empty.mkdir()
    with pytest.raises(DataError) as err:
        bible.load_bible_pairs(sword_path=empty, cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "engKJV2006eb, spaRV1909eb not found" in msg
    assert str(empty) in msg
    assert "apt-get install sword-text-kjv sword-text-sparv" in msg
    assert "pip install pysword" in msg
    assert "--data PATH.tsv" in msg
    assert not (tmp_path / "cache" / "bible-en-es" / "verses.tsv").exists()


def test_missing_pysword_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pysword.modules", None)
    with pytest.raises(DataError, match=r"pysword is not installed.*pip install pysword"):
        bible.bible_splits(sword_path=tmp_path, cache_dir=tmp_path)


def test_sword_path_order(monkeypatch, tmp_path):
    monkeypatch.delenv("SWORD_PATH", raising=False)
    assert bible.sword_paths() == [Path("/usr/share/sword"), Path.home() / ".sword"]
    monkeypatch.setenv("SWORD_PATH", str(tmp_path))
    assert bible.sword_paths() == [tmp_path]
    assert bible.sword_paths(tmp_path / "x") == [tmp_path / "x"]


def test_held_out_books_are_disjoint_and_real():
    val, test = set(bible.HELD_OUT["val"]), set(bible.HELD_OUT["test"])
    assert val and test and not val & test
    assert {bible.split_of_book(b) for b in val} == {"val"}
    assert {bible.split_of_book(b) for b in test} == {"test"}
    assert bible.split_of_book("Genesis") == "train"
    assert "Mark" not in val | test  # near-copies of it are in Matthew and Luke


def test_clean_verses_strips_markup_and_joins_enclitics():
    raw = {
        ("Gen", 1, 1): 'In the <w lemma="strong:H7225">beginning</w> God.<note placement="foot">'
        '<reference>1.1 </reference>Heb. note</note> ¶ <div eID="x" type="x-p"/>',
        ("Gen", 1, 2): '<title canonical="true">A Psalm.</title><l/>The \\nd <w>LORD</w>  is.',
        ("Gen", 1, 3): "<w>enviada</w><w>por</w><transChange>medio de</transChange><w>Febe</w>",
        (
            "Gen",
            1,
            4,
        ): "<w>oyéndo</w><transChange>lo</transChange> <w>él</w>, <w>Señor</w><w>es</w>",
        ("Gen", 1, 5): "<w>haced</w><w>lo</w> y haced, hacedlo bien; ¿<w>Qué</w><w>?</w>",
        ("Gen", 1, 6): '<div type="x-milestone"/>',
    }
    clean = bible.clean_verses(raw)
    assert list(clean) == list(raw)
    assert clean[("Gen", 1, 1)] == "In the beginning God."
    assert clean[("Gen", 1, 2)] == "A Psalm. The LORD is."
    assert clean[("Gen", 1, 3)] == "enviada por medio de Febe"
    assert clean[("Gen", 1, 4)] == "oyéndolo él, Señor es"
    assert clean[("Gen", 1, 5)] == "hacedlo y haced, hacedlo bien; ¿Qué?"
    assert clean[("Gen", 1, 6)] == ""


def test_align_drops_empty_verses_and_their_chapters():
    en = {("B", 1, v): f"verse {v} of chapter one." for v in range(1, 6)}
    en |= {("B", 2, v): f"verse {v} of chapter two." for v in range(1, 4)}
    es = {ref: text.replace("verse", "versículo") for ref, text in en.items()}
    es[("B", 2, 3)] = ""
    verses = bible.align(en, es)
    assert [(v.chapter, v.verse) for v in verses] == [(1, v) for v in range(1, 6)]
    assert verses[0] == bible.Verse("B", 1, 1, "verse 1 of chapter one.", es[("B", 1, 1)])


def test_corrupt_cache_without_modules_is_a_clear_error(tmp_path, monkeypatch):
    path = bible.cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(bible.CACHE_HEADER + "\nGenesis\t1\tone\tIn the beginning\tEN el\n")
    monkeypatch.setitem(sys.modules, "pysword.modules", None)
    with pytest.raises(DataError, match=r"pysword is not installed.*line 2: expected book"):
        bible.load_bible_pairs(cache_dir=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "book\tchapter\tverse\ten\n",
        bible.CACHE_HEADER + "\n",
        bible.CACHE_HEADER + "\nGenesis\t1\t1\tIn the beginning\n",
        bible.CACHE_HEADER + "\nGenesis\t0\t1\tIn the beginning\tEN el\n",
        bible.CACHE_HEADER + "\nGenesis\t1\t1\t \tEN el\n",
    ],
)
def test_read_cache_rejects_bad_files(tmp_path, text):
    path = tmp_path / "verses.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"bible cache {path}")):
        bible.read_cache(path)


@needs_modules
def test_known_verses(built):
    verses, _ = built
    by_ref = {(v.book, v.chapter, v.verse): v for v in verses}
    gen = by_ref[("Genesis", 1, 1)]
    assert gen.en == "In the beginning God created the heaven and the earth."
    assert gen.es == "EN el principio crió Dios los cielos y la tierra."
    john = by_ref[("John", 11, 35)]
    assert (john.en, john.es) == ("Jesus wept.", "Y lloró Jesús.")
    psalm = by_ref[("Psalms", 3, 1)]  # canonical title kept on both sides
    assert psalm.en.startswith("A Psalm of David, when he fled from Absalom his son. LORD, how")
    assert psalm.es.startswith("Salmo de David, cuando huía de delante de Absalom su hijo.")
    assert "enviada por medio de Febe" in by_ref[("Romans", 16, 27)].es
    for v in verses:
        for text in (v.en, v.es):
            assert text == text.strip() and "  " not in text and "<" not in text
            assert "¶" not in text and "\\" not in text and "\t" not in text


@needs_modules
def test_alignment_counts(built):
    verses, _ = built
    refs = [(v.book, v.chapter, v.verse) for v in verses]
    assert len(set(refs)) == len(refs)
    assert 30_000 < len(verses) < 31_102
    assert len({v.book for v in verses}) == 66
    chapters = {(v.book, v.chapter) for v in verses}
    assert 1_189 - 25 < len(chapters) < 1_189
    for renumbered in [("Jonah", 2), ("Numbers", 13), ("Job", 39), ("Hosea", 12)]:
        assert renumbered not in chapters
    assert ("Jonah", 3) in chapters and ("Job", 41) in chapters


@needs_modules
def test_splits_by_book(built):
    _, cache = built
    splits = bible.bible_splits(cache_dir=cache)
    assert set(splits) == {"train", "val", "test"}
    sizes = {name: len(pairs) for name, pairs in splits.items()}
    assert sizes == {"train": 28_922, "val": 412, "test": 1_259}
    train = set(splits["train"])
    assert not train & set(splits["test"]) and not train & set(splits["val"])
    assert splits["test"][0][0].startswith("Now it came to pass in the days of Ahasuerus")


@needs_modules
def test_cache_round_trip_needs_no_pysword(built, monkeypatch):
    verses, cache = built
    path = bible.cache_path(cache)
    assert path.read_text(encoding="utf-8").startswith(bible.CACHE_HEADER + "\nGenesis\t1\t1\t")
    monkeypatch.setitem(sys.modules, "pysword.modules", None)
    monkeypatch.setenv("SWORD_PATH", "/nonexistent")
    assert bible.load_bible_pairs(cache_dir=cache) == verses


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    verses = [bible.Verse("Genesis", 1, 1, "In the beginning.", "EN el principio.")]
    builds = []
    monkeypatch.setattr(bible, "build_bible_pairs", lambda path: builds.append(path) or verses)
    path = bible.cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("not a cache\n", encoding="utf-8")
    assert bible.load_bible_pairs(sword_path="/sw", cache_dir=tmp_path) == verses
    assert builds == ["/sw"]
    assert bible.read_cache(path) == verses
    assert bible.load_bible_pairs(cache_dir=tmp_path) == verses
    assert builds == ["/sw"]
