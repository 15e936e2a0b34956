"""Ticket references, the one place they are written and read.

A ticket is `support-42` in prose, commands and our own Message-IDs, and
`[support-42]` in the subjects of our mail; the prefix is `[tickets] ref_prefix`.
In a customer's subject only the bracketed form threads: a bare `support-42` is
prose (a customer citing another case). On the command line an engineer may type
`support-42`, `[support-42]` or `42`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from intake.config import Settings
from intake.errors import BadInput


def prefix_of(settings: Settings) -> str:
    """The deployment's reference prefix (`[tickets] ref_prefix`)."""
    return settings.tickets.ref_prefix


def format_ref(prefix: str, ticket_id: int) -> str:
    """`support-42`."""
    return f"{prefix}-{ticket_id}"


def subject_tag(prefix: str, ticket_id: int) -> str:
    """`[support-42]`, the form our subjects carry and a reply's subject threads by."""
    return f"[{format_ref(prefix, ticket_id)}]"


@lru_cache(maxsize=8)
def subject_pattern(prefix: str) -> re.Pattern[str]:
    """`[support-42]`, blanks inside the brackets and any case allowed."""
    return re.compile(rf"\[\s*{re.escape(prefix)}-(\d{{1,12}})\s*\]", re.I)


def find_in_subject(subject: str, prefix: str) -> int | None:
    """The ticket number of the first `[support-N]` in a subject, or None."""
    found = subject_pattern(prefix).search(subject)
    return int(found.group(1)) if found else None


def tagged(subject: str, prefix: str, ticket_id: int) -> bool:
    """Whether the subject carries this ticket's `[support-N]`."""
    return any(int(m.group(1)) == ticket_id for m in subject_pattern(prefix).finditer(subject))


_TYPED = re.compile(r"^\[?\s*(?:([A-Za-z][A-Za-z0-9]{0,15})-)?(\d{1,12})\s*\]?$")


def parse_ref(ref: str, prefix: str) -> int:
    """The ticket number an engineer typed: `support-42`, `[support-42]` or `42`; else `BadInput`."""
    found = _TYPED.match(ref.strip())
    if found is None or (found.group(1) is not None and found.group(1).lower() != prefix.lower()):
        raise BadInput(f"not a ticket reference: {ref!r} (expected e.g. {format_ref(prefix, 42)})")
    return int(found.group(2))


__all__ = [
    "find_in_subject",
    "format_ref",
    "parse_ref",
    "prefix_of",
    "subject_pattern",
    "subject_tag",
    "tagged",
]
