"""Text every database stores: made storable once, where a message enters (issue 8, defect 1).

Mail decodes to strings no store accepts or no header may carry: lone UTF-16
surrogates (UTF-7 `+2AA-`, UTF-16 with a broken pair, the surrogate escapes
of undecodable bytes) make SQLite and PostgreSQL drivers raise
UnicodeEncodeError; NUL is refused by PostgreSQL and kept by SQLite; other C0
controls (a lone CR above all) smuggle line breaks into the headers the bot
writes. So the edge models (intake/models.py) pass every string through one of
these two functions, and nothing behind them ever sees such characters:

- `line`: one-line values (subject, names, addresses, ids, file names, header
  values): every line-breaking or tab character becomes a space;
- `text`: multi-line bodies: CRLF and lone CR become LF, tab and LF stay.

Everything else that cannot be stored becomes U+FFFD (the replacement
character), so a reader sees that something was there.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

REPLACEMENT = "\ufffd"

# C0 controls without TAB, LF, CR; DEL; lone surrogates (a str cannot hold a valid pair).
_UNSTORABLE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff"
_TEXT_BAD = re.compile(f"[{_UNSTORABLE}\r]")
_LINE_BAD = re.compile(f"[{_UNSTORABLE}\t\n\r\x85\u2028\u2029]")
_LINE_BREAKS = frozenset("\t\n\r\x0b\x0c\x85\u2028\u2029")


def _line_char(match: re.Match[str]) -> str:
    return " " if match.group() in _LINE_BREAKS else REPLACEMENT


def line(value: str) -> str:
    """A one-line value safe to store and to copy into a header: no control, no line break, no surrogate."""
    if value.isascii() and value.isprintable():
        return value
    return _LINE_BAD.sub(_line_char, value)


def _text_char(match: re.Match[str]) -> str:
    return "\n" if match.group() == "\r" else REPLACEMENT


def text(value: str) -> str:
    """A multi-line value safe to store: LF line ends, tabs kept, nothing a driver refuses."""
    if _TEXT_BAD.search(value) is None:
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n")
    return _TEXT_BAD.sub(_text_char, value)


def is_storable_line(value: str) -> bool:
    return line(value) == value


Line = Annotated[str, AfterValidator(line)]
Text = Annotated[str, AfterValidator(text)]
