"""Managers' corrections of triage decisions, as training records for `intake train --with-reviews`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.errors import BadInput
from intake.store import repo
from intake.store.orm import TriageDecision


def review_records(session: Session) -> list[Any]:
    """One record per reviewed decision: the message's text with the manager's labels."""
    from classifiers.seed_corpus import Record

    return [
        Record(
            subject=row.subject or None,
            body=row.text,
            severity=row.decision.corrected_severity or row.decision.canonical_severity,
            category=row.decision.corrected_category or row.decision.category,
            channel="chat" if row.channel == "slack" else "email",
            env=None,
            source=f"review:{row.decision.id}",
        )
        for row in repo.reviewed_decisions(session)
    ]


@dataclass(frozen=True)
class OverrideResult:
    """What an engineer's override changed: before and after, and the targets that moved."""

    ref: str
    before: dict[str, str | None]
    after: dict[str, str | None]
    moved: dict[str, str | None]


def override(
    session: Session,
    clock: Clock,
    settings: Settings,
    ref: str,
    who: str,
    *,
    severity: str | None = None,
    category: str | None = None,
    contact_status: str | None = None,
    reason: str,
) -> OverrideResult:
    """Change a ticket's severity, category or contact status as a review of the bot's decision.

    Minimal version written by `slack` for the triage channel until `web`'s lands
    (same signature): the audit row is a ticket event (who, when, before, after,
    why) and the ticket's latest decision is marked reviewed with the corrections
    (so `intake train --with-reviews` learns from it); the targets are recomputed
    with `intake.sla.timers.due_times` from the ticket's start and pauses. It does
    not re-plan pending timers. The caller commits.
    """
    from intake.policies.loader import load_all
    from intake.sla.timers import due_times
    from intake.store.orm import TicketEvent
    from intake.tickets.replies import find_ticket

    if not reason.strip():
        raise BadInput("an override needs a reason")
    ticket = find_ticket(session, ref, settings.tickets.ref_prefix)
    policy = load_all()[ticket.policy]
    now = clock.now()
    if severity is not None and severity not in policy.level_keys():
        raise BadInput(
            f"{policy.name} has no severity {severity!r}; levels: {', '.join(policy.level_keys())}"
        )
    before = {
        "severity": ticket.severity,
        "category": ticket.category,
        "contact_status": ticket.contact_status,
    }
    targets_before = {
        "first_response_due": ticket.first_response_due,
        "resolution_due": ticket.resolution_due,
    }
    if severity is not None:
        ticket.severity = severity
        ticket.canonical_severity = policy.canonical(severity)
        pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ticket.pauses or []]
        first_due, resolution_due = due_times(policy, ticket.plan, severity, ticket.created_at, pauses)
        if ticket.first_responded_at is None:
            ticket.first_response_due = first_due
        ticket.resolution_due = resolution_due
    if category is not None:
        ticket.category = category
    if contact_status is not None:
        ticket.contact_status = contact_status
    ticket.needs_review = False
    ticket.updated_at = now
    after = {
        "severity": ticket.severity,
        "category": ticket.category,
        "contact_status": ticket.contact_status,
    }
    moved = {
        key: value.isoformat() if value else None
        for key, value in (
            ("first_response_due", ticket.first_response_due),
            ("resolution_due", ticket.resolution_due),
        )
        if value != targets_before[key]
    }
    decision = session.scalar(
        select(TriageDecision).where(TriageDecision.ticket_id == ticket.id).order_by(TriageDecision.id.desc())
    )
    if decision is not None:
        decision.reviewed_by = who[:320]
        decision.reviewed_at = now
        if severity is not None:
            decision.corrected_severity = ticket.canonical_severity
        if category is not None:
            decision.corrected_category = category
    changes = (
        ", ".join(f"{k} {before[k]} -> {after[k]}" for k in after if before[k] != after[k]) or "no change"
    )
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            from_status=ticket.status,
            to_status=ticket.status,
            reason=f"override by {who}: {changes}; why: {reason}"[:4000],
            actor=who[:320],
        )
    )
    return OverrideResult(f"{settings.tickets.ref_prefix}-{ticket.id}", before, after, moved)
