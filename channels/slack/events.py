"""What an Events API payload means for the bot, before any database work.

Slack Connect: names differ per workspace, so only IDs are used (channel, user,
team, ts). A message's `external_id` is "C…:ts"; its thread is `thread_ts`.
Who wrote it: a bot (any `bot_id`, `bot_message`, our own user) is ignored; a
person of the vendor's own workspace (the team the event was delivered to, or a
`[slack] vendor_teams` id) is the vendor's people, never a customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from intake.config import SlackSettings
from intake.models import Attachment, InboundMessage
from intake.storable import line, text

# Message subtypes that carry a person's message; the others (joins, topic changes ...) are noise.
PERSON_SUBTYPES = frozenset({None, "", "file_share", "thread_broadcast", "me_message"})


class SlackFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    name: str = ""
    title: str = ""
    mimetype: str = "application/octet-stream"
    size: int = 0


class SlackMessage(BaseModel):
    """The fields of a `message` event (or the `message` inside message_changed) the bot reads."""

    model_config = ConfigDict(extra="ignore")

    type: str = "message"
    subtype: str | None = None
    channel: str = ""
    user: str = ""
    bot_id: str | None = None
    app_id: str | None = None
    text: str = ""
    ts: str = ""
    thread_ts: str | None = None
    user_team: str | None = None
    source_team: str | None = None
    team: str | None = None
    files: list[SlackFile] = []
    deleted_ts: str | None = None
    message: SlackMessage | None = None
    previous_message: SlackMessage | None = None


Kind = Literal["message", "edit", "delete", "ignore"]


@dataclass(frozen=True)
class Meaning:
    """One event, read: what it is, who wrote it, and why it is ignored when it is."""

    kind: Kind
    reason: str = ""
    message: SlackMessage | None = None
    vendor: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def ts_time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (ValueError, OverflowError):
        return None


def is_bot(msg: SlackMessage, bot_user: str | None) -> bool:
    return (
        bool(msg.bot_id or (msg.app_id and not msg.user))
        or msg.subtype == "bot_message"
        or (bot_user is not None and msg.user == bot_user)
    )


def is_vendor(msg: SlackMessage, home_team: str | None, cfg: SlackSettings) -> bool:
    team = msg.user_team or msg.team
    return team is not None and (team == home_team or team in cfg.vendor_teams)


def read(event: dict[str, Any], home_team: str | None, bot_user: str | None, cfg: SlackSettings) -> Meaning:
    """Read a `message` event (the only kind with text); reactions are read by the app."""
    msg = SlackMessage.model_validate(event)
    if msg.subtype == "message_changed" and msg.message is not None:
        inner = msg.message.model_copy(update={"channel": msg.channel})
        if is_bot(inner, bot_user):
            return Meaning("ignore", "an edit of a bot's message", inner)
        return Meaning("edit", "message edited", inner, is_vendor(inner, home_team, cfg))
    if msg.subtype == "message_deleted":
        return Meaning("delete", "message deleted", msg, extra={"deleted_ts": msg.deleted_ts or ""})
    if is_bot(msg, bot_user):
        return Meaning("ignore", "a bot's message (our own or another app's)", msg)
    if msg.subtype not in PERSON_SUBTYPES:
        return Meaning("ignore", f"message subtype {msg.subtype}", msg)
    if not msg.user or not msg.ts or not msg.channel:
        return Meaning("ignore", "a message without user, ts or channel", msg)
    return Meaning("message", "", msg, is_vendor(msg, home_team, cfg))


def inbound(msg: SlackMessage, *, email: str | None = None, thread_ts: str | None = None) -> InboundMessage:
    """The pipeline's InboundMessage for a person's Slack message: IDs only, files as attachments."""
    first_line = msg.text.strip().splitlines()[0] if msg.text.strip() else ""
    headers = {"slack-channel": msg.channel}
    if email:
        headers["slack-email"] = email
    if msg.user_team:
        headers["slack-team"] = msg.user_team
    thread = thread_ts or (msg.thread_ts if msg.thread_ts and msg.thread_ts != msg.ts else None)
    return InboundMessage(
        channel="slack",
        external_id=line(f"{msg.channel}:{msg.ts}"),
        sender=line(msg.user),
        subject=line(first_line[:120]),
        text=text(msg.text),
        thread_ts=thread,
        sent_at=ts_time(msg.ts),
        attachments=[
            Attachment(
                filename=line(f.name or f.title or f.id or "file"),
                content_type=line(f.mimetype or "application/octet-stream"),
                size=max(0, f.size),
                kind="file",
                content_id=line(f.id) if f.id else None,
            )
            for f in msg.files
        ],
        headers=headers,
        raw_ref=line(f"slack:{msg.channel}:{msg.ts}"),
    )
