"""Recompute a ticket's targets when a person overrides its severity or category (the review page,
Slack's triage channel, `intake severity`).

Pure, like decide: the same level rule and the same SLA arithmetic, from the
ticket's own start (its creation, its paused time left out). The caller applies
the Decision: the changed columns, the cancelled and the new timers, the hits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from intake.pipeline.context import Hit
from intake.pipeline.decide.common import sla_clock
from intake.pipeline.decide.decision import Decision
from intake.pipeline.rows import TicketChanges, TicketState
from intake.policies.schema import Policy
from intake.sla.timers import SLA_KINDS
from intake.store.orm import Ticket
from intake.tickets import lifecycle

# Statuses whose SLA clock is not running: held (it starts on authorisation) or paused (on the
# customer: the clock resumes, recomputed, when they reply).
_CLOCK_STOPPED = ("pending_authorisation", "waiting_on_customer")


def _level(policy: Policy, ticket: TicketState, severity: str | None, category: str | None) -> str:
    """The overridden level; an enhancement without a chosen level gets the policy's enhancement level."""
    if severity is not None:
        return policy.level(severity).key  # an unknown level raises here, before anything changes
    if category == "enhancement" and category != ticket.category and policy.enhancements.level:
        return policy.enhancements.level
    return ticket.severity


def recompute(
    policy: Policy,
    ticket: TicketState,
    now: datetime,
    *,
    severity: str | None = None,
    category: str | None = None,
    zone: str | None = None,
) -> Decision:
    """The ticket under its new severity or category: its level, due times and SLA timers.

    Where the clock runs, the pending SLA timers are replaced (`cancel_timers`,
    `timers`); a first response already given keeps its due time and needs no
    first-response timer. A held, paused or closed ticket only changes its level:
    its clock is computed when it runs again. A warning whose time has passed is
    not made again; a breach already past fires at once.
    """
    level = _level(policy, ticket, severity, category)
    # A person chose the level: a possible critical is settled (issue 13).
    changes = TicketChanges(
        severity=level, canonical_severity=policy.canonical(level), possible_critical=False, updated_at=now
    )
    if category is not None:
        changes = changes.merged(TicketChanges(category=category))
    what = f"severity {ticket.severity} -> {level}" + (f", category {category}" if category else "")
    if not lifecycle.is_open(ticket.status) or ticket.status in _CLOCK_STOPPED:
        return Decision(
            "override", hits=(Hit("decide.recompute", f"{what}; clock not running"),), changes=changes
        )
    state = replace(ticket, severity=level)
    start = ticket.created_at or now
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ticket.pauses]
    responded = ticket.first_responded_at is not None
    dues, timers = sla_clock(
        policy, state, start, now, first_response=not responded, pauses=pauses, zone=zone
    )
    if responded:
        dues = replace(dues, first_response_due=ticket.first_response_due)
    due = dues.first_response_due
    due_text = due.isoformat() if isinstance(due, datetime) else "best effort"
    kept = tuple(t.not_before(now) for t in timers if t.due_at > now or t.kind.endswith("_breach"))
    return Decision(
        "override",
        hits=(Hit("decide.recompute", f"{what}; first response due {due_text}"),),
        changes=changes.merged(dues),
        timers=kept,
        cancel_timers=SLA_KINDS,
    )


def ticket_state(ticket: Ticket) -> TicketState:
    """A stored ticket as decide and recompute read it."""
    return TicketState(
        id=ticket.id,
        org_id=ticket.org_id,
        requester=ticket.requester,
        status=ticket.status,
        policy=ticket.policy,
        plan=ticket.plan,
        severity=ticket.severity,
        created_at=ticket.created_at,
        waiting_since=ticket.waiting_since,
        closed_at=ticket.closed_at,
        close_reason=ticket.close_reason,
        pauses=tuple((a, b) for a, b in ticket.pauses or []),
        category=ticket.category,
        first_responded_at=ticket.first_responded_at,
        subject=ticket.subject,
        first_response_due=ticket.first_response_due,
    )
