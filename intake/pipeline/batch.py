"""A batch of messages on their way into the store, written in one transaction.

Steps look things up through the batch: what the store held when the batch was
prefetched, plus what earlier messages of the same batch added. So a reply that
arrives in the same batch as the message it answers still finds its ticket, and
one batch costs a handful of queries instead of several per message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from intake.outgoing import bounces
from intake.pipeline.context import TicketView
from intake.store.orm import (
    Attachment,
    Base,
    Message,
    Outbox,
    Quarantine,
    Ticket,
    TicketEvent,
    Timer,
    TriageDecision,
)
from intake.store.repo import SentMail

_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.org_id,
    Ticket.requester,
    Ticket.status,
    Ticket.policy,
    Ticket.plan,
    Ticket.severity,
    Ticket.subject,
    Ticket.waiting_since,
    Ticket.closed_at,
    Ticket.created_at,
    Ticket.close_reason,
    Ticket.pauses,
)

_CHUNK = 500


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _view(row: Any) -> TicketView:
    return TicketView(
        id=row.id,
        org_id=row.org_id,
        requester=row.requester,
        status=row.status,
        policy=row.policy,
        plan=row.plan,
        severity=row.severity,
        subject=row.subject,
        waiting_since=row.waiting_since,
        closed_at=row.closed_at,
        created_at=row.created_at,
        close_reason=row.close_reason,
        pauses=list(row.pauses or []),
    )


@dataclass
class Staged:
    """The rows one message adds; `ticket` is the view they attach to."""

    message: dict[str, Any]
    ticket: TicketView | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    timers: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[Callable[[int], dict[str, Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Batch:
    session: Session
    known_keys: set[str] = field(default_factory=set)
    # The content hash stored (or claimed in this batch) with each known key; None when unknown.
    key_hashes: dict[str, str | None] = field(default_factory=dict)
    tickets_by_id: dict[int, TicketView] = field(default_factory=dict)
    ticket_by_message_id: dict[str, TicketView] = field(default_factory=dict)
    new_tickets: list[TicketView] = field(default_factory=list)
    staged: list[Staged] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    cancelled_timers: list[tuple[TicketView, tuple[str, ...]]] = field(default_factory=list)
    # Our sent mail the batch's delivery reports return (the guard prefetches it) and believed bounces.
    sent_mail: dict[str, SentMail] = field(default_factory=dict)
    suppressions: list[bounces.Suppress] = field(default_factory=list)

    # prefetch ------------------------------------------------------------
    def load_known_keys(self, keys: Iterable[str]) -> None:
        wanted = sorted(set(keys) - self.known_keys)
        for chunk in _chunks(wanted):
            for key, digest in self.session.execute(
                select(Message.dedup_key, Message.content_hash).where(Message.dedup_key.in_(chunk))
            ):
                self.known_keys.add(key)
                self.key_hashes[key] = digest

    def load_tickets(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids) - set(self.tickets_by_id))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for row in self.session.execute(select(*_TICKET_COLUMNS).where(Ticket.id.in_(chunk))):
                self.tickets_by_id[row.id] = _view(row)

    def load_message_ids(self, message_ids: Iterable[str]) -> None:
        """Map Message-IDs we know (inbound messages and our own outgoing mail) to their tickets."""
        wanted = sorted(set(message_ids) - set(self.ticket_by_message_id))
        pairs: list[tuple[str, int]] = []
        for chunk in _chunks(wanted):
            pairs.extend(
                (r.external_id, r.ticket_id)
                for r in self.session.execute(
                    select(Message.external_id, Message.ticket_id)
                    .where(Message.external_id.in_(chunk), Message.ticket_id.is_not(None))
                    .order_by(Message.id)
                )
            )
            pairs.extend(
                (r.message_id, r.ticket_id)
                for r in self.session.execute(
                    select(Outbox.message_id, Outbox.ticket_id).where(
                        Outbox.message_id.in_(chunk), Outbox.ticket_id.is_not(None)
                    )
                )
            )
        self.load_tickets(ticket_id for _, ticket_id in pairs)
        for message_id, ticket_id in pairs:
            # A Message-ID reused by a later, different message keeps naming the first one's ticket.
            self.ticket_by_message_id.setdefault(message_id, self.tickets_by_id[ticket_id])

    # staging ---------------------------------------------------------------
    def claim_key(self, key: str, content_hash: str = "") -> bool:
        """Reserve a dedup key; False when the store or this batch already has it."""
        if key in self.known_keys:
            return False
        self.known_keys.add(key)
        self.key_hashes[key] = content_hash or None
        return True

    def open_ticket(self, view: TicketView) -> None:
        self.new_tickets.append(view)

    def remember_message_id(self, message_id: str, ticket: TicketView) -> None:
        if message_id:
            self.ticket_by_message_id.setdefault(message_id, ticket)

    def cancel_timers(self, ticket: TicketView, kinds: tuple[str, ...]) -> None:
        """Cancel the ticket's pending timers of these kinds when the batch is written."""
        if ticket.id is not None:
            self.cancelled_timers.append((ticket, kinds))

    def stage(self, staged: Staged) -> None:
        self.staged.append(staged)

    def quarantine(self, row: dict[str, Any]) -> None:
        self.quarantined.append(row)

    def suppress(self, request: bounces.Suppress) -> None:
        """Stage a believed bounce: its suppression is written with the batch."""
        self.suppressions.append(request)

    # commit ----------------------------------------------------------------
    def write(self) -> None:
        """Write everything staged, in the caller's transaction, with bulk Core statements.

        Core `executemany` with RETURNING (insertmanyvalues, ordered by parameter)
        gives the new ticket and message ids in one round trip per table, on SQLite
        and PostgreSQL alike; the ORM's unit of work would cost a statement per row.
        """
        conn = self.session.connection()
        tickets = _table(Ticket)
        messages = _table(Message)
        if self.new_tickets:
            rows = [t.row for t in self.new_tickets if t.row is not None]
            ids = (
                conn.execute(insert(tickets).returning(tickets.c.id, sort_by_parameter_order=True), rows)
                .scalars()
                .all()
            )
            for view, new_id in zip(self.new_tickets, ids, strict=True):
                view.id = new_id
                self.tickets_by_id[new_id] = view
        self._write_ticket_changes(conn)
        timers_table = _table(Timer)
        for ticket, kinds in self.cancelled_timers:
            conn.execute(
                update(timers_table)
                .where(
                    timers_table.c.ticket_id == ticket.id,
                    timers_table.c.state == "pending",
                    timers_table.c.kind.in_(kinds),
                )
                .values(state="cancelled")
            )
        if self.staged:
            message_rows = []
            for item in self.staged:
                row = dict(item.message)
                row["ticket_id"] = item.ticket.id if item.ticket else None
                message_rows.append(row)
            message_ids = (
                conn.execute(
                    insert(messages).returning(messages.c.id, sort_by_parameter_order=True), message_rows
                )
                .scalars()
                .all()
            )
            attachments: list[dict[str, Any]] = []
            decisions: list[dict[str, Any]] = []
            timers: list[dict[str, Any]] = []
            outbox: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for item, message_id in zip(self.staged, message_ids, strict=True):
                ticket_id = item.ticket.id if item.ticket else None
                attachments.extend({**a, "message_id": message_id} for a in item.attachments)
                if item.decision is not None:
                    decisions.append({**item.decision, "message_id": message_id, "ticket_id": ticket_id})
                timers.extend({**t, "ticket_id": ticket_id} for t in item.timers)
                if ticket_id is not None:
                    outbox.extend({**compose(ticket_id), "ticket_id": ticket_id} for compose in item.outbox)
                events.extend({**e, "ticket_id": ticket_id} for e in item.events)
            for table, rows in (
                (Attachment, attachments),
                (TriageDecision, decisions),
                (Timer, timers),
                (Outbox, outbox),
                (TicketEvent, events),
            ):
                if rows:
                    conn.execute(insert(_table(table)), rows)
        for request in self.suppressions:
            bounces.apply(self.session, request)
        if self.quarantined:
            fresh = self._new_quarantine_rows()
            if fresh:
                conn.execute(insert(_table(Quarantine)), fresh)
        for view in self.new_tickets:
            view.row = None

    def _write_ticket_changes(self, conn: Any) -> None:
        """One executemany UPDATE per distinct set of changed columns."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for view in self.tickets_by_id.values():
            if view.changes and view.row is None:
                keys = tuple(sorted(view.changes))
                groups.setdefault(keys, []).append(
                    {"b_id": view.id, **{f"b_{k}": v for k, v in view.changes.items()}}
                )
                view.changes = {}
        tickets = _table(Ticket)
        for keys, rows in groups.items():
            statement = (
                update(tickets)
                .where(tickets.c.id == bindparam("b_id"))
                .values({k: bindparam(f"b_{k}") for k in keys})
            )
            conn.execute(statement, rows)

    def _new_quarantine_rows(self) -> list[dict[str, Any]]:
        by_hash = {row["sha256"]: row for row in self.quarantined}
        existing = set(
            self.session.scalars(select(Quarantine.sha256).where(Quarantine.sha256.in_(list(by_hash))))
        )
        return [row for digest, row in by_hash.items() if digest not in existing]

    def reset(self) -> None:
        self.new_tickets.clear()
        self.staged.clear()
        self.cancelled_timers.clear()
        self.quarantined.clear()
        self.suppressions.clear()
