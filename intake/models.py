"""Pydantic models at the edges: what a channel hands to the pipeline.

Every string field is `Line` or `Text` (intake/storable.py): whatever a channel
decoded, what reaches the pipeline can be stored on SQLite and PostgreSQL alike
and copied into a header without smuggling a line break.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from intake.storable import Line, Text

Channel = Literal["email", "slack"]
AttachmentKind = Literal["file", "inline", "calendar", "tnef", "message"]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: Line
    content_type: Line
    size: int
    kind: AttachmentKind = "file"
    content_id: Line | None = None
    data: bytes = b""


class ReportedRecipient(BaseModel):
    """One per-recipient block of a delivery status notification (RFC 3464 section 2.3)."""

    model_config = ConfigDict(frozen=True)

    final_recipient: Line = Field(default="", description="the address, lower-cased, without its type")
    original_recipient: Line = ""
    action: Line = Field(default="", description="failed, delayed, delivered, relayed or expanded")
    status: Line = Field(default="", description="the RFC 3463 status code, e.g. 5.1.1")
    diagnostic: Line = Field(
        default="", description="Diagnostic-Code, blanks collapsed, at most 300 characters"
    )

    @property
    def address(self) -> str:
        return self.final_recipient or self.original_recipient


class DeliveryReport(BaseModel):
    """What a message that comes the way delivery reports come says, read once by the parser.

    Set on `InboundMessage.report` only when the message comes from a bounce
    path (channels/mail_report.py); whether it is believed is decided later,
    against the mail we sent (intake/outgoing/bounces.py).
    """

    model_config = ConfigDict(frozen=True)

    path: Line = Field(
        description="why it comes the way delivery reports come, e.g. 'sent by mailer-daemon@...'"
    )
    report_type: Line = Field(default="", description="multipart/report's report-type, lower-cased, or ''")
    recipients: list[ReportedRecipient] = Field(default_factory=list)
    returned_ids: list[Line] = Field(
        default_factory=list,
        description="Message-IDs it returns, in the order to match them: those of the returned message or "
        "headers, then In-Reply-To, References newest first, and Message-ID lines quoted in the text; "
        "never its own",
    )
    failed_recipients: list[Line] = Field(
        default_factory=list, description="X-Failed-Recipients, lower-cased"
    )
    says_failed: bool = Field(
        default=False, description="its head says delivery failed (for bounces without a report part)"
    )


class InboundMessage(BaseModel):
    """One customer message, whatever channel it came from.

    `text` is the new text the sender wrote; `quoted` holds the earlier
    conversation they quoted below (or above) it, kept apart so triage and
    the ticket view read only what is new.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    channel: Channel = "email"
    external_id: Line = Field(description="Message-ID without brackets, or Slack channel:ts")
    sender: Line = Field(description="lower-cased address (email) or Slack user id")
    identity_problem: Line | None = Field(
        default=None,
        description="why there is no sender (email: not exactly one From address); "
        "the pipeline quarantines such a message",
    )
    display_name: Line = ""
    to: list[Line] = Field(default_factory=list)
    cc: list[Line] = Field(default_factory=list)
    subject: Line = ""
    text: Text = ""
    quoted: Text = ""
    html: Text = ""
    attachments: list[Attachment] = Field(default_factory=list)
    in_reply_to: Line | None = None
    references: list[Line] = Field(default_factory=list)
    thread_ts: Line | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    headers: dict[Line, Text] = Field(
        default_factory=dict,
        description="headers the guard and contact steps read: lower-cased names, "
        "repeated values joined by newlines",
    )
    content_hash: str = ""
    raw: bytes = b""
    raw_ref: Line = ""
    authenticated_by: str = Field(
        default="",
        description="authserv-id of the Authentication-Results the receiving adapter wrote itself after "
        "stripping every incoming one (the bot's SMTP server); set by the adapter, never read from the mail",
    )
    defects: list[Line] = Field(default_factory=list)
    report: DeliveryReport | None = Field(
        default=None, description="the delivery report's details, when it comes from a bounce path"
    )
