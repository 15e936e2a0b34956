"""The outbox worker: claim due mail rows, guard against loops, send through the relay, mark the outcome.

Rows are written by the pipeline and the scheduler in the same transaction as
the state change that caused them; this module only delivers them.

Claiming: one UPDATE pushes `next_attempt_at` of up to `batch_size` due rows
`claim_lease` seconds ahead and returns their ids; on PostgreSQL the rows are
picked with `SELECT ... FOR UPDATE SKIP LOCKED`, so any number of workers share
the queue without taking the same row; on SQLite the database lock does the
same. A worker that dies mid-batch leaves its rows to come due again after
the lease: a send may repeat at most once, recognisable by its Message-ID.

Building: each row becomes bytes before anything is sent (channels/smtp_send.py
validates every header value); a row that cannot be built fails with the
reason and the others of the batch go on.

Loop protection (what Zammad, RT and OTRS do, together): no automatic mail to
our own addresses or domains, to a suppressed address (it bounced), or beyond
`max_auto_per_recipient` per `recipient_window` to one mailbox (lower case,
`+tag` dropped: robot+1@ and robot+2@ are one), `max_auto_per_domain` per
`domain_window` to one registrable domain (random local parts and rotating
subdomains collapse; `uncapped_domains` lifts this for freemail), and
`max_auto_per_ticket` per `ticket_window`. The caps are counted in the store and
admitted a claimed batch at a time under a lock per cap key (see `admit_batch`), so any
number of workers together never exceed them. Rows held back end as state
"suppressed" with the reason in `last_error`. Mail a person wrote (`automatic`
false) is never held back. The team's own `[escalation] notify` addresses may
sit in a domain we accept and receive bursts of notices when many tickets
breach at once: the own-domain rule and the per-recipient and per-domain caps
do not apply to them (bounces and the per-ticket cap still do).

Failures: a 5xx reply fails the row for good; a 4xx reply or an unreachable
relay retries it after `retry_base * 2**(attempts-1)` seconds (at most
`retry_max`), until `max_attempts`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from channels.safe_values import accepts, address_key, domain_key, preview
from channels.smtp_send import DeliveryError, Outgoing, Relay, RelayUnavailable, Unbuildable, build
from intake.clock import Clock
from intake.config import OutboxSettings, Settings
from intake.store.orm import Outbox, Suppression
from intake.tickets.refs import format_ref as ticket_ref

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


def own_address(settings: Settings, address: str) -> bool:
    """One of ours, an address we accept, or (unless it is the team's) in a domain we accept."""
    accept = settings.smtp_server.accept if settings.smtp_server else []
    if address in settings.own_addresses() or accepts([a for a in accept if "@" in a], address):
        return True
    return address not in team(settings) and accepts(accept, address)


def team(settings: Settings) -> set[str]:
    return {a.lower() for a in settings.escalation.notify}


def _uncapped(cfg: OutboxSettings, address: str) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(domain == d.lower() or domain.endswith("." + d.lower()) for d in cfg.uncapped_domains)


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for a cap key (a collision only serialises a little more)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _lock(session: Session, keys: list[str]) -> None:
    """Hold every cap key of a row until this transaction ends, so its counts cannot go stale.

    The thing counted is rows that may not exist yet, which no row lock covers:
    PostgreSQL takes one transaction-scoped advisory lock per key, in a fixed
    order (no deadlock between workers); SQLite needs none here, because the
    first statement of `admit` is a write and takes the database's write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for lock in sorted({_lock_id(k) for k in keys}):
        session.execute(select(func.pg_advisory_xact_lock(lock)))


def _counts(
    session: Session, column: InstrumentedAttribute[Any], values: set[Any], since: datetime
) -> Counter[Any]:
    """Automatic rows that took a place under a cap on `column` since `since`, per value."""
    if not values:
        return Counter()
    rows = session.execute(
        select(column, func.count())
        .where(column.in_(sorted(values)), Outbox.automatic.is_(True), Outbox.counted_at > since)
        .group_by(column)
    )
    return Counter({value: int(n) for value, n in rows})


@dataclass
class _Admission:
    """The counts of every cap key of a batch, read under the locks, updated row by row."""

    settings: Settings
    now: datetime
    suppressed: dict[str, Suppression]
    mailboxes: Counter[str]
    domains: Counter[str]
    tickets: Counter[int]

    def refuse(self, row: Outbox, address: str) -> str | None:
        cfg = self.settings.outbox
        lowered = address.lower()
        if own_address(self.settings, lowered):
            return f"loop: {lowered} is one of our own addresses"
        found = self.suppressed.get(lowered)
        if found is not None:
            return f"suppressed until {found.until.isoformat()}: {found.reason}"
        if lowered not in team(self.settings):
            mailbox = address_key(address)
            if self.mailboxes[mailbox] >= cfg.max_auto_per_recipient:
                return (
                    f"loop: per-recipient cap, {self.mailboxes[mailbox]} automatic mails to {mailbox} "
                    f"in the last {cfg.recipient_window:.0f} s"
                )
            domain = domain_key(address)
            if not _uncapped(cfg, address) and self.domains[domain] >= cfg.max_auto_per_domain:
                return (
                    f"loop: per-domain cap, {self.domains[domain]} automatic mails to {domain} "
                    f"in the last {cfg.domain_window:.0f} s"
                )
        if row.ticket_id is not None and self.tickets[row.ticket_id] >= cfg.max_auto_per_ticket:
            return (
                f"loop: per-ticket cap, {self.tickets[row.ticket_id]} automatic mails on this ticket "
                f"in the last {cfg.ticket_window:.0f} s"
            )
        return None

    def count(self, row: Outbox, address: str) -> None:
        self.mailboxes[address_key(address)] += 1
        self.domains[domain_key(address)] += 1
        if row.ticket_id is not None:
            self.tickets[row.ticket_id] += 1


def admit_batch(
    session: Session, items: list[tuple[Outbox, str]], now: datetime, settings: Settings
) -> dict[int, str | None]:
    """Take each row's place under every loop cap, or say why it must not go out; commits once.

    `items` are rows with their validated recipient. In one short transaction:
    lock every cap key of the batch, read the counts of those keys from the
    store, then admit the rows in order, counting each one admitted, and write
    the outcome (counted, or suppressed with the reason). Another worker
    admitting rows under one of these keys waits for the commit and then counts
    them, so workers together never pass a cap. A row counted before (a retry,
    or a worker that died after admitting it) keeps its place. Rows admitted
    here that then cannot reach the relay stay counted: the caps err on the
    side of sending less.
    """
    verdicts: dict[int, str | None] = {row.id: None for row, _ in items}
    fresh = [(row, address) for row, address in items if row.automatic and row.counted_at is None]
    if not fresh:
        return verdicts
    cfg = settings.outbox
    exempt = team(settings)
    keys = {f"ticket:{row.ticket_id}" for row, _ in fresh if row.ticket_id is not None}
    for _, address in fresh:
        if address.lower() not in exempt:
            keys |= {f"rcpt:{address_key(address)}", f"domain:{domain_key(address)}"}
    _lock(session, sorted(keys))
    # The first statement writes, so on SQLite it takes the database's write lock before the counts.
    session.execute(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row, _ in fresh]))
        .values(attempts=Outbox.attempts)
        .execution_options(synchronize_session=False)
    )
    lowered = {address.lower() for _, address in fresh}
    admission = _Admission(
        settings,
        now,
        {
            s.address: s
            for s in session.scalars(
                select(Suppression).where(Suppression.address.in_(sorted(lowered)), Suppression.until > now)
            )
        },
        _counts(
            session,
            Outbox.rcpt_key,
            {address_key(a) for _, a in fresh},
            now - timedelta(seconds=cfg.recipient_window),
        ),
        _counts(
            session,
            Outbox.rcpt_domain,
            {domain_key(a) for _, a in fresh},
            now - timedelta(seconds=cfg.domain_window),
        ),
        _counts(
            session,
            Outbox.ticket_id,
            {row.ticket_id for row, _ in fresh if row.ticket_id is not None},
            now - timedelta(seconds=cfg.ticket_window),
        ),
    )
    for row, address in fresh:
        reason = admission.refuse(row, address)
        verdicts[row.id] = reason
        if reason is None:
            admission.count(row, address)
            values: dict[str, Any] = {
                "counted_at": now,
                "rcpt_key": address_key(address),
                "rcpt_domain": domain_key(address),
            }
        else:
            values = {"state": SUPPRESSED, "last_error": reason[:2000]}
        session.execute(
            update(Outbox)
            .where(Outbox.id == row.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return verdicts


def admit(session: Session, row: Outbox, address: str, now: datetime, settings: Settings) -> str | None:
    """`admit_batch` for one row: None if it may go out, else why not."""
    return admit_batch(session, [(row, address)], now, settings)[row.id]


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
    """Build every claimed row, admit the buildable ones under the caps, send and mark those admitted.

    The relay session opens at the first row that may go out; if the relay is
    unreachable, that row and the rest of the batch wait for a retry.
    """
    prefix = settings.tickets.ref_prefix
    built: list[tuple[Outbox, Outgoing, str | None]] = []
    for row in rows:
        ref = ticket_ref(prefix, row.ticket_id) if row.ticket_id is not None else None
        message = _build(session, row, settings, ref, clock.now(), summary)
        if message is not None:
            built.append((row, message, ref))
    if not built:
        return
    verdicts = admit_batch(
        session, [(row, message.recipient) for row, message, _ in built], clock.now(), settings
    )
    remaining: list[tuple[Outbox, Outgoing, str | None]] = []
    for row, message, ref in built:
        reason = verdicts[row.id]
        if reason is None:
            remaining.append((row, message, ref))
            continue
        log.warning("%s to %s: suppressed: %s", row.message_id, message.recipient, reason)
        summary.suppressed += 1
    if not remaining:
        return
    try:
        with Relay(settings.relay) as relay:
            while remaining:
                row, message, ref = remaining[0]
                _send(session, relay, row, message, ref, clock, settings, summary)
                remaining.pop(0)
    except RelayUnavailable as exc:
        for row, _, _ in remaining:
            _retry_or_fail(session, row, clock.now(), cfg=settings.outbox, error=str(exc), summary=summary)


def _build(
    session: Session,
    row: Outbox,
    settings: Settings,
    ref: str | None,
    now: datetime,
    summary: DeliverySummary,
) -> Outgoing | None:
    """The row's message, or None after failing the row with the reason it cannot be built."""
    try:
        message = build(row, from_address=settings.relay.from_address, ticket=ref, now=now)
    except Unbuildable as exc:
        reason = f"cannot be sent: {exc}"
        log.error("%s to %s (%s): %s", preview(row.message_id), preview(row.recipient), ref, reason)
        _mark(session, row, state=FAILED, attempts=row.attempts + 1, last_error=reason[:2000])
        summary.failed += 1
        return None
    if message.omitted:
        log.warning(
            "%s (%s): omitted from In-Reply-To/References, not msg-ids: %s",
            row.message_id,
            ref,
            ", ".join(message.omitted[:5]),
        )
    return message


def _send(
    session: Session,
    relay: Relay,
    row: Outbox,
    message: Outgoing,
    ref: str | None,
    clock: Clock,
    settings: Settings,
    summary: DeliverySummary,
) -> None:
    """Hand one message to the relay and mark the outcome; RelayUnavailable propagates."""
    try:
        relay.send(message)
    except DeliveryError as exc:
        if exc.permanent:
            log.error("%s to %s (%s): refused for good: %s", row.message_id, message.recipient, ref, exc)
            _mark(session, row, state=FAILED, attempts=row.attempts + 1, last_error=str(exc)[:2000])
            summary.failed += 1
        else:
            _retry_or_fail(session, row, clock.now(), cfg=settings.outbox, error=str(exc), summary=summary)
        return
    _mark(session, row, state=SENT, attempts=row.attempts + 1, sent_at=clock.now(), last_error=None)
    summary.sent += 1
    log.info("%s to %s (%s): sent", row.message_id, message.recipient, ref or "no ticket")


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
