"""The scheduler: fire every timer that is due at `now`, once.

`tick` claims due timers (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so any
number of workers can tick together without firing a timer twice), runs the
handler of each, and marks it fired in the same transaction as the ticket
changes and outbox rows the handler wrote. A timer whose reason has passed (the
customer answered, the target was met) is marked skipped. Running tick twice at
the same instant therefore changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.observe import metrics
from intake.outgoing.compose import format_due
from intake.store import repo
from intake.store.orm import Ticket, Timer
from intake.tickets import lifecycle
from intake.tickets.ops import TicketOps

log = logging.getLogger(__name__)
BATCH = 200


class Touched(NamedTuple):
    """One timer handled: its ticket, its kind, and whether it fired (else it was skipped)."""

    ticket_id: int
    kind: str
    fired: bool


@dataclass
class TickReport:
    fired: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    # in firing order, so callers can name the tickets touched
    touched: list[Touched] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "fired": dict(self.fired),
            "skipped": dict(self.skipped),
            "total": sum(self.fired.values()) + sum(self.skipped.values()),
        }


def _instant(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed timer with its JSON payload read: the target it guards and, for a reminder, the close."""

    kind: str
    due: datetime | None = None
    close_at: datetime | None = None
    milestone: str | None = None  # a milestone timer's name and target (Resilio's debug analysis ETA)
    target: str | None = None

    @classmethod
    def of(cls, timer: Timer) -> Due:
        payload = timer.payload or {}
        name, target = payload.get("milestone"), payload.get("target")
        return cls(
            timer.kind,
            _instant(payload.get("due")),
            _instant(payload.get("close_at")),
            name if isinstance(name, str) else None,
            target if isinstance(target, str) else None,
        )


Handler = Callable[[TicketOps, Ticket, Due], bool]


def _warn_first_response(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    if ticket.first_responded_at is not None or not lifecycle.is_open(ticket.status):
        return False
    ops.notify_team(
        ticket, "First response due soon", "first response", timer.due, "No engineer has answered yet."
    )
    return True


def _breach(target: str) -> Handler:
    def handle(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
        if not lifecycle.is_open(ticket.status) or ticket.status == "pending_authorisation":
            return False
        if target == "first_response" and ticket.first_responded_at is not None:
            return False
        if target == "resolution" and ticket.status == "waiting_on_customer":
            return False
        policy = ops.policy(ticket)
        ops.breached(ticket, target, f"{target.replace('_', ' ')} target missed")
        if f"{target}_breach" in policy.escalation.escalate_on and ticket.status != "escalated":
            ops.transition(ticket, "escalated", f"{target.replace('_', ' ')} target missed")
        ops.notify_team(
            ticket,
            f"{target.replace('_', ' ').capitalize()} target missed",
            target.replace("_", " "),
            timer.due,
            f"Escalation goes to {policy.escalation.notify}."
            + (" The policy allows raising the severity." if policy.escalation.raise_severity else ""),
        )
        return True

    return handle


def _warn_resolution(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    if not lifecycle.is_open(ticket.status) or ticket.status == "waiting_on_customer":
        return False
    ops.notify_team(ticket, "Resolution due soon", "resolution", timer.due, "The ticket is still open.")
    return True


def _milestone(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    """A document's extra deadline (Resilio's Debug Analysis ETA) has come: tell the team."""
    if not lifecycle.is_open(ticket.status) or ticket.status in (
        "waiting_on_customer",
        "pending_authorisation",
    ):
        return False
    name = (timer.milestone or "milestone").replace("_", " ")
    ops.notify_team(
        ticket,
        f"{name.capitalize()} due",
        name,
        timer.due,
        f"The policy promises a {name} within {timer.target or 'its target'}.",
    )
    return True


def _remind(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    close_at = timer.close_at
    if ticket.status != "waiting_on_customer":
        return False
    if close_at is not None and close_at <= ops.now:
        return False  # catching up after downtime: the close is due too, a reminder now is moot
    policy = ops.policy(ticket)
    ops.send(
        ticket,
        policy.dropped.reminder_template,
        {
            "waiting_since": ticket.waiting_since.strftime("%d %b %Y") if ticket.waiting_since else "",
            # in the policy's zone, as the acknowledgement gave its dates (not GMT there, UTC here)
            "close_at": format_due(policy, ticket.plan, close_at, ops.zone(ticket)) if close_at else "",
        },
    )
    return True


def _auto_close(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    if ticket.status != "waiting_on_customer":
        return False
    policy = ops.policy(ticket)
    ops.close(ticket, policy.dropped.close_reason, "no answer to the information request")
    return True


def _close_resolved(ops: TicketOps, ticket: Ticket, timer: Due) -> bool:
    if ticket.status != "resolved":
        return False
    ops.close(ticket, "resolved", "resolved and not reopened", message=False)
    return True


HANDLERS: dict[str, Handler] = {
    "first_response_warn": _warn_first_response,
    "first_response_breach": _breach("first_response"),
    "resolution_warn": _warn_resolution,
    "resolution_breach": _breach("resolution"),
    "milestone": _milestone,
    "reminder": _remind,
    "auto_close": _auto_close,
    "auto_close_resolved": _close_resolved,
}


def tick(session: Session, clock: Clock, settings: Settings) -> TickReport:
    """Fire every timer due at the clock's `now`, in batches, each batch one transaction."""
    now = clock.now()
    report = TickReport()
    while True:
        timers = repo.claim_due_timers(session, now, BATCH)
        if not timers:
            session.commit()
            return report
        tickets = repo.tickets_by_id(session, (t.ticket_id for t in timers))
        ops = TicketOps(session, settings, now)
        for timer in timers:
            ticket = tickets[timer.ticket_id]
            fired = HANDLERS[timer.kind](ops, ticket, Due.of(timer))
            timer.state = "fired" if fired else "skipped"
            timer.fired_at = now
            (report.fired if fired else report.skipped)[timer.kind] += 1
            metrics.TIMERS.labels(timer.kind, timer.state).inc()
            report.touched.append(Touched(ticket.id, timer.kind, fired))
            log.info("%s timer %s %s", ops.ref(ticket), timer.kind, timer.state)
        session.commit()


__all__ = ["HANDLERS", "Due", "TickReport", "Touched", "tick"]
