"""Validated values for every header the bot writes: msg-ids, addresses, single-line text.

Nothing a customer sent reaches an outgoing header unchecked (issue 8, defects 2
and 10). The stdlib `email` package decodes RFC 2047 encoded words in a value
it is given and, before the CVE-2024-6923 fix, writes a decoded CR LF as a real
line break: `=?utf-8?q?x=0D=0ABcc:_eve@evil.example?=` in a Subject became a Bcc
header. So each value is reduced here to a grammar that cannot carry a line
break, an encoded word or a second address:

- a msg-id is `dot-atom-text "@" dot-atom-text` of RFC 5322 section 3.6.4
  (ASCII atext only, no no-fold-literal, no `=?`), at most `MAX_MSG_ID`
  characters; anything else is omitted, never repaired;
- an address is one bare addr-spec: a dot-atom local part without quotes, `%`
  or `!` (the percent hack and bang paths route mail elsewhere), `@`, and a DNS
  host name of letter-digit-hyphen labels with at least one dot; the envelope
  recipient is exactly this string;
- a line of text (Subject, display name) has every control, line or paragraph
  separator and lone surrogate replaced by a space, no `=?` left to be read as
  an encoded word, and a bounded length; the email package then encodes it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

MAX_MSG_ID = 250
MAX_ADDRESS = 254
MAX_LOCAL_PART = 64
MAX_SUBJECT = 250
MAX_REFERENCES = 20

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_MSG_ID = re.compile(rf"{_DOT_ATOM}@{_DOT_ATOM}")
_LOCAL_ATEXT = r"[A-Za-z0-9#$&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"({_LOCAL_ATEXT}+(?:\.{_LOCAL_ATEXT}+)*)@({_LABEL}(?:\.{_LABEL})+)")
_SPACES = re.compile(r"\s+")


def valid_msg_id(value: object) -> str | None:
    """The id without angle brackets if `value` is one strict msg-id (brackets optional), else None."""
    if not isinstance(value, str) or len(value) > MAX_MSG_ID + 2:
        return None
    core = value[1:-1] if value.startswith("<") and value.endswith(">") else value
    if len(core) > MAX_MSG_ID or "=?" in core or _MSG_ID.fullmatch(core) is None:
        return None
    return core


@dataclass(frozen=True)
class MsgIds:
    kept: list[str]
    omitted: list[str]


def msg_ids(values: Iterable[object], limit: int = MAX_REFERENCES) -> MsgIds:
    """The valid, distinct ids of `values` in order (the last `limit`), and a short form of the rest."""
    kept: list[str] = []
    omitted: list[str] = []
    for value in values:
        found = valid_msg_id(value)
        if found is None:
            omitted.append(preview(value))
        elif found not in kept:
            kept.append(found)
    return MsgIds(kept[-limit:] if limit else [], omitted)


def preview(value: object, limit: int = 80) -> str:
    """A loggable, single-line, bounded form of something refused."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def valid_address(value: object) -> str | None:
    """One bare addr-spec as the envelope will carry it (domain in lower case), else None."""
    if not isinstance(value, str) or len(value) > MAX_ADDRESS or "=?" in value:
        return None
    match = _ADDRESS.fullmatch(value)
    if match is None or len(match.group(1)) > MAX_LOCAL_PART:
        return None
    return f"{match.group(1)}@{match.group(2).lower()}"


def address_problem(value: object) -> str:
    """Why `value` cannot be a recipient (empty, the null path `<>`, or not one plain address)."""
    if not isinstance(value, str) or not value.strip("<> \t"):
        return "no recipient address (empty or the null path <>)"
    return f"not one valid address: {preview(value)}"


def address_key(address: str) -> str:
    """The mailbox an address reaches: lower case, sub-address (`+tag`, RFC 5233) dropped."""
    local, _, domain = address.rpartition("@")
    base = local.split("+", 1)[0] or local
    return f"{base.lower()}@{domain.lower()}"


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def domain_key(address: str) -> str:
    """The registrable domain an address belongs to (a.robots.example -> robots.example).

    Uses the Public Suffix List the `publicsuffixlist` package ships, so x.co.uk
    and y.co.uk stay apart while rotating subdomains of one owner collapse.
    """
    domain = address.rpartition("@")[2].lower()
    return _suffixes().privatesuffix(domain) or domain


def one_line(value: object, limit: int = MAX_SUBJECT) -> str:
    """`value` as one line of header text: controls and separators become spaces, no encoded words.

    NUL, CR, LF, lone CR, tabs, C1 controls, U+2028/U+2029 and the other
    characters `str.splitlines` breaks on, format characters such as bidi
    overrides, and lone surrogates (undecodable bytes) are all replaced.
    """
    if not isinstance(value, str):
        return ""
    text = "".join(" " if _unsafe(ch) else ch for ch in value[: limit * 4])
    text = _SPACES.sub(" ", text).strip()
    while "=?" in text:
        text = text.replace("=?", "= ?")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


def clean_text(value: str) -> str:
    """A body's text with its line breaks normalised to LF and every other control removed."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or not _unsafe(ch))


def _unsafe(ch: str) -> bool:
    if ch.isascii():
        return ch < " " or ch == "\x7f"
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"}


def accepts(accept: list[str], address: str) -> bool:
    """Is `address` one we serve? Entries are full addresses or whole domains; a +tag is ignored."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at or not local:
        return False
    base = local.split("+", 1)[0]
    for given in accept:
        entry = given.strip().lower().lstrip("@")
        if "@" in entry:
            if entry in (f"{local}@{domain}", f"{base}@{domain}"):
                return True
        elif domain == entry:
            return True
    return False
