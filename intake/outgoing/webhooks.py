"""Outgoing webhooks: ticket events (created, escalated, breached, closed) POSTed, signed, to on-call tools.

An event becomes one outbox row per configured `[[webhooks]]` entry that wants
it (channel "webhook", `recipient` the webhook's name, `template` the event,
`body_text` the JSON payload), written in the transaction of the change that
caused it; the outbox worker claims and delivers those rows as it does mail
(SKIP LOCKED, retries with backoff, at most one repeat after a crash between
the POST and the mark, recognisable by its `X-Intake-Delivery` id).

Each POST carries the payload as the body and:

    Content-Type: application/json
    X-Intake-Event: ticket.created | ticket.escalated | ticket.breached | ticket.closed
    X-Intake-Delivery: the row's id (the same on every retry: deduplicate on it)
    X-Intake-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body under the secret>

A receiver recomputes the HMAC over the timestamp, a dot and the raw body with
the shared secret, compares in constant time, and refuses a timestamp more than
a few minutes old (`verify` does exactly that). A 2xx reply marks the row
sent; 408, 429, 5xx and network errors retry; any other 4xx fails it for good
(the reason is kept in `last_error`, `intake outbox show` prints it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from intake.config import Settings, WebhookSettings
from intake.store.orm import Outbox
from intake.tickets.refs import format_ref

CHANNEL = "webhook"
EVENTS = ("created", "escalated", "breached", "closed")
TOLERANCE = 300.0


class TicketLike(Protocol):
    """What an event needs of a ticket: the ORM row and the pipeline's view both have it."""

    @property
    def id(self) -> int | None: ...
    @property
    def status(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def org_id(self) -> int | None: ...


class TransitionLike(Protocol):
    """A status change the pipeline staged (intake.tickets.lifecycle.Transition)."""

    @property
    def from_status(self) -> str | None: ...
    @property
    def to_status(self) -> str: ...
    @property
    def reason(self) -> str: ...


class StagedLike(Protocol):
    """A message staged by the pipeline: its ticket (id known after the write) and its transitions."""

    @property
    def ticket(self) -> TicketLike | None: ...
    @property
    def events(self) -> Sequence[TransitionLike]: ...


def event_of(from_status: str | None, to_status: str) -> str | None:
    """Which webhook event a status transition is, if any."""
    if from_status is None:
        return "created"
    if to_status in ("escalated", "closed"):
        return to_status
    return None


def payload(settings: Settings, event: str, ticket: TicketLike, reason: str, now: datetime) -> dict[str, Any]:
    ref = format_ref(settings.tickets.ref_prefix, ticket.id) if ticket.id is not None else None
    return {
        "event": f"ticket.{event}",
        "at": now.isoformat(),
        "summary": f"{ref} {event}: {ticket.subject[:200]} ({ticket.severity})",
        "reason": reason,
        "ticket": {
            "ref": ref,
            "id": ticket.id,
            "status": ticket.status,
            "severity": ticket.severity,
            "policy": ticket.policy,
            "org_id": ticket.org_id,
            "subject": ticket.subject[:500],
        },
    }


def rows_for(settings: Settings, event: str, ticket: TicketLike, reason: str, now: datetime) -> list[Outbox]:
    """The outbox rows of one event, one per webhook that wants it (none if no webhook is configured)."""
    wanted = [hook for hook in settings.webhooks if event in hook.events]
    if not wanted or ticket.id is None:
        return []
    body = json.dumps(payload(settings, event, ticket, reason, now), sort_keys=True, ensure_ascii=False)
    return [
        Outbox(
            ticket_id=ticket.id,
            template=f"ticket.{event}",
            channel=CHANNEL,
            recipient=hook.name,
            subject=f"ticket.{event}",
            body_text=body,
            body_html="",
            message_id=f"webhook-{uuid.uuid4().hex}@{hook.name}",
            references=[],
            automatic=False,  # loop caps are for mail to people; a webhook has its own receiver
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for hook in wanted
    ]


def queue(
    session: Any, settings: Settings, event: str, ticket: TicketLike, reason: str, now: datetime
) -> int:
    """Add the event's rows to the caller's transaction; returns how many."""
    rows = rows_for(settings, event, ticket, reason, now)
    if rows:
        from intake.observe.metrics import WEBHOOK_EVENTS

        WEBHOOK_EVENTS.labels(event).inc(len(rows))
        session.add_all(rows)
    return len(rows)


def queue_batch(session: Any, settings: Settings, staged: Iterable[StagedLike], now: datetime) -> None:
    """The events of a written pipeline batch (ticket ids are known), in its transaction."""
    if not settings.webhooks:
        return
    for item in staged:
        if item.ticket is None:
            continue
        for transition in item.events:
            event = event_of(transition.from_status, transition.to_status)
            if event is not None:
                queue(session, settings, event, item.ticket, transition.reason, now)


# --- signing and delivery ---------------------------------------------------------------------------
def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: datetime, tolerance: float = TOLERANCE) -> bool:
    """What a receiver does: the signature matches the body and the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    return hmac.compare_digest(expected, given)


def request_headers(hook: WebhookSettings, row: Outbox, now: datetime) -> dict[str, str]:
    body = row.body_text.encode()
    return {
        "Content-Type": "application/json",
        "User-Agent": "intake-webhook/1",
        "X-Intake-Event": row.template,
        "X-Intake-Delivery": row.message_id,
        "X-Intake-Signature": sign(hook.secret.get_secret_value(), int(now.timestamp()), body),
    }


@dataclass(frozen=True)
class Posted:
    ok: bool
    permanent: bool = False
    error: str = ""


def find(settings: Settings, name: str) -> WebhookSettings | None:
    return next((hook for hook in settings.webhooks if hook.name == name), None)


def post(client: httpx.Client, hook: WebhookSettings, row: Outbox, now: datetime) -> Posted:
    """POST one row; what the reply means for it."""
    try:
        reply = client.post(
            hook.url,
            content=row.body_text.encode(),
            headers=request_headers(hook, row, now),
            timeout=hook.timeout,
        )
    except httpx.HTTPError as exc:
        return Posted(False, error=f"webhook {hook.name}: {describe(exc)}")
    if 200 <= reply.status_code < 300:
        return Posted(True)
    retry = reply.status_code in (408, 429) or reply.status_code >= 500
    return Posted(False, permanent=not retry, error=f"webhook {hook.name}: {reply_problem(reply)}")


def reply_problem(reply: httpx.Response) -> str:
    code = reply.status_code
    if code in (401, 403):
        return f"the receiver refused the request ({code}): is the secret the one it expects?"
    if code == 404:
        return "the receiver has no such URL (404): check the url"
    return f"the receiver answered {code} {reply.reason_phrase}"


def describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer within the timeout"
    return f"{type(exc).__name__}: {exc}"


def problems(hook: WebhookSettings) -> list[str]:
    """What is wrong with a webhook's configuration, in plain words (empty: nothing)."""
    found = []
    secret = hook.secret.get_secret_value()
    if not secret:
        found.append(f"webhook {hook.name}: no secret: receivers cannot tell our requests from forgeries")
    elif len(secret) < 16:
        found.append(f"webhook {hook.name}: the secret is only {len(secret)} characters; use at least 16")
    url = httpx.URL(hook.url)
    if url.scheme == "http" and url.host not in ("127.0.0.1", "localhost", "::1"):
        found.append(
            f"webhook {hook.name}: {hook.url} is plain http: "
            "ticket subjects would cross the network unencrypted"
        )
    return found


def ping(hook: WebhookSettings, now: datetime) -> str:
    """Send a signed `ping` event (doctor); raises with a plain reason if the receiver does not take it."""
    body = json.dumps({"event": "ping", "at": now.isoformat()}).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "intake-webhook/1",
        "X-Intake-Event": "ping",
        "X-Intake-Delivery": f"ping-{uuid.uuid4().hex}",
        "X-Intake-Signature": sign(hook.secret.get_secret_value(), int(now.timestamp()), body),
    }
    try:
        reply = httpx.post(hook.url, content=body, headers=headers, timeout=hook.timeout)
    except httpx.HTTPError as exc:
        raise ConnectionError(describe(exc)) from exc
    if not 200 <= reply.status_code < 300:
        raise ConnectionError(reply_problem(reply))
    return f"{hook.url} took a signed ping ({reply.status_code}); events: {', '.join(hook.events)}"


__all__: Sequence[str] = (
    "CHANNEL",
    "EVENTS",
    "find",
    "ping",
    "post",
    "problems",
    "queue",
    "queue_batch",
    "sign",
    "verify",
)
