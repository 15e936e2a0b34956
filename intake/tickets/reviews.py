"""Managers' reviews of triage decisions: accept, or override with a reason; and the training records.

`override` is the one way a person changes what triage decided (the web page and
Slack's triage channel both call it). It writes an audit row (`reviews`: who,
when, before, after, why), marks the decision reviewed with the corrected labels
(so `intake train --with-reviews` learns from it), recomputes the ticket's due
times through its policy and says what moved.

The new targets come from `intake.pipeline.decide.recompute`, pure: the same level
rule and SLA arithmetic the pipeline applies at intake, over the ticket's clock
(created, with its pauses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.errors import BadInput, NotFound
from intake.pipeline.decide.recompute import recompute, ticket_state
from intake.policies.schema import CANONICAL_CATEGORIES, CANONICAL_SEVERITIES, Policy
from intake.store.orm import Message, Review, Ticket, TicketEvent, TriageDecision
from intake.tickets.ops import TicketOps
from intake.tickets.replies import find_ticket

CONTACT_STATUSES = ("designated", "not_designated", "unverified", "unknown")


@dataclass(frozen=True)
class Moved:
    """One field the review changed: its value before and after."""

    name: str
    before: str | None
    after: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"name": self.name, "before": self.before, "after": self.after}

    def describe(self) -> str:
        return f"{self.name.replace('_', ' ')}: {self.before or 'none'} → {self.after or 'none'}"


@dataclass
class OverrideResult:
    ref: str
    review_id: int
    decision_id: int | None
    action: str
    moved: list[Moved] = field(default_factory=list)

    def summary(self) -> str:
        if not self.moved:
            return f"{self.ref}: decision accepted, nothing moved"
        return f"{self.ref}: " + "; ".join(m.describe() for m in self.moved)

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "review_id": self.review_id,
            "decision_id": self.decision_id,
            "action": self.action,
            "moved": [m.as_json() for m in self.moved],
            "summary": self.summary(),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _snapshot(ticket: Ticket) -> dict[str, str | None]:
    return {
        "severity": ticket.severity,
        "canonical_severity": ticket.canonical_severity,
        "category": ticket.category,
        "contact_status": ticket.contact_status,
        "first_response_due": _iso(ticket.first_response_due),
        "resolution_due": _iso(ticket.resolution_due),
    }


def _decision(session: Session, ticket: Ticket, decision_id: int | None) -> TriageDecision | None:
    query = select(TriageDecision).where(TriageDecision.ticket_id == ticket.id)
    if decision_id is not None:
        found = session.scalar(query.where(TriageDecision.id == decision_id))
        if found is None:
            raise NotFound(f"no decision {decision_id} on this ticket")
        return found
    # The decision that triaged the ticket: the first one with a severity.
    return session.scalar(
        query.where(TriageDecision.canonical_severity.is_not(None)).order_by(TriageDecision.id).limit(1)
    )


def _level(policy: Policy, severity: str) -> str:
    """A policy level key from a level key or a canonical severity."""
    if severity in policy.level_keys():
        return severity
    if severity in CANONICAL_SEVERITIES:
        return policy.level_for_canonical(severity).key
    raise BadInput(
        f"unknown severity {severity!r}: one of {', '.join(CANONICAL_SEVERITIES)} "
        f"or a {policy.name} level ({', '.join(policy.level_keys())})"
    )


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
    decision_id: int | None = None,
) -> OverrideResult:
    """Accept (no field given) or correct a ticket's triage, audited; commits; says what moved."""
    who = who.strip()
    if not who:
        raise BadInput("who reviewed it? (empty reviewer)")
    changing = any(v is not None for v in (severity, category, contact_status))
    if changing and not reason.strip():
        raise BadInput("an override needs a reason")
    if category is not None and category not in CANONICAL_CATEGORIES:
        raise BadInput(f"unknown category {category!r}: one of {', '.join(CANONICAL_CATEGORIES)}")
    if contact_status is not None and contact_status not in CONTACT_STATUSES:
        raise BadInput(f"unknown contact status {contact_status!r}: one of {', '.join(CONTACT_STATUSES)}")
    ticket = find_ticket(session, ref, settings.tickets.ref_prefix)
    decision = _decision(session, ticket, decision_id)
    ops = TicketOps(session, settings, clock.now(), actor=who)
    policy = ops.policy(ticket)
    before = _snapshot(ticket)

    level = _level(policy, severity) if severity is not None else None
    retriage = (level is not None and level != ticket.severity) or (
        category is not None and category != ticket.category
    )
    if retriage:
        ops.apply_override(
            ticket,
            recompute(
                policy,
                ticket_state(ticket),
                ops.now,
                severity=level,
                category=category,
                zone=ops.zone(ticket),
            ),
        )
    if contact_status is not None:
        ticket.contact_status = contact_status
    ticket.needs_review = False
    ticket.updated_at = ops.now
    after = _snapshot(ticket)
    moved = [Moved(k, before[k], after[k]) for k in before if before[k] != after[k]]
    action = "override" if moved else "accept"

    if decision is not None:
        decision.reviewed_by = who
        decision.reviewed_at = ops.now
        decision.needs_review = False
        decision.corrected_severity = (
            ticket.canonical_severity if ticket.canonical_severity != decision.canonical_severity else None
        )
        decision.corrected_category = ticket.category if ticket.category != decision.category else None
    review = Review(
        decision_id=decision.id if decision is not None else None,
        ticket_id=ticket.id,
        who=who,
        at=ops.now,
        action=action,
        before=before,
        after=after,
        moved=[m.as_json() for m in moved],
        reason=reason.strip(),
    )
    session.add(review)
    if moved:
        # On the ticket's own timeline too (`intake tickets show`), and on its Slack triage post.
        what = "; ".join(m.describe() for m in moved)
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=ops.now,
                from_status=ticket.status,
                to_status=ticket.status,
                reason=f"override by {who}: {what}; why: {reason.strip()}",
                actor=who,
            )
        )
        ops.triage(ticket, "triage_update")
    session.flush()
    session.commit()
    return OverrideResult(ops.ref(ticket), review.id, review.decision_id, action, moved)


def review_records(session: Session) -> list[Any]:
    """One record per reviewed decision: the message's text with the manager's labels.

    Accepted decisions count too (a manager confirmed the labels); corrected ones carry the correction.
    """
    from classifiers.seed_corpus import Record

    rows = session.execute(
        select(TriageDecision, Message.subject, Message.text, Message.channel)
        .join(Message, Message.id == TriageDecision.message_id)
        .where(
            TriageDecision.reviewed_at.is_not(None),
            or_(
                TriageDecision.canonical_severity.is_not(None), TriageDecision.corrected_severity.is_not(None)
            ),
        )
        .order_by(TriageDecision.id)
    ).all()
    return [
        Record(
            subject=subject or None,
            body=text,
            severity=decision.corrected_severity or decision.canonical_severity,
            category=decision.corrected_category or decision.category,
            channel="chat" if channel == "slack" else "email",
            env=None,
            source=f"review:{decision.id}",
        )
        for decision, subject, text, channel in rows
    ]
