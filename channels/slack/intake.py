"""The synchronous work of one Slack event, done before Slack gets its 200.

Bolt runs with process_before_response=True, so a listener returns only after
this module has committed: the 200 (or the Socket Mode ack) means the message is
stored. A retry (X-Slack-Retry-Num) or a redelivery changes nothing twice: every
event_id is kept in `slack_events`, and the pipeline's dedup key of a message is
its channel and ts. A failure raises, so Slack gets a 500 and retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.slack.events import Meaning, SlackMessage, inbound, read
from channels.slack.smalltalk import small_talk
from intake.config import SlackSettings
from intake.customers.directory import Directory
from intake.models import InboundMessage
from intake.pipeline import Outcome, ingest
from intake.pipeline.context import Deps
from intake.runtime import Runtime, load_classifier
from intake.storable import line, text
from intake.store.orm import Message, Outbox, SlackEvent, Ticket, TicketEvent
from intake.tickets.ops import TicketOps
from intake.tickets.replies import answered_in_thread

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What became of an event: for logs and tests."""

    what: str
    outcomes: list[Outcome] = field(default_factory=list)


def slack_settings(runtime: Runtime) -> SlackSettings:
    cfg = runtime.settings.slack
    if cfg is None:
        raise RuntimeError("no [slack] section")
    return cfg


def directory(session: Session, cfg: SlackSettings) -> Directory:
    """The directory, with `[slack] intake_channels` (channel id -> organisation name) added."""
    found = Directory.load(session)
    by_name = {org.name: org for org in found.orgs.values()}
    for channel, name in cfg.intake_channels.items():
        org = by_name.get(name)
        if org is not None:
            found.by_slack_channel[channel] = org
    return found


def seen(session: Session, event_id: str) -> bool:
    return (
        bool(event_id)
        and session.scalar(select(SlackEvent.id).where(SlackEvent.event_id == event_id)) is not None
    )


def remember(session: Session, event_id: str, kind: str, detail: str, now: datetime) -> None:
    """Record the event as taken (commit is the caller's); an empty id (a synthetic event) is not kept."""
    if event_id:
        session.add(
            SlackEvent(event_id=line(event_id)[:100], kind=kind[:60], detail=text(detail), received_at=now)
        )


def _commit_remember(session: Session, event_id: str, kind: str, detail: str, now: datetime) -> None:
    remember(session, event_id, kind, detail, now)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another worker took the same event first


@dataclass
class Handler:
    """Everything one app process needs to handle events."""

    runtime: Runtime
    home_team: str | None = None
    bot_user: str | None = None
    emails: dict[str, str | None] = field(default_factory=dict)
    lookup_email: Any = None  # callable(user_id) -> email | None, set by the app (users.info)
    _classifier: Any = None

    @property
    def cfg(self) -> SlackSettings:
        return slack_settings(self.runtime)

    def classifier(self) -> Any:
        if self._classifier is None:
            self._classifier = load_classifier(self.runtime.settings)
        return self._classifier

    def email_of(self, user: str) -> str | None:
        """users.info's email of a Slack user, looked up once per process (None when Slack gives none)."""
        if user not in self.emails:
            try:
                self.emails[user] = self.lookup_email(user) if self.lookup_email else None
            except Exception as exc:  # Slack unreachable: the user is then matched by slack_user only
                log.warning("slack: users.info %s failed: %s", user, exc)
                return None
        return self.emails[user]

    def deps(self, session: Session) -> Deps:
        return Deps(
            session=session,
            clock=self.runtime.clock,
            settings=self.runtime.settings,
            directory=directory(session, self.cfg),
            classifier=self.classifier(),
            policies=self.runtime.policies,
        )

    # -- events ---------------------------------------------------------------------------------------

    def message_event(self, body: dict[str, Any]) -> Result:
        event = body.get("event") or {}
        event_id = str(body.get("event_id") or "")
        home = self.home_team or body.get("team_id")
        cfg = self.cfg
        meaning = read(event, home, self.bot_user, cfg)
        with self.runtime.sessions() as session:
            now = self.runtime.clock.now()
            if seen(session, event_id):
                return Result(f"duplicate event {event_id}")
            msg = meaning.message
            channel = msg.channel if msg else str(event.get("channel", ""))
            if channel == cfg.triage_channel:
                _commit_remember(session, event_id, "internal", "triage channel discussion", now)
                return Result("internal: triage channel discussion stays internal")
            known = directory(session, cfg).by_slack_channel
            if channel not in known:
                _commit_remember(session, event_id, "ignored", f"channel {channel} is no intake channel", now)
                return Result(f"ignored: {channel} is no intake channel")
            if meaning.kind == "ignore":
                _commit_remember(session, event_id, "ignored", meaning.reason, now)
                return Result("ignored: " + meaning.reason)
            if meaning.kind in ("edit", "delete"):
                return self._edit_or_delete(session, event_id, meaning, now)
            assert msg is not None
            return self._message(session, event_id, msg, meaning, now)

    def _edit_or_delete(self, session: Session, event_id: str, meaning: Meaning, now: datetime) -> Result:
        msg = meaning.message
        assert msg is not None
        ts = meaning.extra.get("deleted_ts") or msg.ts
        stored = session.scalar(
            select(Message).where(Message.channel == "slack", Message.external_id == f"{msg.channel}:{ts}")
        )
        if stored is None or stored.ticket_id is None:
            _commit_remember(session, event_id, meaning.kind, f"{msg.channel}:{ts} (no ticket)", now)
            return Result(f"{meaning.kind}: not a ticket's message")
        ticket = session.get(Ticket, stored.ticket_id)
        assert ticket is not None
        if meaning.kind == "edit":
            reason = f"slack message {msg.channel}:{ts} edited by {msg.user or 'someone'}: {msg.text}"
        else:
            reason = f"slack message {msg.channel}:{ts} deleted in Slack (the stored text is kept)"
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=now,
                from_status=ticket.status,
                to_status=ticket.status,
                reason=text(reason)[:4000],
                actor=line(msg.user or "slack"),
            )
        )
        remember(session, event_id, meaning.kind, f"{msg.channel}:{ts}", now)
        session.commit()
        return Result(f"{meaning.kind} recorded on ticket {ticket.id}")

    def _recent_reply_thread(self, session: Session, channel: str, now: datetime) -> str | None:
        """The thread of the ticket a bot or engineer last answered in this channel, within the window."""
        since = now - timedelta(seconds=self.cfg.smalltalk_window)
        row = session.execute(
            select(Outbox.recipient, Outbox.sent_at)
            .where(
                Outbox.channel == "slack",
                Outbox.recipient.like(f"{channel}:%"),
                Outbox.state == "sent",
                Outbox.sent_at >= since,
            )
            .order_by(Outbox.sent_at.desc())
            .limit(1)
        ).first()
        engineer = session.execute(
            select(SlackEvent.detail, SlackEvent.received_at)
            .where(SlackEvent.kind == "vendor-reply", SlackEvent.detail.like(f"{channel}:%"))
            .where(SlackEvent.received_at >= since)
            .order_by(SlackEvent.received_at.desc())
            .limit(1)
        ).first()
        found = [r for r in (row, engineer) if r is not None]
        if not found:
            return None
        latest = max(found, key=lambda r: r[1] or now)
        return str(latest[0]).partition(":")[2] or None

    def _message(
        self, session: Session, event_id: str, msg: SlackMessage, meaning: Meaning, now: datetime
    ) -> Result:
        cfg = self.cfg
        in_thread = bool(msg.thread_ts and msg.thread_ts != msg.ts)
        contact_users = {
            c.slack_user for org in directory(session, cfg).orgs.values() for c in org.contacts.values()
        }
        if meaning.vendor and msg.user not in contact_users:
            return self._vendor_message(session, event_id, msg, in_thread, now)
        thread_ts: str | None = None
        chatter = small_talk(msg.text) if not msg.files else None
        if chatter is not None:
            ticket_thread = (
                msg.thread_ts if in_thread else self._recent_reply_thread(session, msg.channel, now)
            )
            known_thread = ticket_thread and session.scalar(
                select(Ticket.id).where(Ticket.slack_thread_ts == ticket_thread)
            )
            if not known_thread:
                _commit_remember(session, event_id, "smalltalk", f"{chatter}: {msg.text}", now)
                return Result(f"small talk, not a ticket ({chatter})")
            thread_ts = ticket_thread
        elif not in_thread and cfg.mode_of(msg.channel) == "manual":
            _commit_remember(
                session,
                event_id,
                "manual",
                f"waiting for :{cfg.ticket_reaction}: on {msg.channel}:{msg.ts}",
                now,
            )
            return Result(f"manual channel: a :{cfg.ticket_reaction}: reaction opens the ticket")
        return self.ingest_message(
            session, event_id, inbound(msg, email=self.email_of(msg.user), thread_ts=thread_ts)
        )

    def _vendor_message(
        self, session: Session, event_id: str, msg: SlackMessage, in_thread: bool, now: datetime
    ) -> Result:
        """The vendor's own people never open a ticket; one who writes in a ticket's thread in the
        customer's channel is answering the customer, which counts as `intake reply` counts it."""
        if not in_thread:
            _commit_remember(session, event_id, "ignored", "the vendor's own people opened no ticket", now)
            return Result("ignored: the vendor's own people")
        ticket = session.scalar(
            select(Ticket).where(Ticket.slack_channel == msg.channel, Ticket.slack_thread_ts == msg.thread_ts)
        )
        answered = ticket is not None and answered_in_thread(
            TicketOps(session, self.runtime.settings, now, actor=line(f"slack:{msg.user}")),
            ticket,
            msg.text,
            "the customer's Slack thread",
        )
        remember(session, event_id, "vendor-reply", f"{msg.channel}:{msg.thread_ts}", now)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another worker took the same event first
            return Result(f"duplicate event {event_id}")
        if answered and ticket is not None:
            return Result(f"vendor's own people: answered ticket {ticket.id} in its thread, no ticket")
        return Result("vendor's own people: reply noted, no ticket")

    def ingest_message(self, session: Session, event_id: str, item: InboundMessage) -> Result:
        """Run the pipeline on one Slack message and record the event as taken, then mirror it."""
        deps = self.deps(session)
        outcomes = ingest([item], deps)
        _commit_remember(session, event_id, "message", item.external_id, self.runtime.clock.now())
        return Result(", ".join(o.disposition for o in outcomes), outcomes)
