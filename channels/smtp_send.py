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
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType

from channels.safe_values import (
    address_problem,
    clean_text,
    msg_ids,
    one_line,
    preview,
    valid_address,
    valid_msg_id,
)
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


class Unbuildable(Exception):
    """This row cannot become a message whose every header we vouch for; it fails with this reason."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the relay: its bytes and the one envelope recipient (the To address)."""

    sender: str
    recipient: str
    data: bytes
    omitted: list[str] = field(default_factory=list)


# What the bot writes, and nothing else: verify_headers refuses a message with any other header.
HEADERS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "auto-submitted",
        "x-auto-response-suppress",
        "x-loop",
        "x-intake-ticket",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
# Threading headers are written by us (set_raw) from validated ids, one per folded line: the email
# package would otherwise fold a long id into RFC 2047 encoded words and break the thread.
_POLICY = email.policy.SMTP.clone(refold_source="none")
_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*|[ \t][\t\x20-\x7e]*")


def build_message(row: Outbox, *, from_address: str, ticket: str | None, now: datetime) -> EmailMessage:
    """The message of one outbox row, every header from a validated value; raises Unbuildable."""
    return _compose(row, from_address=from_address, ticket=ticket, now=now)[0]


def build(row: Outbox, *, from_address: str, ticket: str | None, now: datetime) -> Outgoing:
    """The bytes of one outbox row, checked as the relay will read them; raises Unbuildable.

    Serialising here (not inside smtplib) means whatever the email package
    refuses (a CPython with the CVE-2024-6923 fix raises HeaderWriteError)
    fails this one row, never the outbox pass.
    """
    try:
        msg, recipient, omitted = _compose(row, from_address=from_address, ticket=ticket, now=now)
        data = msg.as_bytes()
    except Unbuildable:
        raise
    except Exception as exc:  # the email package's refusal, whatever its class in this CPython
        raise Unbuildable(f"the email package refused the message: {type(exc).__name__}: {exc}") from exc
    sender = str(msg["From"])
    verify_headers(data)
    return Outgoing(sender, recipient, data, omitted)


def _compose(
    row: Outbox, *, from_address: str, ticket: str | None, now: datetime
) -> tuple[EmailMessage, str, list[str]]:
    sender = valid_address(from_address)
    if sender is None:
        raise Unbuildable(f"[relay] from_address is {address_problem(from_address)}")
    recipient = valid_address(row.recipient)
    if recipient is None:
        raise Unbuildable(f"recipient: {address_problem(row.recipient)}")
    own_id = valid_msg_id(row.message_id)
    if own_id is None:
        raise Unbuildable(f"our Message-ID is not a valid msg-id: {preview(row.message_id)}")
    parent = valid_msg_id(row.in_reply_to) if row.in_reply_to else None
    chain = msg_ids([*(row.references or []), *([row.in_reply_to] if row.in_reply_to else [])])
    omitted = chain.omitted
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = one_line(row.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{own_id}>"
    if parent is not None:
        msg.set_raw("In-Reply-To", f"<{parent}>")
    if chain.kept:
        msg.set_raw("References", "\r\n ".join(f"<{i}>" for i in chain.kept))
    if row.automatic:
        # RFC 3834 3.1.7: "auto-replied" for a response to a message, "auto-generated" otherwise
        # (a reminder or a closing notice the scheduler sends on its own).
        msg["Auto-Submitted"] = "auto-replied" if parent is not None else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = sender
    label = one_line(ticket or "", 60)
    if label:
        msg["X-Intake-Ticket"] = label
    msg.set_content(clean_text(row.body_text or ""))
    if row.body_html:
        msg.add_alternative(clean_text(row.body_html), subtype="html")
    return msg, recipient, omitted


def verify_headers(data: bytes) -> None:
    """Refuse bytes whose header block is not exactly ours: one header per line, only HEADERS, each once.

    The same check the CVE-2024-6923 fix makes in the generator (every line
    break followed by white space), on every CPython, plus no NUL, no bare CR
    or LF, and no header we did not mean to write.
    """
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        raise Unbuildable("no end of the header block")
    seen: set[bytes] = set()
    for line in head.split(b"\r\n"):
        if _LINE.fullmatch(line) is None:
            raise Unbuildable(f"header line refused: {preview(line)}")
        if line[:1] in b" \t":
            continue
        name = line.partition(b":")[0].lower()
        if name.decode() not in HEADERS or name in seen:
            raise Unbuildable(f"unexpected header {name.decode()!r}")
        seen.add(name)


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
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=self._context()
                )
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

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            self._smtp.close()
        self._smtp = None

    def send(self, message: Outgoing) -> None:
        """Send one built message to its one recipient; raises DeliveryError or RelayUnavailable."""
        if self._smtp is None:
            raise RelayUnavailable("relay session is not open")
        try:
            self._smtp.sendmail(message.sender, [message.recipient], message.data)
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
