"""Decide: the policy turns triage into a ticket's status, due times, timers and messages.

For a message that opens a ticket, in order:
1. severity: the customer's stated severity where the policy gives them that say
   (flagging a disagreement with the classifier), stepped down where the policy
   reserves a level for production (Revalize Severity 1);
2. the channel: a channel the policy does not support gets the redirect reply
   and the ticket is closed (Resilio: email -> portal);
3. the sender: someone who may not open tickets is told who may, the
   organisation's designated contacts are told, and the ticket is held;
4. enhancement requests are acknowledged and wait in the enhancement register for a
   person to record or transfer them (tickets/enhancements.py closes them then);
5. otherwise the acknowledgement goes out and the SLA clock starts.

A configured web form's mail (`[tickets] form_senders`) is first given to the
requester its Email: field names (`_form_requester`).

For a follow-up: a designated contact's reply authorises a held ticket, a
customer reply resumes a ticket waiting on them (the SLA clock was paused), a
reply to a closed ticket reopens it where the policy allows with its clock
resumed (`_after_close`: a survey reply with a score is feedback; Resource
Optimizer's reopen is a request an engineer decides), and a customer escalation
naming the case escalates it.

Everything it produces (ticket row or changes, timers, outbox rows, audit
events) is put on the context; persist stages it, in the batch's one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from intake.outgoing.compose import (
    clean_subject,
    escalation_variables,
    format_due,
    outbox_row,
    slack_row,
    triage_enabled,
)
from intake.pipeline.classify import policy_name
from intake.pipeline.context import Context, Stop, TicketView
from intake.pipeline.thread import HOLD_KEY
from intake.policies.loader import load_all
from intake.policies.schema import Policy
from intake.policies.stated import (
    detect_environment,
    form_fields,
    map_stated,
    parse_stated_severity,
    stated_category,
    stated_environment,
    survey_score,
)
from intake.sla.timers import DROPPED_KINDS, SLA_KINDS, due_times, resumed_clock, sla_timers
from intake.tickets import lifecycle

NAME = "decide"

Compose = Callable[[int], dict[str, Any]]


def _name(display: str, address: str) -> str:
    return display.split(maxsplit=1)[0] if display.strip() else address.partition("@")[0]


def _set(ticket: TicketView, **changes: Any) -> None:
    """Change a ticket opened earlier in this batch (its row) or a stored one (its changes)."""
    target = ticket.row if ticket.row is not None else ticket.changes
    target.update(changes)
    for key in ("status", "severity", "waiting_since", "closed_at"):
        if key in changes:
            setattr(ticket, key, changes[key])


def _transition(ctx: Context, ticket: TicketView, to: str, reason: str, **changes: Any) -> None:
    now = ctx.now
    ctx.extra.setdefault("events", []).append(lifecycle.event(ticket.status, to, reason, now))
    _set(ticket, status=to, updated_at=now, **changes)
    ctx.hit(f"decide.{to.replace('_', '-')}", reason)


def _send(
    ctx: Context,
    policy: Policy,
    template: str,
    recipient: str,
    variables: dict[str, Any],
    language: str | None = None,
) -> None:
    """Queue a message; it is rendered when the ticket's id (and so its ref) is known."""
    settings = ctx.deps.settings
    msg = ctx.inbound
    now = ctx.now
    prefix = settings.tickets.ref_prefix
    in_reply_to = msg.external_id or None if recipient in (msg.sender, _requester(ctx)) else None
    references = list(msg.references) if in_reply_to else []
    slack_thread = None
    if msg.channel == "slack" and "@" not in recipient:
        # A Slack user (the sender, or the requester a contact authorised) is answered in the thread.
        channel_id, _, ts = msg.external_id.partition(":")
        slack_thread = f"{channel_id}:{msg.thread_ts or ts}"
        in_reply_to, references = None, []

    def compose(ticket_id: int) -> dict[str, Any]:
        ref = f"{prefix}-{ticket_id}"
        values = {"subject": clean_subject(msg.subject, ref), **variables}
        return outbox_row(
            settings,
            policy,
            template,
            ref=ref,
            recipient=recipient,
            variables=values,
            now=now,
            in_reply_to=in_reply_to,
            references=references,
            language=language,
            slack_thread=slack_thread,
        )

    ctx.extra.setdefault("outbox", []).append(compose)


def _triage(ctx: Context, template: str, text: str = "") -> None:
    """Queue a post for the engineers' Slack triage channel (a new ticket's post, a mirrored message)."""
    settings = ctx.deps.settings
    if not triage_enabled(settings):
        return
    now = ctx.now
    prefix = settings.tickets.ref_prefix

    def compose(ticket_id: int) -> dict[str, Any]:
        return slack_row(
            settings, template, f"triage:{ticket_id}", now, ref=f"{prefix}-{ticket_id}", text=text
        )

    ctx.extra.setdefault("outbox", []).append(compose)


FORM_KEY = "form_requester"


def _requester(ctx: Context) -> str:
    """Who the ticket is for: the sender, or for a configured web form the person its fields name."""
    form: str | None = ctx.extra.get(FORM_KEY)
    return form or ctx.inbound.sender


def _form_name(ctx: Context) -> str:
    """The requester's first name from a form's Name: field ("" when not a form mail)."""
    if FORM_KEY not in ctx.extra:
        return ""
    return next(iter(form_fields(ctx.inbound.text).get("name", "").split()), "")


def _is_form(ctx: Context) -> bool:
    msg = ctx.inbound
    policies = load_all().values()
    senders = {s.lower() for p in policies for s in p.channels.portal_senders}
    senders |= {s.lower() for s in ctx.deps.settings.tickets.form_senders}
    return msg.channel == "email" and msg.sender.lower() in senders


def _form_requester(ctx: Context) -> None:
    """Rule: a configured form sender's mail is the form's requester's (Resilio: "the Resilio
    Connect Management Console "Contact Support" form or ... the Contact Support form on our
    website"; finding 2). The form sits behind the customer's login, so its Email: field names
    the requester: their organisation and contact status are looked up, and replies go to them."""
    if FORM_KEY in ctx.extra or not _is_form(ctx):
        return
    fields = form_fields(ctx.inbound.text)
    email = fields.get("email", "").strip().lower()
    if "@" not in email or any(c.isspace() for c in email):
        ctx.hit("decide.form-without-requester", "form mail names no valid Email: field")
        return
    ctx.extra[FORM_KEY] = email
    org = ctx.deps.directory.org_for_address(email)
    ctx.org = org
    person = org.contacts.get(email) if org is not None else None
    ctx.contact_status = (
        "designated"
        if person is not None and person.designated_at(ctx.now)
        else "not_designated"
        if org
        else "unknown"
    )
    ctx.hit("decide.form", f"form mail from {ctx.inbound.sender} for {email} ({ctx.contact_status})")
    if ctx.triage is not None:
        from intake.pipeline import classify

        classify.run(ctx)  # triaged again under the requester's organisation's policy


def _notify_team(ctx: Context, policy: Policy, ticket: TicketView, what: str, reason: str) -> None:
    variables = escalation_variables(
        policy,
        what=what,
        org=ctx.org.name if ctx.org else None,
        severity=ticket.severity,
        status=ticket.status,
        requester=ticket.requester,
        reason=reason,
    )
    for address in ctx.deps.settings.escalation.notify:
        _send(ctx, policy, "escalation", address, variables)


def _channel_of(ctx: Context, policy: Policy) -> str:
    return "portal" if _is_form(ctx) else ctx.inbound.channel


REDIRECT_TEXT = {
    "email": "email to our support address",
    "portal": "the Contact Support form on our website",
    "in_app": "the in-app support system",
    "phone": "phone",
    "slack": "Slack",
}


def _choose_level(ctx: Context, policy: Policy) -> tuple[str, bool, dict[str, Any]]:
    """The policy level, whether it needs review, and what went into it."""
    triage = ctx.triage
    assert triage is not None
    msg = ctx.inbound
    level = triage.severity
    review = triage.needs_review
    facts: dict[str, Any] = {"classifier_level": level}
    stated = parse_stated_severity(msg.subject, msg.text)
    if stated is not None:
        stated_key = map_stated(policy, stated)
        facts["stated"] = stated.text
        facts["stated_level"] = stated_key
        if stated_key is not None:
            ctx.hit("decide.stated-severity", f"customer states {stated.text!r} = {stated_key}")
            if triage.model_version and policy.canonical(stated_key) != triage.canonical:
                review = True
                ctx.hit(
                    "decide.disagreement",
                    f"customer says {stated_key}, classifier says {level} ({triage.canonical})",
                )
            if policy.level(stated_key).customer_settable:
                level = stated_key
    environment = _environment(ctx)
    facts["environment"] = environment
    admissible = policy.admissible_level(level, environment).key
    if admissible != level:
        review = True
        ctx.hit(
            "decide.environment-lowered",
            f"{policy.level(level).label} is for production; {environment} environment gets "
            f"{policy.level(admissible).label}",
        )
        level = admissible
    _stated_category(ctx, policy)
    if triage.category == "enhancement" and policy.enhancements.level:
        level = policy.enhancements.level
    triage.environment = environment
    # "(as you stated)" only where the stated level is the one the ticket got (finding 10).
    facts["stated_used"] = facts.get("stated_level") is not None and facts.get("stated_level") == level
    return level, review, facts


def _environment(ctx: Context) -> str:
    """Rule: what the customer states in an "Environment:" field beats the classifier's guess
    (Revalize: the partner is asked to "identify the affected environment (production, test,
    etc.)"; finding 1); then the classifier's reading, then the text's mentions."""
    triage = ctx.triage
    assert triage is not None
    text = f"{ctx.inbound.subject}\n{ctx.inbound.text}"
    stated = stated_environment(text)
    if stated is not None:
        if triage.environment not in ("unknown", stated):
            ctx.hit(
                "decide.stated-environment",
                f"customer states {stated}; classifier guessed {triage.environment}",
            )
        return stated
    return triage.environment if triage.environment != "unknown" else detect_environment(text)


def _stated_category(ctx: Context, policy: Policy) -> None:
    """Rule: where the customer categorises (Resource Optimizer IV.A.4.d), a "Category:" field
    is taken as given."""
    triage = ctx.triage
    if triage is None or not policy.customer_sets_category:
        return
    stated = stated_category(policy, ctx.inbound.text)
    if stated is not None and stated != triage.category:
        ctx.hit("decide.stated-category", f"customer states {stated}; classifier said {triage.category}")
        triage.category = stated


def _redirect(ctx: Context, policy: Policy) -> None:
    """Point the sender at the channel the policy supports (Resilio: its portal)."""
    rule = policy.channels.unsupported
    msg = ctx.inbound
    _send(
        ctx,
        policy,
        rule.template,
        msg.sender,
        {
            "name": _name(msg.display_name, msg.sender),
            "redirect_to_text": REDIRECT_TEXT.get(rule.redirect_to or "", "our support channel"),
            "portal_url": ctx.deps.settings.templates.portal_url,
        },
    )


def _open_ticket(ctx: Context, policy: Policy, level: str, review: bool) -> TicketView:
    msg = ctx.inbound
    triage = ctx.triage
    assert triage is not None
    now = ctx.now
    org = ctx.org
    plan = org.plan if org is not None else None
    row: dict[str, Any] = {
        "org_id": org.id if org else None,
        "requester": _requester(ctx),
        "requester_name": msg.display_name[:200],
        "subject": msg.subject,
        "status": "new",
        "severity": level,
        "canonical_severity": policy.canonical(level),
        "category": triage.category,
        "confidence": triage.confidence,
        "needs_review": review,
        "possible_critical": triage.possible_critical,
        "language": triage.language,
        "policy": policy.name,
        "plan": plan,
        "contact_status": ctx.contact_status,
        "channel": msg.channel,
        "environment": triage.environment,
        "created_at": now,
        "updated_at": now,
        "acknowledged_at": None,
        "first_responded_at": None,
        "first_response_due": None,
        "resolution_due": None,
        "waiting_since": None,
        "pauses": [],
        "closed_at": None,
        "close_reason": None,
        "slack_channel": msg.headers.get("slack-channel"),
        "slack_thread_ts": msg.external_id.partition(":")[2] if msg.channel == "slack" else None,
    }
    return TicketView(
        id=None,
        org_id=org.id if org else None,
        requester=_requester(ctx),
        status="new",
        policy=policy.name,
        plan=plan,
        severity=level,
        subject=msg.subject,
        row=row,
    )


def clock_level(ctx: Context, policy: Policy, ticket: TicketView) -> str:
    """The level whose first-response target the clock runs at.

    A possible critical (classifier flag, see classify) runs at the policy's
    critical target while the policy says so (``[triage] possible_critical_clock``)
    and its environment admits a critical level; otherwise the ticket's own level.
    """
    triage = ctx.triage
    flagged = bool(ticket.row and ticket.row.get("possible_critical"))
    if not (flagged and triage is not None and policy.triage.possible_critical_clock):
        return ticket.severity
    critical = policy.level_for_canonical("critical").key
    return policy.admissible_level(critical, triage.environment).key


def _acknowledge(ctx: Context, policy: Policy, ticket: TicketView, recipient: str, name: str) -> None:
    """Send the acknowledgement and start the SLA clock."""
    now = ctx.now
    plan = ticket.plan
    first_level = clock_level(ctx, policy, ticket)
    first_due = due_times(policy, plan, first_level, now)[0]
    resolution_due = due_times(policy, plan, ticket.severity, now)[1]
    if first_level != ticket.severity:
        ctx.hit(
            "decide.possible-critical-clock",
            f"possible critical: first response at the {policy.level(first_level).label} target "
            "until a person confirms or lowers the severity",
        )
    counts = policy.acknowledgement.automated and policy.acknowledgement.counts_as_first_response
    changes: dict[str, Any] = {"first_response_due": first_due, "resolution_due": resolution_due}
    if policy.acknowledgement.automated:
        changes["acknowledged_at"] = now
        targets = policy.targets(plan, ticket.severity)
        calendar_text = policy.plan(plan).availability or policy.calendar(plan).name
        _send(
            ctx,
            policy,
            policy.acknowledgement.template,
            recipient,
            {
                "name": name,
                "severity_label": policy.level(ticket.severity).label,
                "severity_stated": bool(ctx.extra.get("outputs", {}).get("stated_used")),
                "first_response_due": format_due(policy, plan, first_due),
                "target_text": targets.first_response.describe() if targets.first_response else "best effort",
                "calendar_text": calendar_text,
                "next_step": "a first response from an engineer",
            },
            language=ctx.triage.language if ctx.triage is not None else None,
        )
    if counts:
        changes["first_responded_at"] = now
    if policy.acknowledgement.automated:
        due_text = first_due.isoformat() if first_due else "best effort"
        _transition(ctx, ticket, "acknowledged", f"acknowledged; first response due {due_text}", **changes)
    else:
        _set(ticket, **changes)
    timers = ctx.extra.setdefault("timers", [])
    if not counts:
        timers.extend(
            sla_timers(
                policy,
                plan,
                first_level,
                now,
                now,
                first_response=first_due,
                resolution=resolution_due,
                which=("first_response",),
            )
        )
    timers.extend(
        sla_timers(
            policy,
            plan,
            ticket.severity,
            now,
            now,
            first_response=first_due,
            resolution=resolution_due,
            which=("resolution",),
        )
    )


def _new(ctx: Context) -> Stop | None:
    _form_requester(ctx)
    policy = load_all()[policy_name(ctx)]
    msg = ctx.inbound
    requester = _requester(ctx)
    now = ctx.now
    level, review, facts = _choose_level(ctx, policy)
    if ctx.triage is not None and ctx.triage.possible_critical and policy.canonical(level) == "critical":
        ctx.triage.possible_critical = False  # the customer's stated level already made it critical
    ticket = _open_ticket(ctx, policy, level, review)
    ctx.ticket = ticket
    ctx.batch.open_ticket(ticket)
    _triage(ctx, "triage_post")
    ctx.disposition = "ticket"
    ctx.extra.setdefault("events", []).append(lifecycle.event(None, "new", "opened from " + msg.channel, now))
    ctx.extra.setdefault("outputs", {}).update(facts)
    name = _form_name(ctx) or _name(msg.display_name, requester)
    org = ctx.org
    if ctx.triage is not None and ctx.triage.possible_critical and policy.triage.announce_possible_critical:
        p_critical = ctx.triage.probabilities.get("severity", {}).get("critical", 0.0)
        _notify_team(
            ctx,
            policy,
            ticket,
            "Possible critical",
            f"labelled {policy.level(level).label}, but P(critical) {p_critical:.2f} is past the "
            f"recall-first threshold; because: {', '.join(ctx.triage.reasons[:5])}. Confirm or lower it.",
        )

    held = ctx.extra.get(HOLD_KEY)
    if held:
        # A stranger's message naming someone else's ticket: kept as its own ticket for a
        # person to look at. No mail goes out: its sender chose what it quotes and whom.
        _transition(ctx, ticket, "pending_authorisation", f"held: {held}")
        return None

    channel = _channel_of(ctx, policy)
    if not policy.accepts_channel(channel) and policy.channels.unsupported.action != "accept":
        _redirect(ctx, policy)
        _transition(
            ctx,
            ticket,
            "closed",
            f"{channel} is not a supported channel of {policy.name}",
            closed_at=now,
            close_reason="unsupported_channel",
        )
        return None

    contacts = policy.plan(ticket.plan).contacts
    if ctx.contact_status != "designated" and contacts.only_designated_may_submit:
        action = contacts.not_designated.action
        if action in ("reply_and_hold", "reply_and_accept"):
            designated = [c for c in (org.contacts.values() if org else []) if c.designated_at(now)]
            _send(
                ctx,
                policy,
                contacts.not_designated.template,
                requester,
                {
                    "name": name,
                    "sender": requester,
                    "org": org.name if org else "your organisation",
                    "contacts": [f"{c.name or 'a colleague'} ({c.role})" for c in designated],
                },
            )
            if action == "reply_and_hold":
                for person in designated:
                    _send(
                        ctx,
                        policy,
                        "contacts_notice",
                        person.email,
                        {
                            "sender": requester,
                            "org": org.name if org else "",
                        },
                    )
                _transition(
                    ctx,
                    ticket,
                    "pending_authorisation",
                    f"{requester} is {ctx.contact_status.replace('_', ' ')}: held for a designated contact",
                )
                return None

    _enhancement_register(ctx, policy)
    _acknowledge(ctx, policy, ticket, requester, name)
    return None


def _enhancement_register(ctx: Context, policy: Policy) -> None:
    """Rule: an enhancement request is not closed on arrival (finding 6). It is acknowledged like
    any request and waits in the enhancement register (`intake enhancements list`) until a person
    records it (Resource Optimizer: "closed once the information has been recorded in our Product
    Request tool") or transfers it and has what review needs (Revalize); the receipt promises
    neither. Below the review threshold it is marked for a person, who may find it no enhancement."""
    category = ctx.triage.category if ctx.triage else None
    if category != "enhancement" or policy.enhancements.action == "none":
        return
    unsure = bool(ctx.triage and ctx.triage.needs_review)
    ctx.hit(
        "decide.enhancement-register",
        f"enhancement request, {policy.enhancements.action.replace('_', ' ')} by a person"
        + ("; the classifier is unsure: a person decides whether it is one" if unsure else ""),
    )


def may_act(ctx: Context, policy: Policy, ticket: TicketView) -> bool:
    """May this sender reopen, escalate or authorise the ticket under its policy?

    Where only designated contacts may submit (every bundled policy), only a
    designated contact of the ticket's own organisation may; the contact step has
    already refused that status to a From that failed authentication. Elsewhere
    anyone on the requester's side may.
    """
    msg = ctx.inbound
    if policy.plan(ticket.plan).contacts.only_designated_may_submit:
        return (
            ctx.contact_status == "designated"
            and ticket.org_id is not None
            and ctx.org is not None
            and ctx.org.id == ticket.org_id
        )
    return msg.sender == ticket.requester or (
        ticket.org_id is not None and ctx.org is not None and ctx.org.id == ticket.org_id
    )


def _followup(ctx: Context, ticket: TicketView) -> Stop | None:
    policy = load_all()[ticket.policy]
    msg = ctx.inbound
    now = ctx.now
    ctx.disposition = "followup"
    _set(ticket, updated_at=now)
    _triage(
        ctx,
        "mirror",
        f"<{msg.sender}> {msg.text}" if msg.channel == "email" else f"<@{msg.sender}> {msg.text}",
    )
    _triage(ctx, "triage_update")
    from_requester_side = msg.sender == ticket.requester or (
        ticket.org_id is not None and ctx.org is not None and ctx.org.id == ticket.org_id
    )
    entitled = may_act(ctx, policy, ticket)

    if ticket.status == "pending_authorisation":
        if ctx.contact_status == "designated" and entitled and msg.sender != ticket.requester:
            ctx.hit("decide.authorised", f"{msg.sender} authorised the request")
            _acknowledge(ctx, policy, ticket, ticket.requester, ticket.requester.partition("@")[0])
        else:
            ctx.hit("decide.still-held", "still waiting for a designated contact")
        return None

    if ticket.status == "waiting_on_customer" and from_requester_side:
        since = ticket.waiting_since or now
        pauses = [
            *(ticket.row or ticket.changes).get("pauses", ticket.pauses),
            [since.isoformat(), now.isoformat()],
        ]
        created = ticket.row["created_at"] if ticket.row is not None else ticket.created_at or now
        parsed = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in pauses]
        first_due, resolution_due = due_times(policy, ticket.plan, ticket.severity, created, parsed)
        ctx.batch.cancel_timers(ticket, SLA_KINDS + DROPPED_KINDS)
        _transition(
            ctx,
            ticket,
            "in_progress",
            "customer replied; SLA clock resumed",
            waiting_since=None,
            pauses=pauses,
            resolution_due=resolution_due,
        )
        ctx.extra.setdefault("timers", []).extend(
            sla_timers(
                policy,
                ticket.plan,
                ticket.severity,
                created,
                now,
                first_response=first_due,
                resolution=resolution_due,
                which=("resolution",),
            )
        )
        return None

    if ticket.status == "closed" and (ticket.close_reason or (ticket.row or {}).get("close_reason")) == (
        "unsupported_channel"
    ):
        # A reply to the redirect is still on the wrong channel: say so again, keep it closed.
        # The outbox's per-recipient cap stops this from becoming a loop with a robot.
        _redirect(ctx, policy)
        ctx.hit(
            "decide.still-unsupported", f"{msg.channel} is still not a supported channel of {policy.name}"
        )
        return None

    if ticket.status in ("closed", "resolved") and not entitled:
        # Only someone who may open a ticket may reopen one; the message itself becomes a
        # new request under the usual rules (held when its sender is not designated).
        ctx.hit(
            "decide.reopen-refused",
            f"{msg.sender} may not reopen ticket {ticket.id} under {policy.name}: a new request",
        )
        ctx.ticket = None
        return _new_from_followup(ctx)

    if ticket.status in ("closed", "resolved"):
        return _after_close(ctx, policy, ticket)

    escalation = policy.escalation.customer
    asks = escalation is not None and any(
        k in f"{msg.subject}\n{msg.text[:500]}".lower() for k in escalation.keywords
    )
    if asks and not entitled:
        ctx.hit(
            "decide.escalation-refused",
            f"{msg.sender} asked to escalate but may not under {policy.name}: kept as a follow-up",
        )
    elif (
        escalation is not None
        and "customer_request" in policy.escalation.escalate_on
        and lifecycle.is_open(ticket.status)
        and ticket.status != "escalated"
        and asks
        and (not escalation.subject_must_contain_case_ref or _names_case(ctx, ticket, msg.subject))
    ):
        _transition(ctx, ticket, "escalated", f"customer asked to escalate: {msg.subject[:80]!r}")
        to = f" to the {escalation.to}" if escalation.to else ""
        _notify_team(ctx, policy, ticket, "Customer escalation", f"{msg.sender} asked to escalate{to}")
        return None

    ctx.hit("decide.followup", f"appended to ticket {ticket.id or '(new in batch)'}")
    return None


def _names_case(ctx: Context, ticket: TicketView, subject: str) -> bool:
    """Rule: the subject names the case, bracketed or not ("[support-1]", "Escalation of case
    support-1"; Rezilion: "specify the case number in the subject line"; finding 8)."""
    ref = f"{ctx.deps.settings.tickets.ref_prefix}-{ticket.id}"
    return re.search(rf"(?<![\w-]){re.escape(ref)}(?!\d)", subject, re.IGNORECASE) is not None


def _after_close(ctx: Context, policy: Policy, ticket: TicketView) -> Stop | None:
    """A designated contact wrote to a closed or resolved ticket."""
    msg = ctx.inbound
    now = ctx.now
    if _survey_reply(ctx, policy, ticket):
        return None
    rule = policy.reopen
    closed_at = ticket.closed_at or now
    deadline = rule.within.due(closed_at, policy.calendar(ticket.plan)) if rule.within else None
    if rule.action == "new_ticket" or (deadline is not None and now > deadline):
        ctx.hit("decide.reopen-expired", f"ticket {ticket.id} closed on {closed_at.date()}: a new ticket")
        ctx.ticket = None
        return _new_from_followup(ctx)
    if rule.action == "review":
        _reopen_request(ctx, policy, ticket)
        return None
    _transition(ctx, ticket, "reopened", "customer replied after close", closed_at=None, close_reason=None)
    _restart_clock(ctx, policy, ticket, closed_at)
    _send(ctx, policy, "reopened", msg.sender, {"name": _name(msg.display_name, msg.sender)})
    _notify_team(ctx, policy, ticket, "Reopened", f"{msg.sender} replied to a closed ticket")
    return None


def _survey_reply(ctx: Context, policy: Policy, ticket: TicketView) -> bool:
    """Rule: a reply to the satisfaction survey with a score is feedback, not a reopen (Revalize
    CSAT; finding 7). The score is kept on the decision row."""
    msg = ctx.inbound
    if policy.closing.survey is None or ticket.status != "closed":
        return False
    score = survey_score(msg.text)
    if score is None or "how did we do" not in msg.subject.lower():
        return False
    ctx.extra.setdefault("outputs", {})["csat_score"] = score
    ctx.hit("decide.survey-reply", f"satisfaction survey answered: {score} of 5; the case stays closed")
    return True


def _reopen_request(ctx: Context, policy: Policy, ticket: TicketView) -> None:
    """Rule: where the vendor decides (Resource Optimizer: "At Resource Optimizer's sole discretion,
    Incidents will be re-opened ... if the Incident is deemed to be solvable"; finding 5), a reply
    after close is a request for an engineer: the case stays closed and marked for review, the
    team is told, and the customer's mail promises nothing (`intake reply REF --reopen` reopens)."""
    msg = ctx.inbound
    _set(ticket, needs_review=True)
    ctx.hit("decide.reopen-requested", f"{msg.sender} asks to reopen; an engineer decides")
    _send(ctx, policy, "reopen_request", msg.sender, {"name": _name(msg.display_name, msg.sender)})
    _notify_team(ctx, policy, ticket, "Reopen requested", f"{msg.sender} asks to reopen; an engineer decides")


def _restart_clock(ctx: Context, policy: Policy, ticket: TicketView, stopped_at: datetime) -> None:
    """Rule: a reopened ticket resumes its clock where it stood (finding 4): the time it was
    closed is paused, due times and timers recomputed from the policy."""
    now = ctx.now
    stored = (ticket.row or ticket.changes).get("pauses", ticket.pauses) or []
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in stored]
    created = ticket.row["created_at"] if ticket.row is not None else ticket.created_at or now
    zone = ctx.org.timezone if ctx.org is not None else None
    # A closed ticket was answered: only the resolution target is still owed.
    paused, _first_due, resolution_due, timers = resumed_clock(
        policy,
        ticket.plan,
        ticket.severity,
        created,
        pauses,
        stopped_at,
        now,
        first_responded=True,
        zone=zone,
    )
    ctx.batch.cancel_timers(ticket, (*SLA_KINDS, *DROPPED_KINDS, "auto_close_resolved"))
    _set(
        ticket,
        pauses=[[a.isoformat(), (b or now).isoformat()] for a, b in paused],
        resolution_due=resolution_due,
    )
    ctx.extra.setdefault("timers", []).extend(timers)
    due = resolution_due.isoformat() if resolution_due else "best effort"
    ctx.hit("decide.clock-resumed", f"clock resumed after {stopped_at.isoformat()}; resolution due {due}")


def _new_from_followup(ctx: Context) -> Stop | None:
    from intake.pipeline import classify

    ctx.disposition = None
    classify.run(ctx)
    return _new(ctx)


def run(ctx: Context) -> Stop | None:
    if ctx.ticket is None:
        return _new(ctx)
    return _followup(ctx, ctx.ticket)
