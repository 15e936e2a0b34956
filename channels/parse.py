"""Parse or quarantine: the one wrapper every channel puts around the RFC 5322 parser.

A message that parses becomes an `InboundMessage`; one that cannot be read becomes
a `Rejected` carrying its bytes and the reason, which the pipeline quarantines.
Either way the source may be acknowledged once the batch commits: nothing is lost.
"""

from __future__ import annotations

from datetime import datetime

from channels.email_parse import parse
from intake.errors import BadInput
from intake.pipeline import Item, Rejected


def parse_one(raw: bytes, source: str, received_at: datetime, *, trace: bytes = b"") -> Item:
    """The parsed message, or the raw bytes (with any trace fields) and the reason they were refused."""
    try:
        return parse(raw, received_at=received_at, raw_ref=source, trace=trace)
    except BadInput as exc:
        return Rejected(trace + raw, str(exc), source)
