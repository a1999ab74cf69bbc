"""Date-normalisation pairs: every format reads back, weekdays are right, splits never mix."""

import datetime
import random
import re

import pytest

from rnnlab.data import dates
from rnnlab.errors import InputError

NOV23 = datetime.date(2026, 11, 23)  # a Monday
EXPECTED_NOV23 = {
    "iso": "2026-11-23",
    "iso_slash": "2026/11/23",
    "iso_dot": "2026.11.23",
    "compact": "20261123",
    "us_slash": "11/23/2026",
    "us_slash_padded": "11/23/2026",
    "us_slash_short": "11/23/26",
    "us_dash": "11-23-2026",
    "eu_slash": "23/11/2026",
    "eu_slash_short": "23/11/26",
    "eu_dash": "23-11-2026",
    "eu_dot": "23.11.2026",
    "eu_dot_short": "23.11.26",
    "en_long": "November 23, 2026",
    "en_abbr": "Nov 23, 2026",
    "en_ordinal": "November 23rd, 2026",
    "en_weekday": "Monday, November 23, 2026",
    "en_day_month": "23 November 2026",
    "en_day_abbr": "23 Nov. 2026",
    "en_ordinal_of": "23rd of November 2026",
    "en_weekday_ordinal_of": "Monday, 23rd of November 2026",
    "en_rfc": "Mon, 23 Nov 2026",
    "en_dd_mon_yy": "23-Nov-26",
    "fr_long": "le 23 novembre 2026",
    "fr_weekday": "lundi 23 novembre 2026",
    "fr_abbr": "23 nov. 2026",
    "es_long": "23 de noviembre de 2026",
    "es_weekday": "lunes, 23 de noviembre de 2026",
    "de_long": "23. November 2026",
    "de_weekday": "Montag, 23. November 2026",
    "it_long": "23 novembre 2026",
    "it_weekday": "lunedì 23 novembre 2026",
    "pt_long": "23 de novembro de 2026",
    "pt_weekday": "segunda-feira, 23 de novembro de 2026",
    "nl_long": "23 november 2026",
    "nl_weekday": "maandag 23 november 2026",
}

# An independent reader: month and weekday names typed afresh, one pattern per format.
MONTHS = {
    "en": "january february march april may june july august september october november december",
    "en3": "jan feb mar apr may jun jul aug sep oct nov dec",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "frab": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "de": "januar februar märz april mai juni juli august september oktober november dezember",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
    "dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}
WEEKDAYS = {  # Monday first
    "en": "monday tuesday wednesday thursday friday saturday sunday",
    "en3": "mon tue wed thu fri sat sun",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "es": "lunes martes miércoles jueves viernes sábado domingo",
    "de": "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "pt": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
}
D, DD, MM, Y4, YY = (
    r"(?P<d>\d{1,2})",
    r"(?P<d>\d\d)",
    r"(?P<m>\d\d)",
    r"(?P<y>\d{4})",
    r"(?P<yy>\d\d)",
)
EN_D = r"(?P<d>\d{1,2})(?P<suffix>st|nd|rd|th)"
FR_D = r"(?P<d>1er|\d{1,2})"
IT_D = r"(?P<d>1º|\d{1,2})"
MON, WD = r"(?P<mon>[^\W\d]+\.?)", r"(?P<wd>[\w-]+)"
PATTERNS = {  # format: (pattern, month-name table, weekday table)
    "iso": (rf"{Y4}-{MM}-{DD}", None, None),
    "iso_slash": (rf"{Y4}/{MM}/{DD}", None, None),
    "iso_dot": (rf"{Y4}\.{MM}\.{DD}", None, None),
    "compact": (rf"{Y4}{MM}{DD}", None, None),
    "us_slash": (rf"(?P<m>[1-9]|1[0-2])/(?P<d>[1-9]|[12]\d|3[01])/{Y4}", None, None),
    "us_slash_padded": (rf"{MM}/{DD}/{Y4}", None, None),
    "us_slash_short": (rf"{MM}/{DD}/{YY}", None, None),
    "us_dash": (rf"{MM}-{DD}-{Y4}", None, None),
    "eu_slash": (rf"{DD}/{MM}/{Y4}", None, None),
    "eu_slash_short": (rf"{DD}/{MM}/{YY}", None, None),
    "eu_dash": (rf"{DD}-{MM}-{Y4}", None, None),
    "eu_dot": (rf"{DD}\.{MM}\.{Y4}", None, None),
    "eu_dot_short": (rf"{DD}\.{MM}\.{YY}", None, None),
    "en_long": (rf"{MON} {D}, {Y4}", "en", None),
    "en_abbr": (rf"{MON} {D}, {Y4}", "en3", None),
    "en_ordinal": (rf"{MON} {EN_D}, {Y4}", "en", None),
    "en_weekday": (rf"{WD}, {MON} {D}, {Y4}", "en", "en"),
    "en_day_month": (rf"{D} {MON} {Y4}", "en", None),
    "en_day_abbr": (rf"{D} {MON} {Y4}", "en3", None),
    "en_ordinal_of": (rf"{EN_D} of {MON} {Y4}", "en", None),
    "en_weekday_ordinal_of": (rf"{WD}, {EN_D} of {MON} {Y4}", "en", "en"),
    "en_rfc": (rf"{WD}, {DD} {MON} {Y4}", "en3", "en3"),
    "en_dd_mon_yy": (rf"{DD}-{MON}-{YY}", "en3", None),
    "fr_long": (rf"le {FR_D} {MON} {Y4}", "fr", None),
    "fr_weekday": (rf"{WD} {FR_D} {MON} {Y4}", "fr", "fr"),
    "fr_abbr": (rf"{FR_D} {MON} {Y4}", "frab", None),
    "es_long": (rf"{D} de {MON} de {Y4}", "es", None),
    "es_weekday": (rf"{WD}, {D} de {MON} de {Y4}", "es", "es"),
    "de_long": (rf"{D}\. {MON} {Y4}", "de", None),
    "de_weekday": (rf"{WD}, {D}\. {MON} {Y4}", "de", "de"),
    "it_long": (rf"{IT_D} {MON} {Y4}", "it", None),
    "it_weekday": (rf"{WD} {IT_D} {MON} {Y4}", "it", "it"),
    "pt_long": (rf"{IT_D} de {MON} de {Y4}", "pt", None),
    "pt_weekday": (rf"{WD}, {IT_D} de {MON} de {Y4}", "pt", "pt"),
    "nl_long": (rf"{D} {MON} {Y4}", "nl", None),
    "nl_weekday": (rf"{WD} {D} {MON} {Y4}", "nl", "nl"),
}


def read_back(text, fmt):
    """The date `text` names under `fmt`, checking the weekday and the ordinal suffix."""
    pattern, months, weekdays = PATTERNS[fmt]
    m = re.fullmatch(pattern, text.lower())
    assert m, f"{fmt}: {text!r} does not match {pattern}"
    g = m.groupdict()
    if g.get("yy"):
        yy = int(g["yy"])
        year = 2000 + yy if yy < 50 else 1900 + yy
    else:
        year = int(g["y"])
    if months:
        names = MONTHS[months].split()
        bare = [n.rstrip(".") for n in names]
        mon = g["mon"]
        assert mon in names or mon.rstrip(".") in bare, f"{fmt}: unknown month {mon!r}"
        month = (names.index(mon) if mon in names else bare.index(mon.rstrip("."))) + 1
        if months == "en3":
            full = MONTHS["en"].split()[month - 1]
            assert mon.endswith(".") == (fmt == "en_day_abbr" and full != mon.rstrip("."))
    else:
        month = int(g["m"])
    day_text = g["d"]
    day = 1 if day_text in ("1er", "1º") else int(day_text)
    d = datetime.date(year, month, day)
    if day_text == "1" and fmt.split("_")[0] in ("fr", "it", "pt"):
        raise AssertionError(f"{fmt}: the first of the month is written {text!r}")
    if g.get("suffix"):
        want = "th" if day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        assert g["suffix"] == want, f"{fmt}: {text!r} has the wrong ordinal suffix"
    if weekdays:
        assert g["wd"] == WEEKDAYS[weekdays].split()[d.weekday()], f"{fmt}: {text!r} weekday"
    return d


def test_at_least_25_formats_all_checked():
    assert len(dates.FORMATS) >= 25
    assert len(set(dates.FORMATS)) == len(dates.FORMATS)
    assert set(dates.FORMATS) == set(EXPECTED_NOV23) == set(PATTERNS)


@pytest.mark.parametrize("fmt", sorted(EXPECTED_NOV23))
def test_known_example(fmt):
    assert dates.format_date(NOV23, fmt) == EXPECTED_NOV23[fmt]


@pytest.mark.parametrize(
    ("d", "fmt", "expected"),
    [
        (datetime.date(2001, 1, 1), "en_weekday_ordinal_of", "Monday, 1st of January 2001"),
        (datetime.date(1999, 2, 2), "en_ordinal", "February 2nd, 1999"),
        (datetime.date(2013, 3, 3), "en_ordinal_of", "3rd of March 2013"),
        (datetime.date(2011, 4, 11), "en_ordinal", "April 11th, 2011"),
        (datetime.date(2012, 5, 12), "en_ordinal", "May 12th, 2012"),
        (datetime.date(2013, 6, 13), "en_ordinal", "June 13th, 2013"),
        (datetime.date(2021, 7, 21), "en_ordinal", "July 21st, 2021"),
        (datetime.date(2022, 8, 22), "en_ordinal", "August 22nd, 2022"),
        (datetime.date(1900, 1, 31), "en_ordinal", "January 31st, 1900"),
        (datetime.date(2026, 5, 1), "fr_long", "le 1er mai 2026"),
        (datetime.date(2026, 5, 1), "fr_weekday", "vendredi 1er mai 2026"),
        (datetime.date(2026, 5, 1), "it_long", "1º maggio 2026"),
        (datetime.date(2026, 5, 1), "pt_long", "1º de maio de 2026"),
        (datetime.date(2026, 5, 1), "es_long", "1 de mayo de 2026"),
        (datetime.date(2026, 5, 1), "en_day_abbr", "1 May 2026"),
        (datetime.date(2026, 9, 7), "en_day_abbr", "7 Sep. 2026"),
        (datetime.date(2026, 3, 29), "de_weekday", "Sonntag, 29. März 2026"),
        (datetime.date(2026, 1, 5), "us_slash", "1/5/2026"),
        (datetime.date(2026, 1, 5), "us_slash_padded", "01/05/2026"),
        (datetime.date(1950, 1, 1), "eu_slash_short", "01/01/50"),
        (datetime.date(2049, 12, 31), "us_slash_short", "12/31/49"),
        (datetime.date(2000, 2, 29), "en_dd_mon_yy", "29-Feb-00"),
    ],
)
def test_edge_examples(d, fmt, expected):
    assert dates.format_date(d, fmt) == expected


@pytest.mark.parametrize("fmt", dates.FORMATS)
def test_every_format_reads_back(fmt):
    rng = random.Random(fmt)
    lo, hi = dates.TWO_DIGIT_RANGE if fmt in dates.TWO_DIGIT_FORMATS else dates.DATE_RANGE
    span = (hi - lo).days
    samples = [lo, hi] + [lo + datetime.timedelta(days=rng.randrange(span + 1)) for _ in range(300)]
    for d in samples:
        assert read_back(dates.format_date(d, fmt), fmt) == d
        assert read_back(dates.format_date(d, fmt, rng=rng), fmt) == d


def test_pairs_read_back_and_vary_case():
    pairs = dates.date_pairs(3000, seed=3)
    cases = set()
    for written, iso in pairs:
        matches = {fmt for fmt in dates.FORMATS if re.fullmatch(PATTERNS[fmt][0], written.lower())}
        assert matches, written
        assert any(_reads_as(written, fmt) == iso for fmt in matches), (written, iso)
        if re.search(r"[^\W\d_]", written):
            cases.add(
                "lower"
                if written == written.lower()
                else "upper"
                if written == written.upper()
                else "mixed"
            )
    assert cases == {"lower", "upper", "mixed"}


def _reads_as(written, fmt):
    try:
        return read_back(written, fmt).isoformat()
    except (AssertionError, ValueError):
        return None


def test_title_case_keeps_ordinal_suffix():
    class Title(random.Random):
        def choices(self, population, weights=None, **kw):
            return ["title"]

    text = dates.format_date(NOV23, "en_weekday_ordinal_of", rng=Title())
    assert text == "Monday, 23rd Of November 2026"
    assert dates.format_date(NOV23, "pt_weekday", rng=Title()).startswith("Segunda-Feira, 23 De")


def test_weekdays_match_the_calendar():
    rng = random.Random(0)
    for _ in range(500):
        d = dates.DATE_RANGE[0] + datetime.timedelta(days=rng.randrange(73048))
        assert dates.format_date(d, "en_weekday").split(",")[0] == d.strftime("%A")
        assert dates.format_date(d, "en_rfc")[:3] == d.strftime("%a")


def test_splits_partition_the_range():
    lo, hi = dates.DATE_RANGE
    assert (lo, hi) == (datetime.date(1900, 1, 1), datetime.date(2099, 12, 31))
    counts = {s: 0 for s in dates.SPLITS}
    for i in range((hi - lo).days + 1):
        counts[dates.split_of(lo + datetime.timedelta(days=i))] += 1
    total = sum(counts.values())
    assert 0.88 < counts["train"] / total < 0.92
    assert 0.04 < counts["val"] / total < 0.06
    assert 0.04 < counts["test"] / total < 0.06
    assert dates.split_of(datetime.date(2026, 11, 23)) == dates.split_of(NOV23)


def test_split_of_is_a_fixed_function():
    # crc32 values are fixed forever: these memberships never change between runs or machines.
    import zlib

    for d in (datetime.date(1900, 1, 1), NOV23, datetime.date(2099, 12, 31)):
        bucket = zlib.crc32(d.isoformat().encode()) % 100
        want = "train" if bucket < 90 else "val" if bucket < 95 else "test"
        assert dates.split_of(d) == want


def test_held_out_dates_never_in_training():
    train = {iso for _, iso in dates.date_pairs(20000, split="train", seed=1)}
    val = {iso for _, iso in dates.date_pairs(3000, split="val", seed=1)}
    test = {iso for _, iso in dates.date_pairs(3000, split="test", seed=1)}
    assert not train & test and not train & val and not val & test
    for split, isos in (("train", train), ("val", val), ("test", test)):
        assert {dates.split_of(datetime.date.fromisoformat(i)) for i in isos} == {split}
    assert len(test) > 1000  # draws spread over the split, not a handful of dates


def test_two_digit_formats_stay_in_pivot_range():
    pairs = dates.date_pairs(2000, seed=5, formats=dates.TWO_DIGIT_FORMATS)
    lo, hi = dates.TWO_DIGIT_RANGE
    years = [datetime.date.fromisoformat(iso) for _, iso in pairs]
    assert all(lo <= d <= hi for d in years)
    assert min(years).year < 1960 and max(years).year > 2040


def test_deterministic_and_seeded():
    a = dates.date_pairs(200, split="val", seed=7, formats=["en_long", "de_long"])
    assert a == dates.date_pairs(200, split="val", seed=7, formats=("en_long", "de_long"))
    assert a != dates.date_pairs(200, split="val", seed=8, formats=["en_long", "de_long"])
    assert dates.date_pairs(0) == []
    assert {w[0].isdigit() for w, _ in a} == {False, True}  # both formats drawn


def test_errors_name_the_choices():
    with pytest.raises(InputError, match=r"unknown split 'dev'.*train, val, test"):
        dates.date_pairs(3, split="dev")
    with pytest.raises(InputError, match=r"unknown date format 'klingon'.*iso, iso_slash"):
        dates.date_pairs(3, formats=["iso", "klingon"])
    with pytest.raises(InputError, match=r"unknown date format 'nope'.*en_long"):
        dates.format_date(NOV23, "nope")
    with pytest.raises(InputError, match="non-empty sequence"):
        dates.date_pairs(3, formats=[])
    with pytest.raises(InputError, match="non-empty sequence"):
        dates.date_pairs(3, formats="iso")
    with pytest.raises(InputError, match="n as an integer >= 0"):
        dates.date_pairs(-1)
    with pytest.raises(InputError, match=r"two-digit years .*1950-01-01\.\.2049-12-31.*2077"):
        dates.format_date(datetime.date(2077, 1, 1), "us_slash_short")


def test_the_default_formats_give_every_written_date_one_reading():
    from rnnlab.data.dates import UNAMBIGUOUS_FORMATS, date_pairs

    readings: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        for written, iso in date_pairs(40_000, split=split, seed=11):
            readings.setdefault(written, set()).add(iso)
    assert not [w for w, isos in readings.items() if len(isos) > 1]
    assert "us_slash_short" in UNAMBIGUOUS_FORMATS and "eu_slash" in UNAMBIGUOUS_FORMATS
    mixed = date_pairs(40_000, seed=11, formats=("us_slash", "eu_slash"))
    seen: dict[str, set[str]] = {}
    for written, iso in mixed:
        seen.setdefault(written, set()).add(iso)
    assert any(len(isos) > 1 for isos in seen.values())  # why the two are not both default
