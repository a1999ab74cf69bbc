"""Feature detectors of the interpretable-cell search on hand-written strings."""

import numpy as np
import pytest

from rnnlab.diagnostics.features import (
    BUILTIN,
    brace_depth,
    bracket_depth,
    builtin_features,
    column,
    in_comment,
    in_quote,
    in_string,
    indent,
    lex,
    parse_regex,
    regex_feature,
    to_newline,
    upper,
)
from rnnlab.errors import InputError


def marks(values) -> str:
    """A feature as one digit per character (for compact expectations)."""
    return "".join(str(int(v)) for v in values)


def test_string_with_escaped_quotes_and_both_delimiters():
    text = 'x = "a\\"b" + \'c\' + "d\\\\" e'
    # the escaped quote does not close; the escaped backslash does not escape the quote
    assert marks(in_string(text)) == "0000" + "111111" + "000" + "111" + "000" + "11111" + "00"


def test_single_line_string_ends_at_newline_and_triple_quotes_span_lines():
    text = "a = 'open\nb = 1"
    assert marks(in_string(text)) == "000011111" + "000000"
    text = 's = """one\n"two" # not\n""" # yes'
    s = in_string(text, syntax="python")
    assert s[4 : text.index('""" #') + 3].all() and not s[text.index('""" #') + 3 :].any()
    c = in_comment(text, syntax="python")
    assert marks(c) == "0" * text.index("# yes") + "11111"
    # with the c syntax a triple quote is three quotes: "" closes at once, then " opens
    assert in_string('""" x', syntax="c")[3:].all()


def test_comments_by_syntax_and_hash_inside_a_string():
    text = 'a = "#no" # yes\nb // c\n/* d\ne */ f'
    got = in_comment(text)
    assert marks(got[: text.index("\n")]) == "0000000000" + "11111"
    assert got[text.index("// c") : text.index("/* d") - 1].all()  # // to the end of the line
    assert got[text.index("/* d") : text.index("*/") + 2].all()  # /* … */ across the line
    assert not got[text.index(" f") :].any()
    assert got[text.index("\n")] == 0  # a line comment leaves its newline out
    assert marks(in_comment("// /* x\ny")) == "1111111" + "00"  # no block inside a line comment
    assert not in_comment("x # y", syntax="c").any()
    assert not in_comment("x // y", syntax="python").any()
    assert marks(in_comment("// '\nx '")) == "11110" + "000"  # a quote in a comment opens nothing
    assert marks(in_string("// '\nx 'a'")) == "00000" + "00111"


def test_bracket_and_brace_depth_nested_and_ignoring_strings_and_comments():
    text = "f(a[b(c)], {x: {y}})"
    assert marks(bracket_depth(text)) == "01122333211111111111"
    assert marks(brace_depth(text)) == "00000000000" + "1111" + "222" + "1" + "0"
    text = "g('(', \"[\") # (\nh)"
    assert marks(bracket_depth(text)) == "0" + "1" * 10 + "0000" + "0" + "00"
    assert marks(bracket_depth(")) (x)")) == "000111"  # unmatched closers are ignored
    assert marks(bracket_depth("(a\n(b))")) == "1112221"  # depth carries over lines


def test_prose_quotes_span_lines_and_typographic_marks():
    text = 'He said "go\nnow" and “yes” ok'
    assert marks(in_quote(text)) == "00000000" + "11111111" + "00000" + "11111" + "000"
    assert marks(in_quote('a "b')) == "0011"  # an open quote runs to the end


def test_column_distance_to_newline_and_indentation():
    text = "ab\n\tcd\n  e"
    assert column(text).tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1, 2]
    assert to_newline(text).tolist() == [
        2,
        1,
        0,
        3,
        2,
        1,
        0,
        3,
        2,
        1,
    ]  # the end of the text ends its line
    assert indent(text).tolist() == [0, 0, 0, 8, 8, 8, 8, 2, 2, 2]
    assert indent("  \t x\n").tolist() == [9] * 6  # a tab advances to the next multiple of 8


def test_upper_case_including_non_ascii():
    assert marks(upper("Ab É1é\nZ")) == "10010001"


@pytest.mark.parametrize("text", ["", "x", '😀 ("a")\n', "a\n\n"])
def test_every_feature_has_one_value_per_character(text):
    features = builtin_features(text)
    assert tuple(features) == BUILTIN
    for name, values in features.items():
        assert values.shape == (len(text),), name
        assert values.dtype == np.float32, name


def test_lex_rejects_an_unknown_syntax():
    with pytest.raises(InputError, match="syntax"):
        lex("x", syntax="java")


def test_regex_feature_marks_characters_inside_matches():
    name, pattern = parse_regex(r"kw=\b(def|return)\b")
    assert name == "kw"
    assert marks(regex_feature("def f(): return", pattern)) == "111" + "000000" + "111111"
    assert not regex_feature("abc", "x*").any()  # empty matches mark nothing


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nopattern", "no '='"),
        ("=abc", "NAME"),
        ("a b=x", "NAME"),
        ("upper=[A-Z]", "built-in"),
        ("name=", "empty"),
        ("bad=(unclosed", "malformed regular expression '\\(unclosed'"),
        ("bad=[z-a]", "malformed"),
    ],
)
def test_bad_regex_specs_are_clear_errors(spec, message):
    with pytest.raises(InputError, match=message):
        parse_regex(spec)
