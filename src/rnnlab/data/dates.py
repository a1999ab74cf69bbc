"""Dates as people write them, paired with ISO 8601, for a seq2seq date-normalisation task.

`format_date(date(2026, 11, 23), "en_weekday_ordinal_of")` writes "Monday, 23rd of November
2026"; the target is always `date.isoformat()`, here "2026-11-23". `FORMATS` holds 36 formats
in seven languages (see `_WRITERS` for one example each):

- numeric: ISO with "-", "/" or "." separators, compact "20261123"; month-first US forms
  ("us_*": 11/23/2026 unpadded, so 1/5/2026; 01/05/2026; 11/23/26; 11-23-2026); day-first
  forms ("eu_*": 23/11/2026, 23/11/26, 23-11-2026, 23.11.2026, 23.11.26). Each format name
  fixes its convention, so "01/02/2026" is 2 January under "us_slash" and 1 February under
  "eu_slash": a sample drawn from both families is ambiguous by construction whenever the day
  is 12 or less; `date_pairs` therefore draws by default from `UNAMBIGUOUS_FORMATS` (32 formats):
  slashes and dashes are month-first with a two-digit year (the US "11/23/26") and day-first
  with a four-digit year;
- English: "November 23, 2026", "Nov 23, 2026", "November 23rd, 2026", "Monday, November 23,
  2026", "23 November 2026", "23 Nov. 2026" (a dot only where the name is shortened, so
  "23 May 2026"), "23rd of November 2026", "Monday, 23rd of November 2026", "Mon, 23 Nov 2026"
  (RFC 5322), "23-Nov-26";
- French ("le 23 novembre 2026", "le 1er mai 2026"; "lundi 23 novembre 2026"; "23 nov. 2026"),
  Spanish ("23 de noviembre de 2026"; "lunes, 23 de noviembre de 2026"), German ("23. November
  2026"; "Montag, 23. November 2026"), Italian ("23 novembre 2026", "1º maggio 2026"; "lunedì
  23 novembre 2026"), Portuguese ("23 de novembro de 2026", "1º de maio de 2026";
  "segunda-feira, 23 de novembro de 2026") and Dutch ("23 november 2026"; "maandag 23 november
  2026"). Weekday names are always the date's own weekday.

Two-digit years use the pivot 50: "00"-"49" are 2000-2049 and "50"-"99" are 1950-1999.
Formats that write them ("*_short", "en_dd_mon_yy") only cover 1950-01-01..2049-12-31
(`TWO_DIGIT_RANGE`), where that reading is exact; every other format covers `DATE_RANGE`.

Held-out dates: each calendar date in `DATE_RANGE` belongs to exactly one split, by the CRC-32
of its ISO string (`split_of`): about 90 % "train", 5 % "val", 5 % "test". A test date never
appears in training in any format, so a model must generalise to unseen dates, not only to
unseen spellings. `date_pairs` draws (written, iso) pairs from one split: a format uniformly
at random, then a date uniformly among that split's dates the format covers, then (with the
same seeded generator) a letter case: as written 60 %, lower 20 %, UPPER 10 %, Title 10 %.
"""

from __future__ import annotations

import datetime
import functools
import random
import re
import zlib
from collections.abc import Callable, Sequence

from rnnlab.errors import InputError

DATE_RANGE = (datetime.date(1900, 1, 1), datetime.date(2099, 12, 31))
TWO_DIGIT_RANGE = (datetime.date(1950, 1, 1), datetime.date(2049, 12, 31))
TWO_DIGIT_PIVOT = 50
SPLITS = ("train", "val", "test")
SPLIT_PERCENT = {"train": 90, "val": 5, "test": 5}

_MONTH_NAMES = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
    "dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}
_MONTHS = {lang: tuple(names.split()) for lang, names in _MONTH_NAMES.items()}
_MONTHS_ABBR = {
    "en": tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()),
    "fr": tuple("janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split()),
}
_WEEKDAY_NAMES = {  # Monday first, as date.weekday() counts
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "es": "lunes martes miércoles jueves viernes sábado domingo",
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "pt": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
}
_WEEKDAYS = {lang: tuple(names.split()) for lang, names in _WEEKDAY_NAMES.items()}
_CASES = ("as_written", "lower", "upper", "title")
_CASE_WEIGHTS = (6, 2, 1, 1)
_WORD_START = re.compile(r"\b([^\W\d_])")


def _ordinal(day: int) -> str:
    """English ordinal: 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st, 22nd, 23rd."""
    suffix = "th" if day % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _first_ordinal(day: int, first: str) -> str:
    """The day number, with `first` ("1er", "1º") written for the first of the month."""
    return first if day == 1 else str(day)


def _month(d: datetime.date, lang: str) -> str:
    """The month's name in language `lang`."""
    return _MONTHS[lang][d.month - 1]


def _mon(d: datetime.date) -> str:
    """The month's three-letter English abbreviation ("Nov")."""
    return _MONTHS_ABBR["en"][d.month - 1]


def _weekday(d: datetime.date, lang: str) -> str:
    """The date's weekday name in language `lang`."""
    return _WEEKDAYS[lang][d.weekday()]


def _yy(d: datetime.date) -> str:
    """The year's last two digits ("26")."""
    return f"{d.year % 100:02d}"


def _en_abbr_dot(d: datetime.date) -> str:
    """The English abbreviation, with a dot only when it is shorter than the name ("May")."""
    abbr = _mon(d)
    return abbr if abbr == _month(d, "en") else abbr + "."


# Each format: (writer, whether it writes a two-digit year). Examples are for 2026-11-23.
_WRITERS: dict[str, tuple[Callable[[datetime.date], str], bool]] = {
    "iso": (lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}", False),  # 2026-11-23
    "iso_slash": (lambda d: f"{d.year:04d}/{d.month:02d}/{d.day:02d}", False),  # 2026/11/23
    "iso_dot": (lambda d: f"{d.year:04d}.{d.month:02d}.{d.day:02d}", False),  # 2026.11.23
    "compact": (lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}", False),  # 20261123
    "us_slash": (lambda d: f"{d.month}/{d.day}/{d.year:04d}", False),  # 11/23/2026, 1/5/2026
    "us_slash_padded": (lambda d: f"{d.month:02d}/{d.day:02d}/{d.year:04d}", False),
    "us_slash_short": (lambda d: f"{d.month:02d}/{d.day:02d}/{_yy(d)}", True),  # 11/23/26
    "us_dash": (lambda d: f"{d.month:02d}-{d.day:02d}-{d.year:04d}", False),  # 11-23-2026
    "eu_slash": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year:04d}", False),  # 23/11/2026
    "eu_slash_short": (lambda d: f"{d.day:02d}/{d.month:02d}/{_yy(d)}", True),  # 23/11/26
    "eu_dash": (lambda d: f"{d.day:02d}-{d.month:02d}-{d.year:04d}", False),  # 23-11-2026
    "eu_dot": (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year:04d}", False),  # 23.11.2026
    "eu_dot_short": (lambda d: f"{d.day:02d}.{d.month:02d}.{_yy(d)}", True),  # 23.11.26
    "en_long": (lambda d: f"{_month(d, 'en')} {d.day}, {d.year}", False),  # November 23, 2026
    "en_abbr": (lambda d: f"{_mon(d)} {d.day}, {d.year}", False),  # Nov 23, 2026
    "en_ordinal": (lambda d: f"{_month(d, 'en')} {_ordinal(d.day)}, {d.year}", False),
    "en_weekday": (  # Monday, November 23, 2026
        lambda d: f"{_weekday(d, 'en')}, {_month(d, 'en')} {d.day}, {d.year}",
        False,
    ),
    "en_day_month": (lambda d: f"{d.day} {_month(d, 'en')} {d.year}", False),  # 23 November 2026
    "en_day_abbr": (lambda d: f"{d.day} {_en_abbr_dot(d)} {d.year}", False),  # 23 Nov. 2026
    "en_ordinal_of": (lambda d: f"{_ordinal(d.day)} of {_month(d, 'en')} {d.year}", False),
    "en_weekday_ordinal_of": (  # Monday, 23rd of November 2026
        lambda d: f"{_weekday(d, 'en')}, {_ordinal(d.day)} of {_month(d, 'en')} {d.year}",
        False,
    ),
    "en_rfc": (lambda d: f"{_weekday(d, 'en')[:3]}, {d.day:02d} {_mon(d)} {d.year}", False),
    "en_dd_mon_yy": (lambda d: f"{d.day:02d}-{_mon(d)}-{_yy(d)}", True),  # 23-Nov-26
    "fr_long": (  # le 23 novembre 2026, le 1er mai 2026
        lambda d: f"le {_first_ordinal(d.day, '1er')} {_month(d, 'fr')} {d.year}",
        False,
    ),
    "fr_weekday": (  # lundi 23 novembre 2026
        lambda d: f"{_weekday(d, 'fr')} {_first_ordinal(d.day, '1er')} {_month(d, 'fr')} {d.year}",
        False,
    ),
    "fr_abbr": (  # 23 nov. 2026, 1er mai 2026
        lambda d: f"{_first_ordinal(d.day, '1er')} {_MONTHS_ABBR['fr'][d.month - 1]} {d.year}",
        False,
    ),
    "es_long": (lambda d: f"{d.day} de {_month(d, 'es')} de {d.year}", False),
    "es_weekday": (  # lunes, 23 de noviembre de 2026
        lambda d: f"{_weekday(d, 'es')}, {d.day} de {_month(d, 'es')} de {d.year}",
        False,
    ),
    "de_long": (lambda d: f"{d.day}. {_month(d, 'de')} {d.year}", False),  # 23. November 2026
    "de_weekday": (  # Montag, 23. November 2026
        lambda d: f"{_weekday(d, 'de')}, {d.day}. {_month(d, 'de')} {d.year}",
        False,
    ),
    "it_long": (  # 23 novembre 2026, 1º maggio 2026
        lambda d: f"{_first_ordinal(d.day, '1º')} {_month(d, 'it')} {d.year}",
        False,
    ),
    "it_weekday": (  # lunedì 23 novembre 2026
        lambda d: f"{_weekday(d, 'it')} {_first_ordinal(d.day, '1º')} {_month(d, 'it')} {d.year}",
        False,
    ),
    "pt_long": (  # 23 de novembro de 2026, 1º de maio de 2026
        lambda d: f"{_first_ordinal(d.day, '1º')} de {_month(d, 'pt')} de {d.year}",
        False,
    ),
    "pt_weekday": (  # segunda-feira, 23 de novembro de 2026
        lambda d: (
            f"{_weekday(d, 'pt')}, {_first_ordinal(d.day, '1º')} de {_month(d, 'pt')} de {d.year}"
        ),
        False,
    ),
    "nl_long": (lambda d: f"{d.day} {_month(d, 'nl')} {d.year}", False),  # 23 november 2026
    "nl_weekday": (  # maandag 23 november 2026
        lambda d: f"{_weekday(d, 'nl')} {d.day} {_month(d, 'nl')} {d.year}",
        False,
    ),
}
FORMATS: tuple[str, ...] = tuple(_WRITERS)
TWO_DIGIT_FORMATS: tuple[str, ...] = tuple(f for f, (_, yy) in _WRITERS.items() if yy)
# The formats of the dates task: every written string has one reading. Numbers separated by
# "/" or "-" are month-first with a two-digit year (the US "11/23/26") and day-first with a
# four-digit year ("23/11/2026", "23-11-2026"); the forms that would read both ways are left out.
UNAMBIGUOUS_FORMATS: tuple[str, ...] = tuple(
    f for f in FORMATS if f not in ("us_slash", "us_slash_padded", "us_dash", "eu_slash_short")
)


def _check_format(fmt: str, owner: str) -> None:
    """Raise InputError unless `fmt` is a known format name."""
    if fmt not in _WRITERS:
        raise InputError(
            f"{owner}: unknown date format {fmt!r}; expected one of: {', '.join(FORMATS)}"
        )


def _case(text: str, style: str) -> str:
    """`text` in a letter case: "as_written", "lower", "upper" or "title" (each word's first
    letter upper-cased, the rest kept; digits never start a word, so "23rd" stays "23rd")."""
    if style == "lower":
        return text.lower()
    if style == "upper":
        return text.upper()
    if style == "title":
        return _WORD_START.sub(lambda m: m.group(1).upper(), text)
    return text


def format_date(d: datetime.date, fmt: str, *, rng: random.Random | None = None) -> str:
    """Write a date in one of `FORMATS`.

    Args:
        d: the date; two-digit-year formats (`TWO_DIGIT_FORMATS`) need one in
            `TWO_DIGIT_RANGE` (1950-2049, pivot 50), the others one in years 1-9999.
        fmt: a format name, e.g. "en_weekday_ordinal_of" ("Monday, 23rd of November 2026").
        rng: when given, draws the letter case: as written 60 %, lower 20 %, UPPER 10 %,
            Title 10 %; without it the text is as written.

    Returns:
        the written date.

    Raises:
        InputError: for an unknown format, or a date a two-digit-year format cannot write
            unambiguously.
    """
    _check_format(fmt, "format_date")
    writer, two_digit = _WRITERS[fmt]
    if two_digit and not TWO_DIGIT_RANGE[0] <= d <= TWO_DIGIT_RANGE[1]:
        lo, hi = TWO_DIGIT_RANGE
        raise InputError(
            f"format_date: format {fmt!r} writes two-digit years (pivot {TWO_DIGIT_PIVOT}), so "
            f"it covers {lo.isoformat()}..{hi.isoformat()} only; got {d.isoformat()}"
        )
    text = writer(d)
    if rng is not None:
        text = _case(text, rng.choices(_CASES, weights=_CASE_WEIGHTS)[0])
    return text


def split_of(d: datetime.date) -> str:
    """The split a calendar date belongs to: "train", "val" or "test".

    Fixed for every run and machine: CRC-32 of the ISO string, modulo 100, below 90 is
    "train", below 95 "val", else "test".

    Args:
        d: any date (the split is defined beyond `DATE_RANGE` too).

    Returns:
        the split's name.
    """
    bucket = zlib.crc32(d.isoformat().encode("ascii")) % 100
    if bucket < SPLIT_PERCENT["train"]:
        return "train"
    if bucket < SPLIT_PERCENT["train"] + SPLIT_PERCENT["val"]:
        return "val"
    return "test"


@functools.cache
def _split_dates(split: str, two_digit: bool) -> tuple[datetime.date, ...]:
    """All dates of `split` in `DATE_RANGE` (or `TWO_DIGIT_RANGE`), in calendar order."""
    lo, hi = TWO_DIGIT_RANGE if two_digit else DATE_RANGE
    days = (lo + datetime.timedelta(days=i) for i in range((hi - lo).days + 1))
    return tuple(d for d in days if split_of(d) == split)


def date_pairs(
    n: int, *, split: str = "train", seed: int = 0, formats: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Draw `n` (written date, ISO date) pairs from one split.

    Each pair: a format uniformly from `formats`, a date uniformly among the split's dates
    that format covers, a letter case (see `format_date`). The same arguments give the same
    list on every run; a different `seed` or `split` gives a different one.

    Args:
        n: number of pairs, >= 0.
        split: "train", "val" or "test" (`split_of` decides which dates each holds).
        seed: seed of the generator.
        formats: format names to draw from (default: `UNAMBIGUOUS_FORMATS`, in which every
            written string has one ISO reading).

    Returns:
        [(written, "YYYY-MM-DD"), ...] of length `n`.

    Raises:
        InputError: for a negative or non-integer `n`, an unknown split or format, or an empty
            `formats`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"date_pairs: expected n as an integer >= 0, got {n!r}")
    if split not in SPLITS:
        raise InputError(
            f"date_pairs: unknown split {split!r}; expected one of: {', '.join(SPLITS)}"
        )
    fmts = UNAMBIGUOUS_FORMATS if formats is None else tuple(formats)
    if isinstance(formats, str) or not fmts:
        raise InputError(
            f"date_pairs: expected formats as a non-empty sequence of format names, got {formats!r}"
        )
    for fmt in fmts:
        _check_format(fmt, "date_pairs")
    rng = random.Random(f"rnnlab.dates:{split}:{seed}")
    pairs = []
    for _ in range(n):
        fmt = rng.choice(fmts)
        d = rng.choice(_split_dates(split, _WRITERS[fmt][1]))
        pairs.append((format_date(d, fmt, rng=rng), d.isoformat()))
    return pairs
