"""The store's named queries, outside the pipeline's batch (intake/pipeline/batch.py has its own).

Commands, ticket operations, the scheduler, the customer directory and bounce
handling read and write through these functions, so a reader finds every query
in one place and a change of schema touches one module. Results are ORM rows or
small frozen dataclasses, never loose dicts. Nothing here commits: the caller
owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from intake.store.orm import (
    Contact,
    Message,
    Organisation,
    OrgDomain,
    Outbox,
    Quarantine,
    Suppression,
    Ticket,
    TicketEvent,
    Timer,
    TriageDecision,
)

_CHUNK = 500  # ids per IN (...): SQLite allows 32,766 bound parameters, old builds 999

# --- bounces ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMail:
    """One of our outgoing messages that really went out: what a bounce must return to be believed."""

    outbox_id: int
    message_id: str
    recipient: str
    ticket_id: int | None


def sent_mail(session: Session, message_ids: Sequence[str]) -> dict[str, SentMail]:
    """Our sent mail among these Message-IDs (stored with or without angle brackets), by bare id."""
    wanted = sorted(set(message_ids))
    found: dict[str, SentMail] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(Outbox.id, Outbox.message_id, Outbox.recipient, Outbox.ticket_id).where(
                or_(Outbox.message_id.in_(chunk), Outbox.message_id.in_([f"<{m}>" for m in chunk])),
                Outbox.sent_at.is_not(None),
            )
        )
        for r in rows:
            found[r.message_id.strip("<>")] = SentMail(r.id, r.message_id, r.recipient, r.ticket_id)
    return found


def suppress_address(
    session: Session, address: str, reason: str, until: datetime, now: datetime, ticket_id: int | None
) -> None:
    """Hold automatic mail to `address` until `until` (a later hold already there is kept)."""
    existing = session.scalar(select(Suppression).where(Suppression.address == address))
    if existing is None:
        session.execute(
            insert(Suppression).values(
                address=address, reason=reason, until=until, created_at=now, ticket_id=ticket_id
            )
        )
        return
    session.execute(
        update(Suppression)
        .where(Suppression.id == existing.id)
        .values(reason=reason, until=max(until, existing.until), ticket_id=ticket_id)
    )


def mark_outbox_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(state="failed", last_error=error))


# --- tickets ----------------------------------------------------------------------------------


def ticket(session: Session, ticket_id: int, *, with_messages: bool = False) -> Ticket | None:
    """One ticket with its organisation (and, for its story, its messages and their attachments)."""
    options = [selectinload(Ticket.org)]
    if with_messages:
        options.append(selectinload(Ticket.messages).selectinload(Message.attachments))
    return session.scalar(select(Ticket).where(Ticket.id == ticket_id).options(*options))


def tickets(
    session: Session,
    *,
    statuses: Sequence[str] | None = None,
    org_id: int | None = None,
    limit: int | None = None,
    newest_first: bool = True,
    with_messages: bool = False,
) -> list[Ticket]:
    """Tickets with their organisations, newest first unless told otherwise."""
    query = select(Ticket).options(selectinload(Ticket.org))
    if with_messages:
        query = query.options(selectinload(Ticket.messages))
    query = query.order_by(Ticket.id.desc() if newest_first else Ticket.id)
    if statuses:
        query = query.where(Ticket.status.in_(list(statuses)))
    if org_id is not None:
        query = query.where(Ticket.org_id == org_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def tickets_by_id(session: Session, ids: Iterable[int]) -> dict[int, Ticket]:
    """These tickets with their organisations, by id (the scheduler's batch)."""
    wanted = sorted(set(ids))
    return {
        t.id: t
        for t in session.scalars(
            select(Ticket).where(Ticket.id.in_(wanted)).options(selectinload(Ticket.org))
        )
    }


def counted_tickets(session: Session, org_id: int, since: datetime) -> list[Any]:
    """(severity, category) of an organisation's tickets since `since`, redirects left out
    (the allowance a policy counts per term, Resilio)."""
    return list(
        session.execute(
            select(Ticket.severity, Ticket.category).where(
                Ticket.org_id == org_id,
                Ticket.created_at >= since,
                Ticket.close_reason.is_distinct_from("unsupported_channel"),
            )
        ).all()
    )


def status_counts(session: Session, org_id: int) -> dict[str, int]:
    """How many of an organisation's tickets are in each status."""
    rows = session.execute(
        select(Ticket.status, func.count()).where(Ticket.org_id == org_id).group_by(Ticket.status)
    )
    return {status: count for status, count in rows}


@dataclass(frozen=True, slots=True)
class LastInbound:
    """The latest mail a customer sent on a ticket: what our next mail answers."""

    external_id: str
    references: list[str]


def last_inbound_mail(session: Session, ticket_id: int) -> LastInbound | None:
    row = session.execute(
        select(Message.external_id, Message.references)
        .where(Message.ticket_id == ticket_id, Message.channel == "email")
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    if row is None or not row.external_id:
        return None
    return LastInbound(row.external_id, [str(r) for r in row.references or []])


def message_by_external_id(session: Session, external_id: str) -> Message | None:
    """The latest stored message with this Message-ID."""
    return session.scalar(
        select(Message).where(Message.external_id == external_id).order_by(Message.id.desc()).limit(1)
    )


def decision_for_message(session: Session, message_id: int) -> TriageDecision | None:
    return session.scalar(select(TriageDecision).where(TriageDecision.message_id == message_id))


# --- a ticket's story -------------------------------------------------------------------------


def ticket_outbox(session: Session, ticket_id: int) -> list[Outbox]:
    return list(session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id)))


def ticket_events(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
    )


def ticket_decisions(session: Session, ticket_id: int) -> list[TriageDecision]:
    return list(
        session.scalars(
            select(TriageDecision).where(TriageDecision.ticket_id == ticket_id).order_by(TriageDecision.id)
        )
    )


def ticket_timers(session: Session, ticket_id: int) -> list[Timer]:
    return list(session.scalars(select(Timer).where(Timer.ticket_id == ticket_id).order_by(Timer.due_at)))


@dataclass(frozen=True, slots=True)
class ReviewedDecision:
    """A decision a manager corrected, with the text of its message (a training record)."""

    decision: TriageDecision
    subject: str | None
    text: str
    channel: str


def reviewed_decisions(session: Session) -> list[ReviewedDecision]:
    rows = session.execute(
        select(TriageDecision, Message.subject, Message.text, Message.channel)
        .join(Message, Message.id == TriageDecision.message_id)
        .where(
            TriageDecision.reviewed_at.is_not(None),
            or_(
                TriageDecision.corrected_severity.is_not(None), TriageDecision.corrected_category.is_not(None)
            ),
        )
        .order_by(TriageDecision.id)
    )
    return [ReviewedDecision(d, subject, text, channel) for d, subject, text, channel in rows]


# --- timers -----------------------------------------------------------------------------------


def claim_due_timers(session: Session, now: datetime, limit: int) -> list[Timer]:
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
        .limit(limit)
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


def cancel_timers(session: Session, ticket_id: int, kinds: Sequence[str]) -> None:
    """Cancel a ticket's pending timers of these kinds."""
    session.execute(
        update(Timer)
        .where(Timer.ticket_id == ticket_id, Timer.state == "pending", Timer.kind.in_(list(kinds)))
        .values(state="cancelled")
    )


# --- outgoing mail and quarantine -------------------------------------------------------------


def outbox_rows(
    session: Session, *, state: str | None = None, ticket_id: int | None = None, limit: int | None = None
) -> list[Outbox]:
    """Outgoing mail, newest first."""
    query = select(Outbox).order_by(Outbox.id.desc())
    if state:
        query = query.where(Outbox.state == state)
    if ticket_id is not None:
        query = query.where(Outbox.ticket_id == ticket_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def outbox_row(session: Session, row_id: int) -> Outbox | None:
    return session.get(Outbox, row_id)


def quarantined(session: Session) -> list[Quarantine]:
    """Every quarantined input, oldest first."""
    return list(session.scalars(select(Quarantine).order_by(Quarantine.id)))


# --- organisations and contacts ---------------------------------------------------------------


def org_by_name(session: Session, name: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.name == name))


def org_id_by_name(session: Session, name: str) -> int | None:
    return session.scalar(select(Organisation.id).where(Organisation.name == name))


def org_names(session: Session) -> list[str]:
    return sorted(session.scalars(select(Organisation.name)))


def org_policies(session: Session) -> list[tuple[str, str]]:
    """(organisation name, policy) of every organisation."""
    return [
        (name, policy) for name, policy in session.execute(select(Organisation.name, Organisation.policy))
    ]


def orgs(session: Session) -> list[Organisation]:
    """Every organisation with its domains and contacts, by name."""
    return list(
        session.scalars(
            select(Organisation)
            .options(selectinload(Organisation.domains), selectinload(Organisation.contacts))
            .order_by(Organisation.name)
        )
    )


def domains_taken(session: Session, domains: Sequence[str]) -> list[str]:
    """Those of these domains that already belong to an organisation."""
    return list(session.scalars(select(OrgDomain.domain).where(OrgDomain.domain.in_(list(domains)))))


def domain_owner(session: Session, domain: str) -> OrgDomain | None:
    return session.scalar(select(OrgDomain).where(OrgDomain.domain == domain))


def contact_by_email(session: Session, address: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.email == address))


def contacts(session: Session, org_id: int | None = None) -> list[Contact]:
    """Contacts with their organisations, by organisation and age."""
    query = select(Contact).options(selectinload(Contact.org)).order_by(Contact.org_id, Contact.id)
    if org_id is not None:
        query = query.where(Contact.org_id == org_id)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class DirectoryRows:
    """The whole customer directory, read in three queries (intake/customers/directory.py)."""

    orgs: list[Organisation]
    domains: list[OrgDomain]
    contacts: list[Contact]


def directory_rows(session: Session) -> DirectoryRows:
    return DirectoryRows(
        list(session.scalars(select(Organisation))),
        list(session.scalars(select(OrgDomain))),
        list(session.scalars(select(Contact))),
    )
