"""Bounces of our own mail: find the ticket and stop automatic mail to the address that failed.

The parser reads what a delivery report says (channels/mail_report.py) onto
`InboundMessage.report`; here it is matched to the mail we sent. A bounce is
believed only when both hold (issue 8, defect 5):
- it comes from a bounce path (the report is set only then): a report content
  type, a null reverse path (RFC 5321 4.5.5), MAILER-DAEMON, or postmaster with a
  bounce's marks;
- it returns one of our Message-IDs, of mail we actually sent. The outbox sends
  from one fixed envelope sender (no VERP), so the Message-ID, with its random
  part only the recipient's server ever saw, is the proof. Naming a ticket and a
  Final-Recipient proves nothing: anyone can write that.

A permanent failure (`Action: failed`, or a bounce without a report part that
says it failed) suppresses automatic mail to the address we sent to for
`[outbox] bounce_suppress` seconds; a delay notice (`Action: delayed`) changes
nothing. `believe` is pure: the guard step calls it and stages the `Suppress`
it returns in the pipeline's batch, so the suppression commits with the dropped
message; `apply` writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.config import Settings
from intake.models import DeliveryReport, InboundMessage
from intake.store import repo
from intake.store.repo import SentMail

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Suppress:
    """A believed bounce: hold automatic mail to `recipient` until `until`, and mark our message failed."""

    recipient: str
    ticket_id: int | None
    outbox_id: int
    message_id: str
    status: str
    diagnostic: str
    at: datetime
    until: datetime

    def describe(self) -> str:
        return f"{self.message_id} to {self.recipient} bounced ({self.status or 'no status'})"

    def reason(self) -> str:
        text = f"bounced {self.status or 'permanently'}: {self.diagnostic or 'no diagnostic'}"
        return f"{text} (our {self.message_id})"[:2000]


def failed(report: DeliveryReport) -> list[tuple[str, str, str]]:
    """(recipient, status, diagnostic) of each failed recipient; X-Failed-Recipients when no DSN says."""
    found = [
        (r.address, r.status, r.diagnostic) for r in report.recipients if r.action == "failed" and r.address
    ]
    return found or [(a, "", "") for a in report.failed_recipients]


def delayed_only(report: DeliveryReport) -> bool:
    """A delay notice: some recipient delayed, none failed."""
    delayed = any(r.action == "delayed" for r in report.recipients)
    return delayed and not any(r.action == "failed" and r.address for r in report.recipients)


def match(report: DeliveryReport, sent: Mapping[str, SentMail]) -> SentMail | None:
    """Our sent mail the bounce returns: the first of its returned ids we sent."""
    return next((sent[m] for m in report.returned_ids if m in sent), None)


def believe(
    report: DeliveryReport, sent: Mapping[str, SentMail], now: datetime, settings: Settings
) -> Suppress | None:
    """What to suppress for this report, or None when it returns none of our sent mail or only a delay.

    `sent` holds our sent mail among `report.returned_ids` (`repo.sent_mail`).
    """
    if delayed_only(report):
        return None
    row = match(report, sent)
    recipients = failed(report)
    if row is None:
        if recipients:
            log.info(
                "bounce for %s returns no mail we sent; not believed", ", ".join(r for r, _, _ in recipients)
            )
        return None
    if not recipients and not report.says_failed:
        return None
    address = row.recipient.lower()
    status, diagnostic = "", ""
    for recipient, st, diag in recipients:
        if recipient == address or not status:
            status, diagnostic = st, diag
    until = now + timedelta(seconds=settings.outbox.bounce_suppress)
    return Suppress(address, row.ticket_id, row.outbox_id, row.message_id, status, diagnostic, now, until)


def apply(session: Session, request: Suppress) -> None:
    """Write a believed bounce in the caller's transaction: the suppression, and our message failed."""
    repo.suppress_address(
        session, request.recipient, request.reason(), request.until, request.at, request.ticket_id
    )
    error = f"bounced: {request.status} {request.diagnostic}".strip()[:2000]
    repo.mark_outbox_failed(session, request.outbox_id, error)
    log.warning(
        "%s bounced for %s (ticket %s): automatic mail suppressed until %s",
        request.message_id,
        request.recipient,
        request.ticket_id,
        request.until.isoformat(),
    )


def record_bounce(msg: InboundMessage, session: Session, clock: Clock, settings: Settings) -> Suppress | None:
    """Believe and apply a parsed message's bounce outside the pipeline (no commit); None if not believed."""
    if msg.report is None:
        return None
    request = believe(msg.report, repo.sent_mail(session, msg.report.returned_ids), clock.now(), settings)
    if request is not None:
        apply(session, request)
    return request


__all__ = ["SentMail", "Suppress", "apply", "believe", "delayed_only", "failed", "match", "record_bounce"]
