"""SQLAlchemy 2 tables of the bot.

Every lookup the pipeline makes on the hot path has an index: `messages.dedup_key`
(unique), `messages.external_id`, `outbox.message_id`, `org_domains.domain`,
`contacts.email`, `timers(state, due_at)` and `outbox(state, next_attempt_at)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

IdType = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware instants on every backend, stored as UTC and read back UTC-aware.

    SQLite has no time zone type: SQLAlchemy writes the wall-clock digits and drops
    the offset, so ``10:00-05:00`` would come back as ``10:00+00:00``, five hours off.
    Every value is therefore converted to UTC before it is bound (on PostgreSQL too,
    where ``timestamptz`` would keep the instant anyway), so both stores hold the same
    instant and comparisons in SQL (``due_at <= now``) compare instants.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    policy: Mapped[str] = mapped_column(String(80))
    plan: Mapped[str | None] = mapped_column(String(80))
    slack_channel: Mapped[str | None] = mapped_column(String(40), index=True)
    # IANA zone of the customer (`org add --tz`): where a policy's hours are "local time"
    # (Rezilion), its calendar is read in this zone; None keeps the policy's own zone.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]

    domains: Mapped[list[OrgDomain]] = relationship(back_populates="org", cascade="all, delete-orphan")
    contacts: Mapped[list[Contact]] = relationship(back_populates="org", cascade="all, delete-orphan")


class OrgDomain(Base):
    __tablename__ = "org_domains"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    org: Mapped[Organisation] = relationship(back_populates="domains")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="designated")
    slack_user: Mapped[str | None] = mapped_column(String(40), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    transfer_effective_at: Mapped[datetime | None]
    retires_at: Mapped[datetime | None]

    org: Mapped[Organisation] = relationship(back_populates="contacts")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_org", "status", "org_id"),
        # the dashboard's period counts (intake/web/dashboard.py): all, one policy, one organisation
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_closed_at", "closed_at"),
        Index("ix_tickets_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    requester: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(40))
    canonical_severity: Mapped[str] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(30))
    confidence: Mapped[float | None] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # The classifier's recall-first flag; cleared when a person confirms or lowers the severity.
    possible_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    policy: Mapped[str] = mapped_column(String(80))
    plan: Mapped[str | None] = mapped_column(String(80))
    contact_status: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    environment: Mapped[str] = mapped_column(String(12), default="unknown")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    first_response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    waiting_since: Mapped[datetime | None]
    pauses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(60))
    # The engineer who owns the case, where the policy assigns one (Revalize: "Case Owner").
    owner: Mapped[str | None] = mapped_column(String(320))
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(40), index=True)
    triage_ts: Mapped[str | None] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(320))
    csat: Mapped[str | None] = mapped_column(String(20))

    org: Mapped[Organisation | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id")


class Message(Base):
    """Every message we kept: inbound ones with their raw bytes, including those the guard stopped."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    disposition: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(600), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(500), index=True)
    # sha256 of what the author wrote (channels/email_parse.content_hash); None on rows from before it.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    quoted: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    raw_ref: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    size: Mapped[int] = mapped_column(Integer)
    content_id: Mapped[str | None] = mapped_column(String(500))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class TriageDecision(Base):
    """The audit row of one decision: what went in, what came out, which steps fired and why."""

    __tablename__ = "triage_decisions"
    # The review queue (intake/web/queries.py) pages by these keys, newest or least confident first.
    __table_args__ = (
        Index("ix_triage_decisions_created_id", "created_at", "id"),
        Index("ix_triage_decisions_confidence_id", "confidence", "id"),
        Index("ix_triage_decisions_review_created", "needs_review", "created_at"),
        Index("ix_triage_decisions_reviewed_at", "reviewed_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    created_at: Mapped[datetime]
    disposition: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(40))
    canonical_severity: Mapped[str | None] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(30))
    confidence: Mapped[float | None] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str | None] = mapped_column(String(8))
    possible_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reviewed_by: Mapped[str | None] = mapped_column(String(320))
    reviewed_at: Mapped[datetime | None]
    corrected_severity: Mapped[str | None] = mapped_column(String(10))
    corrected_category: Mapped[str | None] = mapped_column(String(30))


class TicketEvent(Base):
    """A lifecycle transition, for the audit trail."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(320), default="bot")


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_recipient_created", "recipient", "created_at"),
        Index("ix_outbox_rcpt_key_counted", "rcpt_key", "counted_at"),
        Index("ix_outbox_rcpt_domain_counted", "rcpt_domain", "counted_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    template: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(500), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Loop caps (intake/outgoing/outbox.py): when an automatic row took its place under the caps, and what
    # it is counted against: the mailbox (lower case, no +tag) and the registrable domain.
    counted_at: Mapped[datetime | None]
    rcpt_key: Mapped[str | None] = mapped_column(String(320))
    rcpt_domain: Mapped[str | None] = mapped_column(String(253))
    # Slack rows (channel "slack"): the ts Slack gave the posted message.
    posted_ts: Mapped[str | None] = mapped_column(String(40))


class Enhancement(Base):
    """The enhancement register: every enhancement request and where it stands under its policy.

    `state`: awaiting_review (the classifier was unsure: a person decides whether it is one),
    recorded (Resource Optimizer: in the Product Request tool), awaiting_information
    (Revalize: transferred, the partner still to be asked for what review needs),
    transferred (handed to `destination`, complete), rejected (a person said it is no
    enhancement). `closed_at` is when its support ticket closed because of it.
    """

    __tablename__ = "enhancements"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    policy: Mapped[str] = mapped_column(String(80))
    requester: Mapped[str] = mapped_column(String(320))
    summary: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(30))
    destination: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Quarantine(Base):
    """Input we could not process, kept with its raw bytes and the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    released_at: Mapped[datetime | None]


class MailboxState(Base):
    """Where an IMAP folder was read up to: UIDVALIDITY and the last UID whose ticket is committed."""

    __tablename__ = "mailbox_state"
    __table_args__ = (Index("uq_mailbox_state_mailbox_folder", "mailbox", "folder", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """An address no automatic mail goes to until `until` (it bounced, or it loops)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[datetime]
    created_at: Mapped[datetime]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class SlackEvent(Base):
    """An Events API event_id already taken: a retry or redelivery of it changes nothing."""

    __tablename__ = "slack_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]


class User(Base):
    """Someone who logs in to the web page: an engineer, or a manager (who also reviews and retrains)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class WebSession(Base):
    """A logged-in browser: the cookie carries a signed random token; only its sha256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token of the JSON API (`intake token add NAME`); only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Throttle(Base):
    """One counted attempt (a wrong password, a support form) under a key such as `login:ip:1.2.3.4`."""

    __tablename__ = "web_throttle"
    __table_args__ = (Index("ix_web_throttle_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime]


class Review(Base):
    """A manager's verdict on a triage decision: accepted, or overridden with a reason; the audit row."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("triage_decisions.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    who: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(12))
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    moved: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text, default="")


class RetrainJob(Base):
    """A retrain started from the web page: its progress, the candidate's and the serving model's scores."""

    __tablename__ = "retrain_jobs"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    started_by: Mapped[str] = mapped_column(String(320))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(12), default="running")
    progress: Mapped[str] = mapped_column(Text, default="")
    candidate_version: Mapped[str | None] = mapped_column(String(80))
    candidate_dir: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(320))


class SupportRequest(Base):
    """A customer's web form, held until its email address is confirmed by the one-time link."""

    __tablename__ = "support_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    stated_severity: Mapped[str] = mapped_column(String(40), default="")
    environment: Mapped[str] = mapped_column(String(40), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
