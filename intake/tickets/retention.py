"""Retention: remove raw mail bodies older than `[retention] raw_days`, keep the ticket history.

What goes: the raw RFC 5322 bytes of stored messages (`messages.raw`) received
more than `raw_days` days ago, and the raw bytes of quarantined input created
that long ago. What stays: tickets, the parsed messages (sender, subject, text,
quoted text, HTML, attachments), triage decisions, status events, outgoing mail.
The work is done in chunks of `CHUNK` rows, each its own transaction, so a large
store is never locked for long and an interrupted run simply continues next time.
`intake retention run` does it once; `intake serve` does it every
`[retention] interval` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from intake.clock import Clock
from intake.config import Settings
from intake.store.orm import Message, Quarantine

CHUNK = 2000


@dataclass
class RetentionReport:
    cutoff: datetime | None
    messages: int = 0
    quarantined: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "messages": self.messages,
            "quarantined": self.quarantined,
        }


def purge_raw(session: Session, clock: Clock, settings: Settings) -> RetentionReport:
    """Empty the raw bytes older than the cutoff; nothing when `raw_days` is 0."""
    days = settings.retention.raw_days
    if not days:
        return RetentionReport(None)
    cutoff = clock.now() - timedelta(days=days)
    report = RetentionReport(cutoff)
    report.messages = _empty_raw(session, Message, Message.received_at, cutoff)
    report.quarantined = _empty_raw(session, Quarantine, Quarantine.created_at, cutoff)
    session.commit()
    return report


def _empty_raw(
    session: Session,
    table: type[Message] | type[Quarantine],
    stamp: InstrumentedAttribute[datetime],
    cutoff: datetime,
) -> int:
    """Empty `raw` of the rows of `table` stamped before `cutoff`, CHUNK rows per commit; how many."""
    emptied = 0
    while True:
        ids = list(
            session.scalars(select(table.id).where(stamp < cutoff, func.length(table.raw) > 0).limit(CHUNK))
        )
        if not ids:
            return emptied
        session.execute(update(table).where(table.id.in_(ids)).values(raw=b""))
        session.commit()
        emptied += len(ids)
