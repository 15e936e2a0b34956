"""What several rules do alike: change status, send a message, tell the team, start the SLA clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from intake.outgoing.compose import escalation_variables, format_due
from intake.pipeline.context import Hit
from intake.pipeline.decide.decision import Outgoing, Part, TriagePost, Variables
from intake.pipeline.decide.facts import Facts
from intake.pipeline.rows import NO_CHANGES, TicketChanges, TicketState
from intake.policies.schema import Policy
from intake.sla.calendar import Pause
from intake.sla.timers import TimerSpec, due_times, sla_timers
from intake.tickets import lifecycle


def hit(step: str, reason: str, *, final: bool = True, new_request: bool = False) -> Part:
    return Part(hits=(Hit(step, reason),), final=final, new_request=new_request)


def transition(
    facts: Facts, status: str | None, to: str, reason: str, changes: TicketChanges | None = None
) -> Part:
    """Move the ticket from `status` to `to` (checked against the lifecycle), with the reason."""
    now = facts.now
    return Part(
        hits=(Hit(f"decide.{to.replace('_', '-')}", reason),),
        changes=(changes or NO_CHANGES).merged(TicketChanges(status=to, updated_at=now)),
        transitions=(lifecycle.transition(status, to, reason, now),),
    )


def send(
    facts: Facts,
    policy: Policy,
    template: str,
    recipient: str,
    variables: Variables,
    language: str | None = None,
) -> Outgoing:
    """A message to compose. One to the writer answers their message (In-Reply-To, References);
    a Slack user (no address) is answered in the message's thread."""
    msg = facts.message
    answers = recipient in (msg.sender, facts.requester)
    in_reply_to = (msg.external_id or None) if answers else None
    references = tuple(msg.references) if in_reply_to else ()
    slack_thread = None
    if msg.channel == "slack" and "@" not in recipient:
        channel_id, _, ts = msg.external_id.partition(":")
        slack_thread = f"{channel_id}:{msg.thread_ts or ts}"
        in_reply_to, references = None, ()
    return Outgoing(
        template=template,
        recipient=recipient,
        variables=variables,
        policy=policy.name,
        subject=msg.subject,
        in_reply_to=in_reply_to,
        references=references,
        language=language,
        slack_thread=slack_thread,
    )


def triage_posts(facts: Facts, *posts: TriagePost) -> Part:
    """Posts for the engineers' Slack triage channel, where one is configured."""
    return Part(outgoing=posts if facts.triage_channel else (), final=False)


def notify_team(
    facts: Facts, policy: Policy, ticket: TicketState, status: str, what: str, reason: str
) -> Part:
    """The escalation notice to every address of `[escalation] notify` in the settings."""
    variables = escalation_variables(
        policy,
        what=what,
        org=facts.org.name if facts.org else None,
        severity=ticket.severity,
        status=status,
        requester=ticket.requester,
        reason=reason,
    )
    return Part(
        outgoing=tuple(send(facts, policy, "escalation", a, variables) for a in facts.escalation_notify)
    )


def sla_clock(
    policy: Policy,
    ticket: TicketState,
    start: datetime,
    now: datetime,
    *,
    first_response: bool,
    pauses: Sequence[Pause] = (),
    first_level: str | None = None,
    zone: str | None = None,
) -> tuple[TicketChanges, tuple[TimerSpec, ...]]:
    """Due times of the clock started at `start` (`pauses` left out) and the timers that watch them.

    The first response may run at another level's target than the ticket's own
    (`first_level`: a possible critical runs at the critical one). `zone` is the customer
    organisation's time zone, which counts where the policy's hours are local (Rezilion).
    """
    level = first_level or ticket.severity
    first_due, resolution_due = due_times(policy, ticket.plan, ticket.severity, start, pauses, zone)
    if level != ticket.severity:
        first_due = due_times(policy, ticket.plan, level, start, pauses, zone)[0]
    firsts = (
        sla_timers(
            policy,
            ticket.plan,
            level,
            start,
            now,
            first_response=first_due,
            resolution=None,
            which=("first_response",),
            zone=zone,
        )
        if first_response
        else []
    )
    rest = sla_timers(
        policy,
        ticket.plan,
        ticket.severity,
        start,
        now,
        first_response=first_due,
        resolution=resolution_due,
        which=("resolution",),
        zone=zone,
    )
    return TicketChanges(first_response_due=first_due, resolution_due=resolution_due), (*firsts, *rest)


def acknowledge(
    facts: Facts,
    policy: Policy,
    ticket: TicketState,
    recipient: str,
    name: str,
    *,
    stated: bool,
    first_level: str | None = None,
    language: str | None = None,
) -> Part:
    """Confirm receipt and start the SLA clock (the receipt is a first response where the policy says)."""
    now = facts.now
    plan = ticket.plan
    ack = policy.acknowledgement
    counts = ack.automated and ack.counts_as_first_response
    dues, timers = sla_clock(
        policy, ticket, now, now, first_response=not counts, first_level=first_level, zone=facts.zone
    )
    first_due = dues.first_response_due if isinstance(dues.first_response_due, datetime) else None
    part = Part(changes=dues, timers=timers)
    if first_level is not None and first_level != ticket.severity:
        reason = (
            f"possible critical: first response at the {policy.level(first_level).label} target "
            "until a person confirms or lowers the severity"
        )
        part = hit("decide.possible-critical-clock", reason) + part
    if counts:
        part += Part(changes=TicketChanges(first_responded_at=now))
    if not ack.automated:
        return part
    targets = policy.targets(plan, ticket.severity)
    receipt = send(
        facts,
        policy,
        ack.template,
        recipient,
        {
            "name": name,
            "severity_label": policy.level(ticket.severity).label,
            "severity_stated": stated,
            "first_response_due": format_due(policy, plan, first_due, facts.zone),
            "target_text": targets.first_response.describe() if targets.first_response else "best effort",
            "calendar_text": policy.plan(plan).availability or policy.calendar(plan).name,
            "next_step": "a first response from an engineer",
        },
        language,
    )
    due_text = first_due.isoformat() if first_due else "best effort"
    return (
        Part(outgoing=(receipt,))
        + part
        + transition(
            facts,
            ticket.status,
            "acknowledged",
            f"acknowledged; first response due {due_text}",
            TicketChanges(acknowledged_at=now),
        )
    )


def may_act(facts: Facts, policy: Policy, ticket: TicketState) -> bool:
    """May this sender reopen, escalate or authorise the ticket under its policy?

    Where only designated contacts may submit (every bundled policy), only a
    designated contact of the ticket's own organisation may; the contact step has
    already refused that status to a From that failed authentication. Elsewhere
    anyone on the requester's side may.
    """
    if policy.plan(ticket.plan).contacts.only_designated_may_submit:
        return facts.contact_status == "designated" and facts.same_org(ticket)
    return facts.from_requester_side(ticket)
