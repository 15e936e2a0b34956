"""The review queue's and the ticket list's queries: one query per page, keyset-paginated.

A page is `limit` rows after a cursor (the sort key of the last row shown), so
page 2,000 costs what page 1 costs; the indexes on `triage_decisions`
(created_at, id) and (confidence, id) serve both orders.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from intake.store.orm import Organisation, Ticket, TriageDecision

Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")
BANDS: dict[str, tuple[float, float]] = {"low": (0.0, 0.5), "medium": (0.5, 0.8), "high": (0.8, 1.01)}
PAGE = 50


def has_possible_critical() -> bool:
    """Whether the `triage` engineer's `possible_critical` column is in this build's tickets table."""
    return "possible_critical" in Ticket.__table__.c


@dataclass(frozen=True)
class QueueFilter:
    needs_review: bool | None = None
    possible_critical: bool | None = None
    band: str | None = None
    org: str | None = None
    policy: str | None = None
    severity: str | None = None
    category: str | None = None
    channel: str | None = None
    since: date | None = None
    until: date | None = None
    sort: str = "newest"

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in self.__dict__.items():
            if value is None or value == "" or (key == "sort" and value == "newest"):
                continue
            out[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


@dataclass(frozen=True)
class QueueRow:
    decision_id: int
    created_at: datetime
    confidence: float | None
    severity: str | None
    category: str | None
    needs_review: bool
    reviewed_at: datetime | None
    ticket_id: int
    subject: str
    channel: str
    policy: str
    org: str | None
    status: str
    requester: str


def encode_cursor(parts: list[str]) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def decode_cursor(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return []


def _filtered(query: Q, f: QueueFilter) -> Q:
    d, t = TriageDecision, Ticket
    query = query.where(d.ticket_id.is_not(None), d.canonical_severity.is_not(None))
    if f.needs_review is not None:
        query = query.where(d.needs_review.is_(f.needs_review))
    if f.possible_critical is not None and has_possible_critical():
        query = query.where(t.__table__.c.possible_critical.is_(f.possible_critical))
    if f.band in BANDS:
        low, high = BANDS[f.band]
        # Newest first walks the created_at index; `+ 0` keeps the planner from trading it for a
        # range scan on confidence and a sort of half the table (SQLite did, at 100,000 decisions).
        value = d.confidence if f.sort == "confidence" else d.confidence + 0
        query = query.where(value >= low, value < high)
    if f.org:
        query = query.where(Organisation.name == f.org)
    if f.policy:
        query = query.where(t.policy == f.policy)
    if f.severity:
        query = query.where(d.canonical_severity == f.severity)
    if f.category:
        query = query.where(d.category == f.category)
    if f.channel:
        query = query.where(t.channel == f.channel)
    if f.since:
        query = query.where(d.created_at >= datetime.combine(f.since, time(), UTC))
    if f.until:
        query = query.where(d.created_at < datetime.combine(f.until + timedelta(days=1), time(), UTC))
    return query


def queue_page(
    session: Session, f: QueueFilter, cursor: str | None = None, limit: int = PAGE
) -> tuple[list[QueueRow], str | None]:
    """One page of decisions and the cursor of the next (None on the last page)."""
    d, t = TriageDecision, Ticket
    query = _filtered(
        select(
            d.id,
            d.created_at,
            d.confidence,
            d.canonical_severity,
            d.category,
            d.needs_review,
            d.reviewed_at,
            t.id,
            t.subject,
            t.channel,
            t.policy,
            Organisation.name,
            t.status,
            t.requester,
        )
        .join(t, t.id == d.ticket_id)
        .outerjoin(Organisation, Organisation.id == t.org_id),
        f,
    )
    after = decode_cursor(cursor) if cursor else []
    if f.sort == "confidence":
        query = query.where(d.confidence.is_not(None))
        if len(after) == 2:
            value, last = float(after[0]), int(after[1])
            query = query.where(or_(d.confidence > value, and_(d.confidence == value, d.id < last)))
        query = query.order_by(d.confidence.asc(), d.id.desc())
    else:
        if len(after) == 2:
            at, last = datetime.fromisoformat(after[0]), int(after[1])
            query = query.where(or_(d.created_at < at, and_(d.created_at == at, d.id < last)))
        # newest first; within the same instant the least confident first
        query = query.order_by(d.created_at.desc(), d.id.desc())
    rows = [QueueRow(*cast(tuple[Any, ...], r)) for r in session.execute(query.limit(limit + 1)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    if not more or not rows:
        return rows, None
    last_row = rows[-1]
    key = (
        [repr(last_row.confidence), str(last_row.decision_id)]
        if f.sort == "confidence"
        else [last_row.created_at.isoformat(), str(last_row.decision_id)]
    )
    return rows, encode_cursor(key)


@dataclass(frozen=True)
class TicketRow:
    id: int
    subject: str
    requester: str
    status: str
    severity: str
    org: str | None
    policy: str
    channel: str
    assignee: str | None
    created_at: datetime
    first_response_due: datetime | None


OPEN_STATUSES = (
    "new",
    "acknowledged",
    "in_progress",
    "reopened",
    "pending_authorisation",
    "waiting_on_customer",
)


def ticket_page(
    session: Session, *, mine: str | None = None, cursor: str | None = None, limit: int = PAGE
) -> tuple[list[TicketRow], str | None]:
    """Open tickets, newest first (or those `mine` took), one query."""
    t = Ticket
    query = (
        select(
            t.id,
            t.subject,
            t.requester,
            t.status,
            t.severity,
            Organisation.name,
            t.policy,
            t.channel,
            t.assignee,
            t.created_at,
            t.first_response_due,
        )
        .outerjoin(Organisation, Organisation.id == t.org_id)
        .where(t.status.in_(OPEN_STATUSES))
    )
    if mine:
        query = query.where(t.assignee == mine)
    if cursor and decode_cursor(cursor)[0].isdigit():
        query = query.where(t.id < int(decode_cursor(cursor)[0]))
    rows = [TicketRow(*r) for r in session.execute(query.order_by(t.id.desc()).limit(limit + 1)).all()]
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor([str(rows[limit - 1].id)])
