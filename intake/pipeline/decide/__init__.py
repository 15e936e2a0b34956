"""Decide: the policy turns the facts about a message into a typed Decision, through named rules.

Pure: `decide(facts, policies)` reads the message, its triage, the ticket's state,
the sender's organisation and contact status, and the policies; it returns a
`Decision` (ticket row or field changes, status transitions, messages to compose,
timers, hits) and changes nothing. It never calls the classifier (the classify
step has triaged every message that may open a ticket) and never writes: the
decide step puts the Decision on the context and persist applies it. Adding a
rule is writing one function and listing it in its table, in order (GNU
Mailman's chains, see STYLE.md):

- `LEVEL_RULES` (decide/level.py): the level of a new ticket; every rule runs.
- `OPENING_RULES` (decide/opening.py): a message that opens a ticket; the first
  final rule decides, `acknowledge_receipt` last.
- `FOLLOWUP_RULES` (decide/followup.py): a follow-up; the first final rule
  decides, and a rule may turn it into a new request, decided as an opening.

`recompute` (decide/recompute.py) applies the same level rule and SLA arithmetic
to a ticket whose severity or category a person overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from intake.errors import IntakeError
from intake.pipeline.classify import policy_name
from intake.pipeline.context import Context, Stop, TicketView, Triage
from intake.pipeline.decide.decision import (
    Decision,
    LevelFacts,
    Outgoing,
    Part,
    TimerSpec,
    Transition,
    TriagePost,
)
from intake.pipeline.decide.facts import Facts
from intake.pipeline.decide.followup import FOLLOWUP_RULES
from intake.pipeline.decide.level import LEVEL_RULES, Level, choose
from intake.pipeline.decide.opening import OPENING_RULES, Opening
from intake.pipeline.decide.recompute import recompute
from intake.pipeline.rows import TicketChanges, TicketRow, TicketState
from intake.policies.schema import Policy

NAME = "decide"

T = TypeVar("T")


def _first_final(
    rules: Sequence[Callable[[Facts, Policy, T], Part | None]], facts: Facts, policy: Policy, on: T
) -> Part:
    """The parts of the rules that apply, up to the first final one (or one making a new request)."""
    total = Part()
    for rule in rules:
        part = rule(facts, policy, on)
        if part is None:
            continue
        total += part
        if part.final or part.new_request:
            return total
    raise AssertionError(f"no final rule in {[r.__name__ for r in rules]}")


def _new_row(facts: Facts, policy: Policy, triage: Triage, level: Level) -> TicketRow:
    msg = facts.message
    org = facts.org
    now = facts.now
    return TicketRow(
        org_id=org.id if org else None,
        requester=facts.requester,
        requester_name=msg.display_name[:200],
        subject=msg.subject,
        status="new",
        severity=level.key,
        canonical_severity=policy.canonical(level.key),
        category=level.category,
        confidence=triage.confidence,
        needs_review=level.review,
        possible_critical=triage.possible_critical,
        language=triage.language,
        policy=policy.name,
        plan=org.plan if org is not None else None,
        contact_status=facts.contact_status,
        channel=msg.channel,
        environment=level.facts.environment,
        created_at=now,
        updated_at=now,
        slack_channel=msg.headers.get("slack-channel"),
        slack_thread_ts=msg.external_id.partition(":")[2] if msg.channel == "slack" else None,
    )


def open_ticket(facts: Facts, policy: Policy, earlier: Part | None = None) -> Decision:
    """The ticket a message opens, and what the opening rules do with it."""
    triage = facts.triage
    if triage is None:
        raise IntakeError("decide: a message that opens a ticket needs its triage (the classify step)")
    level = choose(facts, policy, triage)
    possible = triage.possible_critical and policy.canonical(level.key) != "critical"
    # The triage as decided: the stated category, the environment read, a possible critical settled
    # when the stated level made it critical already.
    triage = replace(
        triage, category=level.category, environment=level.facts.environment, possible_critical=possible
    )
    row = _new_row(facts, policy, triage, level)
    state = TicketView.opened(row).state()
    part = _first_final(OPENING_RULES, facts, policy, Opening(state, level, possible))
    before = earlier.hits if earlier else ()
    return Decision(
        "ticket",
        hits=before + level.hits + part.hits,
        opens=row,
        changes=part.changes,
        transitions=(
            Transition(facts.now, None, "new", "opened from " + facts.message.channel),
            *part.transitions,
        ),
        outgoing=part.outgoing,
        timers=part.timers,
        triage=triage,
        level=level.facts,
    )


def follow_up(facts: Facts, policies: Mapping[str, Policy], ticket: TicketState) -> Decision:
    """What a follow-up does to its ticket, or the ticket it opens instead."""
    touched = TicketChanges(updated_at=facts.now)
    part = _first_final(FOLLOWUP_RULES, facts, policies[ticket.policy], ticket)
    if part.new_request:
        new = replace(facts, ticket=None)
        return replace(open_ticket(new, policies[facts.new_policy], part), touched=touched)
    return Decision(
        "followup",
        hits=part.hits,
        changes=touched.merged(part.changes),
        transitions=part.transitions,
        outgoing=part.outgoing,
        timers=part.timers,
        cancel_timers=part.cancel_timers,
        csat_score=part.csat_score,
    )


def decide(facts: Facts, policies: Mapping[str, Policy]) -> Decision:
    """The Decision for one message (see the module docstring)."""
    if facts.ticket is None:
        return open_ticket(facts, policies[facts.new_policy])
    return follow_up(facts, policies, facts.ticket)


def facts_of(ctx: Context) -> Facts:
    settings = ctx.deps.settings
    return Facts(
        message=ctx.inbound,
        now=ctx.now,
        contact_status=ctx.contact_status,
        org=ctx.org,
        triage=ctx.triage,
        ticket=ctx.ticket.state() if ctx.ticket is not None else None,
        new_policy=policy_name(ctx),
        held=ctx.held,
        from_form=ctx.from_form,
        form_requester=ctx.requester,
        form_name=ctx.requester_name,
        ref_prefix=settings.tickets.ref_prefix,
        escalation_notify=tuple(settings.escalation.notify),
        portal_url=settings.templates.portal_url,
        triage_channel=settings.slack is not None and bool(settings.slack.triage_channel),
    )


def run(ctx: Context) -> Stop | None:
    ctx.decision = decide(facts_of(ctx), ctx.deps.policies)
    return None


__all__ = [
    "FOLLOWUP_RULES",
    "LEVEL_RULES",
    "NAME",
    "OPENING_RULES",
    "Decision",
    "Facts",
    "LevelFacts",
    "Outgoing",
    "Part",
    "TimerSpec",
    "Transition",
    "TriagePost",
    "decide",
    "recompute",
    "run",
]
