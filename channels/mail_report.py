"""Delivery reports read once, in the parser: where a bounce comes from and what it says.

A delivery status notification (RFC 3464: multipart/report;
report-type=delivery-status) names each recipient with an Action and a Status,
and returns the original message (message/rfc822) or only its headers
(text/rfc822-headers). Non-standard bounces (qmail, old Exchange) quote the
original inline and carry X-Failed-Recipients. The parser has the header block
and the MIME parts at hand; `read_report` turns them into the typed
`DeliveryReport` that travels on `InboundMessage.report`, so nothing behind the
parser reads the raw bytes again.

A report is read only when the message comes from a bounce path (`bounce_path`);
whether it is believed is decided against the mail we sent
(intake/outgoing/bounces.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from channels.mail_headers import HeaderBlock, split_headers
from intake.models import Attachment, DeliveryReport, ReportedRecipient

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
_MSGID_LINE = re.compile(rb"^\s*message-id:\s*<([^<>\s]{1,500})>", re.I | re.M)
_ANGLED = re.compile(r"<([^<>\s]{1,500})>")
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_RETURNED_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"}
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_FAILED_WORDS = (
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
# A bounce names its few returned ids first; a hostile one may quote thousands.
MAX_RETURNED_IDS = 200


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


def _address(value: str) -> str:
    """'rfc822; Dana@Acme.example' -> 'dana@acme.example' (RFC 3464 2.3.2 address-type; address)."""
    _, _, addr = value.rpartition(";")
    return addr.strip().strip("<>").lower()


def _ids(value: str | None) -> list[str]:
    return _ANGLED.findall(value or "")


def _recipients(data: bytes) -> list[ReportedRecipient]:
    """The per-recipient blocks of a message/delivery-status part (RFC 3464 2.3)."""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    found: list[ReportedRecipient] = []
    for chunk in _BLANK_LINE.split(text.strip("\n")):
        block = split_headers(chunk.encode() + b"\n\n")
        final = _address(block.get("final-recipient") or "")
        original = _address(block.get("original-recipient") or "")
        action = (block.get("action") or "").strip().lower()
        if not (final or original or action):
            continue  # the per-message block (Reporting-MTA, Arrival-Date ...)
        found.append(
            ReportedRecipient(
                final_recipient=final,
                original_recipient=original,
                action=action,
                status=(block.get("status") or "").strip(),
                diagnostic=" ".join((block.get("diagnostic-code") or "").split())[:300],
            )
        )
    return found


def read_report(
    raw: bytes,
    block: HeaderBlock,
    path: str,
    headers: Mapping[str, str],
    attachments: Sequence[Attachment],
) -> DeliveryReport:
    """The report of a message from a bounce path, from the parts the parser already decoded."""
    recipients: list[ReportedRecipient] = []
    returned: list[str] = []
    for part in attachments:
        if part.content_type in _STATUS_TYPES:
            recipients.extend(_recipients(part.data))
        elif part.content_type in _RETURNED_TYPES and part.data:
            returned.extend(_ids(split_headers(part.data).get("message-id")))
    returned.extend(_ids(block.get("in-reply-to")))
    returned.extend(reversed(_ids(block.get("references"))))
    returned.extend(m.decode("ascii", "replace") for m in _MSGID_LINE.findall(raw))
    own = set(_ids(block.get("message-id")))
    ids = [m for m in dict.fromkeys(returned) if m not in own][:MAX_RETURNED_IDS]
    failed = [
        _address(a) for value in block.get_all("x-failed-recipients") for a in value.split(",") if a.strip()
    ]
    content_type = headers.get("content-type", "")
    kind = (
        _REPORT_TYPES.search(content_type)
        if content_type.lower().lstrip().startswith("multipart/report")
        else None
    )
    head = raw[:20000].lower()
    return DeliveryReport(
        path=path,
        report_type=kind.group(1).lower() if kind else "",
        recipients=recipients,
        returned_ids=ids,
        failed_recipients=failed,
        says_failed=any(word in head for word in _FAILED_WORDS),
    )


__all__ = ["MAX_RETURNED_IDS", "bounce_path", "bounce_subject", "read_report"]
