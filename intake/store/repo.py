"""The store's named queries, outside the pipeline's batch (intake/pipeline/batch.py has its own).

Commands, ticket operations, the scheduler, the customer directory and bounce
handling read and write through these functions, so a reader finds every query
in one place and a change of schema touches one module. Results are ORM rows or
small frozen dataclasses, never loose dicts. Nothing here commits: the caller
owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from intake.store.orm import (
    Contact,
    Message,
    Organisation,
    Outbox,
    Quarantine,
    Suppression,
    Ticket,
    TicketEvent,
    Timer,
    TriageDecision,
)

_CHUNK = 500  # ids per IN (...): SQLite allows 32,766 bound parameters, old builds 999

# --- bounces ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMail:
    """One of our outgoing messages that really went out: what a bounce must return to be believed."""

    outbox_id: int
    message_id: str
    recipient: str
    ticket_id: int | None


def sent_mail(session: Session, message_ids: Sequence[str]) -> dict[str, SentMail]:
    """Our sent mail among these Message-IDs (stored with or without angle brackets), by bare id."""
    wanted = sorted(set(message_ids))
    found: dict[str, SentMail] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(Outbox.id, Outbox.message_id, Outbox.recipient, Outbox.ticket_id).where(
                or_(Outbox.message_id.in_(chunk), Outbox.message_id.in_([f"<{m}>" for m in chunk])),
                Outbox.sent_at.is_not(None),
            )
        )
        for r in rows:
            found[r.message_id.strip("<>")] = SentMail(r.id, r.message_id, r.recipient, r.ticket_id)
    return found


def suppress_address(
    session: Session, address: str, reason: str, until: datetime, now: datetime, ticket_id: int | None
) -> None:
    """Hold automatic mail to `address` until `until` (a later hold already there is kept)."""
    existing = session.scalar(select(Suppression).where(Suppression.address == address))
    if existing is None:
        session.execute(
            insert(Suppression).values(
                address=address, reason=reason, until=until, created_at=now, ticket_id=ticket_id
            )
        )
        return
    session.execute(
        update(Suppression)
        .where(Suppression.id == existing.id)
        .values(reason=reason, until=max(until, existing.until), ticket_id=ticket_id)
    )


def mark_outbox_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(state="failed", last_error=error))
