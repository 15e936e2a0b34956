"""The enhancement register: every enhancement request and where it stands under its policy.

A ticket whose category is "enhancement" is in the register from the moment it is opened;
its row in the `enhancements` table is written when a person acts on it:

- `record(...)`: Resource Optimizer ("closed once the information has been recorded in our
  Product Request tool"): recorded, and the case closes. Revalize ("transferred to Product
  Management ... and any additional information needed for review has been collected from
  the partner"): transferred; the case closes only with `complete=True`.
- `reject(...)`: not an enhancement request after all; the ticket goes on as a normal one.

Nothing is closed on arrival and nothing is promised before it happened: the closing mail
is sent by `record`, after the row exists. Policies without a rule (`action = "none"`:
Rezilion, Resilio, Functionize) list their enhancement requests here too, and handle them as
ordinary requests.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from intake.clock import Clock
from intake.config import Settings
from intake.errors import BadInput
from intake.store.orm import Enhancement, Organisation, Ticket
from intake.tickets import lifecycle
from intake.tickets.ops import TicketOps
from intake.tickets.replies import find_ticket
from intake.tickets.views import iso

FIELDS = (
    "ref",
    "state",
    "policy",
    "org",
    "requester",
    "summary",
    "destination",
    "confidence",
    "ticket_status",
    "created_at",
    "updated_at",
    "closed_at",
)


@dataclass(frozen=True)
class Entry:
    ref: str
    state: str
    policy: str
    org: str | None
    requester: str
    summary: str
    destination: str | None
    confidence: float | None
    ticket_status: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        doc = {name: getattr(self, name) for name in FIELDS}
        for name in ("created_at", "updated_at", "closed_at"):
            doc[name] = iso(doc[name])
        return doc


def _pending_state(ticket: Ticket) -> str:
    """Where a request nobody has acted on stands."""
    if ticket.needs_review:
        return "awaiting_review"  # the classifier was unsure: a person decides whether it is one
    return "awaiting_record"


def entries(
    session: Session, prefix: str, *, state: str | None = None, org: str | None = None
) -> list[Entry]:
    """The register, oldest first."""
    query = (
        select(Ticket, Enhancement)
        .outerjoin(Enhancement, Enhancement.ticket_id == Ticket.id)
        .options(selectinload(Ticket.org))
        .where((Ticket.category == "enhancement") | Enhancement.id.is_not(None))
        .order_by(Ticket.id)
    )
    if org is not None:
        query = query.join(Organisation, Organisation.id == Ticket.org_id).where(Organisation.name == org)
    found = []
    for ticket, row in session.execute(query).all():
        entry = Entry(
            ref=f"{prefix}-{ticket.id}",
            state=row.state if row is not None else _pending_state(ticket),
            policy=ticket.policy,
            org=ticket.org.name if ticket.org is not None else None,
            requester=ticket.requester,
            summary=ticket.subject,
            destination=row.destination if row is not None else None,
            confidence=ticket.confidence,
            ticket_status=ticket.status,
            created_at=ticket.created_at,
            updated_at=row.updated_at if row is not None else ticket.updated_at,
            closed_at=row.closed_at if row is not None else None,
        )
        if state is None or entry.state == state:
            found.append(entry)
    return found


def export(found: list[Entry], fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps([e.as_json() for e in found], indent=2) + "\n"
    if fmt != "csv":
        raise BadInput(f"unknown export format {fmt!r} (csv or json)")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for entry in found:
        writer.writerow({k: ("" if v is None else v) for k, v in entry.as_json().items()})
    return buffer.getvalue()


def _row(session: Session, ticket: Ticket, now: datetime) -> Enhancement:
    row = session.scalar(select(Enhancement).where(Enhancement.ticket_id == ticket.id))
    if row is None:
        message = ticket.messages[0].text if ticket.messages else ""
        row = Enhancement(
            ticket_id=ticket.id,
            org_id=ticket.org_id,
            policy=ticket.policy,
            requester=ticket.requester,
            summary=ticket.subject,
            text=message,
            state="awaiting_record",
            destination=None,
            confidence=ticket.confidence,
            created_at=now,
            updated_at=now,
            closed_at=None,
        )
        session.add(row)
    return row


def record(
    session: Session,
    clock: Clock,
    settings: Settings,
    ref: str,
    *,
    complete: bool = False,
    actor: str = "engineer",
) -> dict[str, Any]:
    """A person recorded (or transferred) the request; close the case where the policy says so."""
    ticket = find_ticket(session, ref, settings.tickets.ref_prefix)
    ops = TicketOps(session, settings, clock.now(), actor=actor)
    policy = ops.policy(ticket)
    rule = policy.enhancements
    if rule.action == "none":
        raise BadInput(
            f"the {policy.name} policy has no rule for enhancement requests: "
            f"answer {ref} as any other request"
        )
    if not lifecycle.is_open(ticket.status):
        raise BadInput(f"{ref} is {ticket.status}")
    row = _row(session, ticket, ops.now)
    if ticket.category != "enhancement":
        ticket.category = "enhancement"
    ticket.needs_review = False
    row.updated_at = ops.now
    closes = rule.action == "close_when_recorded" or complete
    if rule.action == "close_when_recorded":
        row.state, row.destination = "recorded", rule.recorded_in
        reason = "enhancement_recorded"
    else:
        row.state = "transferred" if complete else "awaiting_information"
        row.destination = rule.transfer_to
        reason = "enhancement_transferred"
    if closes:
        row.closed_at = ops.now
        ops.close(ticket, rule.close_reason if reason == "enhancement_recorded" else reason, row.state)
    session.commit()
    return {
        "ref": ops.ref(ticket),
        "state": row.state,
        "destination": row.destination,
        "status": ticket.status,
    }


def reject(
    session: Session, clock: Clock, settings: Settings, ref: str, *, actor: str = "engineer"
) -> dict[str, Any]:
    """Not an enhancement request: the ticket goes on as an ordinary one (a defect, a question)."""
    ticket = find_ticket(session, ref, settings.tickets.ref_prefix)
    ops = TicketOps(session, settings, clock.now(), actor=actor)
    row = _row(session, ticket, ops.now)
    row.state, row.updated_at = "rejected", ops.now
    ticket.category = "defect" if ticket.category == "enhancement" else ticket.category
    ticket.needs_review = False
    session.commit()
    return {"ref": ops.ref(ticket), "state": row.state, "status": ticket.status}
