"""Delivery of the outbox's Slack rows: each posted once, its ts stored, 429 Retry-After honoured.

Rows are written in the transaction of the change that caused them (the
pipeline's acknowledgement, an engineer's reply, a triage action); this worker
only delivers them. A row's recipient says where it goes:
- "C123:1700000000.000100": a post in that channel's thread (a customer's ticket);
- "triage:42": ticket 42's post in the triage channel (template triage_post
  posts it, then triage_update rewrites it with chat.update), any other
  template a reply in that post's thread (mirrored messages, warnings);
- "dm:U123": a direct message.

Exactly once: before a post the row's attempt is counted and committed; the
post carries the row id in its message metadata; a row that comes back with an
attempt counted (the worker died between the post and the mark) first looks for
its own post in the thread (conversations.replies / history, with metadata)
and, when found, only stores its ts. chat.update is idempotent and just runs again.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import update
from sqlalchemy.orm import Session

from channels.slack import render
from intake.clock import Clock
from intake.config import Settings
from intake.outgoing.outbox import FAILED, PENDING, SENT, DeliverySummary, claim, retry_delay
from intake.store.orm import Outbox, Ticket

log = logging.getLogger(__name__)

METADATA_TYPE = "intake_outbox"


class Deferred(Exception):
    """The row cannot go yet (its triage post is not posted); it is tried again later."""


def _mark(session: Session, row: Outbox, **values: Any) -> None:
    session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))
    session.commit()


def _metadata(row: Outbox) -> dict[str, Any]:
    return {"event_type": METADATA_TYPE, "event_payload": {"outbox_id": row.id}}


def _find_posted(client: WebClient, channel: str, thread_ts: str | None, row: Outbox) -> str | None:
    """The ts of this row's own post if an earlier attempt made it (found by its metadata), else None."""
    if thread_ts:
        response = client.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
        )
    else:
        oldest = f"{row.created_at.timestamp() - 60:.6f}"
        response = client.conversations_history(
            channel=channel, oldest=oldest, include_all_metadata=True, limit=200
        )
    for message in response.get("messages") or []:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if (message.get("metadata") or {}).get("event_type") == METADATA_TYPE and payload.get(
            "outbox_id"
        ) == row.id:
            return str(message.get("ts"))
    return None


def _target(session: Session, settings: Settings, row: Outbox) -> tuple[str, str | None, Ticket | None]:
    """(channel, thread ts or None, ticket) where the row goes."""
    cfg = settings.slack
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    kind, _, rest = row.recipient.partition(":")
    if kind == "dm":
        return rest, None, ticket
    if kind == "triage":
        if cfg is None or not cfg.triage_channel:
            raise ValueError("no [slack] triage_channel")
        if row.template == "triage_post":
            return cfg.triage_channel, None, ticket
        if ticket is None or not ticket.triage_ts:
            raise Deferred("the ticket's triage post is not posted yet")
        return cfg.triage_channel, ticket.triage_ts, ticket
    if rest.startswith("modal-"):
        return kind, None, ticket  # a ticket opened from the /support modal: its first post starts the thread
    return kind, rest or None, ticket


def _content(
    settings: Settings, row: Outbox, ticket: Ticket | None
) -> tuple[str, list[dict[str, Any]] | None]:
    prefix = settings.tickets.ref_prefix
    if ticket is not None and row.template in ("triage_post", "triage_update"):
        return render.triage_post(prefix, ticket)
    if ticket is not None and row.template == "ack":
        return render.acknowledgement(prefix, ticket), None
    body = row.body_text.strip() or row.subject
    if ticket is not None and row.template == "csat_survey":
        return body, render.csat_blocks(prefix, ticket, body)
    return body, None


def _retry_after(exc: SlackApiError) -> float | None:
    response = exc.response
    if response is None or response.status_code != 429:
        return None
    value = (response.headers or {}).get("Retry-After") or (response.headers or {}).get("retry-after")
    try:
        return max(1.0, float(value)) if value is not None else 30.0
    except (TypeError, ValueError):
        return 30.0


def deliver_row(session: Session, clock: Clock, settings: Settings, client: WebClient, row: Outbox) -> str:
    """Deliver one claimed Slack row; returns what happened (sent, retried, deferred, failed)."""
    now = clock.now()
    try:
        channel, thread_ts, ticket = _target(session, settings, row)
    except Deferred as exc:
        _mark(session, row, next_attempt_at=now + timedelta(seconds=5), last_error=str(exc))
        return "deferred"
    except ValueError as exc:
        _mark(session, row, state=FAILED, last_error=f"cannot be sent: {exc}"[:2000])
        return "failed"
    text, blocks = _content(settings, row, ticket)
    try:
        if row.template == "triage_update":
            if ticket is None or not ticket.triage_ts:
                _mark(
                    session, row, next_attempt_at=now + timedelta(seconds=5), last_error="no triage post yet"
                )
                return "deferred"
            client.chat_update(channel=channel, ts=ticket.triage_ts, text=text, blocks=blocks)
            _mark(
                session,
                row,
                state=SENT,
                attempts=row.attempts + 1,
                sent_at=clock.now(),
                posted_ts=ticket.triage_ts,
            )
            return "sent"
        posted = _find_posted(client, channel, thread_ts, row) if row.attempts > 0 else None
        if posted is None:
            # Count the attempt before the post: a crash after it is then checked, never reposted blindly.
            _mark(session, row, attempts=row.attempts + 1)
            row.attempts += 1
            kwargs: dict[str, Any] = {"channel": channel, "text": text, "metadata": _metadata(row)}
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            if blocks:
                kwargs["blocks"] = blocks
            response = client.chat_postMessage(**kwargs)
            posted = str(response.get("ts"))
        modal = ticket is not None and (ticket.slack_thread_ts or "").startswith("modal-")
        if ticket is not None and modal and row.recipient == f"{channel}:{ticket.slack_thread_ts}":
            session.execute(update(Ticket).where(Ticket.id == ticket.id).values(slack_thread_ts=posted))
        if row.template == "triage_post" and ticket is not None:
            session.execute(update(Ticket).where(Ticket.id == ticket.id).values(triage_ts=posted))
        _mark(session, row, state=SENT, sent_at=clock.now(), posted_ts=posted, last_error=None)
        return "sent"
    except SlackApiError as exc:
        wait = _retry_after(exc)
        if wait is not None:
            log.warning("slack outbox %s: rate limited, retrying in %.0f s", row.id, wait)
            _mark(session, row, next_attempt_at=now + timedelta(seconds=wait), last_error="429 rate limited")
            return "retried"
        error = str(exc.response.get("error") if exc.response is not None else exc)
        permanent = error in {
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_blocks",
            "msg_too_long",
        }
        return _retry_or_fail(session, row, now, settings, f"slack: {error}", permanent=permanent)
    except (SlackClientError, OSError) as exc:
        return _retry_or_fail(session, row, now, settings, f"slack unreachable: {exc}", permanent=False)


def _retry_or_fail(
    session: Session, row: Outbox, now: datetime, settings: Settings, error: str, *, permanent: bool
) -> str:
    if permanent or row.attempts + 1 >= settings.outbox.max_attempts:
        _mark(session, row, state=FAILED, last_error=error[:2000])
        return "failed"
    delay = retry_delay(max(1, row.attempts), settings.outbox)
    _mark(session, row, state=PENDING, next_attempt_at=now + delay, last_error=error[:2000])
    return "retried"


def deliver_due(
    session: Session, clock: Clock, settings: Settings, client: WebClient, stop: threading.Event | None = None
) -> DeliverySummary:
    """Deliver every Slack row due now, batch after batch, until none is left or `stop` is set."""
    summary = DeliverySummary()
    while stop is None or not stop.is_set():
        rows = claim(session, clock.now(), settings.outbox, channel="slack")
        if not rows:
            return summary
        summary.claimed += len(rows)
        for row in rows:
            outcome = deliver_row(session, clock, settings, client, row)
            if outcome == "sent":
                summary.sent += 1
            elif outcome == "failed":
                summary.failed += 1
            else:
                summary.retried += 1
            if outcome in ("deferred", "retried") and summary.claimed > 10 * settings.outbox.batch_size:
                return summary
    return summary
