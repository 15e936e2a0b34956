"""The rules for a message that follows up a ticket, in the order of `FOLLOWUP_RULES`.

The first rule whose part is `final` decides. A rule may turn the follow-up into
a new request (`Part.new_request`): the message is then decided under the
opening rules, as a ticket of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from intake.pipeline.decide.common import (
    acknowledge,
    hit,
    may_act,
    notify_team,
    send,
    sla_clock,
    transition,
    triage_posts,
)
from intake.pipeline.decide.decision import Part, TriagePost
from intake.pipeline.decide.facts import Facts, first_name
from intake.pipeline.decide.opening import no_support, redirect
from intake.pipeline.rows import TicketChanges, TicketState
from intake.policies.schema import Policy
from intake.policies.stated import survey_score
from intake.sla.timers import DROPPED_KINDS, SLA_KINDS, resumed_clock
from intake.tickets import lifecycle

FollowupRule = Callable[[Facts, Policy, TicketState], Part | None]

_AFTER_CLOSE = ("closed", "resolved")


def mirror_to_triage_channel(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Every customer message is mirrored into the ticket's triage thread, and its post updated."""
    msg = facts.message
    who = f"<{msg.sender}>" if msg.channel == "email" else f"<@{msg.sender}>"
    return triage_posts(facts, TriagePost("mirror", f"{who} {msg.text}"), TriagePost("triage_update"))


def authorise_held(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A designated contact's reply authorises a held ticket, and its SLA clock starts then.

    Revalize: "Revalize deems each Designated Contact as an authorized representative of the partner".
    """
    if ticket.status != "pending_authorisation" or facts.contact_status != "designated":
        return None
    sender = facts.message.sender
    if sender == ticket.requester or not may_act(facts, policy, ticket):
        return None
    requester = ticket.requester
    return hit("decide.authorised", f"{sender} authorised the request") + acknowledge(
        facts, policy, ticket, requester, requester.partition("@")[0], stated=False
    )


def keep_held(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Anyone else's reply to a held ticket leaves it held."""
    if ticket.status != "pending_authorisation":
        return None
    return hit("decide.still-held", "still waiting for a designated contact")


def resume_after_waiting(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A customer's reply to a ticket waiting on them resumes it; the paused time does not count.

    The dropped-ticket rule's reminders are cancelled (Resource Optimizer: "may close an
    Incident if the Contact has not responded after three (3) days").
    """
    if ticket.status != "waiting_on_customer" or not facts.from_requester_side(ticket):
        return None
    now = facts.now
    since = ticket.waiting_since or now
    pauses = [[a, b] for a, b in ticket.pauses] + [[since.isoformat(), now.isoformat()]]
    created = ticket.created_at or now
    parsed = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in pauses]
    dues, timers = sla_clock(
        policy, ticket, created, now, first_response=False, pauses=parsed, zone=facts.zone
    )
    changes = TicketChanges(waiting_since=None, pauses=pauses, resolution_due=dues.resolution_due)
    resumed = transition(facts, ticket.status, "in_progress", "customer replied; SLA clock resumed", changes)
    return Part(cancel_timers=SLA_KINDS + DROPPED_KINDS) + resumed + Part(timers=timers)


def redirect_again(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A reply to the redirect is still on the wrong channel: say so again, keep it closed.

    The outbox's per-recipient cap stops this from becoming a loop with a robot.
    """
    if ticket.status != "closed" or ticket.close_reason != "unsupported_channel":
        return None
    reason = f"{facts.message.channel} is still not a supported channel of {policy.name}"
    return Part(outgoing=(redirect(facts, policy),)) + hit("decide.still-unsupported", reason)


def still_unsupported_plan(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A reply to a request closed for a plan without support is answered the same, and stays closed
    while the plan is the same (Rezilion 2.5: "Trials are provided 'As-is' without support")."""
    if ticket.close_reason != "not_supported" or policy.plan(ticket.plan).supported:
        return None
    reason = f"the {policy.plan(ticket.plan).label} plan still comes without support"
    return no_support(facts, policy, ticket) + hit("decide.still-unsupported-plan", reason)


def refuse_reopen(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Only someone who may open a ticket may reopen one; the message is a new request instead
    (held when its sender is not designated)."""
    if ticket.status not in _AFTER_CLOSE or may_act(facts, policy, ticket):
        return None
    sender = facts.message.sender
    reason = f"{sender} may not reopen ticket {ticket.id} under {policy.name}: a new request"
    return hit("decide.reopen-refused", reason, new_request=True)


def survey_reply(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A reply to the satisfaction survey with a score is feedback, not a reopen (Revalize CSAT;
    finding 7). The score is kept on the decision row."""
    msg = facts.message
    if policy.closing.survey is None or ticket.status != "closed":
        return None
    score = survey_score(msg.text)
    if score is None or "how did we do" not in msg.subject.lower():
        return None
    reason = f"satisfaction survey answered: {score} of 5; the case stays closed"
    return Part(hits=hit("decide.survey-reply", reason).hits, csat_score=score)


def reopen_expired(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """After the policy's reopen window (or where it never reopens) a reply is a new ticket.

    Resource Optimizer: "Customer may request Incidents be re-opened" ([choice] within 30 days).
    """
    if ticket.status not in _AFTER_CLOSE:
        return None
    rule = policy.reopen
    closed_at = ticket.closed_at or facts.now
    deadline = rule.within.due(closed_at, policy.calendar(ticket.plan)) if rule.within else None
    if rule.action != "new_ticket" and (deadline is None or facts.now <= deadline):
        return None
    reason = f"ticket {ticket.id} closed on {closed_at.date()}: a new ticket"
    return hit("decide.reopen-expired", reason, new_request=True)


def request_reopen(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Where the vendor decides, a reply after close is a request for an engineer (finding 5).

    Resource Optimizer: "At Resource Optimizer's sole discretion, Incidents will be re-opened
    ... if the Incident is deemed to be solvable". The case stays closed and marked for
    review, the team is told, and the customer's mail promises nothing (`intake reply REF
    --reopen` reopens).
    """
    if ticket.status not in _AFTER_CLOSE or policy.reopen.action != "review":
        return None
    sender = facts.message.sender
    name = first_name(facts.message.display_name, sender)
    reply = send(facts, policy, "reopen_request", sender, {"name": name})
    notice = notify_team(
        facts,
        policy,
        ticket,
        ticket.status,
        "Reopen requested",
        f"{sender} asks to reopen; an engineer decides",
    )
    return (
        Part(changes=TicketChanges(needs_review=True))
        + hit("decide.reopen-requested", f"{sender} asks to reopen; an engineer decides")
        + Part(outgoing=(reply,))
        + notice
    )


def reopen_within_window(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A reply within the window reopens the ticket with its clock resumed where it stood
    (finding 4: the time since it was resolved or closed is paused), and the team is told."""
    if ticket.status not in _AFTER_CLOSE:
        return None
    now = facts.now
    sender = facts.message.sender
    stopped_at = ticket.waiting_since or ticket.closed_at or now
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in ticket.pauses]
    zone = facts.zone
    # A closed ticket was answered: only the resolution target is still owed.
    paused, _first_due, resolution_due, timers = resumed_clock(
        policy,
        ticket.plan,
        ticket.severity,
        ticket.created_at or now,
        pauses,
        stopped_at,
        now,
        first_responded=True,
        zone=zone,
    )
    clock = TicketChanges(
        pauses=[[a.isoformat(), (b or now).isoformat()] for a, b in paused], resolution_due=resolution_due
    )
    due = resolution_due.isoformat() if resolution_due else "best effort"
    reopened = transition(
        facts,
        ticket.status,
        "reopened",
        "customer replied after close",
        TicketChanges(closed_at=None, close_reason=None, waiting_since=None),
    )
    reply = send(facts, policy, "reopened", sender, {"name": first_name(facts.message.display_name, sender)})
    notice = notify_team(
        facts, policy, ticket, "reopened", "Reopened", f"{sender} replied to a closed ticket"
    )
    return (
        reopened
        + Part(
            changes=clock,
            timers=tuple(timers),
            cancel_timers=(*SLA_KINDS, *DROPPED_KINDS, "auto_close_resolved"),
        )
        + hit("decide.clock-resumed", f"clock resumed after {stopped_at.isoformat()}; resolution due {due}")
        + Part(outgoing=(reply,))
        + notice
    )


def _asks_to_escalate(facts: Facts, policy: Policy) -> bool:
    escalation = policy.escalation.customer
    if escalation is None:
        return False
    msg = facts.message
    words = f"{msg.subject}\n{msg.text[:500]}".lower()
    return any(k in words for k in escalation.keywords)


def refuse_escalation(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Someone who may not act for the customer asks to escalate: kept as a follow-up, recorded."""
    if not _asks_to_escalate(facts, policy) or may_act(facts, policy, ticket):
        return None
    reason = f"{facts.message.sender} asked to escalate but may not under {policy.name}: kept as a follow-up"
    return hit("decide.escalation-refused", reason, final=False)


def names_case(facts: Facts, policy: Policy, ticket: TicketState) -> bool:
    """The subject names the case, bracketed or not ("[support-1]", "Escalation of case
    support-1"; Rezilion: "specify the case number in the subject line"; finding 8)."""
    escalation = policy.escalation.customer
    if escalation is None or not escalation.subject_must_contain_case_ref:
        return True
    ref = f"{facts.ref_prefix}-{ticket.id}"
    return re.search(rf"(?<![\w-]){re.escape(ref)}(?!\d)", facts.message.subject, re.IGNORECASE) is not None


def escalate_by_mail(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """A customer's escalation by mail escalates the ticket and tells the team.

    Rezilion: "To escalate an issue, please email and specify the case number in the
    subject line with your contact information and the reason why the issue is being escalated".
    """
    if "customer_request" not in policy.escalation.escalate_on or not _asks_to_escalate(facts, policy):
        return None
    if not lifecycle.is_open(ticket.status) or ticket.status == "escalated":
        return None
    if not may_act(facts, policy, ticket) or not names_case(facts, policy, ticket):
        return None
    msg = facts.message
    escalation = policy.escalation.customer
    to = f" to the {escalation.to}" if escalation is not None and escalation.to else ""
    escalated = transition(
        facts, ticket.status, "escalated", f"customer asked to escalate: {msg.subject[:80]!r}"
    )
    notice = notify_team(
        facts, policy, ticket, "escalated", "Customer escalation", f"{msg.sender} asked to escalate{to}"
    )
    return escalated + notice


def append_followup(facts: Facts, policy: Policy, ticket: TicketState) -> Part | None:
    """Otherwise the message is added to the ticket."""
    return hit("decide.followup", f"appended to ticket {ticket.id or '(new in batch)'}")


FOLLOWUP_RULES: tuple[FollowupRule, ...] = (
    mirror_to_triage_channel,
    authorise_held,
    keep_held,
    resume_after_waiting,
    redirect_again,
    still_unsupported_plan,
    refuse_reopen,
    survey_reply,
    reopen_expired,
    request_reopen,
    reopen_within_window,
    refuse_escalation,
    escalate_by_mail,
    append_followup,
)
