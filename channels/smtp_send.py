"""Outgoing mail: build the RFC 5322 message of an outbox row and hand it to the configured relay.

The headers are what keeps a helpdesk out of mail loops and in its threads:
our own Message-ID (the row's, so a reply or a bounce finds the ticket),
In-Reply-To/References to the customer's message, RFC 3834 Auto-Submitted on
automatic mail, `X-Auto-Response-Suppress: All` (Exchange/Outlook: no
out-of-office replies to it), `X-Loop` with our address, and `X-Intake-Ticket`,
by which our own guard recognises our mail when it comes back.

Failures are sorted the way the outbox worker needs them: `DeliveryError`
with `permanent=True` for a 5xx answer about this message (never retried),
`permanent=False` for 4xx; `RelayUnavailable` when the relay itself cannot be
reached, logged into or keeps talking to us (every message waits for a retry).
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType

from intake.config import RelaySettings
from intake.store.orm import Outbox

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The relay refused this one message; `permanent` for a 5xx reply."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code else message)
        self.code = code
        self.permanent = code is not None and 500 <= code < 600


class RelayUnavailable(Exception):
    """The relay cannot take mail at all right now (down, TLS or login failure, 421)."""


def angle(message_id: str) -> str:
    return "<" + message_id.strip().strip("<>") + ">"


def build_message(row: Outbox, *, from_address: str, ticket: str | None, now: datetime) -> EmailMessage:
    """The message of one outbox row; the row holds the final subject (ticket reference included)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = from_address
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = angle(row.message_id)
    references = [r for r in (row.references or []) if isinstance(r, str) and r.strip("<> ")]
    if row.in_reply_to:
        msg["In-Reply-To"] = angle(row.in_reply_to)
        if row.in_reply_to.strip("<> ") not in {r.strip("<> ") for r in references}:
            references.append(row.in_reply_to)
    if references:
        msg["References"] = " ".join(angle(r) for r in references)
    if row.automatic:
        # RFC 3834 3.1.7: "auto-replied" for a response to a message, "auto-generated" otherwise
        # (a reminder or a closing notice the scheduler sends on its own).
        msg["Auto-Submitted"] = "auto-replied" if row.in_reply_to else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = from_address
    if ticket:
        msg["X-Intake-Ticket"] = ticket
    msg.set_content(row.body_text or "")
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    return msg


class Relay:
    """One SMTP session with the relay, reused for a batch: `with Relay(cfg) as r: r.send(...)`."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.tls_ca or None)

    def __enter__(self) -> Relay:
        cfg = self.settings
        try:
            if cfg.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                      context=self._context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            try:
                smtp.ehlo()
                if cfg.tls == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if cfg.username:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
            except BaseException:
                smtp.close()
                raise
        except (smtplib.SMTPException, OSError) as exc:
            raise RelayUnavailable(f"relay {cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from exc
        self._smtp = smtp
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None

    def send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        """Send one message to one recipient; raises DeliveryError or RelayUnavailable."""
        if self._smtp is None:
            raise RelayUnavailable("relay session is not open")
        try:
            self._smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (None, b""))
            raise _refused(code, text) from exc
        except smtplib.SMTPResponseException as exc:
            raise _refused(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._smtp = None
            raise RelayUnavailable(f"relay connection lost: {type(exc).__name__}: {exc}") from exc


def _refused(code: int | None, text: bytes | str) -> Exception:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if code == 421:  # RFC 5321 4.2.2: the service is closing the channel
        return RelayUnavailable(f"421 {message}")
    return DeliveryError(code, message)
