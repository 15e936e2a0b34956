"""A batch of messages on their way into the store, written in one transaction.

Steps look things up through the batch: what the store held when the batch was
prefetched, plus what earlier messages of the same batch added. So a reply that
arrives in the same batch as the message it answers still finds its ticket, and
one batch costs a handful of queries instead of several per message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from intake.outgoing import bounces
from intake.outgoing.compose import OutboxRow
from intake.pipeline.context import TicketView
from intake.pipeline.decide.decision import Outgoing, TriagePost
from intake.pipeline.rows import NO_CHANGES, AttachmentRow, DecisionRow, MessageRow, QuarantineRow, Values
from intake.sla.timers import TimerSpec
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
from intake.tickets.lifecycle import Transition

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
    Ticket.category,
    Ticket.first_responded_at,
)

_CHUNK = 500


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _view(row: Row[Any]) -> TicketView:
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
        pauses=[list(p) for p in row.pauses or []],
        category=row.category,
        first_responded_at=row.first_responded_at,
    )


@dataclass
class Staged:
    """The rows one message adds; `ticket` is the view they attach to.

    `outgoing` are the messages to compose: persist renders them into `outbox`
    once the ticket's id, and so its reference, is known.
    """

    message: MessageRow
    ticket: TicketView | None
    now: datetime
    attachments: list[AttachmentRow] = field(default_factory=list)
    decision: DecisionRow | None = None
    timers: list[TimerSpec] = field(default_factory=list)
    outgoing: list[Outgoing | TriagePost] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    events: list[Transition] = field(default_factory=list)


def _rows_of(item: Staged, message_id: int, rows: dict[type[Base], list[Values]]) -> None:
    """Add the rows of one staged message that point at it (and at its ticket)."""
    ticket_id = item.ticket.id if item.ticket else None
    rows[Attachment].extend({**a.values(), "message_id": message_id} for a in item.attachments)
    if item.decision is not None:
        rows[TriageDecision].append(
            {**item.decision.values(), "message_id": message_id, "ticket_id": ticket_id}
        )
    rows[Timer].extend({**t.values(), "ticket_id": ticket_id} for t in item.timers)
    rows[Outbox].extend({**o.values(), "ticket_id": ticket_id} for o in item.outbox)
    rows[TicketEvent].extend(
        {
            "at": e.at,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "reason": e.reason,
            "actor": e.actor,
            "ticket_id": ticket_id,
        }
        for e in item.events  # not dataclasses.asdict: it deep-copies every field, 2% of an ingest
    )


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
    quarantined: list[QuarantineRow] = field(default_factory=list)
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

    def quarantine(self, row: QuarantineRow) -> None:
        self.quarantined.append(row)

    def suppress(self, request: bounces.Suppress) -> None:
        """Stage a believed bounce: its suppression is written with the batch."""
        self.suppressions.append(request)

    # commit ----------------------------------------------------------------
    def insert_tickets(self) -> None:
        """Insert the tickets opened in this batch: their ids, and so their refs, are known after.

        Core `executemany` with RETURNING (insertmanyvalues, ordered by parameter)
        gives the new ids in one round trip, on SQLite and PostgreSQL alike; the
        ORM's unit of work would cost a statement per row.
        """
        fresh = [t for t in self.new_tickets if t.id is None and t.row is not None]
        if not fresh:
            return
        tickets = _table(Ticket)
        rows = [t.row.values() for t in fresh if t.row is not None]
        conn = self.session.connection()
        ids = (
            conn.execute(insert(tickets).returning(tickets.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        for view, new_id in zip(fresh, ids, strict=True):
            view.id = new_id
            self.tickets_by_id[new_id] = view

    def write(self) -> None:
        """Write everything staged, in the caller's transaction, with bulk Core statements."""
        self.insert_tickets()
        conn = self.session.connection()
        self._write_ticket_changes(conn)
        self._cancel_timers(conn)
        if self.staged:
            self._write_staged(conn)
        for request in self.suppressions:
            bounces.apply(self.session, request)
        if self.quarantined:
            fresh = self._new_quarantine_rows()
            if fresh:
                conn.execute(insert(_table(Quarantine)), fresh)
        for view in self.new_tickets:
            view.row = None

    def _cancel_timers(self, conn: Connection) -> None:
        timers = _table(Timer)
        for ticket, kinds in self.cancelled_timers:
            conn.execute(
                update(timers)
                .where(timers.c.ticket_id == ticket.id, timers.c.state == "pending", timers.c.kind.in_(kinds))
                .values(state="cancelled")
            )

    def _write_staged(self, conn: Connection) -> None:
        """The messages (their ids in one round trip), then the rows that point at them."""
        messages = _table(Message)
        message_rows = [
            {**item.message.values(), "ticket_id": item.ticket.id if item.ticket else None}
            for item in self.staged
        ]
        message_ids = (
            conn.execute(
                insert(messages).returning(messages.c.id, sort_by_parameter_order=True), message_rows
            )
            .scalars()
            .all()
        )
        rows: dict[type[Base], list[Values]] = {
            Attachment: [],
            TriageDecision: [],
            Timer: [],
            Outbox: [],
            TicketEvent: [],
        }
        for item, message_id in zip(self.staged, message_ids, strict=True):
            _rows_of(item, message_id, rows)
        for table, values in rows.items():
            if values:
                conn.execute(insert(_table(table)), values)

    def _write_ticket_changes(self, conn: Connection) -> None:
        """One executemany UPDATE per distinct set of changed columns."""
        groups: dict[tuple[str, ...], list[Values]] = {}
        for view in self.tickets_by_id.values():
            if view.changes and view.row is None:
                changed = view.changes.values()
                groups.setdefault(tuple(sorted(changed)), []).append(
                    {"b_id": view.id, **{f"b_{k}": v for k, v in changed.items()}}
                )
                view.changes = NO_CHANGES
        tickets = _table(Ticket)
        for keys, values in groups.items():
            statement = (
                update(tickets)
                .where(tickets.c.id == bindparam("b_id"))
                .values({k: bindparam(f"b_{k}") for k in keys})
            )
            conn.execute(statement, values)

    def _new_quarantine_rows(self) -> list[Values]:
        by_hash = {row.sha256: row for row in self.quarantined}
        existing = set(
            self.session.scalars(select(Quarantine.sha256).where(Quarantine.sha256.in_(list(by_hash))))
        )
        return [row.values() for digest, row in by_hash.items() if digest not in existing]

    def reset(self) -> None:
        self.new_tickets.clear()
        self.staged.clear()
        self.cancelled_timers.clear()
        self.quarantined.clear()
        self.suppressions.clear()
