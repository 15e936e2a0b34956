"""What decide returns: a typed, immutable Decision, and the parts its rules contribute.

A rule never changes anything: it returns a `Part` (hits, field changes, a status
transition, messages to compose, timers), or None when it does not apply. decide
adds the parts up into one `Decision`; persist applies it to the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from intake.pipeline.context import Hit, Triage
from intake.pipeline.rows import NO_CHANGES, TicketChanges, TicketRow
from intake.sla.timers import TimerSpec
from intake.tickets.lifecycle import Transition

Variables = Mapping[str, object]


@dataclass(frozen=True)
class Outgoing:
    """A message to compose once the ticket's reference is known: template, recipient, variables.

    `slack_thread` ("C123:1700000000.000100") makes it a post in that Slack thread
    instead of mail (a Slack customer is answered where they wrote).
    """

    template: str
    recipient: str
    variables: Variables
    policy: str
    # The customer's subject; the outgoing one is it without reply prefixes or our reference.
    subject: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # The customer's language (the classifier's guess): a translated template where there is one.
    language: str | None = None
    slack_thread: str | None = None


@dataclass(frozen=True)
class TriagePost:
    """A post for the engineers' Slack triage channel about the ticket (new, updated, a mirrored message).

    channels/slack/outbox.py renders it from the ticket when it delivers it.
    """

    template: str
    text: str = ""


__all__ = ["Decision", "LevelFacts", "Outgoing", "Part", "TimerSpec", "Transition", "TriagePost", "Variables"]


@dataclass(frozen=True)
class Part:
    """What one rule contributes. `final` ends the rule table; `new_request` turns a follow-up
    into a new request (decided under the opening rules)."""

    hits: tuple[Hit, ...] = ()
    changes: TicketChanges = NO_CHANGES
    transitions: tuple[Transition, ...] = ()
    outgoing: tuple[Outgoing | TriagePost, ...] = ()
    timers: tuple[TimerSpec, ...] = ()
    cancel_timers: tuple[str, ...] = ()
    csat_score: int | None = None
    final: bool = True
    new_request: bool = False

    def __add__(self, later: Part) -> Part:
        return Part(
            hits=self.hits + later.hits,
            changes=self.changes.merged(later.changes),
            transitions=self.transitions + later.transitions,
            outgoing=self.outgoing + later.outgoing,
            timers=self.timers + later.timers,
            cancel_timers=self.cancel_timers + later.cancel_timers,
            csat_score=later.csat_score if later.csat_score is not None else self.csat_score,
            final=later.final,
            new_request=self.new_request or later.new_request,
        )


@dataclass(frozen=True)
class LevelFacts:
    """What went into a new ticket's level, for the decision row's outputs."""

    classifier_level: str
    environment: str
    stated: str | None = None
    stated_level: str | None = None
    stated_parsed: bool = False
    # The stated level is the one the ticket got ("(as you stated)" in the receipt; finding 10).
    stated_used: bool = False

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"classifier_level": self.classifier_level}
        if self.stated_parsed:
            out["stated"] = self.stated
            out["stated_level"] = self.stated_level
        out["environment"] = self.environment
        out["stated_used"] = self.stated_used
        return out


@dataclass(frozen=True)
class Decision:
    """Everything one message changes: persist applies it in the batch's transaction.

    `opens` is the ticket the message opens (None for a follow-up that stays one),
    `triage` the triage it was opened with (category, environment and possible
    critical as decided); `changes` apply to that ticket, or to the followed one.
    `touched` applies to the ticket a follow-up named when the message opens a new
    one instead.
    """

    disposition: Literal["ticket", "followup", "override"]
    hits: tuple[Hit, ...] = ()
    opens: TicketRow | None = None
    changes: TicketChanges = NO_CHANGES
    touched: TicketChanges = NO_CHANGES
    transitions: tuple[Transition, ...] = ()
    outgoing: tuple[Outgoing | TriagePost, ...] = ()
    timers: tuple[TimerSpec, ...] = ()
    cancel_timers: tuple[str, ...] = ()
    triage: Triage | None = None
    level: LevelFacts | None = None
    csat_score: int | None = None

    def outputs(self) -> dict[str, object]:
        """What the decision adds to the audit row's outputs."""
        out = self.level.as_json() if self.level is not None else {}
        if self.csat_score is not None:
            out["csat_score"] = self.csat_score
        return out
