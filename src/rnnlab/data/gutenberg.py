"""Removing Project Gutenberg headers, footers and licence text from an e-book.

Handled layouts:
- modern: everything up to and including the `*** START OF ...` line goes, and everything from
  the `*** END OF ...` line on (the licence follows it);
- 1990s etexts: the header ends with `*END*THE SMALL PRINT! ...*END*`, the book with
  `End of (the) Project Gutenberg ...`;
- a bare preamble with no START line: a first paragraph that opens with "The Project
  Gutenberg EBook of" (or "Project Gutenberg's ...", "...Etext of") is dropped.

Text without any of these markers is returned unchanged apart from blank lines at either end.
"""

from __future__ import annotations

import re

_START = re.compile(r"^\*{3}\s*START OF|^\*END\*\s*THE SMALL PRINT", re.IGNORECASE)
_END = re.compile(r"^\*{3}\s*END OF|^End of (the )?Project Gutenberg", re.IGNORECASE)
_PREAMBLE = re.compile(r"^\**\s*(The )?Project Gutenberg('s)?\s+(e-?book|etext)", re.IGNORECASE)


def strip_gutenberg(text: str) -> str:
    """The body of a Project Gutenberg text, without its header, footer and licence.

    Args:
        text: the e-book with "\\n" line endings.

    Returns:
        the body, without blank lines at either end.
    """
    lines = text.split("\n")
    start = next((i + 1 for i, line in enumerate(lines) if _START.match(line.strip())), None)
    if start is None:
        start = _preamble_end(lines)
    end = next((i for i in range(start, len(lines)) if _END.match(lines[i].strip())), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


def _preamble_end(lines: list[str]) -> int:
    """Index of the first line after a leading Gutenberg preamble paragraph, else 0."""
    first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if first == len(lines) or not _PREAMBLE.match(lines[first].strip()):
        return 0
    return next((i for i in range(first, len(lines)) if not lines[i].strip()), len(lines))
