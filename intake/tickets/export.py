"""`intake export`: every ticket with its messages, outgoing mail and status history, as JSON Lines.

A backup a person or another helpdesk can read: one JSON object per line, one
line per ticket, in ticket order. It is streamed: tickets are read `PAGE` at a
time (keyset on the id), so memory stays flat however large the store. A
message's raw bytes are included (base64, `raw_b64`) unless retention removed
them (then `raw_removed` is true and the parsed text is what is left).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from intake.store.orm import Message, Outbox, Ticket, TicketEvent
from intake.tickets.views import iso, message_json, outbox_json, ticket_json

PAGE = 200


@dataclass
class ExportSummary:
    tickets: int = 0
    messages: int = 0
    outgoing: int = 0
    raw_removed: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "tickets": self.tickets,
            "messages": self.messages,
            "outgoing": self.outgoing,
            "raw_removed": self.raw_removed,
        }


def _message(message: Message, with_raw: bool) -> dict[str, Any]:
    doc = message_json(message)
    doc["references"] = list(message.references or [])
    doc["html"] = message.html
    doc["raw_ref"] = message.raw_ref
    doc["raw_removed"] = not message.raw
    if with_raw and message.raw:
        doc["raw_b64"] = base64.b64encode(message.raw).decode("ascii")
    return doc


def ticket_documents(session: Session, prefix: str, *, with_raw: bool = True) -> Iterator[dict[str, Any]]:
    """One document per ticket, oldest first, a page of tickets in memory at a time."""
    after = 0
    while True:
        page = list(
            session.scalars(
                select(Ticket)
                .where(Ticket.id > after)
                .order_by(Ticket.id)
                .limit(PAGE)
                .options(
                    selectinload(Ticket.org),
                    selectinload(Ticket.messages).selectinload(Message.attachments),
                )
            )
        )
        if not page:
            return
        ids = [t.id for t in page]
        outgoing: dict[int, list[dict[str, Any]]] = {}
        for row in session.scalars(select(Outbox).where(Outbox.ticket_id.in_(ids)).order_by(Outbox.id)):
            outgoing.setdefault(row.ticket_id or 0, []).append(outbox_json(row))
        history: dict[int, list[dict[str, Any]]] = {}
        for event in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).order_by(TicketEvent.id)
        ):
            history.setdefault(event.ticket_id, []).append(
                {
                    "at": iso(event.at),
                    "from": event.from_status,
                    "to": event.to_status,
                    "reason": event.reason,
                    "actor": event.actor,
                }
            )
        for ticket in page:
            doc = ticket_json(ticket, prefix)
            doc["messages"] = [_message(m, with_raw) for m in ticket.messages]
            doc["outgoing"] = outgoing.get(ticket.id, [])
            doc["history"] = history.get(ticket.id, [])
            yield doc
        after = ids[-1]
        session.expunge_all()  # release the page


def export(session: Session, prefix: str, out: TextIO, *, with_raw: bool = True) -> ExportSummary:
    summary = ExportSummary()
    for doc in ticket_documents(session, prefix, with_raw=with_raw):
        out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        summary.tickets += 1
        summary.messages += len(doc["messages"])
        summary.outgoing += len(doc["outgoing"])
        summary.raw_removed += sum(1 for m in doc["messages"] if m["raw_removed"])
    return summary
