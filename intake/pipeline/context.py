"""What moves through the pipeline: the context of one message, the hits it collects and how it stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from intake.models import InboundMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from intake.clock import Clock
    from intake.config import Settings
    from intake.customers.directory import Directory, OrgView
    from intake.pipeline.batch import Batch

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
    classifier: Any = None


@dataclass
class TicketView:
    """A ticket as the pipeline sees it: stored (id set) or opened earlier in the same batch."""

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
    pauses: list[Any] = field(default_factory=list)
    row: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)


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
    extra: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = self.deps.clock.now()

    def hit(self, step: str, reason: str) -> None:
        self.hits.append(Hit(step, reason))
