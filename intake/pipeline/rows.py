"""The rows a batch stages for the store, typed; they become mappings only at the bulk insert.

SQLAlchemy's executemany takes one mapping per row: `Row.values()` builds it at
the very edge of `Batch.write`, from the dataclass fields (no deep copy, unlike
`dataclasses.asdict`). Everything before that edge is checked by mypy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from intake.models import InboundMessage

# A pause of the SLA clock as the store keeps it (JSON): [start, end] in ISO 8601.
StoredPause = list[str]
# The edge: one row for SQLAlchemy's bulk insert or update.
Values = dict[str, object]


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """The dataclass's field names, looked up once per class."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


class _Row:
    """Mixin: the dataclass's fields as the mapping a bulk insert takes."""

    __slots__ = ()

    def values(self) -> Values:
        return {name: getattr(self, name) for name in _names(type(self))}


class Keep(enum.Enum):
    """A field of `TicketChanges` that the change leaves as it is (None is a value: "cleared")."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """Changes to a ticket's columns; a field left at KEEP is not written."""

    status: str | Keep = KEEP
    severity: str | Keep = KEEP
    canonical_severity: str | Keep = KEEP
    category: str | Keep | None = KEEP
    needs_review: bool | Keep = KEEP
    possible_critical: bool | Keep = KEEP
    updated_at: datetime | Keep = KEEP
    acknowledged_at: datetime | Keep | None = KEEP
    first_responded_at: datetime | Keep | None = KEEP
    first_response_due: datetime | Keep | None = KEEP
    resolution_due: datetime | Keep | None = KEEP
    waiting_since: datetime | Keep | None = KEEP
    pauses: list[StoredPause] | Keep = KEEP
    closed_at: datetime | Keep | None = KEEP
    close_reason: str | Keep | None = KEEP

    def values(self) -> Values:
        """The changed columns and their new values."""
        if self is NO_CHANGES:
            return {}
        return {name: value for name in _names(TicketChanges) if (value := getattr(self, name)) is not KEEP}

    def merged(self, later: TicketChanges) -> TicketChanges:
        """These changes followed by `later` (its values win)."""
        if later is NO_CHANGES:
            return self
        if self is NO_CHANGES:
            return later
        changed = later.values()
        return replace(self, **changed) if changed else self  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return self is not NO_CHANGES and any(getattr(self, n) is not KEEP for n in _names(TicketChanges))


NO_CHANGES = TicketChanges()


@dataclass(slots=True)
class TicketRow(_Row):
    """A ticket opened by a message of this batch, as it will be inserted."""

    org_id: int | None
    requester: str
    requester_name: str
    subject: str
    status: str
    severity: str
    canonical_severity: str
    category: str | None
    confidence: float | None
    needs_review: bool
    possible_critical: bool
    language: str | None
    policy: str
    plan: str | None
    contact_status: str
    channel: str
    environment: str
    created_at: datetime
    updated_at: datetime
    slack_channel: str | None
    slack_thread_ts: str | None
    acknowledged_at: datetime | None = None
    first_responded_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    waiting_since: datetime | None = None
    pauses: list[StoredPause] = field(default_factory=list)
    closed_at: datetime | None = None
    close_reason: str | None = None

    def apply(self, changes: TicketChanges) -> None:
        for name, value in changes.values().items():
            setattr(self, name, value)


@dataclass(frozen=True, slots=True)
class TicketState:
    """What decide knows of an existing ticket: a snapshot, never changed by deciding."""

    id: int | None
    org_id: int | None
    requester: str
    status: str
    policy: str
    plan: str | None
    severity: str
    created_at: datetime | None = None
    waiting_since: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    pauses: tuple[tuple[str, str], ...] = ()
    category: str | None = None
    first_responded_at: datetime | None = None
    subject: str = ""
    first_response_due: datetime | None = None


@dataclass(slots=True)
class MessageRow(_Row):
    disposition: str
    dedup_key: str
    content_hash: str | None
    channel: str
    external_id: str
    sender: str
    display_name: str
    subject: str
    text: str
    quoted: str
    html: str
    in_reply_to: str | None
    references: list[str]
    sent_at: datetime | None
    received_at: datetime
    raw: bytes
    raw_ref: str

    @classmethod
    def of(cls, msg: InboundMessage, dedup_key: str, disposition: str, now: datetime) -> MessageRow:
        return cls(
            disposition=disposition,
            dedup_key=dedup_key,
            content_hash=msg.content_hash or None,
            channel=msg.channel,
            external_id=msg.external_id[:500],
            sender=msg.sender[:320],
            display_name=msg.display_name[:200],
            subject=msg.subject,
            text=msg.text,
            quoted=msg.quoted,
            html=msg.html,
            in_reply_to=msg.in_reply_to[:500] if msg.in_reply_to else None,
            references=msg.references,
            sent_at=msg.sent_at,
            received_at=msg.received_at or now,
            raw=msg.raw,
            raw_ref=msg.raw_ref,
        )


@dataclass(frozen=True, slots=True)
class AttachmentRow(_Row):
    filename: str
    content_type: str
    kind: str
    size: int
    content_id: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class DecisionRow(_Row):
    """The triage-decision audit row managers review: inputs, outputs and every hit."""

    created_at: datetime
    disposition: str
    severity: str | None
    canonical_severity: str | None
    category: str | None
    confidence: float | None
    needs_review: bool
    model_version: str | None
    language: str | None
    possible_critical: bool
    inputs: dict[str, str | None]
    outputs: dict[str, object]
    hits: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class QuarantineRow(_Row):
    created_at: datetime
    channel: str
    source: str
    reason: str
    sha256: str
    raw: bytes
