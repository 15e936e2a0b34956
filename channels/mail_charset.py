"""Bytes to text for mail: the declared charset first, then what the bytes say they are.

Mail lies about its charset. Latin-1 text arrives labelled UTF-8, UTF-8 arrives
labelled ISO-8859-1, and labels name charsets Python does not know
(`ks_c_5601-1987`, `x-unknown`, `unicode-1-1-utf-7`). The order here:

1. a 7-bit stateful charset (ISO-2022-*, UTF-7) or UTF-16/32 is decoded as
   declared, because its bytes can be plain ASCII and would pass every other test;
2. pure ASCII is ASCII whatever the label says;
3. bytes that are valid UTF-8 are UTF-8 when the label is a single-byte charset
   or missing (valid multi-byte UTF-8 sequences almost never occur by chance in
   Latin-1 or windows-1252 text);
4. the declared charset, strictly;
5. charset-normalizer's guess, strictly;
6. windows-1252 (a superset of Latin-1 that maps 0x80-0x9f to the quotes and
   dashes Windows mail uses), with replacement.

Nothing here raises.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

import charset_normalizer

# Labels seen in real mail that Python's codec registry does not resolve, or resolves
# to a narrower charset than the sender's software actually used.
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "utf8": "utf-8",
    "x-user-defined": "cp1252",
}
_SINGLE_BYTE = frozenset(
    {"cp1252", "latin-1", "iso8859-1", "ascii"}
    | {f"iso8859-{n}" for n in range(2, 17)}
    | {f"cp{n}" for n in range(1250, 1259)}
    | {"cp437", "cp850", "cp852", "cp866", "koi8-r", "koi8-u", "mac-roman", "cp874"}
)
_SEVEN_BIT = frozenset(
    {
        "iso2022_jp",
        "iso2022_jp_1",
        "iso2022_jp_2",
        "iso2022_jp_3",
        "iso2022_jp_ext",
        "iso2022_kr",
        "utf-7",
        "hz",
    }
)
# UTF-16/32 text can be all bytes below 0x80 and must never take the ASCII shortcut.
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
# Detection is the expensive step; look at a bounded prefix, and only at enough bytes to judge.
_DETECT_LIMIT = 64 * 1024
_DETECT_MIN = 48


@lru_cache(maxsize=256)
def codec_for(label: str) -> str | None:
    """The Python codec name for a MIME charset label, or None when unknown."""
    label = label.strip().strip("\"'").lower()
    if not label:
        return None
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str = "") -> tuple[str, str | None]:
    """Decode `data` per the order in the module docstring; returns (text, defect or None)."""
    codec = codec_for(charset) if charset else None
    if codec in _SEVEN_BIT or codec in _WIDE:
        return data.decode(codec, "replace"), None
    if data.isascii():
        return data.decode("ascii"), None
    if codec is None or codec in _SINGLE_BYTE or codec == "utf-8":
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            pass
    # Detection on a handful of bytes is a coin toss; short texts go straight to the fallback.
    guess = _detect(data) if len(data) >= _DETECT_MIN else None
    if guess is not None:
        try:
            text = data.decode(guess)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            return text, f"charset {charset or 'missing'!r} did not fit; decoded as {guess}"
    fallback = codec if codec is not None and codec != "utf-8" else "cp1252"
    return (
        data.decode(fallback, "replace"),
        f"charset {charset or 'missing'!r} did not fit; decoded as {fallback} with replacement",
    )


def _detect(data: bytes) -> str | None:
    try:
        matches = charset_normalizer.from_bytes(data[:_DETECT_LIMIT])
        best = matches.best()
    except Exception:  # detection is best effort; a failure only means "no guess"
        return None
    if best is None:
        return None
    # Short texts leave several single-byte charsets equally plausible; on a tie prefer the
    # commonest one in mislabelled mail, windows-1252 (Latin-1 with Windows punctuation).
    if "cp1252" in best.could_be_from_charset or any(
        m.encoding == "cp1252" and m.chaos <= best.chaos + 0.01 for m in matches
    ):
        return "cp1252"
    return codec_for(best.encoding)


def decode_header_bytes(data: bytes) -> str:
    """Raw 8-bit bytes in a header: UTF-8 when valid, else windows-1252 (never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")
