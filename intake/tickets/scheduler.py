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

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from intake.clock import Clock
from intake.config import Settings
from intake.outgoing.compose import format_due
from intake.store.orm import Ticket, Timer
from intake.tickets import lifecycle
from intake.tickets.ops import TicketOps

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class TickReport:
    fired: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    # (ticket id, timer kind, fired?) in firing order, so callers can name the tickets touched
    touched: list[tuple[int, str, bool]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "fired": dict(self.fired),
            "skipped": dict(self.skipped),
            "total": sum(self.fired.values()) + sum(self.skipped.values()),
        }


Handler = Callable[[TicketOps, Ticket, Timer], bool]


def _due(timer: Timer) -> datetime | None:
    value = timer.payload.get("due")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _warn_first_response(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
    if ticket.first_responded_at is not None or not lifecycle.is_open(ticket.status):
        return False
    ops.notify_team(
        ticket, "First response due soon", "first response", _due(timer), "No engineer has answered yet."
    )
    return True


def _breach(target: str) -> Handler:
    def handle(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
        if not lifecycle.is_open(ticket.status) or ticket.status == "pending_authorisation":
            return False
        if target == "first_response" and ticket.first_responded_at is not None:
            return False
        if target == "resolution" and ticket.status == "waiting_on_customer":
            return False
        policy = ops.policy(ticket)
        if f"{target}_breach" in policy.escalation.escalate_on and ticket.status != "escalated":
            ops.transition(ticket, "escalated", f"{target.replace('_', ' ')} target missed")
        ops.notify_team(
            ticket,
            f"{target.replace('_', ' ').capitalize()} target missed",
            target.replace("_", " "),
            _due(timer),
            f"Escalation goes to {policy.escalation.notify}."
            + (" The policy allows raising the severity." if policy.escalation.raise_severity else ""),
        )
        return True

    return handle


def _warn_resolution(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
    if not lifecycle.is_open(ticket.status) or ticket.status == "waiting_on_customer":
        return False
    ops.notify_team(ticket, "Resolution due soon", "resolution", _due(timer), "The ticket is still open.")
    return True


def _milestone(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
    """A document's extra deadline (Resilio's Debug Analysis ETA) has come: tell the team."""
    if not lifecycle.is_open(ticket.status) or ticket.status in (
        "waiting_on_customer",
        "pending_authorisation",
    ):
        return False
    name = str(timer.payload.get("milestone", "milestone")).replace("_", " ")
    ops.notify_team(
        ticket,
        f"{name.capitalize()} due",
        name,
        _due(timer),
        f"The policy promises a {name} within {timer.payload.get('target', 'its target')}.",
    )
    return True


def _remind(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
    close_at = timer.payload.get("close_at")
    if ticket.status != "waiting_on_customer":
        return False
    if isinstance(close_at, str) and datetime.fromisoformat(close_at) <= ops.now:
        return False  # catching up after downtime: the close is due too, a reminder now is moot
    policy = ops.policy(ticket)
    ops.send(
        ticket,
        policy.dropped.reminder_template,
        {
            "waiting_since": ticket.waiting_since.strftime("%d %b %Y") if ticket.waiting_since else "",
            # in the policy's zone, as the acknowledgement gave its dates (not GMT there, UTC here)
            "close_at": (
                format_due(policy, ticket.plan, datetime.fromisoformat(close_at), ops.zone(ticket))
                if close_at
                else ""
            ),
        },
    )
    return True


def _auto_close(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
    if ticket.status != "waiting_on_customer":
        return False
    policy = ops.policy(ticket)
    ops.close(ticket, policy.dropped.close_reason, "no answer to the information request")
    return True


def _close_resolved(ops: TicketOps, ticket: Ticket, timer: Timer) -> bool:
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


def _claim(session: Session, now: datetime) -> list[Timer]:
    """Take a batch of due timers for this transaction, so no other worker fires them.

    One UPDATE marks them claimed: on PostgreSQL its subquery skips rows another
    worker has locked (FOR UPDATE SKIP LOCKED); on SQLite the UPDATE takes the
    database's write lock first, so a concurrent tick waits and then finds them
    gone. The claim, the handlers' effects and the final state commit together; a
    crash rolls all of it back to pending.
    """
    due = (
        select(Timer.id)
        .where(Timer.state == "pending", Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.scalars(
        update(Timer)
        .where(Timer.id.in_(due.scalar_subquery()))
        .values(state="claimed")
        .returning(Timer.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return []
    return list(session.scalars(select(Timer).where(Timer.id.in_(claimed)).order_by(Timer.due_at, Timer.id)))


def tick(session: Session, clock: Clock, settings: Settings) -> TickReport:
    """Fire every timer due at the clock's `now`, in batches, each batch one transaction."""
    now = clock.now()
    report = TickReport()
    while True:
        timers = _claim(session, now)
        if not timers:
            session.commit()
            return report
        ids = {t.ticket_id for t in timers}
        tickets = {
            t.id: t
            for t in session.scalars(
                select(Ticket).where(Ticket.id.in_(ids)).options(selectinload(Ticket.org))
            )
        }
        ops = TicketOps(session, settings, now)
        for timer in timers:
            ticket = tickets[timer.ticket_id]
            fired = HANDLERS[timer.kind](ops, ticket, timer)
            timer.state = "fired" if fired else "skipped"
            timer.fired_at = now
            (report.fired if fired else report.skipped)[timer.kind] += 1
            report.touched.append((ticket.id, timer.kind, fired))
            log.info("%s timer %s %s", ops.ref(ticket), timer.kind, timer.state)
        session.commit()


__all__ = ["HANDLERS", "TickReport", "tick"]
