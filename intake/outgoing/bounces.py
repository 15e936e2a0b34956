"""Bounces of our own mail: find the ticket and stop automatic mail to the address that failed.

A delivery status notification (RFC 3464: multipart/report;
report-type=delivery-status) names each recipient with an Action and a Status,
and returns the original message (message/rfc822) or only its headers
(text/rfc822-headers). We look for our Message-ID there, then in the bounce's
In-Reply-To/References, then in any "Message-ID:" line of the text (non-standard
bounces quote the original inline).

A bounce is believed only when both hold (issue 8, defect 5):
- it comes from a bounce path (`bounce_path`): a report content type, a null
  reverse path (RFC 5321 4.5.5), MAILER-DAEMON, or postmaster with a bounce's marks;
- it returns one of our Message-IDs, of mail we actually sent. The outbox sends
  from one fixed envelope sender (no VERP), so the Message-ID, with its random
  part only the recipient's server ever saw, is the proof. Naming a ticket and a
  Final-Recipient proves nothing: anyone can write that.

A permanent failure (`Action: failed`) suppresses automatic mail to the
address we sent to for `[outbox] bounce_suppress` seconds; a delay notice
(`Action: delayed`) changes nothing. The guard step calls `record_bounce` in the
pipeline's transaction, so the suppression commits with the dropped message.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.store.orm import Outbox, Suppression

log = logging.getLogger(__name__)

_MSGID_LINE = re.compile(rb"^\s*message-id:\s*<([^<>\s]{1,500})>", re.I | re.M)
_ANGLED = re.compile(r"<([^<>\s]{1,500})>")
_REPORT_TYPES = re.compile(
    r"report-type\s*=\s*\"?(delivery-status|disposition-notification|feedback-report)", re.I
)
_DAEMON = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon|bounces?)@", re.I)
_POSTMASTER = re.compile(r"^postmaster@", re.I)
_BOUNCE_PREFIXES = (
    r"undeliverable|undelivered|unzustellbar|nicht zustellbar|non remis|onbestelbaar|"
    r"no se puede entregar|non recapitabile|n[ãa]o [ée] poss[íi]vel entregar|olevererbart|"
    r"returned mail|mail delivery failed|delivery failure|delivery has failed"
)
_BOUNCE_SUBJECT = re.compile(
    rf"^\s*(?:(?:{_BOUNCE_PREFIXES})\s*[:：]\s*\S|"
    r"undelivered mail returned to sender\s*$|"
    r"delivery status notification \((?:failure|delay)\)\s*$|"
    r"failure notice\s*$|"
    r"mail system error - returned mail\s*$|"
    r"message not delivered\s*$|"
    r"delivery notification: delivery has failed\s*$)",
    re.I,
)


def bounce_subject(subject: str) -> bool:
    """The exact subject a bounce carries ("Undeliverable: ...", "failure notice"), in several languages."""
    return bool(_BOUNCE_SUBJECT.match(subject))


def bounce_path(sender: str, headers: Mapping[str, str], subject: str) -> str | None:
    """Why this message comes the way delivery reports come, or None.

    `headers` maps lower-cased names to values, repeated ones joined by newlines;
    of Return-Path only the topmost counts, the one the final delivery server
    (our SMTP server, or the MTA before Dovecot) wrote from the envelope.
    """
    content_type = headers.get("content-type", "")
    if content_type.lower().lstrip().startswith("multipart/report"):
        kind = _REPORT_TYPES.search(content_type)
        if kind:
            return f"multipart/report; report-type={kind.group(1).lower()}"
    return_path = headers.get("return-path", "").split("\n", 1)[0].strip()
    if return_path in {"<>", "<<>>"}:
        return "null Return-Path (RFC 5321 notification)"
    if _DAEMON.match(sender):
        return f"sent by {sender}"
    if _POSTMASTER.match(sender):
        # A person may write from postmaster@ ("Undelivered mail piling up in our queue");
        # a bounce from there carries a bounce's marks as well.
        auto = headers.get("auto-submitted", "").strip().lower()
        if (
            "x-failed-recipients" in headers
            or (auto and not auto.startswith("no"))
            or bounce_subject(subject)
        ):
            return f"sent by {sender} with a bounce's headers or subject"
    return None


@dataclass
class Report:
    """What a bounce says, before it is matched to our mail."""

    message_ids: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (recipient, status, diagnostic)
    delayed_only: bool = False


@dataclass(frozen=True)
class Bounce:
    """A bounce matched to one of our outgoing messages."""

    recipient: str
    ticket_id: int | None
    message_id: str
    status: str
    diagnostic: str

    def describe(self) -> str:
        return f"{self.message_id} to {self.recipient} bounced ({self.status or 'no status'})"


def _address(value: str) -> str:
    """'rfc822; Dana@Acme.example' -> 'dana@acme.example' (RFC 3464 2.3.2 address-type; address)."""
    _, _, addr = value.rpartition(";")
    return addr.strip().strip("<>").lower()


def _ids(value: str | None) -> list[str]:
    return _ANGLED.findall(value or "")


def _returned_headers(part: Message) -> Message | None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
    if ctype == "text/rfc822-headers":
        text = part.get_payload(decode=True)
        if isinstance(text, bytes):
            return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return None


def read_report(raw: bytes) -> Report:
    """Pull Message-IDs, our ticket header and the failed recipients out of a bounce."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = Report()
    saw_delayed = False
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            blocks = part.get_payload()
            for block in blocks[1:] if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                action = str(block.get("Action", "")).strip().lower()
                final = block.get("Final-Recipient") or block.get("Original-Recipient") or ""
                recipient = _address(str(final))
                if action == "failed" and recipient:
                    report.failed.append(
                        (
                            recipient,
                            str(block.get("Status", "")).strip(),
                            " ".join(str(block.get("Diagnostic-Code", "")).split())[:300],
                        )
                    )
                elif action == "delayed":
                    saw_delayed = True
            continue
        returned = _returned_headers(part)
        if returned is not None:
            report.message_ids.extend(_ids(returned.get("Message-ID")))
    report.delayed_only = saw_delayed and not report.failed
    # non-DSN bounces: the header of the bounce, then any quoted Message-ID line
    report.message_ids.extend(_ids(msg.get("In-Reply-To")))
    report.message_ids.extend(reversed(_ids(msg.get("References"))))
    report.message_ids.extend(m.decode("ascii", "replace") for m in _MSGID_LINE.findall(raw))
    if not report.failed:
        for value in msg.get_all("X-Failed-Recipients") or []:
            report.failed.extend((_address(a), "", "") for a in str(value).split(",") if a.strip())
    own_id = _ids(msg.get("Message-ID"))
    report.message_ids = [m for m in dict.fromkeys(report.message_ids) if m not in own_id]
    return report


def _match(session: Session, report: Report) -> Outbox | None:
    """Our outgoing row the bounce returns, by Message-ID; only mail that was really sent."""
    if not report.message_ids:
        return None
    rows = {
        r.message_id.strip("<>"): r
        for r in session.scalars(
            select(Outbox).where(
                or_(
                    Outbox.message_id.in_(report.message_ids),
                    Outbox.message_id.in_([f"<{m}>" for m in report.message_ids]),
                ),
                Outbox.sent_at.is_not(None),
            )
        )
    }
    for message_id in report.message_ids:
        if message_id in rows:
            return rows[message_id]
    return None


def _path_of(raw: bytes) -> str | None:
    head = HeaderParser(policy=email.policy.compat32).parsestr(raw[:65536].decode("utf-8", "replace"))
    senders = getaddresses([str(v) for v in head.get_all("From") or []])
    sender = senders[0][1].lower() if len(senders) == 1 else ""
    headers: dict[str, str] = {}
    for name, value in head.items():
        key = name.lower()
        headers[key] = f"{headers[key]}\n{value}" if key in headers else str(value)
    return bounce_path(sender, headers, " ".join(str(head.get("Subject", "")).split()))


def record_bounce(raw_bytes: bytes, session: Session, clock: Clock, settings: Settings) -> Bounce | None:
    """Match a bounce to our mail and suppress automatic mail to the failed address.

    Returns what was recorded, or None when the message comes from no bounce
    path, returns none of our sent mail, or reports only a delay. Writes in the
    caller's transaction (no commit).
    """
    path = _path_of(raw_bytes)
    if path is None:
        log.info("a bounce-like message not from a bounce path; not believed")
        return None
    report = read_report(raw_bytes)
    if report.delayed_only:
        return None
    row = _match(session, report)
    if row is None:
        if report.failed:
            failed = ", ".join(r for r, _, _ in report.failed)
            log.info("bounce for %s returns no mail we sent; not believed", failed)
        return None
    address = row.recipient.lower()
    status, diagnostic = "", ""
    for recipient, st, diag in report.failed:
        if recipient == address or not status:
            status, diagnostic = st, diag
    if not report.failed and not _looks_failed(raw_bytes):
        return None
    now = clock.now()
    until = now + timedelta(seconds=settings.outbox.bounce_suppress)
    reason = f"bounced {status or 'permanently'}: {diagnostic or 'no diagnostic'} (our {row.message_id})"
    reason = reason[:2000]
    existing = session.scalar(select(Suppression).where(Suppression.address == address))
    if existing is None:
        session.execute(
            insert(Suppression).values(
                address=address, reason=reason, until=until, created_at=now, ticket_id=row.ticket_id
            )
        )
    else:
        session.execute(
            update(Suppression)
            .where(Suppression.id == existing.id)
            .values(reason=reason, until=max(until, existing.until), ticket_id=row.ticket_id)
        )
    session.execute(
        update(Outbox)
        .where(Outbox.id == row.id)
        .values(state="failed", last_error=f"bounced: {status} {diagnostic}".strip()[:2000])
    )
    log.warning(
        "%s bounced for %s (ticket %s): automatic mail suppressed until %s",
        row.message_id,
        address,
        row.ticket_id,
        until.isoformat(),
    )
    return Bounce(address, row.ticket_id, row.message_id, status, diagnostic)


def _looks_failed(raw: bytes) -> bool:
    """A bounce without a DSN part (qmail, old Exchange): trust it only when it says it failed."""
    head = raw[:20000].lower()
    return any(
        word in head
        for word in (
            b"x-failed-recipients",
            b"undeliverable",
            b"delivery failed",
            b"could not be delivered",
            b"permanent error",
            b"failure notice",
            b"returned mail",
            b"user unknown",
            b"does not exist",
        )
    )
