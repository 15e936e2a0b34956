"""An engineer's answer to a ticket: `intake reply REF --text T [--request-info] [--resolve]`.

The answer is the first response if none was given (its SLA timers stop); asking
for information puts the ticket in waiting_on_customer, pauses the SLA clock and
starts the policy's dropped-ticket rule (reminder, then close); resolving starts
the policy's auto-close of resolved tickets, or closes at once where it has none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.errors import BadInput, NotFound
from intake.policies.schema import Policy
from intake.sla.timers import (
    DROPPED_KINDS,
    FIRST_RESPONSE_KINDS,
    SLA_KINDS,
    dropped_timers,
    resolved_timers,
    resumed_clock,
)
from intake.store import repo
from intake.store.orm import Ticket
from intake.tickets import lifecycle
from intake.tickets.ops import TicketOps
from intake.tickets.refs import parse_ref, prefix_of


def find_ticket(session: Session, ref: str, prefix: str) -> Ticket:
    ticket = repo.ticket(session, parse_ref(ref, prefix))
    if ticket is None:
        raise NotFound(f"no ticket {ref}")
    return ticket


def _stamp_first_response(ops: TicketOps, policy: Policy, ticket: Ticket, actor: str) -> None:
    """The first human response is a target of its own: stamped once, its timers stop."""
    if ticket.first_responded_at is None:
        ticket.first_responded_at = ops.now
        ops.cancel_timers(ticket, FIRST_RESPONSE_KINDS)
    if policy.case_owner and ticket.owner is None:
        # Revalize: "Each case will be assigned to a Revalize Customer Support Case Owner."
        ticket.owner = actor
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = ops.now


def _resolve(ops: TicketOps, policy: Policy, ticket: Ticket) -> None:
    ops.transition(ticket, "resolved", "engineer resolved the ticket")
    ops.cancel_timers(ticket, SLA_KINDS + DROPPED_KINDS)
    later = resolved_timers(policy, ticket.plan, ops.now, ops.zone(ticket))
    if policy.closing.close_on_confident_answer:
        # Rezilion: "Support requests may be closed when a support representative has
        # provided an electronic reply with a high degree of confidence ..."
        ops.close(ticket, "resolved", "closed on the engineer's confident answer", message=False)
    elif later:
        ops.add_timers(ticket, later)
    else:
        ops.close(ticket, "resolved", "resolved", message=False)


def _reopen(ops: TicketOps, ticket: Ticket, ref: str, reopen: bool) -> None:
    """`--reopen`: an engineer reopens a closed ticket (Resource Optimizer: "At Resource
    Optimizer's sole discretion, Incidents will be re-opened"); its clock resumes where it stood."""
    if not reopen:
        if ticket.status == "closed":
            raise BadInput(
                f"{ref} is closed; --reopen reopens it (or a customer reply, where the policy allows)"
            )
        return
    if ticket.status != "closed":
        raise BadInput(f"{ref} is {ticket.status}, not closed: nothing to reopen")
    policy = ops.policy(ticket)
    stopped = ticket.closed_at or ops.now
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ticket.pauses or []]
    paused, _, resolution_due, timers = resumed_clock(
        policy,
        ticket.plan,
        ticket.severity,
        ticket.created_at,
        pauses,
        stopped,
        ops.now,
        first_responded=ticket.first_responded_at is not None,
        zone=ops.zone(ticket),
    )
    ops.transition(ticket, "reopened", "engineer reopened the ticket")
    ticket.closed_at, ticket.close_reason, ticket.needs_review = None, None, False
    ticket.pauses = [[a.isoformat(), (b or ops.now).isoformat()] for a, b in paused]
    ticket.resolution_due = resolution_due
    ops.add_timers(ticket, timers)


def _resume_from_wait(ops: TicketOps, policy: Policy, ticket: Ticket) -> None:
    """An engineer's plain answer to a ticket waiting on the customer ends the wait: the time
    waited is a pause, the dropped-ticket rule stops and the SLA clock runs again where it stood
    (as a customer's reply resumes it in the pipeline)."""
    since = ticket.waiting_since or ops.now
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ticket.pauses or []]
    paused, _, resolution_due, timers = resumed_clock(
        policy,
        ticket.plan,
        ticket.severity,
        ticket.created_at,
        pauses,
        since,
        ops.now,
        first_responded=ticket.first_responded_at is not None,
        zone=ops.zone(ticket),
    )
    ops.cancel_timers(ticket, SLA_KINDS + DROPPED_KINDS)
    ticket.waiting_since = None
    ticket.pauses = [[a.isoformat(), (b or ops.now).isoformat()] for a, b in paused]
    ticket.resolution_due = resolution_due
    ops.add_timers(ticket, timers)


def reply(
    session: Session,
    clock: Clock,
    settings: Settings,
    ref: str,
    text: str,
    *,
    request_info: bool = False,
    resolve: bool = False,
    out_of_scope: bool = False,
    reopen: bool = False,
    actor: str = "engineer",
) -> dict[str, Any]:
    """Record and send an engineer's answer; returns what happened."""
    if request_info + resolve + out_of_scope > 1:
        raise BadInput("--request-info, --resolve and --out-of-scope exclude each other")
    if not text.strip():
        raise BadInput("the reply text is empty")
    ticket = find_ticket(session, ref, prefix_of(settings))
    ops = TicketOps(session, settings, clock.now(), actor=actor)
    _reopen(ops, ticket, ref, reopen)
    policy = ops.policy(ticket)
    _stamp_first_response(ops, policy, ticket, actor)

    if request_info:
        close_after = policy.dropped.close_after if policy.dropped.enabled else None
        ops.send(
            ticket,
            "info_request",
            {
                "text": text,
                "close_after_text": close_after.describe() if close_after else "",
            },
            automatic=False,
        )
        ops.transition(ticket, "waiting_on_customer", "engineer asked for information")
        ticket.waiting_since = ops.now
        ops.cancel_timers(ticket, SLA_KINDS + DROPPED_KINDS)
        ops.add_timers(ticket, dropped_timers(policy, ticket.plan, ops.now, ops.zone(ticket)))
    elif out_of_scope:
        if not policy.closing.out_of_scope:
            raise BadInput(f"the {policy.name} policy has no out-of-scope closure")
        ops.send(ticket, "reply", {"text": text}, automatic=False)
        ops.close(ticket, "out_of_scope", "outside the scope of support")
    elif resolve:
        ops.send(ticket, "reply", {"text": text}, automatic=False)
        _resolve(ops, policy, ticket)
    else:
        ops.send(ticket, "reply", {"text": text}, automatic=False)
        if ticket.status == "waiting_on_customer":
            _resume_from_wait(ops, policy, ticket)
        if ticket.status in (
            "new",
            "acknowledged",
            "reopened",
            "pending_authorisation",
            "waiting_on_customer",
        ):
            ops.transition(ticket, "in_progress", "engineer answered")
    session.commit()
    return {
        "ref": ops.ref(ticket),
        "status": ticket.status,
        "close_reason": ticket.close_reason,
        "first_responded_at": ticket.first_responded_at.isoformat() if ticket.first_responded_at else None,
        "owner": ticket.owner,
        "is_open": lifecycle.is_open(ticket.status),
    }
