"""Character features for the interpretable-cell search: pure functions of a text.

Each feature maps a text of N characters to N floats, one per character; the search
(`rnnlab.diagnostics.search`) correlates every recorded unit with each of them, as Karpathy,
Johnson & Fei-Fei (2015) did by eye. The built-in ones (`builtin_features`):

* ``string``: 1 inside a string literal, quote characters included. A string opens at ``"``
  or ``'`` (and ``\"\"\"``/``'''`` with the python and any syntaxes) and closes at the same
  delimiter; a backslash escapes the next character (``\\"`` does not close); a ``"…"`` or
  ``'…'`` string still open at a newline ends there (unterminated). Quotes inside comments
  open nothing. In prose an apostrophe opens a string that runs to the next apostrophe or
  the end of the line: ``quote`` is the feature for dialogue.
* ``quote``: 1 inside double quotes as prose uses them, marks included: ``"`` toggles,
  ``“`` opens and ``”`` closes; no escapes, and a quote may span lines.
* ``comment``: 1 inside a comment, its markers included: ``#`` (python, any) or ``//``
  (c, any) to the end of the line (the newline is not part of it), ``/* … */`` (c, any).
  A ``#`` or ``//`` inside a string starts no comment. With the any syntax a C preprocessor
  line (``#include``) counts as a comment and so does Python's ``//`` operator; pass the
  syntax of the text to avoid that.
* ``bracket_depth``: nesting depth of ``(`` and ``[`` together, ``brace_depth``: of ``{``;
  brackets inside strings and comments do not count. An opening bracket has the depth it
  opens, a closing one the depth it closes (``(a)`` → 1, 1, 1); a closer with nothing open
  is ignored.
* ``column``: position in the line, 0 for the first character after a newline (a newline
  has the column it ends).
* ``to_newline``: characters until the next newline, 0 at a newline (or until the end of a
  text that does not end in one).
* ``indent``: the indentation width of the character's line, in columns (a space is one, a
  tab advances to the next multiple of 8), for every character of the line and its newline.
* ``upper``: 1 for an upper-case letter (`str.isupper`), else 0.

User features come from regular expressions (`regex_feature`): 1 on every character inside a
match, else 0 (``NAME=PATTERN`` on the command line, `parse_regex`).
"""

from __future__ import annotations

import re

import numpy as np

from rnnlab.errors import InputError

SYNTAXES = ("any", "c", "python")
BUILTIN = (
    "string",
    "quote",
    "comment",
    "bracket_depth",
    "brace_depth",
    "column",
    "to_newline",
    "indent",
    "upper",
)
TAB_WIDTH = 8

_CODE, _STRING, _LINE_COMMENT, _BLOCK_COMMENT = range(4)
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _tokens(syntax: str) -> tuple[re.Pattern[str], frozenset[str]]:
    """What can change the lexer's state under `syntax`, and the line-comment markers."""
    parts, line_comment = [], set()
    if syntax in ("any", "python"):
        parts += ['"""', "'''", "#"]
        line_comment.add("#")
    if syntax in ("any", "c"):
        parts += ["//", r"/\*", r"\*/"]
        line_comment.add("//")
    parts += ['"', "'", r"\\", "\n", r"[()\[\]{}]"]
    return re.compile("|".join(parts)), frozenset(line_comment)


def _check_syntax(syntax: str) -> None:
    if syntax not in SYNTAXES:
        raise InputError(f"features: expected syntax in {', '.join(SYNTAXES)}, got {syntax!r}")


def lex(text: str, *, syntax: str = "any") -> dict[str, np.ndarray]:
    """Strings, comments and bracket depths of a text in one pass (rules: module docstring).

    Args:
        text: any string of N characters.
        syntax: "any" (``#``, ``//`` and ``/* */`` comments, triple quotes), "c" (``//`` and
            ``/* */``) or "python" (``#``, triple quotes).

    Returns:
        ``{"string", "comment", "bracket_depth", "brace_depth"}``, each (N,) float32.
    """
    _check_syntax(syntax)
    n = len(text)
    string = np.zeros(n, np.float32)
    comment = np.zeros(n, np.float32)
    bracket = np.zeros(n, np.float32)
    brace = np.zeros(n, np.float32)
    token, line_comment = _tokens(syntax)
    state, delim = _CODE, ""
    depth_b = depth_c = 0
    seg = 0  # start of the span whose values are not written yet

    def fill(end: int) -> None:
        string[seg:end] = state == _STRING
        comment[seg:end] = state in (_LINE_COMMENT, _BLOCK_COMMENT)
        bracket[seg:end] = depth_b
        brace[seg:end] = depth_c

    i = 0
    while (m := token.search(text, i)) is not None:
        tok, s, e = m.group(), m.start(), m.end()
        i = s + 1
        if state == _CODE:
            if tok[0] in "\"'":
                fill(s)
                state, delim, seg, i = _STRING, tok, s, e
            elif tok in line_comment or tok == "/*":
                fill(s)
                state, seg, i = (_BLOCK_COMMENT if tok == "/*" else _LINE_COMMENT), s, e
            elif tok in "([{":
                fill(s)
                seg = s
                depth_b, depth_c = depth_b + (tok != "{"), depth_c + (tok == "{")
            elif tok in ")]}":
                fill(e)
                seg = e
                if tok == "}":
                    depth_c = max(0, depth_c - 1)
                else:
                    depth_b = max(0, depth_b - 1)
        elif state == _STRING:
            if tok == "\\":
                i = s + 2  # the escaped character, whatever it is
            elif tok == "\n" and len(delim) == 1:
                fill(s)
                state, seg = _CODE, s
            elif tok[0] == delim[0] and (len(delim) == 1 or tok == delim):
                end = s + len(delim)
                fill(end)
                state, seg, i = _CODE, end, end
        elif state == _LINE_COMMENT:
            if tok == "\n":
                fill(s)
                state, seg = _CODE, s
        elif tok == "*/":
            fill(e)
            state, seg, i = _CODE, e, e
    fill(n)
    return {"string": string, "comment": comment, "bracket_depth": bracket, "brace_depth": brace}


def in_string(text: str, *, syntax: str = "any") -> np.ndarray:
    """1 inside a string literal (quotes included), else 0: (N,) float32 (module docstring)."""
    return lex(text, syntax=syntax)["string"]


def in_comment(text: str, *, syntax: str = "any") -> np.ndarray:
    """1 inside a comment (markers included), else 0: (N,) float32 (module docstring)."""
    return lex(text, syntax=syntax)["comment"]


def bracket_depth(text: str, *, syntax: str = "any") -> np.ndarray:
    """Nesting depth of ``(`` and ``[`` outside strings and comments: (N,) float32."""
    return lex(text, syntax=syntax)["bracket_depth"]


def brace_depth(text: str, *, syntax: str = "any") -> np.ndarray:
    """Nesting depth of ``{`` outside strings and comments: (N,) float32."""
    return lex(text, syntax=syntax)["brace_depth"]


def in_quote(text: str) -> np.ndarray:
    """1 inside prose double quotes (``"…"``, ``“…”``; marks included), else 0: (N,) float32."""
    out = np.zeros(len(text), np.float32)
    start = None
    for m in re.finditer('["“”]', text):
        mark, s = m.group(), m.start()
        if start is None and mark != "”":
            start = s
        elif start is not None and mark != "“":
            out[start : s + 1] = 1
            start = None
    if start is not None:
        out[start:] = 1
    return out


def _newlines(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == ord("\n")


def column(text: str) -> np.ndarray:
    """Position of each character in its line (0 after a newline): (N,) float32."""
    n = len(text)
    index = np.arange(n)
    starts = np.zeros(n, np.int64)
    starts[1:] = np.where(_newlines(text)[:-1], index[1:], 0)
    return (index - np.maximum.accumulate(starts)).astype(np.float32)


def to_newline(text: str) -> np.ndarray:
    """Characters until the next newline (0 at a newline, the end if none): (N,) float32."""
    n = len(text)
    index = np.arange(n)
    nxt = np.where(_newlines(text), index, n)  # (N,)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    return (nxt - index).astype(np.float32)


def _indent_width(line: str) -> int:
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += TAB_WIDTH - width % TAB_WIDTH
        else:
            break
    return width


def indent(text: str) -> np.ndarray:
    """Indentation width (columns, tab stops every 8) of each character's line: (N,) float32."""
    lines = text.split("\n")
    widths = [_indent_width(line) for line in lines]
    lengths = [len(line) + 1 for line in lines]
    lengths[-1] -= 1  # the last line has no newline of its own
    return np.repeat(np.asarray(widths, np.float32), lengths)


def upper(text: str) -> np.ndarray:
    """1 for an upper-case letter, else 0: (N,) float32."""
    return np.fromiter((c.isupper() for c in text), dtype=np.float32, count=len(text))


def builtin_features(text: str, *, syntax: str = "any") -> dict[str, np.ndarray]:
    """Every built-in feature of `text` (names in `BUILTIN`), each (N,) float32."""
    lexed = lex(text, syntax=syntax)
    return {
        "string": lexed["string"],
        "quote": in_quote(text),
        "comment": lexed["comment"],
        "bracket_depth": lexed["bracket_depth"],
        "brace_depth": lexed["brace_depth"],
        "column": column(text),
        "to_newline": to_newline(text),
        "indent": indent(text),
        "upper": upper(text),
    }


def parse_regex(spec: str) -> tuple[str, re.Pattern[str]]:
    """``NAME=PATTERN`` → (name, compiled pattern).

    Raises:
        InputError: naming `spec` when the ``=`` is missing, the name is empty, is not made
            of letters, digits, ``_``, ``.`` and ``-``, or is a built-in feature's name, or
            the pattern is not a valid regular expression.
    """
    name, sep, pattern = spec.partition("=")
    if not sep:
        raise InputError(f"--regex: expected NAME=PATTERN, got {spec!r} (no '=')")
    if not _NAME.fullmatch(name):
        raise InputError(
            f"--regex {spec!r}: expected a NAME of letters, digits, '_', '.' or '-' before '='"
        )
    if name in BUILTIN:
        raise InputError(f"--regex {spec!r}: {name!r} is a built-in feature; choose another name")
    if not pattern:
        raise InputError(f"--regex {spec!r}: the pattern after '=' is empty")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise InputError(
            f"--regex {name}: malformed regular expression {pattern!r}: {err}"
        ) from None
    return name, compiled


def regex_feature(text: str, pattern: str | re.Pattern[str]) -> np.ndarray:
    """1 on every character inside a match of `pattern` (non-overlapping, as `re.finditer`
    finds them), else 0: (N,) float32."""
    out = np.zeros(len(text), np.float32)
    for m in re.finditer(pattern, text):
        out[m.start() : m.end()] = 1
    return out
