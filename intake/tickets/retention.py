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
from sqlalchemy.orm import Session

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
    while True:
        ids = list(
            session.scalars(
                select(Message.id)
                .where(Message.received_at < cutoff, func.length(Message.raw) > 0)
                .limit(CHUNK)
            )
        )
        if not ids:
            break
        session.execute(update(Message).where(Message.id.in_(ids)).values(raw=b""))
        session.commit()
        report.messages += len(ids)
    while True:
        ids = list(
            session.scalars(
                select(Quarantine.id)
                .where(Quarantine.created_at < cutoff, func.length(Quarantine.raw) > 0)
                .limit(CHUNK)
            )
        )
        if not ids:
            break
        session.execute(update(Quarantine).where(Quarantine.id.in_(ids)).values(raw=b""))
        session.commit()
        report.quarantined += len(ids)
    session.commit()
    return report
