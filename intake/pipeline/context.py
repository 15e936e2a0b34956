"""What moves through the pipeline: the context of one message, the hits it collects and how it stops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from intake.models import InboundMessage
from intake.pipeline.rows import NO_CHANGES, StoredPause, TicketChanges, TicketRow, TicketState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from classifiers.model import Prediction, TriageModel
    from intake.clock import Clock
    from intake.config import Settings
    from intake.customers.directory import Directory, OrgView
    from intake.pipeline.batch import Batch
    from intake.pipeline.decide.decision import Decision
    from intake.policies.schema import Policy

Disposition = Literal["ticket", "followup", "dropped", "duplicate", "quarantined"]
ContactStatus = Literal["designated", "not_designated", "unknown", "unverified"]


@dataclass(frozen=True)
class Hit:
    """One step firing, with the reason; stored on the decision row managers review."""

    step: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"step": self.step, "reason": self.reason}


@dataclass(frozen=True)
class Stop:
    """A step's verdict that this message opens no ticket and joins none."""

    disposition: Literal["dropped", "duplicate", "quarantined"]
    hit: Hit

    @classmethod
    def dropped(cls, step: str, reason: str) -> Stop:
        return cls("dropped", Hit(step, reason))

    @classmethod
    def duplicate(cls, reason: str) -> Stop:
        return cls("duplicate", Hit("dedup", reason))

    @classmethod
    def quarantined(cls, step: str, reason: str) -> Stop:
        return cls("quarantined", Hit(step, reason))


@dataclass
class Deps:
    """What every step may use; passed explicitly, never looked up globally."""

    session: Session
    clock: Clock
    settings: Settings
    directory: Directory
    policies: Mapping[str, Policy]
    classifier: TriageModel | None = None


# The columns of a ticket the batch's view follows as decisions change them.
_FOLLOWED = (
    "status",
    "severity",
    "waiting_since",
    "closed_at",
    "close_reason",
    "category",
    "first_responded_at",
)


@dataclass
class TicketView:
    """A ticket as the pipeline sees it: stored (id set) or opened earlier in the same batch.

    `row` is the row of a ticket opened in this batch (until it is inserted);
    `changes` are the changes to a stored one, written with the batch. `state()`
    is the snapshot decide reads.
    """

    id: int | None
    org_id: int | None
    requester: str
    status: str
    policy: str
    plan: str | None
    severity: str
    subject: str = ""
    waiting_since: datetime | None = None
    closed_at: datetime | None = None
    created_at: datetime | None = None
    close_reason: str | None = None
    pauses: list[StoredPause] = field(default_factory=list)
    category: str | None = None
    first_responded_at: datetime | None = None
    row: TicketRow | None = None
    changes: TicketChanges = NO_CHANGES

    @classmethod
    def opened(cls, row: TicketRow) -> TicketView:
        return cls(
            id=None,
            org_id=row.org_id,
            requester=row.requester,
            status=row.status,
            policy=row.policy,
            plan=row.plan,
            severity=row.severity,
            subject=row.subject,
            created_at=row.created_at,
            category=row.category,
            row=row,
        )

    def apply(self, changes: TicketChanges) -> None:
        """Apply changes to the row (a ticket of this batch) or stage them (a stored one)."""
        if not changes:
            return
        if self.row is not None:
            self.row.apply(changes)
        else:
            self.changes = self.changes.merged(changes)
        values = changes.values()
        for name in _FOLLOWED:
            if name in values:
                setattr(self, name, values[name])
        if isinstance(changes.pauses, list):
            self.pauses = list(changes.pauses)

    def pending_review(self) -> bool:
        """Did a decision of this batch mark the ticket for review?"""
        if self.row is not None:
            return self.row.needs_review
        return self.changes.needs_review is True

    def state(self) -> TicketState:
        return TicketState(
            id=self.id,
            org_id=self.org_id,
            requester=self.requester,
            status=self.status,
            policy=self.policy,
            plan=self.plan,
            severity=self.severity,
            created_at=self.created_at,
            waiting_since=self.waiting_since,
            closed_at=self.closed_at,
            close_reason=self.close_reason,
            pauses=tuple((a, b) for a, b in self.pauses),
            category=self.category,
            first_responded_at=self.first_responded_at,
            subject=self.subject,
        )


@dataclass
class Triage:
    severity: str
    canonical: str
    category: str | None
    confidence: float | None
    needs_review: bool
    model_version: str | None = None
    probabilities: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    environment: str = "unknown"
    language: str | None = None
    possible_critical: bool = False


@dataclass
class Context:
    inbound: InboundMessage
    deps: Deps
    batch: Batch
    hits: list[Hit] = field(default_factory=list)
    dedup_key: str = ""
    ticket: TicketView | None = None
    org: OrgView | None = None
    contact_status: ContactStatus = "unknown"
    triage: Triage | None = None
    stop: Stop | None = None
    disposition: Disposition | None = None
    # The classifier's proposal, scored for the whole batch in classify.prepare.
    prediction: Prediction | None = None
    # Why the thread step refused the ticket the message named (decide holds the new ticket).
    held: str | None = None
    # Mail from a configured web form's sender, and who the ticket is for then: the form's
    # Email: field (the contact step reads both).
    from_form: bool = False
    requester: str | None = None
    requester_name: str = ""
    decision: Decision | None = None
    now: datetime = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = self.deps.clock.now()

    def hit(self, step: str, reason: str) -> None:
        self.hits.append(Hit(step, reason))
