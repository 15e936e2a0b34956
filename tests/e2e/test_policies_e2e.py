"""One end-to-end story per seed policy, driven only through the command line with --now.

Each runs on SQLite and on PostgreSQL (where timers are claimed with FOR UPDATE
SKIP LOCKED). Due times are read back from the tickets themselves and the
scheduler is ticked just before and at them, so the stories hold whatever the
classifier proposes; the exact business-time arithmetic has its own table of
worked examples in tests/unit/test_calendar.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.policies.loader import load_all
from tests.conftest import MailBuilder
from tests.e2e.cli import invoke


class Cli:
    """Runs `intake ...` in this process (same entry point as the console script)."""

    def __init__(self, tmp_path: Path, make_mail: MailBuilder) -> None:
        self.tmp_path = tmp_path
        self.make_mail = make_mail
        self.count = 0

    def __call__(self, *args: str, code: int = 0) -> str:
        done = invoke(list(args))
        assert done.code == code, (args, done)
        return done.out + done.err

    def json(self, *args: str) -> Any:
        done = invoke([*args, "--json"])
        assert done.code == 0, (args, done)
        return json.loads(done.out)

    def mail(self, now: str, **kwargs: Any) -> dict[str, int]:
        """Ingest one mail at `now`; returns the ingest summary."""
        self.count += 1
        path = self.tmp_path / f"mail-{self.count}.eml"
        kwargs.setdefault("date", datetime.fromisoformat(now))
        path.write_bytes(self.make_mail(**kwargs))
        summary: dict[str, int] = self.json("ingest", str(path), "--now", now)
        return summary

    def ticket(self, ref: str) -> dict[str, Any]:
        doc: dict[str, Any] = self.json("tickets", "show", ref)
        return doc

    def outbox(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.json("outbox", "list")
        return sorted(rows, key=lambda r: r["id"])

    def tick(self, now: datetime | str) -> dict[str, Any]:
        at = now.isoformat() if isinstance(now, datetime) else now
        doc: dict[str, Any] = self.json("tick", "--now", at)
        return doc


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    config = tmp_path / "intake.toml"
    config.write_text('[escalation]\nnotify = ["leads@vendor.example"]\n')
    monkeypatch.setenv("INTAKE_DATABASE_URL", db_url)
    monkeypatch.setenv("INTAKE_CONFIG", str(config))
    runner = Cli(tmp_path, make_mail)
    runner("init")
    yield runner


def at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def templates_to(outbox: list[dict[str, Any]], recipient: str) -> list[str]:
    return [row["template"] for row in outbox if row["recipient"] == recipient]


def dropped_then_reopened(cli: Cli, ref: str, customer: str, asked: str) -> None:
    """Info request, then silence: the policy's reminder and close; then the customer's reply reopens."""
    cli("reply", ref, "--text", "Could you send the log?", "--request-info", "--now", asked)
    assert cli.ticket(ref)["status"] == "waiting_on_customer"
    info = cli.outbox()[-1]
    assert info["template"] == "info_request" and info["recipient"] == customer
    policy = cli.json("policies", "show", cli.ticket(ref)["policy"])
    fired: Counter[str] = Counter()
    start = datetime.fromisoformat(asked)
    for hour in range(0, 21 * 24, 6):  # a scheduler that runs every six hours, for three weeks
        fired.update(cli.tick(start + timedelta(hours=hour))["fired"])
    later = start + timedelta(days=21)
    assert fired == {"reminder": len(policy["dropped"]["remind_after"]), "auto_close": 1}, fired
    closed = cli.ticket(ref)
    assert (closed["status"], closed["close_reason"]) == ("closed", "dropped")
    reminders = len(policy["dropped"]["remind_after"])
    # Revalize: "When a case is closed, the partner contact ... will receive an email inviting them
    # to complete a brief online Customer Satisfaction (CSAT) survey": a dropped case too.
    survey = ["csat_survey"] if policy["closing"]["survey"] else []
    expected = ["reminder"] * reminders + ["closing", *survey]
    assert templates_to(cli.outbox(), customer)[-len(expected) :] == expected
    assert cli.tick(later)["total"] == 0
    replied = at(closed["closed_at"]) + timedelta(days=1)  # within every policy's reopen window
    cli.mail(
        replied.isoformat(),
        sender=customer,
        subject=f"Re: [{ref}] here is the log",
        headers={"In-Reply-To": f"<{info['message_id']}>"},
    )
    assert cli.ticket(ref)["status"] == "reopened"


def test_resource_optimizer(cli: Cli) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example", "--name", "Dana Smith")

    assert (
        cli.mail(
            "2026-11-13T15:30:00+00:00",
            message_id="<ro-1@acme.example>",
            subject="Rota publishing fails for some planners",
        )["tickets"]
        == 1
    )
    ticket = cli.ticket("support-1")
    assert (ticket["status"], ticket["contact_status"], ticket["policy"]) == (
        "acknowledged",
        "designated",
        "resource-optimizer",
    )
    assert ticket["acknowledged_at"] == "2026-11-13T15:30:00+00:00"
    [ack] = cli.outbox()
    assert ack["template"] == "ack" and ack["recipient"] == "dana@acme.example"
    assert ack["subject"].startswith("[support-1] ") and ack["in_reply_to"] == "ro-1@acme.example"
    # the acknowledgement names the level the ticket got and the first-response time it promises
    policy = load_all()["resource-optimizer"]
    assert f"Severity: {policy.level(ticket['severity']).label}\n" in ack["body"]
    due = datetime.fromisoformat(ticket["first_response_due"]).astimezone(policy.calendar(None).timezone)
    assert f"by {due.strftime('%a %d %b %Y %H:%M')}" in ack["body"]

    # the engineer asks for information: the dropped-ticket clock starts (reminder, close after 3 days)
    asked = datetime.fromisoformat("2026-11-16T09:00:00+00:00")
    cli(
        "reply",
        "support-1",
        "--text",
        "Which release are you on?",
        "--request-info",
        "--now",
        asked.isoformat(),
    )
    assert cli.ticket("support-1")["status"] == "waiting_on_customer"
    info = cli.outbox()[-1]
    assert info["template"] == "info_request" and "Which release" in info["body"]

    assert cli.tick(asked + timedelta(days=2) - timedelta(minutes=1))["total"] == 0
    assert cli.tick(asked + timedelta(days=2))["fired"] == {"reminder": 1}
    assert cli.tick(asked + timedelta(days=2))["total"] == 0
    assert cli.outbox()[-1]["template"] == "reminder"
    assert cli.tick(asked + timedelta(days=3))["fired"] == {"auto_close": 1}
    closed = cli.ticket("support-1")
    assert (closed["status"], closed["close_reason"]) == ("closed", "dropped")
    assert cli.outbox()[-1]["template"] == "closing"
    assert cli.tick(asked + timedelta(days=3))["total"] == 0

    # the customer answers after the close: "At Resource Optimizer's sole discretion, Incidents will be
    # re-opened": a reopen request for an engineer (the case stays closed); `reply --reopen` reopens
    cli.mail(
        "2026-11-20T10:00:00+00:00",
        subject="Re: [support-1] Rota publishing fails",
        headers={"In-Reply-To": f"<{info['message_id']}>"},
    )
    requested = cli.ticket("support-1")
    assert (requested["status"], requested["needs_review"]) == ("closed", True)
    assert len(requested["messages"]) == 2
    cli("reply", "support-1", "--text", "Reopened.", "--reopen", "--now", "2026-11-20T11:00:00+00:00")
    reopened = cli.ticket("support-1")
    assert (reopened["status"], reopened["closed_at"]) == ("in_progress", None)

    # a colleague who is not a designated contact: held, told who may open tickets, Dana told
    cli.mail("2026-11-20T11:00:00+00:00", sender="Kim Lee <kim@acme.example>", subject="Report export broken")
    held = cli.ticket("support-2")
    assert (held["status"], held["contact_status"]) == ("pending_authorisation", "not_designated")
    rows = cli.outbox()
    assert templates_to(rows, "kim@acme.example") == ["not_a_contact"]
    notice = next(
        r for r in rows if r["recipient"] == "dana@acme.example" and r["template"] == "contacts_notice"
    )
    assert "Dana Smith (designated)" in next(r for r in rows if r["template"] == "not_a_contact")["body"]
    assert "dana@acme.example" not in next(r for r in rows if r["template"] == "not_a_contact")["body"]
    # Dana confirms by replying to the notice: the request is acknowledged to Kim
    cli.mail(
        "2026-11-20T11:30:00+00:00",
        subject="Re: held request",
        message_id="<auth@acme.example>",
        headers={"In-Reply-To": f"<{notice['message_id']}>"},
    )
    assert cli.ticket("support-2")["status"] == "acknowledged"
    assert templates_to(cli.outbox(), "kim@acme.example") == ["not_a_contact", "ack"]

    # a sender of no known organisation
    cli.mail("2026-11-20T12:00:00+00:00", sender="someone@elsewhere.example", subject="Question")
    stranger = cli.ticket("support-3")
    assert (stranger["status"], stranger["contact_status"], stranger["org"]) == (
        "pending_authorisation",
        "unknown",
        None,
    )


def test_resilio_connect(cli: Cli) -> None:
    cli("org", "add", "Northwind", "--policy", "resilio-connect", "--domain", "northwind.example")
    for n in range(5):
        cli("contact", "add", "Northwind", f"rep{n}@northwind.example")
    refused = cli("contact", "add", "Northwind", "rep5@northwind.example", code=2)
    assert "allows 5 designated contact(s)" in refused and len(refused.strip().splitlines()) == 1

    # email is not a supported channel: the sender is pointed at the portal, the mail kept as a closed ticket
    cli.mail("2026-11-16T10:00:00+00:00", sender="rep0@northwind.example", subject="Sync stuck at 99%")
    ticket = cli.ticket("support-1")
    assert (ticket["status"], ticket["close_reason"], ticket["contact_status"]) == (
        "closed",
        "unsupported_channel",
        "designated",
    )
    [redirect] = cli.outbox()
    assert redirect["template"] == "portal_redirect" and "Contact Support form" in redirect["body"]
    assert cli.tick("2026-11-30T10:00:00+00:00")["total"] == 0
    # a reply to the redirect is still email: pointed at the portal again, the ticket stays closed
    cli.mail(
        "2026-11-16T10:30:00+00:00",
        sender="rep0@northwind.example",
        subject="Re: [support-1] Sync stuck",
        headers={"In-Reply-To": f"<{redirect['message_id']}>"},
    )
    assert cli.ticket("support-1")["status"] == "closed"
    assert [r["template"] for r in cli.outbox()] == ["portal_redirect", "portal_redirect"]

    policy = cli.json("policies", "show", "resilio-connect")
    assert policy["acknowledgement"]["counts_as_first_response"] is False


def test_revalize(cli: Cli) -> None:
    cli("org", "add", "Contoso", "--policy", "revalize", "--domain", "contoso.example")
    warned = cli("contact", "add", "Contoso", "ana@contoso.example", "--name", "Ana")
    assert "at least 2 designated contacts" in warned
    cli("contact", "add", "Contoso", "ben@contoso.example", "--name", "Ben")

    # Severity 1 is for production only: a test-environment claim is lowered and flagged
    cli.mail(
        "2026-11-16T14:00:00+00:00",
        sender="ana@contoso.example",
        subject="Severity 1 - quoting engine down in our TEST environment",
        body="Environment: test\nThe quoting engine in our test environment returns errors on every quote.",
    )
    ticket = cli.ticket("support-1")
    assert ticket["severity"] == "s2" and ticket["needs_review"] is True
    assert ticket["environment"] == "test"
    assert any(r["template"] == "ack" for r in cli.outbox())

    # Revalize's acknowledgement is not a first response: missing the first response escalates
    due = at(ticket["first_response_due"])
    assert cli.tick(due - timedelta(seconds=1))["fired"].get("first_response_breach") is None
    fired = cli.tick(due)["fired"]
    assert fired.get("first_response_breach") == 1
    assert cli.ticket("support-1")["status"] == "escalated"
    assert templates_to(cli.outbox(), "leads@vendor.example")[-1] == "escalation"

    # resolved, then closed when nobody reopens it, with the survey mail
    cli(
        "reply",
        "support-1",
        "--text",
        "Fixed by hotfix 4.2.1.",
        "--resolve",
        "--now",
        "2026-11-18T10:00:00+00:00",
    )
    assert cli.ticket("support-1")["status"] == "resolved"
    assert cli.tick("2026-11-30T10:00:00+00:00")["fired"].get("auto_close_resolved") == 1
    closed = cli.ticket("support-1")
    assert (closed["status"], closed["close_reason"]) == ("closed", "resolved")
    assert templates_to(cli.outbox(), "ana@contoso.example")[-1] == "csat_survey"

    # a contact transfer takes effect after 5 business days' notice
    notice = cli("contact", "add", "Contoso", "cy@contoso.example", "--replaces", "ben@contoso.example")
    assert "transfer notice" in notice

    cli.mail(
        "2026-12-01T14:00:00+00:00",
        sender="ana@contoso.example",
        subject="Quote PDF misses the logo",
        body="Since Monday the quote PDFs in production have no logo; everything else is fine.",
    )
    dropped_then_reopened(cli, "support-2", "ana@contoso.example", "2026-12-01T15:00:00+00:00")


def test_functionize(cli: Cli) -> None:
    cli("org", "add", "Fabrikam", "--policy", "functionize", "--domain", "fabrikam.example")
    cli("contact", "add", "Fabrikam", "lead@fabrikam.example", "--role", "primary")
    assert "allows 1 primary" in cli(
        "contact", "add", "Fabrikam", "two@fabrikam.example", "--role", "primary", code=2
    )
    cli("contact", "add", "Fabrikam", "b1@fabrikam.example")
    cli("contact", "add", "Fabrikam", "b2@fabrikam.example")
    assert "allows 2 backup" in cli(
        "contact", "add", "Fabrikam", "b3@fabrikam.example", "--role", "backup", code=2
    )

    # email is Functionize's fallback channel; the customer states Critical, which is theirs to set (24x7, 2h)
    cli.mail(
        "2026-11-15T03:00:00+00:00",
        sender="lead@fabrikam.example",
        subject="[Critical] all test runs fail",
        body="Priority: Critical\nEvery scheduled run in production fails to start since 02:40.",
    )
    ticket = cli.ticket("support-1")
    assert ticket["severity"] == "critical" and ticket["status"] == "acknowledged"
    assert at(ticket["first_response_due"]) == datetime.fromisoformat("2026-11-15T05:00:00+00:00")
    fired = cli.tick("2026-11-15T05:00:00+00:00")["fired"]
    assert fired.get("first_response_warn") == 1 and fired.get("first_response_breach") == 1
    assert cli.ticket("support-1")["status"] == "escalated"

    # an engineer's answer in time stops the first-response clock of a second ticket
    cli.mail(
        "2026-11-16T16:00:00+00:00",
        sender="b1@fabrikam.example",
        subject="Priority: High - selector drift",
        body="Priority: High\nRecorded selectors break on the new checkout page in production.",
    )
    second = cli.ticket("support-2")
    cli("reply", "support-2", "--text", "Looking at it now.", "--now", "2026-11-16T16:30:00+00:00")
    assert cli.tick(at(second["first_response_due"]))["fired"].get("first_response_breach") is None
    assert cli.ticket("support-2")["status"] == "in_progress"
    dropped_then_reopened(cli, "support-2", "b1@fabrikam.example", "2026-11-17T10:00:00+00:00")


def test_rezilion(cli: Cli) -> None:
    cli("org", "add", "Initech", "--policy", "rezilion", "--plan", "standard", "--domain", "initech.example")
    for name in ("a", "b", "c", "d"):
        cli("contact", "add", "Initech", f"{name}@initech.example")
    assert "allows 4 designated" in cli("contact", "add", "Initech", "e@initech.example", code=2)

    cli.mail(
        "2026-11-16T15:00:00+00:00",
        sender="a@initech.example",
        message_id="<rz-1@initech.example>",
        subject="Critical: scanner reports nothing since upgrade",
        body="Severity: Critical\nOur production scanner has reported no findings for any host since 9am.",
    )
    ticket = cli.ticket("support-1")
    assert ticket["severity"] == "critical" and ticket["status"] == "acknowledged"
    assert ticket["resolution_due"] is not None

    # the customer escalates by mail with the case number in the subject
    cli.mail(
        "2026-11-17T09:00:00+00:00",
        sender="b@initech.example",
        subject="Escalation [support-1] scanner still silent",
        body="Please escalate, we are exposed.",
    )
    assert cli.ticket("support-1")["status"] == "escalated"
    assert templates_to(cli.outbox(), "leads@vendor.example") == ["escalation"]

    # waiting on the customer pauses the resolution clock; their answer resumes it, later
    before = at(cli.ticket("support-1")["resolution_due"])
    cli(
        "reply",
        "support-1",
        "--text",
        "Please send the agent log.",
        "--request-info",
        "--now",
        "2026-11-17T10:00:00+00:00",
    )
    cli.mail("2026-11-18T10:00:00+00:00", sender="a@initech.example", subject="Re: [support-1] log attached")
    resumed = cli.ticket("support-1")
    assert resumed["status"] == "in_progress"
    assert at(resumed["resolution_due"]) > before

    # the resolution target passes: escalated
    cli("reply", "support-1", "--text", "Still investigating", "--now", "2026-11-18T11:00:00+00:00")
    assert cli.tick(at(resumed["resolution_due"]))["fired"].get("resolution_breach") == 1
    assert cli.ticket("support-1")["status"] == "escalated"

    # "closed after multiple contact attempts without answer"
    cli.mail(
        "2026-12-01T15:00:00+00:00",
        sender="c@initech.example",
        subject="Report filter ignores tags",
        body="The tag filter on the findings report is ignored; we filter by hand for now.",
    )
    dropped_then_reopened(cli, "support-2", "c@initech.example", "2026-12-01T16:00:00+00:00")


def test_enhancements_are_closed_as_each_policy_says(cli: Cli) -> None:
    """Resource Optimizer IV.B.2: "these Support Cases are closed once the information has been recorded
    in our Product Request tool"; Revalize: "Once a product enhancement request has been transferred to
    Revalize Product Management and any additional information needed for review has been collected from
    the partner, Customer Support will close the case." Nothing is closed, nor claimed, before it happened."""
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli("org", "add", "Contoso", "--policy", "revalize", "--domain", "contoso.example")
    cli("contact", "add", "Contoso", "ana@contoso.example")
    idea = (
        "It would be great if a future release could export the weekly plan as an iCal feed so staff "
        "see shifts in their calendars. Just an idea for the roadmap."
    )
    cli.mail("2026-11-16T09:00:00+00:00", subject="Feature request: export planner to iCal", body=idea)
    cli.mail(
        "2026-11-16T09:05:00+00:00",
        sender="ana@contoso.example",
        subject="Feature request: export quotes to iCal",
        body=idea,
    )
    recorded, transferred = cli.ticket("support-1"), cli.ticket("support-2")
    assert (recorded["category"], recorded["status"], recorded["severity"]) == (
        "enhancement",
        "acknowledged",
        "s4",
    )
    assert transferred["status"] == "acknowledged"
    assert not any("recorded in" in r["body"] or "passed to" in r["body"] for r in cli.outbox())
    register = {e["ref"]: e for e in cli.json("enhancements", "list")}
    assert {register["support-1"]["state"], register["support-2"]["state"]} <= {
        "awaiting_record",
        "awaiting_review",
    }
    # A person records it: then the case closes, and the mail says what happened.
    done = cli.json("enhancements", "record", "support-1", "--now", "2026-11-16T10:00:00+00:00")
    assert (done["state"], done["destination"], done["status"]) == (
        "recorded",
        "Product Request tool",
        "closed",
    )
    assert cli.ticket("support-1")["close_reason"] == "enhancement_recorded"
    mail = cli.outbox()[-1]
    assert "recorded in Product Request tool" in mail["body"]
    assert (
        "We do not send feedback" in mail["body"]
    )  # "will not provide feedback on such enhancement requests"
    # Revalize: transferred, but open until the partner's information is collected.
    step = cli.json("enhancements", "record", "support-2", "--now", "2026-11-16T10:00:00+00:00")
    assert (step["state"], step["status"]) == ("awaiting_information", "acknowledged")
    closed = cli.json(
        "enhancements", "record", "support-2", "--complete", "--now", "2026-11-17T10:00:00+00:00"
    )
    assert (closed["state"], closed["status"]) == ("transferred", "closed")
    assert templates_to(cli.outbox(), "ana@contoso.example")[-2:] == ["closing", "csat_survey"]
    assert "Revalize Product Management" in cli.outbox()[-2]["body"]
    exported = cli("enhancements", "export", "--format", "csv")
    assert exported.splitlines()[0].startswith("ref,state,policy,org")
    assert "support-1,recorded,resource-optimizer,Acme" in exported


def test_an_unsure_enhancement_is_not_closed_unseen(cli: Cli) -> None:
    """Issue 12 finding 6: a defect classed enhancement at low confidence waits for a person."""
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli.mail(
        "2026-11-16T09:00:00+00:00",
        subject="Custom SQL report",
        body="our custom SQL report stopped working after the upgrade. Could you fix it?",
    )
    ticket = cli.ticket("support-1")
    assert ticket["status"] == "acknowledged" and ticket["closed_at"] is None


def test_functionize_has_no_enhancement_rule(cli: Cli) -> None:
    """Functionize 4: Low is "You request information, an enhancement, or documentation clarification";
    3: "Low - Limited business impact 24 hours". No closing rule: a Low request with its goal."""
    cli("org", "add", "Fabrikam", "--policy", "functionize", "--domain", "fabrikam.example")
    cli("contact", "add", "Fabrikam", "lead@fabrikam.example", "--role", "primary")
    cli.mail(
        "2026-11-16T17:00:00+00:00",
        sender="lead@fabrikam.example",
        subject="Feature request: export results to iCal",
        body="It would be great if a future release could export test schedules as an iCal feed. "
        "Just an idea.",
    )
    ticket = cli.ticket("support-1")
    assert ticket["status"] == "acknowledged"
    if ticket["category"] == "enhancement":
        assert ticket["severity"] == "low"
        # 24 business hours of 09:00-17:00 Pacific from Mon 09:00 PST (17:00Z): Mon, Tue, Wed to
        # 17:00 PST = Thu 01:00Z.
        assert at(ticket["first_response_due"]) == datetime.fromisoformat("2026-11-19T01:00:00+00:00")
    assert "no rule for enhancement requests" in cli("enhancements", "record", "support-1", code=2)


def test_out_of_scope_closure(cli: Cli) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli.mail(
        "2026-11-16T09:00:00+00:00", subject="Our custom plugin crashes", body="Our in-house plugin fails."
    )
    cli(
        "reply",
        "support-1",
        "--text",
        "Custom code is outside support.",
        "--out-of-scope",
        "--now",
        "2026-11-16T10:00:00+00:00",
    )
    closed = cli.ticket("support-1")
    assert (closed["status"], closed["close_reason"]) == ("closed", "out_of_scope")
    assert "falls outside the scope" in cli.outbox()[-1]["body"]
    # III.B: "if a non-supported Incident is submitted, they may be referred to their Partner of record"
    assert "You may take it to your Partner of record." in cli.outbox()[-1]["body"]
    # Functionize's document has no such closure (Rezilion's 2.4 exclusions do: test_policy_documents).
    cli("org", "add", "Initech", "--policy", "functionize", "--domain", "initech.example")
    cli("contact", "add", "Initech", "a@initech.example", "--role", "primary")
    cli.mail("2026-11-16T11:00:00+00:00", sender="a@initech.example", subject="Custom script fails")
    assert "no out-of-scope closure" in cli("reply", "support-2", "--text", "x", "--out-of-scope", code=2)
