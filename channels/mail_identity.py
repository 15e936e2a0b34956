"""Whom a message is from: the one function that decides (issue 8, requirement 2).

The identity of a mail is exactly one address in exactly one From field, read
strictly. Everything else is refused with a reason, never guessed: no From,
an empty From, two addresses or a group in From, two From fields, an address
hidden in an encoded word, control characters (a lone CR makes parsers
disagree about where the field ends), a bare LF in a CRLF message, a From
longer than any real one. There is no fallback to Sender: or Reply-To: (RFC
5322 section 3.6.2 lets anyone write those).

A refusal is carried as `InboundMessage.identity_problem` with an empty
`sender`; the pipeline's identity step (intake/pipeline/identity.py), right
after the guard has dropped what is a bounce or an auto-reply anyway,
quarantines the message with the reason: it is kept for a person, opens no
ticket with a made-up requester and can never pass for a designated contact.
"""

from __future__ import annotations

import email.errors
import email.policy
import re
from dataclasses import dataclass

from channels.mail_headers import HeaderBlock, decode_words

# Longer than any From a person's mail client writes; bounded so the strict parser stays cheap.
MAX_FROM_CHARS = 2000

_SIMPLE_NAMED = re.compile(
    r'\s*(?:"([^"\\\x00-\x1f]*)"|([^"<>,;:@()\\\x00-\x1f]*?))\s*<([^<>@\s"(),;:\\=]+@[^<>@\s"(),;:\\=]+)>\s*'
)
_SIMPLE_BARE = re.compile(r'\s*<?([^<>@\s"(),;:\\=]+@[^<>@\s"(),;:\\=]+)>?\s*')
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class Identity:
    """The sender: the address as written (lower-cased) and the display name, decoded."""

    address: str
    name: str


def sender_identity(block: HeaderBlock) -> Identity | str:
    """The one From address of the message, or the reason there is none.

    The field's lines must all end alike: a lone CR, or a bare LF where the
    field's last line ends in CRLF (or the reverse), is a line end only some
    parsers see, the classic way to hide a second From from one of them.
    """
    values = [value for name, value in block.fields if name == "from"]
    if not values:
        return "no From field"
    if len({" ".join(value.split()) for value in values}) > 1:
        return f"{len(values)} From fields"  # the same From twice (an old client's bug) is still one
    raw = values[0]
    if len(raw) > MAX_FROM_CHARS:
        return f"From longer than {MAX_FROM_CHARS} characters"
    crlf = raw.endswith("\r")
    body = raw[:-1] if crlf else raw
    rest = body.replace("\r\n", "")
    if "\r" in rest:
        return "a lone CR in From"
    if (crlf and "\n" in rest) or (not crlf and "\r\n" in body):
        return "a bare LF in From" if crlf else "mixed line ends in From"
    value = _FOLD.sub("", body).strip()
    if not value:
        return "an empty From"
    if _CONTROL.search(value):
        return "a control character in From"
    named = _SIMPLE_NAMED.fullmatch(value)
    if named:
        quoted, plain, addr = named.groups()
        name = quoted if quoted is not None else plain
        return Identity(addr.lower(), _name(name))
    bare = _SIMPLE_BARE.fullmatch(value)
    if bare:
        return Identity(bare.group(1).lower(), "")
    return _strict(value)


def _strict(value: str) -> Identity | str:
    """Anything but the two everyday forms goes through the stdlib's RFC 5322 address parser."""
    try:
        header = email.policy.default.header_factory("from", value)
    except (ValueError, IndexError, TypeError) as exc:  # the stdlib refuses some values outright
        return f"unreadable From ({' '.join(str(exc).split())[:80]})"
    groups = header.groups
    if any(group.display_name is not None for group in groups):
        return "a group in From"
    addresses = header.addresses
    if len(addresses) != 1:
        return "no address in From" if not addresses else f"{len(addresses)} addresses in From"
    defects = [d for d in header.defects if not isinstance(d, _OBSOLETE)]
    if defects:
        return f"unreadable From ({' '.join(str(defects[0]).split())[:80]})"
    address = addresses[0]
    if not address.username or not address.domain or "=?" in address.addr_spec:
        return "no usable address in From"
    return Identity(address.addr_spec.lower(), " ".join(address.display_name.split()))


_OBSOLETE = email.errors.ObsoleteHeaderDefect


def _name(name: str) -> str:
    if "=?" in name:
        name = decode_words(name)
    return " ".join(name.split()).strip("'").strip()
