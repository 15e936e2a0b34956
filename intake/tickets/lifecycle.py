"""The ticket lifecycle: canonical states, the transitions allowed between them, and their audit rows.

Policies name these states in their own words (`[statuses]` in a policy file);
the store always holds the canonical name. `pending_authorisation` is the
bot's own: a ticket from someone who may not open one, held until a designated
contact confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from intake.errors import BadInput

Status = Literal[
    "new",
    "pending_authorisation",
    "acknowledged",
    "in_progress",
    "waiting_on_customer",
    "escalated",
    "resolved",
    "closed",
    "reopened",
]
CloseReason = Literal[
    "resolved",
    "dropped",
    "out_of_scope",
    "enhancement_recorded",
    "enhancement_transferred",
    "unsupported_channel",
    "not_supported",
]
OPEN_WORK = ("acknowledged", "in_progress", "escalated", "reopened")

ALLOWED: dict[str, frozenset[str]] = {
    "new": frozenset(
        {
            "pending_authorisation",
            "acknowledged",
            "in_progress",
            "waiting_on_customer",
            "escalated",
            "resolved",
            "closed",
        }
    ),
    # An engineer who answers a held request takes it on: that authorises it.
    "pending_authorisation": frozenset(
        {"acknowledged", "in_progress", "waiting_on_customer", "resolved", "closed"}
    ),
    "acknowledged": frozenset({"in_progress", "waiting_on_customer", "escalated", "resolved", "closed"}),
    "in_progress": frozenset({"waiting_on_customer", "escalated", "resolved", "closed"}),
    "waiting_on_customer": frozenset({"in_progress", "escalated", "resolved", "closed"}),
    "escalated": frozenset({"in_progress", "waiting_on_customer", "resolved", "closed"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"in_progress", "waiting_on_customer", "escalated", "resolved", "closed"}),
}


def is_open(status: str) -> bool:
    return status not in ("resolved", "closed")


def check(from_status: str | None, to_status: str) -> None:
    if from_status is None:
        return
    if to_status not in ALLOWED.get(from_status, frozenset()):
        raise BadInput(f"a ticket cannot go from {from_status} to {to_status}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed change of status, as its audit row records it (the writer adds the ticket)."""

    at: datetime
    from_status: str | None
    to_status: str
    reason: str
    actor: str = "bot"


def transition(
    from_status: str | None, to_status: str, reason: str, now: datetime, actor: str = "bot"
) -> Transition:
    """The audit record of one transition; `BadInput` when the lifecycle does not allow it."""
    check(from_status, to_status)
    return Transition(now, from_status, to_status, reason, actor)
