"""The pipeline spine against a real store: SQLite and PostgreSQL (each test runs on both)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from channels.parse import parse_one
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import STEPS, Outcome, ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Outbox, Quarantine, Ticket, TriageDecision
from tests.conftest import MailBuilder


def run(runtime: Runtime, raws: Sequence[bytes]) -> list[Outcome]:
    now = runtime.clock.now()
    items = [parse_one(raw, f"test-{i}", now) for i, raw in enumerate(raws)]
    with runtime.deps() as deps:
        return ingest(items, deps)


@pytest.fixture
def acme(runtime: Runtime) -> Runtime:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        add_org(session, runtime.clock, "Globex", "functionize", None, ["globex.example"])
        session.commit()
    return runtime


def test_steps_are_in_the_documented_order() -> None:
    names = ["guard", "identity", "dedup", "thread", "contact", "classify", "decide", "persist"]
    assert [s.NAME for s in STEPS] == names


def test_new_mail_opens_a_ticket_acknowledged_with_an_audit_row(
    acme: Runtime, make_mail: MailBuilder
) -> None:
    [outcome] = run(acme, [make_mail(subject="Nobody can log in", message_id="<first@acme.example>")])
    assert outcome.disposition == "ticket" and outcome.ticket_id is not None
    with acme.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        assert (ticket.status, ticket.policy, ticket.contact_status) == (
            "acknowledged",
            "resource-optimizer",
            "designated",
        )
        assert ticket.needs_review is True
        assert ticket.acknowledged_at == acme.clock.now()
        decision = session.scalars(select(TriageDecision)).one()
        steps = [h["step"] for h in decision.hits]
        assert "contact.designated" in steps and "decide.acknowledged" in steps
        message = session.scalars(select(Message)).one()
        assert b"Subject: Nobody can log in" in message.raw
        ack = session.scalars(select(Outbox)).one()
        assert ack.template == "ack" and ack.recipient == "dana@acme.example"
        assert ack.subject.startswith(f"[support-{ticket.id}]") and ack.in_reply_to == "first@acme.example"
        assert f"support-{ticket.id}" in ack.body_text


def test_reply_threads_by_in_reply_to_even_in_the_same_batch(acme: Runtime, make_mail: MailBuilder) -> None:
    first = make_mail(message_id="<root@acme.example>")
    reply = make_mail(subject="Re: Export fails", headers={"In-Reply-To": "<root@acme.example>"})
    a, b = run(acme, [first, reply])
    assert (a.disposition, b.disposition) == ("ticket", "followup")
    assert a.ticket_id == b.ticket_id
    later = make_mail(subject="Re: Export fails", headers={"References": "<x@y> <root@acme.example>"})
    [c] = run(acme, [later])
    assert (c.disposition, c.ticket_id) == ("followup", a.ticket_id)


def test_reply_to_our_own_outgoing_message_threads(acme: Runtime, make_mail: MailBuilder) -> None:
    [a] = run(acme, [make_mail()])
    with acme.sessions() as session:
        now = acme.clock.now()
        session.add(
            Outbox(
                ticket_id=a.ticket_id,
                template="ack",
                channel="email",
                recipient="dana@acme.example",
                message_id="ack-1@vendor.example",
                next_attempt_at=now,
                created_at=now,
            )
        )
        session.commit()
    [b] = run(acme, [make_mail(subject="Re: your ticket", headers={"In-Reply-To": "<ack-1@vendor.example>"})])
    assert (b.disposition, b.ticket_id) == ("followup", a.ticket_id)


def test_subject_reference_only_from_the_same_organisation(acme: Runtime, make_mail: MailBuilder) -> None:
    [a] = run(acme, [make_mail()])
    ref = f"[support-{a.ticket_id}]"
    [ok] = run(acme, [make_mail(sender="kim@acme.example", subject=f"Re: {ref} Export fails")])
    assert (ok.disposition, ok.ticket_id) == ("followup", a.ticket_id)
    [other] = run(acme, [make_mail(sender="eve@globex.example", subject=f"{ref} please close")])
    assert other.disposition == "ticket" and other.ticket_id != a.ticket_id
    with acme.sessions() as session:
        decision = session.scalars(
            select(TriageDecision).where(TriageDecision.ticket_id == other.ticket_id)
        ).one()
        assert any(h["step"] == "thread.stranger" for h in decision.hits)


def test_duplicates_by_message_id_and_by_content_hash(acme: Runtime, make_mail: MailBuilder) -> None:
    mail = make_mail(message_id="<dup@acme.example>")
    no_id = make_mail(message_id="", subject="No id here")
    outcomes = run(acme, [mail, mail, no_id])
    assert [o.disposition for o in outcomes] == ["ticket", "duplicate", "ticket"]
    again = run(acme, [mail, no_id])
    assert [o.disposition for o in again] == ["duplicate", "duplicate"]
    with acme.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2


@pytest.mark.parametrize(
    ("headers", "step"),
    [
        ({"Auto-Submitted": "auto-replied"}, "guard.auto-submitted"),
        ({"Precedence": "bulk"}, "guard.bulk"),
        ({"List-Id": "<announce.lists.example>"}, "guard.list"),
        ({"X-Autoreply": "yes"}, "guard.auto-reply"),
        ({"Return-Path": "<>"}, "guard.bounce"),
        ({"X-Failed-Recipients": "nobody@acme.example"}, "guard.bounce"),
    ],
)
def test_guard_drops_and_keeps_automatic_mail(
    acme: Runtime, make_mail: MailBuilder, headers: dict[str, str], step: str
) -> None:
    mail = make_mail(headers=headers)
    [outcome] = run(acme, [mail])
    assert outcome.disposition == "dropped"
    with acme.sessions() as session:
        kept = session.scalars(select(Message)).one()
        assert kept.disposition == "dropped" and kept.ticket_id is None and kept.raw
        decision = session.scalars(select(TriageDecision)).one()
        assert decision.hits[-1]["step"] == step
    [again] = run(acme, [mail])
    assert again.disposition == "duplicate"


def test_guard_drops_our_own_mail_and_a_delivery_report(acme: Runtime, make_mail: MailBuilder) -> None:
    own = make_mail(sender="Support <support@vendor.example>")
    report = (
        b"From: MAILER-DAEMON@mx.acme.example\r\nTo: support@vendor.example\r\nSubject: failure\r\n"
        b"Message-ID: <dsn-1@mx.acme.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n"
    )
    outcomes = run(acme, [own, report])
    assert [o.disposition for o in outcomes] == ["dropped", "dropped"]
    assert "own" in outcomes[0].reason or "our own" in outcomes[0].reason


def test_contact_status_unknown_not_designated_and_spoofed(acme: Runtime, make_mail: MailBuilder) -> None:
    spoofed = make_mail(
        subject="Change of bank details",
        headers={
            "Authentication-Results": "mx.vendor.example; spf=fail smtp.mailfrom=acme.example; dkim=none; "
            "dmarc=fail header.from=acme.example"
        },
    )
    outcomes = run(
        acme,
        [
            make_mail(sender="stranger@nowhere.example", subject="Hello"),
            make_mail(sender="kim@acme.example", subject="Hi"),
            spoofed,
        ],
    )
    with acme.sessions() as session:
        tickets = [session.get(Ticket, o.ticket_id) for o in outcomes]
        assert [t.contact_status for t in tickets if t] == ["unknown", "not_designated", "not_designated"]
        assert [t.status for t in tickets if t] == ["pending_authorisation"] * 3


def test_unreadable_mail_is_quarantined_once_with_its_reason(acme: Runtime) -> None:
    garbage = b"\x00\x01\x02 not a mail"
    [outcome] = run(acme, [garbage])
    assert outcome.disposition == "quarantined" and outcome.reason
    [again] = run(acme, [garbage])
    assert again.disposition == "quarantined"
    with acme.sessions() as session:
        rows = session.scalars(select(Quarantine)).all()
        assert len(rows) == 1 and rows[0].raw == garbage and rows[0].reason


def test_received_time_is_the_clock(acme: Runtime, make_mail: MailBuilder) -> None:
    [outcome] = run(acme, [make_mail()])
    with acme.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.created_at == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_the_decision_row_keeps_the_model_probabilities_and_reasons(
    acme: Runtime, make_mail: MailBuilder
) -> None:
    mail = make_mail(
        subject="Production is down",
        body="Nobody in the company can log in since 8am, all users get error 503 on the production portal.",
    )
    [outcome] = run(acme, [mail])
    with acme.sessions() as session:
        decision = session.scalars(select(TriageDecision)).one()
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.canonical_severity == "critical" and ticket.severity == "s1"
        assert decision.model_version and decision.model_version.startswith("tfidf-")
        probabilities = decision.outputs["probabilities"]
        assert set(probabilities["severity"]) == {"critical", "high", "medium", "low"}
        assert abs(sum(probabilities["severity"].values()) - 1) < 0.01
        assert set(probabilities["category"]) == {
            "question",
            "defect",
            "configuration",
            "account",
            "enhancement",
        }
        assert decision.outputs["reasons"] and decision.confidence == ticket.confidence
        assert any(h["step"] == "classify.model" for h in decision.hits)


def test_a_spoofed_sender_cannot_join_a_ticket_by_its_reference(
    acme: Runtime, make_mail: MailBuilder
) -> None:
    [a] = run(acme, [make_mail()])
    spoofed = make_mail(
        sender="dana@acme.example",
        subject=f"Re: [support-{a.ticket_id}] please send the invoice data here",
        headers={"Authentication-Results": "mx.vendor.example; dmarc=fail header.from=acme.example"},
    )
    [b] = run(acme, [spoofed])
    assert b.disposition == "ticket" and b.ticket_id != a.ticket_id
    with acme.sessions() as session:
        ticket = session.get(Ticket, b.ticket_id)
        assert ticket is not None and ticket.contact_status == "not_designated"
        assert ticket.status == "pending_authorisation"
