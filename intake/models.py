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

Channel = Literal["email", "slack", "portal"]
AttachmentKind = Literal["file", "inline", "calendar", "tnef", "message"]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: Line
    content_type: Line
    size: int
    kind: AttachmentKind = "file"
    content_id: Line | None = None
    data: bytes = b""


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
