"""Which timers a ticket needs, from its policy: SLA warnings and breaches, reminders and closes.

Pure: returns `TimerSpec`s (kind, due_at, payload) for the caller to store; the
scheduler fires them. Timer kinds:

- first_response_warn / first_response_breach, resolution_warn / resolution_breach
- milestone                       (a document's extra deadline, e.g. Resilio's "Debug Analysis ETA";
                                   it runs with the resolution clock)
- reminder / auto_close           (the dropped-ticket rule, after an info request)
- auto_close_resolved             (a resolved ticket nobody reopened)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from intake.policies.schema import Policy, Target
from intake.sla.calendar import Pause, add_business_time, point_between

SLA_KINDS = (
    "first_response_warn",
    "first_response_breach",
    "resolution_warn",
    "resolution_breach",
    "milestone",
)
FIRST_RESPONSE_KINDS = ("first_response_warn", "first_response_breach")
DROPPED_KINDS = ("reminder", "auto_close")


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """A timer to store for a ticket (the caller adds its ticket_id); the scheduler reads `payload`."""

    kind: str
    due_at: datetime
    created_at: datetime
    payload: dict[str, str] = field(default_factory=dict)
    state: str = "pending"
    fired_at: datetime | None = None

    def values(self) -> dict[str, object]:
        """The columns of the `timers` row (a bulk insert's mapping)."""
        return {
            "kind": self.kind,
            "due_at": self.due_at,
            "created_at": self.created_at,
            "payload": self.payload,
            "state": self.state,
            "fired_at": self.fired_at,
        }

    def not_before(self, now: datetime) -> TimerSpec:
        """The same timer, due no earlier than `now` (a target already passed fires at once)."""
        return self if self.due_at >= now else replace(self, due_at=now)


def _row(kind: str, at: datetime, now: datetime, **payload: str) -> TimerSpec:
    return TimerSpec(kind, at, now, dict(payload))


def _warn_at(
    policy: Policy, target: Target, start: datetime, due: datetime, plan: str | None, zone: str | None
) -> datetime:
    warn = policy.escalation.warn
    calendar = policy.calendar_for(plan, zone)
    if warn.fraction is not None:
        return point_between(start, due, warn.fraction, target.clock, calendar)
    assert warn.before is not None
    before = warn.before
    # "before" counts back from the due time on the same clock as the target
    span = add_business_time(start, before.amount, before.unit, target.clock, calendar)
    lead = (span - start) if span is not None else None
    return max(start, due - lead) if lead is not None else start


def due_times(
    policy: Policy,
    plan: str | None,
    level: str,
    start: datetime,
    pauses: Iterable[Pause] = (),
    zone: str | None = None,
) -> tuple[datetime | None, datetime | None]:
    """(first response due, resolution due) for a clock started at `start`; None is best effort.

    `zone` is the customer organisation's time zone; it counts only where the
    policy's hours are the customer's local time (`Policy.calendar_for`).
    """
    paused = list(pauses)
    local = policy.zone_for(plan, zone)
    return (
        policy.due("first_response", start, level, plan=plan, pauses=paused, timezone=local),
        policy.due("resolution", start, level, plan=plan, pauses=paused, timezone=local),
    )


def sla_timers(
    policy: Policy,
    plan: str | None,
    level: str,
    start: datetime,
    now: datetime,
    *,
    first_response: datetime | None,
    resolution: datetime | None,
    which: Iterable[Literal["first_response", "resolution"]] = ("first_response", "resolution"),
    zone: str | None = None,
) -> list[TimerSpec]:
    """Warning and breach timers for the targets named in `which` that have a due time."""
    rows: list[TimerSpec] = []
    targets = policy.targets(plan, level)
    for name in which:
        due = first_response if name == "first_response" else resolution
        target = targets.first_response if name == "first_response" else targets.resolution
        if due is None or target is None:
            continue
        warn = _warn_at(policy, target, start, due, plan, zone)
        if warn < due:
            rows.append(_row(f"{name}_warn", warn, now, due=due.isoformat(), target=target.describe()))
        rows.append(_row(f"{name}_breach", due, now, due=due.isoformat(), target=target.describe()))
    if "resolution" in which:
        rows.extend(milestone_timers(policy, plan, level, start, now, zone=zone))
    return rows


def milestone_timers(
    policy: Policy,
    plan: str | None,
    level: str,
    start: datetime,
    now: datetime,
    *,
    pauses: Iterable[Pause] = (),
    zone: str | None = None,
) -> list[TimerSpec]:
    """One timer per milestone of the level (Resilio: "Debug Analysis ETA"), on its own clock."""
    rows = []
    calendar = policy.calendar_for(plan, zone)
    for name, target in policy.targets(plan, level).milestones.items():
        due = target.due(start, calendar, list(pauses))
        if due is not None:
            rows.append(
                _row("milestone", due, now, due=due.isoformat(), target=target.describe(), milestone=name)
            )
    return rows


def dropped_timers(
    policy: Policy, plan: str | None, asked_at: datetime, zone: str | None = None
) -> list[TimerSpec]:
    """Reminders and the close of the dropped-ticket rule, counted from the info request."""
    rule = policy.dropped
    if not rule.enabled or rule.close_after is None:
        return []
    calendar = policy.calendar_for(plan, zone)
    close_at = rule.close_after.due(asked_at, calendar)
    if close_at is None:
        return []
    rows = []
    for target in rule.remind_after:
        at = target.due(asked_at, calendar)
        if at is not None and at < close_at:
            rows.append(_row("reminder", at, asked_at, close_at=close_at.isoformat()))
    rows.append(_row("auto_close", close_at, asked_at, reason=rule.close_reason))
    return rows


def resolved_timers(
    policy: Policy, plan: str | None, resolved_at: datetime, zone: str | None = None
) -> list[TimerSpec]:
    after = policy.closing.auto_close_resolved_after
    if after is None:
        return []
    at = after.due(resolved_at, policy.calendar_for(plan, zone))
    return [] if at is None else [_row("auto_close_resolved", at, resolved_at)]


def resumed_clock(
    policy: Policy,
    plan: str | None,
    level: str,
    created: datetime,
    pauses: Iterable[Pause],
    stopped_at: datetime,
    now: datetime,
    *,
    first_responded: bool,
    zone: str | None = None,
) -> tuple[list[Pause], datetime | None, datetime | None, list[TimerSpec]]:
    """A clock stopped at `stopped_at` (a close, a wait) that runs again at `now`.

    The time between is paused, so a reopened ticket resumes where its clock stood
    (issue 12, finding 4): returns the pauses, the new due times and the timers for
    the targets still owed (first response only if nobody answered yet).
    """
    paused = [*pauses, (stopped_at, now)] if now > stopped_at else list(pauses)
    first_due, resolution_due = due_times(policy, plan, level, created, paused, zone)
    which: tuple[Literal["first_response", "resolution"], ...] = (
        ("resolution",) if first_responded else ("first_response", "resolution")
    )
    rows = sla_timers(
        policy,
        plan,
        level,
        created,
        now,
        first_response=first_due,
        resolution=resolution_due,
        which=which,
        zone=zone,
    )
    # A target whose due time has already passed fires at once rather than never.
    return paused, first_due, resolution_due, [row.not_before(now) for row in rows]
