"""decide as pure named rules: facts and a policy in, a typed Decision out; recompute for overrides.

No store, no batch, no classifier: each test builds the facts a message brings and
reads the Decision. The figures come from the policies (intake/policies/*.toml) and
the seed documents they quote.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from intake.customers.directory import ContactView, OrgView
from intake.models import InboundMessage
from intake.pipeline.context import Triage
from intake.pipeline.decide import (
    FOLLOWUP_RULES,
    LEVEL_RULES,
    OPENING_RULES,
    Decision,
    Facts,
    Outgoing,
    decide,
    recompute,
)
from intake.pipeline.rows import KEEP, TicketState
from intake.policies.loader import load_all
from intake.sla.timers import SLA_KINDS

POLICIES = load_all()
# Tuesday 10 November 2026, 09:00 GMT: inside Resource Optimizer's coverage (00:00-16:00 GMT).
TUESDAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def _org(policy: str = "resource-optimizer") -> OrgView:
    return OrgView(
        1,
        "Acme",
        policy,
        None,
        domains={"acme.example"},
        contacts={"dana@acme.example": ContactView("dana@acme.example", "Dana Smith", "primary", True, None)},
    )


def _triage(severity: str = "s3", category: str | None = "defect", environment: str = "unknown") -> Triage:
    return Triage(
        severity=severity,
        canonical="medium",
        category=category,
        confidence=0.9,
        needs_review=False,
        model_version="test",
        environment=environment,
    )


def _facts(
    *,
    sender: str = "dana@acme.example",
    subject: str = "Export fails",
    text: str = "The export stops at 40%.",
    status: str = "designated",
    triage: Triage | None = None,
    ticket: TicketState | None = None,
    policy: str = "resource-optimizer",
    held: str | None = None,
) -> Facts:
    message = InboundMessage(
        external_id="m1@acme.example", sender=sender, display_name="Dana Smith", subject=subject, text=text
    )
    return Facts(
        message=message,
        now=TUESDAY,
        contact_status=status,  # type: ignore[arg-type]
        org=_org(policy),
        triage=triage if triage is not None or ticket is not None else _triage(),
        ticket=ticket,
        new_policy=policy,
        held=held,
        escalation_notify=("manager@vendor.example",),
    )


def _steps(decision: Decision) -> list[str]:
    return [h.step for h in decision.hits]


def _mail(decision: Decision) -> list[tuple[str, str]]:
    return [(o.template, o.recipient) for o in decision.outgoing if isinstance(o, Outgoing)]


def _ticket(status: str, severity: str = "s3", **changes: object) -> TicketState:
    state = TicketState(
        id=7,
        org_id=1,
        requester="dana@acme.example",
        status=status,
        policy="resource-optimizer",
        plan=None,
        severity=severity,
        created_at=TUESDAY,
    )
    return replace(state, **changes)  # type: ignore[arg-type]


# --- recompute: the review page's override ---------------------------------------------


def test_override_s3_to_s1_under_resource_optimizer_moves_first_response_to_8_business_hours() -> None:
    """Annex A: "Initial Response Time S1 – 8 Business Hours, S2 – 1 Business day, S3 – 2 Business
    day"; coverage "00:00 - 16:00 GMT, 22:00 - 24:00 GMT, Monday - Friday"."""
    policy = POLICIES["resource-optimizer"]
    ticket = _ticket("acknowledged")
    # S3 as opened: 2 business days from Tuesday 09:00 GMT is Thursday 09:00 GMT.
    assert policy.due("first_response", TUESDAY, "s3") == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    decision = recompute(policy, ticket, TUESDAY.replace(hour=10), severity="s1")
    # S1: 7 business hours to 16:00, then 1 of the 22:00-24:00 block: Tuesday 23:00 GMT.
    assert decision.changes.first_response_due == datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
    assert (decision.changes.severity, decision.changes.canonical_severity) == ("s1", "critical")
    assert decision.cancel_timers == SLA_KINDS
    breach = [t for t in decision.timers if t.kind == "first_response_breach"]
    assert [t.due_at for t in breach] == [datetime(2026, 11, 10, 23, 0, tzinfo=UTC)]
    assert "first response due 2026-11-10T23:00:00+00:00" in decision.hits[0].reason


def test_override_after_the_first_response_keeps_its_due_time_and_starts_no_first_response_timer() -> None:
    """The first response was given against the target it had; only the resolution target moves."""
    policy = POLICIES["resource-optimizer"]
    answered_by = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    ticket = _ticket("in_progress", first_responded_at=TUESDAY, first_response_due=answered_by)
    decision = recompute(policy, ticket, TUESDAY, severity="s1")
    assert decision.changes.first_response_due == answered_by
    assert not [t for t in decision.timers if t.kind.startswith("first_response")]
    assert decision.changes.resolution_due != KEEP


@pytest.mark.parametrize("status", ["pending_authorisation", "waiting_on_customer", "closed", "resolved"])
def test_override_of_a_ticket_whose_clock_is_stopped_changes_only_its_level(status: str) -> None:
    decision = recompute(POLICIES["resource-optimizer"], _ticket(status), TUESDAY, severity="s1")
    assert decision.changes.severity == "s1"
    assert decision.changes.first_response_due is KEEP
    assert decision.timers == () and decision.cancel_timers == ()


def test_override_to_enhancement_takes_the_policy_enhancement_level() -> None:
    decision = recompute(
        POLICIES["resource-optimizer"], _ticket("acknowledged"), TUESDAY, category="enhancement"
    )
    assert (decision.changes.severity, decision.changes.category) == ("s4", "enhancement")
    assert decision.changes.first_response_due is None  # S4: "Best effort"


def test_override_to_an_unknown_level_raises_before_anything_changes() -> None:
    with pytest.raises(Exception, match="s9"):
        recompute(POLICIES["resource-optimizer"], _ticket("acknowledged"), TUESDAY, severity="s9")


# --- decide: opening rules --------------------------------------------------------------


def test_designated_contact_is_acknowledged_with_the_sla_clock_started() -> None:
    decision = decide(_facts(), POLICIES)
    assert decision.disposition == "ticket" and decision.opens is not None
    assert _steps(decision)[-1] == "decide.acknowledged"
    assert [t.to_status for t in decision.transitions] == ["new", "acknowledged"]
    assert decision.changes.first_response_due == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    [ack] = decision.outgoing
    assert isinstance(ack, Outgoing)
    assert (ack.template, ack.recipient, ack.in_reply_to) == ("ack", "dana@acme.example", "m1@acme.example")


def test_decide_is_pure_the_same_facts_give_the_same_decision() -> None:
    facts = _facts(status="not_designated", sender="lee@acme.example")
    assert decide(facts, POLICIES) == decide(facts, POLICIES)


def test_not_designated_sender_is_told_who_may_and_the_ticket_is_held() -> None:
    """Resource Optimizer IV.A.3: "Incidents are to be submitted ... by an authorized Contact"."""
    decision = decide(_facts(sender="lee@acme.example", status="not_designated"), POLICIES)
    assert decision.changes.status == "pending_authorisation"
    assert _mail(decision) == [
        ("not_a_contact", "lee@acme.example"),
        ("contacts_notice", "dana@acme.example"),
    ]
    assert decision.timers == () and decision.changes.first_response_due is KEEP


def test_stranger_held_by_the_thread_step_gets_no_mail() -> None:
    decision = decide(_facts(held="In-Reply-To <x> names ticket 1, but ..."), POLICIES)
    assert (decision.changes.status, decision.outgoing) == ("pending_authorisation", ())
    assert _steps(decision)[-1] == "decide.pending-authorisation"


def test_unsupported_channel_is_redirected_and_closed() -> None:
    """Resilio: "Direct email support is not available."."""
    decision = decide(_facts(policy="resilio-connect", triage=_triage("low")), POLICIES)
    assert (decision.changes.status, decision.changes.close_reason) == ("closed", "unsupported_channel")
    assert [t for t, _ in _mail(decision)] == ["portal_redirect"]


def test_enhancement_waits_in_the_register_at_the_enhancement_level_and_is_not_closed_on_arrival() -> None:
    """Resource Optimizer S4: "closed once the information has been recorded in our Product Request
    tool": recorded by a person, so on arrival it is acknowledged, not closed (finding 6)."""
    decision = decide(_facts(triage=_triage(category="enhancement")), POLICIES)
    assert decision.opens is not None and decision.opens.severity == "s4"
    assert decision.changes.status == "acknowledged" and decision.changes.close_reason is KEEP
    assert "decide.enhancement-register" in _steps(decision)


def test_revalize_severity_1_outside_production_is_stepped_down_for_review() -> None:
    """Revalize: "Severity 1 issues (Urgent) are reserved for production environment issues"."""
    triage = replace(_triage("s1", environment="test"), canonical="critical")
    decision = decide(_facts(policy="revalize", triage=triage), POLICIES)
    assert decision.opens is not None and (decision.opens.severity, decision.opens.needs_review) == (
        "s2",
        True,
    )
    assert "decide.environment-lowered" in _steps(decision)


def test_stated_severity_is_recorded_but_not_taken_where_the_vendor_sets_the_level() -> None:
    """Resource Optimizer IV.B.1.h: "may modify the Incident's Severity Level at its sole discretion"."""
    decision = decide(_facts(subject="Severity 1: export fails"), POLICIES)
    assert decision.opens is not None and decision.opens.severity == "s3"
    assert decision.level is not None and decision.level.stated_level == "s1"
    assert "decide.disagreement" in _steps(decision)


# --- decide: follow-up rules ------------------------------------------------------------


def test_designated_contact_authorises_a_held_ticket() -> None:
    ticket = _ticket("pending_authorisation", requester="lee@acme.example")
    decision = decide(_facts(ticket=ticket), POLICIES)
    assert _steps(decision)[:2] == ["decide.authorised", "decide.acknowledged"]
    assert _mail(decision)[0][1] == "lee@acme.example"


def test_reply_from_someone_who_may_not_reopen_is_a_new_request() -> None:
    closed = _ticket("closed", closed_at=TUESDAY)
    decision = decide(
        _facts(ticket=closed, sender="lee@acme.example", status="not_designated", triage=_triage()), POLICIES
    )
    assert decision.disposition == "ticket" and decision.opens is not None
    assert _steps(decision)[0] == "decide.reopen-refused"
    assert decision.touched.updated_at == TUESDAY


def test_reply_within_the_window_is_a_reopen_request_an_engineer_decides() -> None:
    """Resource Optimizer: "At Resource Optimizer's sole discretion, Incidents will be re-opened
    ... if the Incident is deemed to be solvable": the case stays closed, marked for review."""
    decision = decide(_facts(ticket=_ticket("closed", closed_at=TUESDAY)), POLICIES)
    assert (decision.changes.status, decision.changes.needs_review) == (KEEP, True)
    assert [t for t, _ in _mail(decision)] == ["reopen_request", "escalation"]
    assert decision.timers == () and "decide.reopen-requested" in _steps(decision)


def test_customer_reply_resumes_a_waiting_ticket_leaving_the_pause_out() -> None:
    waiting = _ticket("waiting_on_customer", waiting_since=TUESDAY.replace(day=9))
    decision = decide(_facts(ticket=waiting), POLICIES)
    assert decision.changes.status == "in_progress" and decision.changes.waiting_since is None
    assert decision.changes.pauses == [[TUESDAY.replace(day=9).isoformat(), TUESDAY.isoformat()]]
    assert "reminder" in decision.cancel_timers


def test_escalation_by_mail_needs_the_case_number_in_the_subject() -> None:
    """Rezilion: "please email and specify the case number in the subject line"."""
    ticket = replace(_ticket("acknowledged", severity="medium"), policy="rezilion")
    plain = decide(_facts(ticket=ticket, subject="Please escalate this", policy="rezilion"), POLICIES)
    assert plain.changes.status is KEEP and _steps(plain) == ["decide.followup"]
    named = decide(_facts(ticket=ticket, subject="Escalate [support-7]", policy="rezilion"), POLICIES)
    assert named.changes.status == "escalated"


def test_every_rule_is_a_named_function_with_the_policy_it_implements() -> None:
    for rule in (*LEVEL_RULES, *OPENING_RULES, *FOLLOWUP_RULES):
        assert rule.__doc__ and len(rule.__doc__.strip()) > 20, rule.__name__
    assert OPENING_RULES[-1].__name__ == "acknowledge_receipt"
    assert FOLLOWUP_RULES[-1].__name__ == "append_followup"


def test_possible_critical_is_announced_and_clocked_at_the_critical_target() -> None:
    """Issue 13: a possible critical runs at the critical first-response target and the team hears of it."""
    triage = replace(_triage(), possible_critical=True, probabilities={"severity": {"critical": 0.4}})
    decision = decide(_facts(triage=triage), POLICIES)
    assert _mail(decision)[0] == ("escalation", "manager@vendor.example")
    assert "decide.possible-critical-clock" in _steps(decision)
    # Resource Optimizer's S1 target, 8 business hours, not S3's 2 business days.
    assert decision.changes.first_response_due == datetime(2026, 11, 10, 23, 0, tzinfo=UTC)
    assert decision.opens is not None and decision.opens.possible_critical is True


def test_a_stated_critical_is_no_longer_a_possible_critical() -> None:
    triage = replace(_triage("s1"), canonical="critical", possible_critical=True)
    decision = decide(_facts(triage=triage), POLICIES)
    assert decision.triage is not None and decision.triage.possible_critical is False
    assert [t for t, _ in _mail(decision)] == ["ack"]


def test_anyone_elses_reply_leaves_a_held_ticket_held() -> None:
    ticket = _ticket("pending_authorisation")  # the requester herself is not the one to authorise it
    decision = decide(_facts(ticket=ticket), POLICIES)
    assert _steps(decision) == ["decide.still-held"] and decision.changes.status is KEEP


def test_reply_to_the_redirect_is_redirected_again_and_stays_closed() -> None:
    closed = replace(
        _ticket("closed", closed_at=TUESDAY, close_reason="unsupported_channel"), policy="resilio-connect"
    )
    decision = decide(_facts(ticket=closed, policy="resilio-connect"), POLICIES)
    assert _steps(decision) == ["decide.still-unsupported"] and decision.changes.status is KEEP
    assert [t for t, _ in _mail(decision)] == ["portal_redirect"]


def test_reply_after_the_reopen_window_opens_a_new_ticket() -> None:
    """Resource Optimizer [choice]: "after 30 days a reply opens a new incident"."""
    long_ago = _ticket("closed", closed_at=datetime(2026, 9, 1, tzinfo=UTC))
    decision = decide(_facts(ticket=long_ago, triage=_triage()), POLICIES)
    assert decision.disposition == "ticket" and _steps(decision)[0] == "decide.reopen-expired"


def test_escalation_asked_by_someone_who_may_not_is_recorded_and_kept_as_a_follow_up() -> None:
    ticket = replace(_ticket("acknowledged", severity="medium"), policy="rezilion")
    facts = _facts(
        ticket=ticket, subject="Escalate [support-7]", policy="rezilion", sender="lee@acme.example"
    )
    decision = decide(replace(facts, contact_status="not_designated"), POLICIES)
    assert _steps(decision) == ["decide.escalation-refused", "decide.followup"]
    assert decision.changes.status is KEEP
