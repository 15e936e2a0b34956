"""A ticket's whole story for `intake tickets show`: every row that touched it, in time order.

Messages in (with their disposition and attachments), mail out (with its kind:
acknowledgement, reminder, engineer reply, notice ...), status changes with who
or what caused them, timers pending and fired, the triage decisions with their
confidence and reasons, and managers' review overrides. The JSON form and the
terminal form are built from the same `Entry` list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.errors import NotFound
from intake.store import repo
from intake.store.orm import Message, Outbox, TicketEvent, Timer, TriageDecision
from intake.tickets.views import iso, message_json, outbox_json, ticket_json

TIMER_KINDS: dict[str, str] = {
    "first_response_warn": "first-response warning",
    "first_response_breach": "first-response target",
    "resolution_warn": "resolution warning",
    "resolution_breach": "resolution target",
    "milestone": "milestone of the policy (e.g. debug analysis ETA)",
    "reminder": "reminder to the customer",
    "auto_close": "close if the customer stays silent",
    "auto_close_resolved": "close of the resolved ticket",
}


@dataclass(frozen=True)
class Entry:
    """One line of the story: when, what kind of thing, a one-line summary and its data."""

    at: datetime
    kind: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    order: int = 0

    def as_json(self) -> dict[str, Any]:
        return {**self.data, "at": iso(self.at), "kind": self.kind, "summary": self.summary}


@dataclass
class Story:
    ticket: dict[str, Any]
    entries: list[Entry]
    pending_timers: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            **self.ticket,
            "history": [e.as_json() for e in self.entries],
            "pending_timers": self.pending_timers,
        }


def _decision_entry(row: TriageDecision) -> list[Entry]:
    reasons = [str(r) for r in (row.outputs or {}).get("reasons", [])]
    hits = [h for h in (row.hits or []) if isinstance(h, dict)]
    confidence = f"{row.confidence:.2f}" if row.confidence is not None else "none (no model)"
    parts = [f"severity {row.severity or '-'} ({row.canonical_severity or '-'})"]
    parts.append(f"category {row.category or '-'}")
    parts.append(f"confidence {confidence}")
    if row.needs_review:
        parts.append("needs review")
    data: dict[str, Any] = {
        "disposition": row.disposition,
        "severity": row.severity,
        "canonical_severity": row.canonical_severity,
        "category": row.category,
        "confidence": row.confidence,
        "needs_review": row.needs_review,
        "model_version": row.model_version,
        "reasons": reasons,
        "rules": hits,
        "stated": (row.outputs or {}).get("stated"),
    }
    found = [Entry(row.created_at, "triage", "triage: " + ", ".join(parts), data, 1)]
    if row.reviewed_at is not None:
        found.append(
            Entry(
                row.reviewed_at,
                "review",
                f"review by {row.reviewed_by or 'a manager'}: severity {row.corrected_severity or 'kept'}, "
                f"category {row.corrected_category or 'kept'}",
                {
                    "reviewed_by": row.reviewed_by,
                    "corrected_severity": row.corrected_severity,
                    "corrected_category": row.corrected_category,
                },
            )
        )
    return found


def _message_entry(message: Message) -> Entry:
    doc = message_json(message)
    attached = ", ".join(f"{a['filename']} ({a['size']} bytes)" for a in doc["attachments"])
    summary = f"mail in from {message.sender} ({message.disposition})"
    if attached:
        summary += f"; attached {attached}"
    return Entry(message.received_at, "message_in", summary, doc, 0)


def _outbox_entry(row: Outbox) -> Entry:
    doc = outbox_json(row)
    doc["mail_kind"] = doc.pop("kind")
    state = row.state + (f" {iso(row.sent_at)}" if row.sent_at else "")
    if row.last_error and row.state != "sent":
        state += f": {row.last_error.splitlines()[0]}"
    summary = f"mail out: {doc['mail_kind']} to {row.recipient} ({state})"
    return Entry(row.created_at, "message_out", summary, doc, 2)


def _event_entry(row: TicketEvent) -> Entry:
    change = f"{row.from_status} -> {row.to_status}" if row.from_status else f"opened as {row.to_status}"
    return Entry(
        row.at,
        "status",
        f"status {change} by {row.actor}: {row.reason}",
        {
            "from_status": row.from_status,
            "to_status": row.to_status,
            "actor": row.actor,
            "reason": row.reason,
        },
        1,
    )


def _timer_entries(row: Timer) -> tuple[list[Entry], dict[str, Any] | None]:
    name = TIMER_KINDS.get(row.kind, row.kind.replace("_", " "))
    data = {"timer": row.kind, "due_at": iso(row.due_at), "state": row.state, "fired_at": iso(row.fired_at)}
    if row.state == "pending":
        return [], {**data, "what": name}
    if row.fired_at is not None:
        verb = "fired" if row.state == "fired" else row.state
        return [Entry(row.fired_at, "timer", f"timer {name} {verb} (due {iso(row.due_at)})", data, 1)], None
    return [
        Entry(row.created_at, "timer", f"timer {name} {row.state} (was due {iso(row.due_at)})", data, 3)
    ], None


def load_story(session: Session, ticket_id: int, prefix: str, ref: str) -> Story:
    ticket = repo.ticket(session, ticket_id, with_messages=True)
    if ticket is None:
        raise NotFound(f"no ticket {ref}")
    doc = ticket_json(ticket, prefix, with_messages=True)
    outgoing = repo.ticket_outbox(session, ticket_id)
    doc["outgoing"] = [outbox_json(r) for r in outgoing]
    entries: list[Entry] = [_message_entry(m) for m in ticket.messages]
    entries += [_outbox_entry(r) for r in outgoing]
    entries += [_event_entry(e) for e in repo.ticket_events(session, ticket_id)]
    for decision in repo.ticket_decisions(session, ticket_id):
        entries += _decision_entry(decision)
    pending: list[dict[str, Any]] = []
    for timer in repo.ticket_timers(session, ticket_id):
        fired, waiting = _timer_entries(timer)
        entries += fired
        if waiting is not None:
            pending.append(waiting)
    entries.sort(key=lambda e: (e.at, e.order))
    return Story(doc, entries, pending)
