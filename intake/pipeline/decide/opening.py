"""The rules for a message that opens a ticket, in the order of `OPENING_RULES`.

The first rule whose part is `final` decides; a rule that only adds (the triage
post, the reply to someone who is not a designated contact) lets the next ones
run. The last rule, `acknowledge_receipt`, always applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from intake.pipeline.decide.common import acknowledge, hit, notify_team, send, transition, triage_posts
from intake.pipeline.decide.decision import Outgoing, Part, TriagePost
from intake.pipeline.decide.facts import Facts, first_name
from intake.pipeline.decide.level import Level
from intake.pipeline.rows import TicketChanges, TicketState
from intake.policies.schema import Policy


@dataclass(frozen=True)
class Opening:
    """The ticket being opened, as decided so far, and how its level was chosen."""

    ticket: TicketState
    level: Level
    # The classifier's possible critical, unless the level is critical already (issue 13).
    possible_critical: bool = False


OpeningRule = Callable[[Facts, Policy, Opening], Part | None]


def post_to_triage_channel(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """Every new ticket is posted to the engineers' triage channel, with its actions (issue 10)."""
    return triage_posts(facts, TriagePost("triage_post"))


def announce_possible_critical(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """A possible critical (P(critical) past the recall-first threshold, labelled lower) is announced
    to the team, whatever happens to the ticket next: a missed outage costs more than a false alarm."""
    triage = facts.triage
    if triage is None or not opening.possible_critical or not policy.triage.announce_possible_critical:
        return None
    p_critical = triage.probabilities.get("severity", {}).get("critical", 0.0)
    reason = (
        f"labelled {policy.level(opening.level.key).label}, but P(critical) {p_critical:.2f} is past the "
        f"recall-first threshold; because: {', '.join(triage.reasons[:5])}. Confirm or lower it."
    )
    return replace(
        notify_team(facts, policy, opening.ticket, "new", "Possible critical", reason), final=False
    )


def hold_stranger_thread(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """A stranger's message naming someone else's ticket is held for a person (issue 8, defect 4).

    No mail goes out: its sender chose what it quotes and whom.
    """
    if not facts.held:
        return None
    return transition(facts, opening.ticket.status, "pending_authorisation", f"held: {facts.held}")


def no_support(facts: Facts, policy: Policy, ticket: TicketState) -> Part:
    """Answer that the plan comes without support, and close (a reply to it is answered alike)."""
    plan = policy.plan(ticket.plan)
    variables = {
        "name": facts.first_name,
        "unsupported_text": plan.unsupported_text or "this plan has no support",
    }
    return Part(outgoing=(send(facts, policy, "no_support", facts.requester, variables),))


def refuse_unsupported_plan(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """A plan without support opens no case: the request is answered and closed.

    Rezilion 2.5: "Trials are provided 'As-is' without support, indemnification or warranty of any kind".
    """
    if policy.plan(opening.ticket.plan).supported:
        return None
    return no_support(facts, policy, opening.ticket) + transition(
        facts,
        opening.ticket.status,
        "closed",
        f"the {policy.plan(opening.ticket.plan).label} plan of {policy.name} comes without support",
        TicketChanges(closed_at=facts.now, close_reason="not_supported"),
    )


REDIRECT_TEXT = {
    "email": "email to our support address",
    "portal": "the Contact Support form on our website",
    "in_app": "the in-app support system",
    "phone": "phone",
    "slack": "Slack",
}


def channel_of(facts: Facts) -> str:
    """The channel the message came by; mail from a configured form's sender is the portal."""
    return "portal" if facts.from_form else facts.message.channel


def redirect(facts: Facts, policy: Policy) -> Outgoing:
    """Point the sender at the channel the policy supports (Resilio: its portal)."""
    rule = policy.channels.unsupported
    msg = facts.message
    return send(
        facts,
        policy,
        rule.template,
        msg.sender,
        {
            "name": first_name(msg.display_name, msg.sender),
            "redirect_to_text": REDIRECT_TEXT.get(rule.redirect_to or "", "our support channel"),
            "portal_url": facts.portal_url,
        },
    )


def redirect_unsupported_channel(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """A channel the policy does not support gets the redirect, and the ticket is closed.

    Resilio: "Direct email support is not available. Any technical issues that are
    reported via email ... may result in no support or significantly delayed responses."
    """
    channel = channel_of(facts)
    if policy.accepts_channel(channel) or policy.channels.unsupported.action == "accept":
        return None
    return Part(outgoing=(redirect(facts, policy),)) + transition(
        facts,
        opening.ticket.status,
        "closed",
        f"{channel} is not a supported channel of {policy.name}",
        TicketChanges(closed_at=facts.now, close_reason="unsupported_channel"),
    )


def _not_designated_action(facts: Facts, policy: Policy, ticket: TicketState) -> str | None:
    contacts = policy.plan(ticket.plan).contacts
    if facts.contact_status == "designated" or not contacts.only_designated_may_submit:
        return None
    return contacts.not_designated.action


def _designated_now(facts: Facts) -> list[tuple[str, str, str]]:
    """(email, name, role) of the organisation's contacts designated now."""
    org = facts.org
    people = org.contacts.values() if org else []
    return [(c.email, c.name, c.role) for c in people if c.designated_at(facts.now)]


def reply_to_not_designated(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """Someone who may not open tickets is told who may (names and roles, never addresses).

    Resource Optimizer: "Incidents are to be submitted to Resource Optimizer by an
    authorized Contact" (IV.A.3); Rezilion: "up to four named company contacts who can
    contact our support staff"; Revalize: "their Designated Contact should contact
    Revalize Customer Support".
    """
    if _not_designated_action(facts, policy, opening.ticket) not in ("reply_and_hold", "reply_and_accept"):
        return None
    org = facts.org
    variables = {
        "name": facts.first_name,
        "sender": facts.requester,
        "org": org.name if org else "your organisation",
        "contacts": [f"{name or 'a colleague'} ({role})" for _, name, role in _designated_now(facts)],
    }
    template = policy.plan(opening.ticket.plan).contacts.not_designated.template
    return Part(outgoing=(send(facts, policy, template, facts.requester, variables),), final=False)


def hold_not_designated(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """Under `reply_and_hold` the designated contacts are told, and the ticket waits for one of them."""
    if _not_designated_action(facts, policy, opening.ticket) != "reply_and_hold":
        return None
    org_name = facts.org.name if facts.org else ""
    notices = tuple(
        send(facts, policy, "contacts_notice", email, {"sender": facts.requester, "org": org_name})
        for email, _, _ in _designated_now(facts)
    )
    status = facts.contact_status.replace("_", " ")
    return Part(outgoing=notices) + transition(
        facts,
        opening.ticket.status,
        "pending_authorisation",
        f"{facts.requester} is {status}: held for a designated contact",
    )


def register_enhancement(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """An enhancement request is not closed on arrival (finding 6): it is acknowledged like any
    request and waits in the enhancement register (`intake enhancements list`) until a person
    records it (Resource Optimizer: "closed once the information has been recorded in our Product
    Request tool") or transfers it with what review needs (Revalize); the receipt promises neither.
    Below the review threshold it is marked for a person, who may find it no enhancement."""
    if opening.ticket.category != "enhancement" or policy.enhancements.action == "none":
        return None
    unsure = bool(facts.triage and facts.triage.needs_review)
    return hit(
        "decide.enhancement-register",
        f"enhancement request, {policy.enhancements.action.replace('_', ' ')} by a person"
        + ("; the classifier is unsure: a person decides whether it is one" if unsure else ""),
        final=False,
    )


def clock_level(policy: Policy, opening: Opening) -> str:
    """The level whose first-response target the clock runs at.

    A possible critical runs at the policy's critical target while the policy says so
    (`[triage] possible_critical_clock`) and its environment admits a critical level;
    otherwise the ticket's own level.
    """
    if not (opening.possible_critical and policy.triage.possible_critical_clock):
        return opening.ticket.severity
    critical = policy.level_for_canonical("critical").key
    return policy.admissible_level(critical, opening.level.facts.environment).key


def acknowledge_receipt(facts: Facts, policy: Policy, opening: Opening) -> Part | None:
    """Otherwise receipt is confirmed and the SLA clock starts.

    Resource Optimizer: "Confirm receipt of the reported Incident within the acknowledgement
    time specified in the applicable Annex A" (IV.B.1.a).
    """
    return acknowledge(
        facts,
        policy,
        opening.ticket,
        facts.requester,
        facts.first_name,
        stated=opening.level.facts.stated_used,
        first_level=clock_level(policy, opening),
        language=facts.triage.language if facts.triage is not None else None,
    )


OPENING_RULES: tuple[OpeningRule, ...] = (
    post_to_triage_channel,
    announce_possible_critical,
    hold_stranger_thread,
    refuse_unsupported_plan,
    redirect_unsupported_channel,
    reply_to_not_designated,
    hold_not_designated,
    register_enhancement,
    acknowledge_receipt,
)
