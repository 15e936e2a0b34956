"""The outbox worker: claim due mail rows, guard against loops, send through the relay, mark the outcome.

Rows are written by the pipeline and the scheduler in the same transaction as
the state change that caused them; this module only delivers them.

Claiming: one UPDATE pushes `next_attempt_at` of up to `batch_size` due rows
`claim_lease` seconds ahead and returns their ids; on PostgreSQL the rows are
picked with `SELECT ... FOR UPDATE SKIP LOCKED`, so any number of workers share
the queue without taking the same row; on SQLite the database lock does the
same. A worker that dies mid-batch leaves its rows to come due again after
the lease: a send may repeat at most once, recognisable by its Message-ID.

Loop protection (what Zammad, RT and OTRS do, together): no automatic mail to
our own addresses or domains, to a suppressed address (it bounced), or beyond
`max_auto_per_recipient` per `recipient_window` and `max_auto_per_ticket` per
`ticket_window`. Such rows end as state "suppressed" with the reason in
`last_error`. Mail a person wrote (`automatic` false) is never held back. The
team's own `[escalation] notify` addresses may sit in a domain we accept and
receive bursts of notices when many tickets breach at once: the own-domain
rule and the per-recipient cap do not apply to them (bounces and the
per-ticket cap still do).

Failures: a 5xx reply fails the row for good; a 4xx reply or an unreachable
relay retries it after `retry_base * 2**(attempts-1)` seconds (at most
`retry_max`), until `max_attempts`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from channels.smtp_send import DeliveryError, Relay, RelayUnavailable, build_message
from channels.smtp_server import accepts
from intake.clock import Clock
from intake.config import OutboxSettings, Settings
from intake.store.orm import Outbox, Suppression
from intake.views import ticket_ref

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, SUPPRESSED = "pending", "sent", "failed", "suppressed"


@dataclass
class DeliverySummary:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def retry_delay(attempts: int, cfg: OutboxSettings) -> timedelta:
    """Backoff after the `attempts`-th failed attempt: base, 2*base, 4*base ... at most retry_max."""
    return timedelta(seconds=min(cfg.retry_max, cfg.retry_base * 2 ** min(attempts - 1, 30)))


def claim(session: Session, now: datetime, cfg: OutboxSettings) -> list[Outbox]:
    """Take up to batch_size due mail rows for this worker (see the module docstring); commits."""
    due = (
        select(Outbox.id)
        .where(Outbox.state == PENDING, Outbox.channel == "email", Outbox.next_attempt_at <= now)
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(cfg.batch_size)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders no FOR UPDATE
    )
    ids = session.scalars(
        update(Outbox)
        .where(Outbox.id.in_(due), Outbox.state == PENDING, Outbox.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=cfg.claim_lease))
        .returning(Outbox.id)
    ).all()
    session.commit()
    if not ids:
        return []
    rows = session.scalars(
        select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id).execution_options(populate_existing=True)
    ).all()
    return list(rows)


def _automatic_sent(
    session: Session, column: Any, values: list[Any], since: datetime
) -> list[tuple[Any, int]]:
    """(value, count) of automatic mail sent since `since`, grouped by `column` (recipient or ticket)."""
    if not values:
        return []
    rows = session.execute(
        select(column, func.count())
        .where(column.in_(values), Outbox.automatic.is_(True), Outbox.state == SENT, Outbox.sent_at > since)
        .group_by(column)
    )
    return [(value, int(count)) for value, count in rows if value is not None]


class LoopGuard:
    """Why an automatic row must not go out, or None; the counts of one batch are fetched at once."""

    def __init__(self, session: Session, now: datetime, settings: Settings, rows: list[Outbox]) -> None:
        cfg = settings.outbox
        self.settings = settings
        self.cfg = cfg
        auto = [r for r in rows if r.automatic]
        recipients = sorted({r.recipient for r in auto})
        lowered = sorted({r.lower() for r in recipients})
        tickets = sorted({r.ticket_id for r in auto if r.ticket_id is not None})
        self.suppressed: dict[str, Suppression] = (
            {
                s.address: s
                for s in session.scalars(
                    select(Suppression).where(Suppression.address.in_(lowered), Suppression.until > now)
                )
            }
            if lowered
            else {}
        )
        self.per_recipient: Counter[str] = Counter()
        for recipient, count in _automatic_sent(
            session, Outbox.recipient, recipients, now - timedelta(seconds=cfg.recipient_window)
        ):
            self.per_recipient[recipient.lower()] += count
        self.per_ticket: Counter[int] = Counter(
            dict(
                _automatic_sent(
                    session, Outbox.ticket_id, tickets, now - timedelta(seconds=cfg.ticket_window)
                )
            )
        )

    def own(self, address: str) -> bool:
        """One of ours, an address we accept, or (unless it is the team's) in a domain we accept."""
        accept = self.settings.smtp_server.accept if self.settings.smtp_server else []
        if address in self.settings.own_addresses() or accepts([a for a in accept if "@" in a], address):
            return True
        return address not in self.team and accepts(accept, address)

    @property
    def team(self) -> set[str]:
        return {a.lower() for a in self.settings.escalation.notify}

    def refuse(self, row: Outbox) -> str | None:
        if not row.automatic:
            return None
        address = row.recipient.lower()
        if self.own(address):
            return f"loop: {address} is one of our own addresses"
        found = self.suppressed.get(address)
        if found is not None:
            return f"suppressed until {found.until.isoformat()}: {found.reason}"
        if address not in self.team and self.per_recipient[address] >= self.cfg.max_auto_per_recipient:
            return (
                f"loop: per-recipient cap, {self.per_recipient[address]} automatic mails to {address} "
                f"in the last {self.cfg.recipient_window:.0f} s"
            )
        if row.ticket_id is not None and self.per_ticket[row.ticket_id] >= self.cfg.max_auto_per_ticket:
            return (
                f"loop: per-ticket cap, {self.per_ticket[row.ticket_id]} automatic mails on this ticket "
                f"in the last {self.cfg.ticket_window:.0f} s"
            )
        return None

    def count(self, row: Outbox) -> None:
        if row.automatic:
            self.per_recipient[row.recipient.lower()] += 1
            if row.ticket_id is not None:
                self.per_ticket[row.ticket_id] += 1


def _mark(session: Session, row: Outbox, **values: Any) -> None:
    session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))
    session.commit()


def _retry_or_fail(
    session: Session, row: Outbox, now: datetime, *, cfg: OutboxSettings, error: str, summary: DeliverySummary
) -> None:
    attempts = row.attempts + 1
    if attempts >= cfg.max_attempts:
        log.error("%s to %s: giving up after %d attempts: %s", row.message_id, row.recipient, attempts, error)
        _mark(
            session,
            row,
            state=FAILED,
            attempts=attempts,
            last_error=f"gave up after {attempts} attempts: {error}"[:2000],
        )
        summary.failed += 1
        return
    delay = retry_delay(attempts, cfg)
    log.warning(
        "%s to %s: attempt %d failed, retrying in %.0f s: %s",
        row.message_id,
        row.recipient,
        attempts,
        delay.total_seconds(),
        error,
    )
    _mark(session, row, attempts=attempts, next_attempt_at=now + delay, last_error=error[:2000])
    summary.retried += 1


def deliver_batch(
    session: Session, clock: Clock, settings: Settings, rows: list[Outbox], summary: DeliverySummary
) -> None:
    """Guard, send and mark the claimed rows, committing after each one."""
    now = clock.now()
    guard = LoopGuard(session, now, settings, rows)
    prefix = settings.tickets.ref_prefix
    sender = settings.relay.from_address
    sendable: list[Outbox] = []
    for row in rows:
        reason = guard.refuse(row)
        if reason is not None:
            log.warning("%s to %s: suppressed: %s", row.message_id, row.recipient, reason)
            _mark(session, row, state=SUPPRESSED, last_error=reason[:2000])
            summary.suppressed += 1
            continue
        guard.count(row)  # counts the rows about to go out, so one batch cannot pass a cap
        sendable.append(row)
    if not sendable:
        return
    remaining = list(sendable)
    try:
        with Relay(settings.relay) as relay:
            while remaining:
                row = remaining[0]
                ref = ticket_ref(prefix, row.ticket_id) if row.ticket_id is not None else None
                msg = build_message(row, from_address=sender, ticket=ref, now=clock.now())
                try:
                    relay.send(msg, sender, row.recipient)
                except DeliveryError as exc:
                    remaining.pop(0)
                    if exc.permanent:
                        log.error(
                            "%s to %s (%s): refused for good: %s", row.message_id, row.recipient, ref, exc
                        )
                        _mark(
                            session, row, state=FAILED, attempts=row.attempts + 1, last_error=str(exc)[:2000]
                        )
                        summary.failed += 1
                    else:
                        _retry_or_fail(
                            session, row, clock.now(), cfg=settings.outbox, error=str(exc), summary=summary
                        )
                    continue
                remaining.pop(0)
                _mark(
                    session, row, state=SENT, attempts=row.attempts + 1, sent_at=clock.now(), last_error=None
                )
                summary.sent += 1
                log.info("%s to %s (%s): sent", row.message_id, row.recipient, ref or "no ticket")
    except RelayUnavailable as exc:
        for row in remaining:
            _retry_or_fail(session, row, clock.now(), cfg=settings.outbox, error=str(exc), summary=summary)


def deliver_due(
    session: Session, clock: Clock, settings: Settings, stop: threading.Event | None = None
) -> DeliverySummary:
    """Deliver every mail row due now, batch after batch, until none is left or `stop` is set."""
    summary = DeliverySummary()
    while stop is None or not stop.is_set():
        rows = claim(session, clock.now(), settings.outbox)
        if not rows:
            return summary
        summary.claimed += len(rows)
        deliver_batch(session, clock, settings, rows, summary)
    return summary
