"""RFC 5322 header fields read straight from the raw bytes, tolerant of what real mail does.

The header block is split and unfolded by hand rather than through `email.parser`
because it is the part of the message every path reads, and doing it here costs a
few microseconds instead of the stdlib's hundred. Everything returns something:
a value that cannot be read becomes "" or None, never an exception.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

from channels.mail_charset import codec_for, decode_bytes, decode_header_bytes

_LEADING_JUNK = b" \t\r\n"


def unfold(value: str) -> str:
    """A raw field value with its line folds removed (RFC 5322 section 2.2.3) and outer blanks stripped."""
    return (_FOLD.sub("", value) if "\n" in value else value).strip()


class HeaderBlock:
    """The top-level header fields of one message, in order, with lower-cased names.

    `fields` holds the values as found (folded); `get` and `get_all` unfold them.
    """

    __slots__ = ("_first", "body_start", "defects", "fields", "start")

    def __init__(
        self, fields: list[tuple[str, str]], start: int, body_start: int, defects: list[str]
    ) -> None:
        self.fields = fields
        self.start = start
        self.body_start = body_start
        self.defects = defects
        self._first = dict(reversed(fields))

    def get(self, name: str) -> str | None:
        """The first value of `name` (lower-case), unfolded but not decoded."""
        value = self._first.get(name)
        return None if value is None else unfold(value)

    def get_all(self, name: str) -> list[str]:
        if name not in self._first:
            return []
        return [unfold(value) for key, value in self.fields if key == name]


def split_headers(raw: bytes) -> HeaderBlock:
    """Find and parse the header block at the top of `raw`.

    Leading whitespace and an mbox "From " envelope line are skipped (several real
    archives carry them). The first line must be a header field, else there are no
    headers. Parsing stops at the first line that is neither a field nor a
    continuation, as the stdlib does: that line and what follows are the body.
    """
    defects: list[str] = []
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte order mark from a Windows editor
    if raw[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
        start = len(raw) - len(raw[start:].lstrip(_LEADING_JUNK))
        defects.append("whitespace before the header block")
    if raw.startswith(b"From ", start):
        newline = raw.find(b"\n", start)
        start = len(raw) if newline < 0 else newline + 1
    end, body_start = _find_blank_line(raw, start)
    block = raw[start:end]
    text = block.decode("ascii") if block.isascii() else _decode_block(block)
    found = _FIELD.findall(text)
    if found and len(found) == text.count("\n") + 1 - text.count("\n ") - text.count("\n\t"):
        # Every line is a field or a continuation: the common case, without a Python loop per line.
        # Values stay folded until read; most fields (Received, DKIM-Signature) never are.
        return HeaderBlock([(name.lower(), value) for name, value in found], start, body_start, defects)
    fields: list[tuple[str, str]] = []
    pos = 0
    for match in _FIELD.finditer(text):
        if match.start() != pos:
            # A line that is neither a field nor a continuation.
            if fields:
                break
            if text[pos : match.start()].strip():
                break  # the first line is not a header: there are no headers
        name, value = match.group(1, 2)
        fields.append((name.lower(), value))
        pos = match.end() + 1
    if fields and pos < len(text) and text[pos:].strip():
        # The body follows the last field without the empty line (issue 8: it was ignored when hashing).
        defects.append("header block ends without an empty line")
        body_start = min(start + _byte_offset(block, text.count("\n", 0, pos)), end)
    return HeaderBlock(fields, start, body_start, defects)


def _byte_offset(block: bytes, lines: int) -> int:
    """Where line number `lines` starts in the raw bytes (the text may be decoded from 8-bit bytes)."""
    index = -1
    for _ in range(lines):
        index = block.find(b"\n", index + 1)
        if index < 0:
            return len(block)
    return index + 1


# One field with its continuation lines (RFC 5322 section 2.2.3); names are printable ASCII
# without colon or space (section 3.6.8), and obsolete syntax allows blanks before the colon.
_FIELD = re.compile(r"^([!-9;-~]{1,200})[ \t]*:(.*(?:\n[ \t].*)*)", re.MULTILINE)
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _find_blank_line(raw: bytes, start: int) -> tuple[int, int]:
    """(end of the header block, start of the body); plain find() is ten times faster than a regex here."""
    lf = raw.find(b"\n\n", start)
    crlf = raw.find(b"\n\r\n", start, lf if lf >= 0 else len(raw))
    if lf < 0 and crlf < 0:
        return len(raw), len(raw)
    if crlf < 0 or 0 <= lf < crlf:
        return lf, lf + 2
    return crlf, crlf + 3


def _decode_block(block: bytes) -> str:
    """Raw 8-bit header text: UTF-8 where it is valid, per line, else a legacy single-byte reading."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Decode line by line so one Latin-1 Subject does not turn a UTF-8 From into mojibake.
    return "\n".join(decode_header_bytes(line) for line in block.split(b"\n"))


# RFC 2047 encoded word. Broken encoders put spaces and '?' in the encoded text, or omit the
# closing '?='; the pattern accepts spaces but not line breaks, and the rest is left as text.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\r\n]*?)\?=")
_SPACES = re.compile(r"\s+")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words in one charset are joined before decoding.

    Joining matters: some encoders split one UTF-8 character across two words.
    Whitespace between two encoded words is dropped (RFC 2047 section 6.2).
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray | None = None
    pending_charset = ""
    last_end = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[last_end : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        data = _decode_word_payload(match.group(2), match.group(3), charset)
        if data is None:
            continue  # left in place as literal text by the gap logic below
        if pending is not None and (gap == "" or gap.isspace()):
            if charset == pending_charset:
                pending += data
                last_end = match.end()
                continue
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
        else:
            if pending is not None:
                out.append(decode_bytes(bytes(pending), pending_charset)[0])
            out.append(gap)
        pending = bytearray(data)
        pending_charset = charset
        last_end = match.end()
    if pending is not None:
        out.append(decode_bytes(bytes(pending), pending_charset)[0])
    out.append(value[last_end:])
    return "".join(out)


def _decode_word_payload(encoding: str, text: str, charset: str) -> bytes | None:
    if not text.isascii():
        # Raw 8-bit bytes inside an encoded word (old Outlook): they were read as text already;
        # turn them back into the bytes of the word's charset.
        text = text.encode(codec_for(charset) or "utf-8", "replace").decode("latin-1")
    try:
        if encoding in "bB":
            text = text.strip()
            text += "=" * (-len(text) % 4)
            return binascii.a2b_base64(text)
        return binascii.a2b_qp(text.replace(" ", "_").encode("latin-1"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_text(value: str) -> str:
    """An unstructured header (Subject): encoded words decoded, whitespace collapsed."""
    return _SPACES.sub(" ", decode_words(value)).strip()


# --- addresses ---------------------------------------------------------------------------------

_COMMENT = re.compile(r"\(([^()]*)\)")
_SIMPLE_NAMED = re.compile(r'\s*(?:"([^"\\]*)"|([^"<>,;:@()\\]*?))\s*<([^<>@\s"(),;:]+@[^<>@\s"(),;:]+)>\s*')
_SIMPLE_BARE = re.compile(r'\s*<?([^<>@\s"(),;:]+@[^<>@\s"(),;:]+)>?\s*')


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) for each mailbox in an address-list header.

    A hand-written splitter: commas inside quotes, angle brackets and comments do
    not split, groups ("team: a@x, b@y;") are flattened, and encoded words in the
    display name are decoded only after the split, so an encoded comma cannot split
    a name. Items without an address are kept with address "" when they carry a name.
    """
    if "," not in value and ";" not in value:
        # One mailbox in one of the two everyday forms: no splitting, no comment handling.
        named = _SIMPLE_NAMED.fullmatch(value)
        if named:
            quoted, plain, addr = named.groups()
            name = quoted if quoted is not None else plain
            if "=?" in name:
                name = decode_words(name)
            return [(" ".join(name.split()).strip("'").strip(), addr.lower())]
        bare = _SIMPLE_BARE.fullmatch(value)
        if bare:
            return [("", bare.group(1).lower())]
    result: list[tuple[str, str]] = []
    for item in _split_list(value):
        name, addr = _parse_mailbox(item)
        if addr or name:
            result.append((name, addr))
    return result


def _split_list(value: str) -> list[str]:
    if '"' not in value and "(" not in value and ":" not in value:
        return [part for part in value.split(",") if part.strip()]
    items: list[str] = []
    buf: list[str] = []
    quote = False
    depth = 0
    angle = False
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if ch == "\\" and (quote or depth):
            escaped = True
            buf.append(ch)
            continue
        if quote:
            quote = ch != '"'
        elif ch == '"':
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth:
            pass
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif not angle and ch in ",;":
            items.append("".join(buf))
            buf = []
            continue
        elif not angle and ch == ":":
            # A group name ("undisclosed-recipients:"); what follows are its members.
            buf = []
            continue
        buf.append(ch)
    items.append("".join(buf))
    return [item for item in items if item.strip()]


_QUOTED_ADDR = re.compile(r'"(?:[^"\\]|\\.)*"@[^\s<>@",;()]+')


def _parse_mailbox(item: str) -> tuple[str, str]:
    item = item.strip()
    if item.startswith('"') and _QUOTED_ADDR.fullmatch(item):
        return "", _clean_addr(item)  # a quoted local part may hold "<", ">" and "," of its own
    close = item.rfind(">")
    open_ = item.rfind("<", 0, close) if close > 0 else -1
    if open_ >= 0:
        addr = item[open_ + 1 : close].strip()
        # Source routes ("<@relay:user@host>") keep only the mailbox.
        if addr.startswith("@") and ":" in addr:
            addr = addr.split(":", 1)[1]
        name = item[:open_].strip()
        if not name and "(" in item:
            comment = _COMMENT.search(item[close + 1 :])
            name = comment.group(1) if comment else ""
        if not name.strip('"'):
            return "", _clean_addr(addr)
    else:
        comment = _COMMENT.search(item) if "(" in item else None
        name = comment.group(1) if comment else ""
        addr = _COMMENT.sub(" ", item).strip() if comment else item
        if " " in addr or "@" not in addr:
            # "Whomever" or "John Smith" with no address at all.
            if not name:
                name, addr = addr, ""
            else:
                addr = ""
    return _clean_name(name), _clean_addr(addr)


def _clean_name(name: str) -> str:
    if not name:
        return ""
    name = name.strip()
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    elif '"' in name:
        name = name.replace('"', "")
    return _SPACES.sub(" ", decode_words(name)).strip().strip("'").strip()


def _clean_addr(addr: str) -> str:
    addr = addr.strip()
    if addr.startswith('"') and '"@' in addr[1:]:
        # A quoted local part ("victim@x.example,eve"@stranger.example) is one address as written.
        return addr.lower()
    addr = addr.strip("'\"").strip()
    if addr.lower().startswith("mailto:"):
        addr = addr[7:]
    if "=?" in addr:
        addr = decode_words(addr)
    return "".join(addr.split()).lower()


# --- ids and dates ------------------------------------------------------------------------------

_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def parse_msg_id(value: str | None) -> str:
    """The first message id without angle brackets; a bare token when the brackets are missing."""
    if not value:
        return ""
    match = _MSG_ID.search(value)
    if match:
        return match.group(1)
    token = value.strip().split()
    return token[0].strip("<>") if token else ""


def parse_msg_ids(value: str | None) -> list[str]:
    """Every message id in References/In-Reply-To style lists, in order, without duplicates."""
    if not value:
        return []
    ids = _MSG_ID.findall(value) or [tok.strip("<>,") for tok in value.split()]
    seen: set[str] = set()
    out: list[str] = []
    for mid in ids:
        if mid and mid not in seen:
            seen.add(mid)
            out.append(mid)
    return out


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
# The form nearly every client writes: "Mon, 4 Mar 2024 14:52:03 +0100"; anything else goes to the stdlib.
_DATE = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d\d):(\d\d)(?::(\d\d))?\s+([+-])(\d\d)(\d\d)\b"
)


@lru_cache(maxsize=128)
def _zone(sign: str, hours: str, minutes: str) -> timezone:
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == "-" else offset)


def parse_date(value: str | None) -> datetime | None:
    """A tz-aware datetime from an RFC 5322 Date, None when unreadable; "-0000" is read as UTC."""
    if not value:
        return None
    match = _DATE.match(value.strip())
    if match:
        day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
        month = _MONTHS.get(mon.lower())
        if month:
            try:
                return datetime(
                    int(year), month, int(day), int(hh), int(mm), int(ss or 0),
                    tzinfo=_zone(sign, oh, om),
                )  # fmt: skip
            except ValueError:
                return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- MIME parameters ---------------------------------------------------------------------------

_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def charset_of(content_type: str | None) -> str:
    """The charset parameter of a Content-Type value, lower-cased, or ""."""
    if not content_type:
        return ""
    match = _CHARSET.search(content_type)
    return match.group(1).lower() if match else ""
