"""Each seed policy as its document says (issue 12), through the command line with --now.

Every test quotes the sentence of the document (/work/shared/seeds) it checks and asserts
the document's own figure. The business-time arithmetic has its own table in
tests/unit/test_calendar.py; these check that the bot applies it where the document says.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.e2e.test_policies_e2e import Cli, at, cli

__all__ = ["cli"]

# A mail every classifier version reads as the most severe level (S1 / Critical).
OUTAGE = (
    "Severity 1: we cannot access the Software at all. Nobody can log in, production is down for all users."
)


def _pending(ticket: dict[str, object]) -> set[str]:
    timers = ticket["pending_timers"]
    assert isinstance(timers, list)
    return {t["timer"] for t in timers}


def _resource_optimizer(cli: Cli) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example", "--name", "Dana Smith")


def _rezilion(cli: Cli, *extra: str) -> None:
    cli("org", "add", "Initech", "--policy", "rezilion", "--domain", "initech.example", *extra)
    cli("contact", "add", "Initech", "a@initech.example", "--name", "Ann")


# --- finding 9: Resource Optimizer coverage hours ------------------------------------


@pytest.mark.parametrize(
    ("received", "due", "due_text"),
    [
        # 1.5 h on Friday night (22:30-24:00 is coverage), then Monday 00:00 + 6.5 h.
        ("2026-11-13T22:30:00+00:00", "2026-11-16T06:30:00+00:00", "Mon 16 Nov 2026 06:30 GMT"),
        # Sunday evening is no coverage: Monday 00:00 + 8 h.
        ("2026-11-15T22:30:00+00:00", "2026-11-16T08:00:00+00:00", "Mon 16 Nov 2026 08:00 GMT"),
    ],
)
def test_resource_optimizer_coverage_is_the_documents(
    cli: Cli, received: str, due: str, due_text: str
) -> None:
    """Annex A: "Business Hours (GMT) 00:00 - 16:00 GMT, 22:00 - 24:00 GMT, Monday - Friday";
    "Initial Response Time S1 - 8 Business Hours". The receipt says the same as the arithmetic."""
    _resource_optimizer(cli)
    cli.mail(received, subject="Severity 1 - cannot access the Software", body=OUTAGE)
    ticket = cli.ticket("support-1")
    assert ticket["severity"] == "s1"
    assert at(ticket["first_response_due"]) == datetime.fromisoformat(due)
    [ack] = [row for row in cli.outbox() if row["template"] == "ack"]
    body = ack["body"]
    assert due_text in body, body
    assert "Monday-Friday 00:00-16:00 and 22:00-24:00 GMT" in body, body


# --- finding 3 / must be true 2: the first human response is a target of its own ------


@pytest.mark.parametrize(
    ("setup", "sender", "sentence"),
    [
        (
            _resource_optimizer,
            "dana@acme.example",
            # IV.B.1: "a. Confirm receipt of the reported Incident within the acknowledgement time"
            # and "c. Use commercially reasonable efforts to respond to the Incident within the
            # time specified in the Annex A".
            "Confirm receipt",
        ),
        (
            _rezilion,
            "a@initech.example",
            # Table 1: "New - ... Rezilion's support representative has not responded yet to customer."
            "has not responded yet",
        ),
    ],
    ids=["resource-optimizer", "rezilion"],
)
def test_the_receipt_is_not_the_first_response(cli: Cli, setup: object, sender: str, sentence: str) -> None:
    assert callable(setup)
    setup(cli)
    cli.mail("2026-11-16T09:00:00-05:00", sender=sender, subject="Critical: production down", body=OUTAGE)
    ticket = cli.ticket("support-1")
    assert ticket["acknowledged_at"] is not None
    assert ticket["first_responded_at"] is None, sentence
    assert {"first_response_warn", "first_response_breach"} <= _pending(ticket)
    assert ticket["first_response_due"] is not None
    # An engineer's answer is the first response: stamped, and its timers stop.
    reply = cli.json(
        "reply", "support-1", "--text", "Looking at it now.", "--now", "2026-11-16T15:00:00+00:00"
    )
    assert reply["first_responded_at"] == "2026-11-16T15:00:00+00:00"
    assert not {"first_response_warn", "first_response_breach"} & _pending(cli.ticket("support-1"))


def test_resource_optimizer_escalates_a_missed_initial_response(cli: Cli) -> None:
    """Annex A: "Initial Response Time S1 - 8 Business Hours"; escalate_on = first_response_breach
    ([choice]: the document has no escalation procedure). The receipt no longer stops the alarm."""
    _resource_optimizer(cli)
    cli.mail("2026-11-16T09:00:00+00:00", subject="Severity 1 - cannot access", body=OUTAGE)
    due = at(cli.ticket("support-1")["first_response_due"])
    # 09:00-16:00 (7 h) and 22:00-23:00 (1 h) of Monday's coverage.
    assert due == datetime.fromisoformat("2026-11-16T23:00:00+00:00")
    fired = cli.tick(due)["fired"]
    assert fired.get("first_response_warn") == 1 and fired.get("first_response_breach") == 1, fired
    ticket = cli.ticket("support-1")
    assert (ticket["status"], ticket["status_label"]) == ("escalated", "Escalated")
    notices = [r for r in cli.outbox() if r["recipient"] == "leads@vendor.example"]
    assert any("Status: Escalated" in r["body"] for r in notices)


def test_rezilion_first_response_breach_warns_without_escalating(cli: Cli) -> None:
    """Table 1: "A support request set to an escalated status means the support request has not
    been resolved within the target resolution time, the customer has asked for it to be escalated
    ... or the customer support manager has asked": a late first response alerts, it does not escalate.
    Section 4: "Critical 2 Business Hours"."""
    _rezilion(cli)
    cli.mail("2026-11-16T09:00:00-06:00", sender="a@initech.example", subject="Critical: down", body=OUTAGE)
    ticket = cli.ticket("support-1")
    assert ticket["severity"] == "critical"
    assert ticket["status_label"] == "New"  # "has not responded yet to customer"
    assert at(ticket["first_response_due"]) == datetime.fromisoformat("2026-11-16T17:00:00+00:00")
    fired = cli.tick("2026-11-16T17:00:00+00:00")["fired"]
    assert fired.get("first_response_breach") == 1, fired
    after = cli.ticket("support-1")
    assert after["status"] == "acknowledged" and after["status_label"] == "New"
    [notice, *_] = [r for r in cli.outbox() if r["template"] == "escalation" and "missed" in r["subject"]]
    body = notice["body"]
    assert "Status: New." in body and "acknowledged" not in body, body
    # "In Process - The support representative has responded to customer ..."
    cli("reply", "support-1", "--text", "We are on it.", "--now", "2026-11-16T17:30:00+00:00")
    assert cli.ticket("support-1")["status_label"] == "In Process"


# --- finding 11: local time, status names, case owner, confident answer ----------------


def test_rezilion_local_time_is_the_organisations(cli: Cli) -> None:
    """Section 1: "Standard Customer Support is available during regular business hours, typically
    Monday through Friday 9:00AM - 5:00PM local time, excluding holidays." With `--tz`, local is
    the customer's; without, [choice] US Central."""
    _rezilion(cli, "--tz", "Europe/Berlin")
    shown = cli.json("org", "show", "Initech")
    assert (shown["timezone"], shown["calendar_timezone"]) == ("Europe/Berlin", "Europe/Berlin")
    # Outside the Chicago day, inside the Berlin one: an info request's dropped-rule timers count
    # Berlin business days (Rezilion: reminders after 2 and 4 business days).
    cli.mail("2026-11-16T08:00:00+00:00", sender="a@initech.example", subject="Report filter", body="Minor.")
    cli(
        "reply",
        "support-1",
        "--text",
        "Which filter?",
        "--request-info",
        "--now",
        "2026-11-16T16:30:00+00:00",
    )
    reminders = sorted(
        t["due_at"] for t in cli.ticket("support-1")["pending_timers"] if t["timer"] == "reminder"
    )
    # 16:30 UTC is 17:30 in Berlin (closed): the clock starts Tue 09:00 CET; two business days end
    # Wed 17:00 CET = 16:00 UTC. In Chicago it would be Wed 10:30 CST = 16:30 UTC.
    assert at(reminders[0]) == datetime.fromisoformat("2026-11-18T16:00:00+00:00"), reminders
    changed = cli.json("org", "set", "Initech", "--tz", "America/Los_Angeles")
    assert changed["changes"] == ["time zone Europe/Berlin -> America/Los_Angeles"]
    assert cli.json("org", "set", "Initech", "--tz", "")["calendar_timezone"] == "America/Chicago"
    assert "unknown time zone 'Mars/Olympus'" in cli("org", "set", "Initech", "--tz", "Mars/Olympus", code=2)
    # A policy whose hours are not local keeps its own zone whatever the organisation's.
    cli(
        "org",
        "add",
        "Acme",
        "--policy",
        "resource-optimizer",
        "--domain",
        "acme.example",
        "--tz",
        "Asia/Tokyo",
    )
    assert cli.json("org", "show", "Acme")["calendar_timezone"] == "Etc/GMT"


def test_revalize_case_owner(cli: Cli) -> None:
    """ "Each case will be assigned to a Revalize Customer Support Case Owner.\""""
    cli("org", "add", "Contoso", "--policy", "revalize", "--domain", "contoso.example")
    cli("contact", "add", "Contoso", "ana@contoso.example")
    cli("contact", "add", "Contoso", "ben@contoso.example")
    cli.mail("2026-11-16T15:00:00+00:00", sender="ana@contoso.example", subject="Quote PDF", body="No logo.")
    assert cli.ticket("support-1")["owner"] is None
    assert cli.json("reply", "support-1", "--text", "Checking.", "--now", "2026-11-16T16:00:00+00:00")[
        "owner"
    ]
    assert cli.ticket("support-1")["owner"] == "engineer"


def test_rezilion_closes_on_a_confident_answer(cli: Cli) -> None:
    """ "Support requests may be closed when a support representative has provided an electronic
    reply with a high degree of confidence that his/her reply will resolve the issue." Rezilion has
    no resolved status (Table 1): the case closes."""
    _rezilion(cli)
    cli.mail("2026-11-16T15:00:00+00:00", sender="a@initech.example", subject="How to export", body="How?")
    done = cli.json(
        "reply", "support-1", "--text", "Use Export.", "--resolve", "--now", "2026-11-16T16:00:00+00:00"
    )
    assert (done["status"], done["close_reason"]) == ("closed", "resolved")


# --- finding 12: offsets survive the store ----------------------------------------------


def test_a_non_utc_now_is_stored_as_the_same_instant(cli: Cli) -> None:
    """Rezilion "Critical 2 Business Hours": received 10:00 -05:00 (09:00 CST) is 15:00 UTC,
    due 11:00 CST = 17:00 UTC; stored and read back as those instants, not 10:00 UTC."""
    _rezilion(cli)
    cli.mail("2026-11-16T10:00:00-05:00", sender="a@initech.example", subject="Critical: down", body=OUTAGE)
    ticket = cli.ticket("support-1")
    assert at(ticket["created_at"]) == datetime.fromisoformat("2026-11-16T15:00:00+00:00")
    assert ticket["created_at"].endswith("+00:00")
    assert at(ticket["first_response_due"]) == datetime.fromisoformat("2026-11-16T17:00:00+00:00")


def test_functionize_critical_receipt_asks_for_a_24x7_contact(cli: Cli) -> None:
    """4. Priority Definitions: "Except as otherwise specified, Functionize provides 24 hour support for
    critical priority service requests. You must provide FSS with a contact during this 24x7 period,
    either on site or by phone"."""
    cli("org", "add", "Fabrikam", "--policy", "functionize", "--domain", "fabrikam.example")
    cli("contact", "add", "Fabrikam", "lead@fabrikam.example", "--role", "primary")
    cli.mail(
        "2026-11-16T03:00:00+00:00",
        sender="lead@fabrikam.example",
        subject="[Critical] all test runs fail",
        body="Priority: Critical\nEvery scheduled run in production fails to start since 02:40.",
    )
    cli.mail(
        "2026-11-16T18:00:00+00:00",
        sender="lead@fabrikam.example",
        subject="Priority: High - selector drift",
        body="Priority: High\nRecorded selectors break on the new checkout page in production.",
    )
    critical, high = (cli.ticket(ref) for ref in ("support-1", "support-2"))
    assert (critical["severity"], high["severity"]) == ("critical", "high")
    # Critical: 2 hours around the clock.
    assert at(critical["first_response_due"]) == datetime.fromisoformat("2026-11-16T05:00:00+00:00")
    acks = {row["ticket_id"]: row["body"] for row in cli.outbox() if row["template"] == "ack"}
    assert "contact during this 24x7 period" in acks[critical["id"]]
    assert "contact during this 24x7 period" not in acks[high["id"]]
