"""Pydantic models at the edges: what a channel hands to the pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["email", "slack"]
AttachmentKind = Literal["file", "inline", "calendar", "tnef", "message"]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    size: int
    kind: AttachmentKind = "file"
    content_id: str | None = None
    data: bytes = b""


class InboundMessage(BaseModel):
    """One customer message, whatever channel it came from.

    `text` is the new text the sender wrote; `quoted` holds the earlier
    conversation they quoted below (or above) it, kept apart so triage and
    the ticket view read only what is new.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    channel: Channel = "email"
    external_id: str = Field(description="Message-ID without brackets, or Slack channel:ts")
    sender: str = Field(description="lower-cased address (email) or Slack user id")
    display_name: str = ""
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    text: str = ""
    quoted: str = ""
    html: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    thread_ts: str | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="headers the guard and contact steps read: lower-cased names, "
        "repeated values joined by newlines",
    )
    content_hash: str = ""
    raw: bytes = b""
    raw_ref: str = ""
    authenticated_by: str = Field(
        default="",
        description="authserv-id of the Authentication-Results the receiving adapter wrote itself after "
        "stripping every incoming one (the bot's SMTP server); set by the adapter, never read from the mail",
    )
    defects: list[str] = Field(default_factory=list)
