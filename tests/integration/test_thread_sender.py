"""Threading respects the sender (issue 8, defect 4 and requirement 3), on SQLite and PostgreSQL.

Every way of naming a ticket (In-Reply-To, References at any position, a subject
reference, one of our own outgoing Message-IDs) is tried by strangers, by
another organisation's designated contact and with header tricks; each must open
a new held ticket with the reason, leave the named ticket untouched, and lose
nothing. Reopening and escalating by mail need a designated contact of the
ticket's organisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from channels.parse import parse_one
from intake.customers.orgs import add_contact, add_org
from intake.models import InboundMessage
from intake.pipeline import Outcome, ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Organisation, Outbox, Ticket, TriageDecision
from tests.conftest import MailBuilder

AUTH = "mx.vendor.example; spf=pass smtp.mailfrom={d}; dkim=pass header.d={d}; dmarc=pass header.from={d}"
ROOT = "<acme-1@mail.acme.example>"


def run(runtime: Runtime, raws: Sequence[bytes]) -> list[Outcome]:
    now = runtime.clock.now()
    items = [parse_one(raw, f"test-{i}", now) for i, raw in enumerate(raws)]
    with runtime.deps(classifier=False) as deps:
        return ingest(items, deps)


def signed(make_mail: MailBuilder, sender: str, **kwargs: object) -> bytes:
    """Mail whose From passed DMARC at the trusted MX."""
    domain = sender.rpartition("@")[2].strip(">")
    headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
    headers.setdefault("Authentication-Results", AUTH.format(d=domain))
    return make_mail(sender=sender, headers=headers, **kwargs)


@pytest.fixture
def world(runtime: Runtime, make_mail: MailBuilder) -> Runtime:
    """The hostile suite's world: Acme (dana, lee designated), Globex (hank), dana's open ticket."""
    runtime.settings.guard.trusted_authserv_ids = ["mx.vendor.example"]
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        add_contact(session, runtime.clock, "Acme", "lee@acme.example", "Lee Park", "designated")
        add_org(session, runtime.clock, "Globex", "rezilion", "standard", ["globex.example"])
        add_contact(session, runtime.clock, "Globex", "hank@globex.example", "Hank Scorpio", "designated")
        session.commit()
    [first] = run(runtime, [signed(make_mail, "Dana Smith <dana@acme.example>", message_id=ROOT)])
    assert (first.disposition, first.ticket_id) == ("ticket", 1)
    return runtime


def ticket(runtime: Runtime, ticket_id: int | None) -> Ticket:
    with runtime.sessions() as session:
        found = session.get(Ticket, ticket_id)
        assert found is not None
        return found


def hits(runtime: Runtime, ticket_id: int | None) -> list[str]:
    with runtime.sessions() as session:
        rows = session.scalars(select(TriageDecision).where(TriageDecision.ticket_id == ticket_id)).all()
        return [f"{h['step']}: {h['reason']}" for row in rows for h in row.hits]


def messages_on(runtime: Runtime, ticket_id: int) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Message).where(Message.ticket_id == ticket_id))
            or 0
        )


def assert_held_stranger(runtime: Runtime, outcome: Outcome, *, named: int = 1) -> Ticket:
    assert outcome.disposition == "ticket", outcome
    assert outcome.ticket_id not in (None, named)
    assert "opened as a new held ticket" in outcome.reason
    held = ticket(runtime, outcome.ticket_id)
    assert held.status == "pending_authorisation"
    assert any(h.startswith("thread.stranger:") for h in hits(runtime, held.id))
    assert messages_on(runtime, outcome.ticket_id or 0) == 1  # nothing lost: the message is on the new ticket
    with runtime.sessions() as session:  # and no mail goes to whoever it claims to be
        sent = session.scalars(select(Outbox.recipient).where(Outbox.ticket_id == held.id)).all()
        assert sent == []
    return held


def _ack_id(runtime: Runtime) -> str:
    with runtime.sessions() as session:
        return session.scalars(select(Outbox.message_id).where(Outbox.ticket_id == 1)).one()


STRANGER = "Eve <eve@freemail.example>"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"In-Reply-To": ROOT}, id="in-reply-to"),
        pytest.param({"References": ROOT}, id="references-only"),
        pytest.param(
            {"References": f"{ROOT} <x1@elsewhere.example> <x2@elsewhere.example>"}, id="refs-first"
        ),
        pytest.param(
            {"References": f"<x1@elsewhere.example> {ROOT} <x2@elsewhere.example>"}, id="refs-middle"
        ),
        pytest.param({"References": f"<x1@elsewhere.example> <x2@elsewhere.example> {ROOT}"}, id="refs-last"),
        pytest.param(
            {"In-Reply-To": "<x1@elsewhere.example>", "References": ROOT}, id="irt-unknown-refs-ours"
        ),
    ],
)
def test_a_stranger_quoting_a_customers_message_id_opens_a_held_ticket(
    world: Runtime, make_mail: MailBuilder, headers: dict[str, str]
) -> None:
    [outcome] = run(world, [signed(make_mail, STRANGER, subject="Re: Export fails", headers=headers)])
    held = assert_held_stranger(world, outcome)
    assert held.requester == "eve@freemail.example" and held.org_id is None
    assert messages_on(world, 1) == 1 and ticket(world, 1).status == "acknowledged"


@pytest.mark.parametrize(
    "subject",
    ["Re: [support-1] Export fails", "[SUPPORT-1] please close", "Fwd: [ support-1 ] data", "x[support-1]x"],
)
def test_a_stranger_with_the_subject_reference_opens_a_held_ticket(
    world: Runtime, make_mail: MailBuilder, subject: str
) -> None:
    [outcome] = run(world, [signed(make_mail, STRANGER, subject=subject)])
    assert_held_stranger(world, outcome)
    assert messages_on(world, 1) == 1


def test_a_bare_reference_is_not_a_thread(world: Runtime, make_mail: MailBuilder) -> None:
    [outcome] = run(world, [signed(make_mail, STRANGER, subject="About support-1")])
    assert outcome.disposition == "ticket" and outcome.ticket_id != 1
    assert not any(h.startswith("thread.") for h in hits(world, outcome.ticket_id))


def test_a_stranger_answering_our_own_outgoing_mail_opens_a_held_ticket(
    world: Runtime, make_mail: MailBuilder
) -> None:
    ack = _ack_id(world)
    [outcome] = run(world, [signed(make_mail, STRANGER, headers={"In-Reply-To": f"<{ack}>"})])
    assert_held_stranger(world, outcome)
    [dana] = run(world, [signed(make_mail, "dana@acme.example", headers={"References": f"<{ack}>"})])
    assert (dana.disposition, dana.ticket_id) == ("followup", 1)


@pytest.mark.parametrize(
    "sender",
    [
        '"dana@acme.example" <eve@freemail.example>',
        '"Dana Smith (dana@acme.example)" <eve@freemail.example>',
        "Hank <hank@globex.example>",  # another organisation's designated contact
        "mallory@acme.example.evil.example",
        "dana@acme-example.com",
        "Dana <dana@acme.example.>",
    ],
)
def test_display_name_tricks_and_other_organisations_are_strangers(
    world: Runtime, make_mail: MailBuilder, sender: str
) -> None:
    [outcome] = run(world, [signed(make_mail, sender, headers={"In-Reply-To": ROOT})])
    assert_held_stranger(world, outcome)


@pytest.mark.parametrize("local", ["dana", "d\u0430na"])
def test_a_look_alike_internationalised_address_is_a_stranger(
    world: Runtime, make_mail: MailBuilder, local: str
) -> None:
    """RFC 6532 mail carries the address as raw UTF-8: a Cyrillic "a" is another address."""
    raw = signed(make_mail, "dana@acme.example", headers={"In-Reply-To": ROOT})
    look_alike = f"From: {local}@\u0430cme.example\n".encode()
    raw = b"\n".join(
        look_alike.rstrip(b"\n") if line.startswith(b"From:") else line for line in raw.split(b"\n")
    )
    [outcome] = run(world, [raw])
    assert_held_stranger(world, outcome)


def test_a_forged_from_is_a_stranger_even_as_the_requester(world: Runtime, make_mail: MailBuilder) -> None:
    forged = make_mail(
        sender="dana@acme.example",
        headers={
            "In-Reply-To": ROOT,
            "Authentication-Results": "mx.vendor.example; dmarc=fail header.from=acme.example",
        },
    )
    [outcome] = run(world, [forged])
    held = assert_held_stranger(world, outcome)
    assert "failed authentication" in outcome.reason and held.contact_status != "designated"


@pytest.mark.parametrize(
    "sender",
    ["DANA@ACME.EXAMPLE", "Lee <lee@acme.example>", "kim@acme.example", "dana+export@acme.example"],
)
def test_people_of_the_organisation_follow_up(world: Runtime, make_mail: MailBuilder, sender: str) -> None:
    [outcome] = run(
        world, [signed(make_mail, sender, subject="Re: Export fails", headers={"In-Reply-To": ROOT})]
    )
    assert (outcome.disposition, outcome.ticket_id) == ("followup", 1)
    assert messages_on(world, 1) == 2


def test_an_org_less_ticket_takes_only_its_requester(world: Runtime, make_mail: MailBuilder) -> None:
    [own] = run(
        world, [make_mail(sender="Pat <pat@freemail.example>", message_id="<pat-1@freemail.example>")]
    )
    assert own.disposition == "ticket" and ticket(world, own.ticket_id).org_id is None
    ref = f"[support-{own.ticket_id}]"
    for sender in ("pat@freemail.example", "PAT@FreeMail.Example"):
        [again] = run(world, [make_mail(sender=sender, headers={"In-Reply-To": "<pat-1@freemail.example>"})])
        assert (again.disposition, again.ticket_id) == ("followup", own.ticket_id)
    # the same mail domain is not the same person: freemail.example is shared by strangers
    for sender, headers, subject in (
        ("sam@freemail.example", {"In-Reply-To": "<pat-1@freemail.example>"}, "Re: hello"),
        ("sam@freemail.example", {}, f"Re: {ref} hello"),
        ("pat+x@freemail.example", {"References": "<pat-1@freemail.example>"}, "Re: hello"),
        ("pat@freemail.example.evil.example", {}, f"{ref} hello"),
    ):
        [other] = run(world, [make_mail(sender=sender, subject=subject, headers=headers)])
        assert_held_stranger(world, other, named=own.ticket_id or 0)
    assert messages_on(world, own.ticket_id or 0) == 3


def test_a_stranger_in_the_same_batch_as_the_ticket_is_held_too(
    world: Runtime, make_mail: MailBuilder
) -> None:
    root = make_mail(sender="pat@freemail.example", message_id="<same-batch@freemail.example>")
    stranger = make_mail(
        sender="sam@freemail.example", headers={"In-Reply-To": "<same-batch@freemail.example>"}
    )
    a, b = run(world, [root, stranger])
    assert a.disposition == "ticket" and b.disposition == "ticket" and a.ticket_id != b.ticket_id
    assert ticket(world, b.ticket_id).status == "pending_authorisation"


def _close(runtime: Runtime, ticket_id: int) -> None:
    with runtime.sessions() as session:
        now = runtime.clock.now()
        session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values(status="closed", closed_at=now - timedelta(days=1), close_reason="resolved")
        )
        session.commit()


def test_only_a_designated_contact_reopens_a_closed_ticket(world: Runtime, make_mail: MailBuilder) -> None:
    _close(world, 1)
    [stranger] = run(world, [signed(make_mail, STRANGER, headers={"References": ROOT}, body="reopen this")])
    assert_held_stranger(world, stranger)
    [colleague] = run(world, [signed(make_mail, "kim@acme.example", headers={"In-Reply-To": ROOT})])
    assert colleague.disposition == "ticket" and colleague.ticket_id != 1
    assert ticket(world, colleague.ticket_id).status == "pending_authorisation"
    assert any(h.startswith("decide.reopen-refused:") for h in hits(world, colleague.ticket_id))
    forged = make_mail(
        sender="lee@acme.example",
        headers={"In-Reply-To": ROOT, "Authentication-Results": "mx.vendor.example; dmarc=fail"},
    )
    [spoof] = run(world, [forged])
    assert spoof.disposition == "ticket" and spoof.ticket_id != 1
    assert ticket(world, 1).status == "closed"
    [lee] = run(world, [signed(make_mail, "lee@acme.example", headers={"In-Reply-To": ROOT})])
    assert (lee.disposition, lee.ticket_id) == ("followup", 1)
    # Resource Optimizer reopens "at Resource Optimizer's sole discretion" (issue 12, finding 5): the
    # designated contact's reply is a reopen request an engineer decides; the case stays closed.
    assert ticket(world, 1).status == "closed"
    assert ticket(world, 1).needs_review
    assert any(h.startswith("decide.reopen-requested:") for h in hits(world, 1))


def test_only_a_designated_contact_escalates_a_rezilion_ticket(
    world: Runtime, make_mail: MailBuilder
) -> None:
    [root] = run(world, [signed(make_mail, "hank@globex.example", message_id="<globex-1@globex.example>")])
    ref = f"[support-{root.ticket_id}]"
    assert ticket(world, root.ticket_id).status == "acknowledged"
    please = {"subject": f"Re: {ref} please escalate", "body": "Please escalate this to your director."}
    [stranger] = run(
        world, [signed(make_mail, STRANGER, headers={"In-Reply-To": "<globex-1@globex.example>"}, **please)]
    )
    assert_held_stranger(world, stranger, named=root.ticket_id or 0)
    [lee] = run(world, [signed(make_mail, "lee@acme.example", **please)])  # Acme's designated contact
    assert_held_stranger(world, lee, named=root.ticket_id or 0)
    [joe] = run(world, [signed(make_mail, "joe@globex.example", **please)])
    assert (joe.disposition, joe.ticket_id) == ("followup", root.ticket_id)
    assert any(h.startswith("decide.escalation-refused:") for h in hits(world, root.ticket_id))
    assert ticket(world, root.ticket_id).status == "acknowledged"
    [hank] = run(world, [signed(make_mail, "hank@globex.example", **please)])
    assert (hank.disposition, hank.ticket_id) == ("followup", root.ticket_id)
    assert ticket(world, root.ticket_id).status == "escalated"


def test_another_organisations_contact_cannot_authorise_a_held_ticket(
    world: Runtime, make_mail: MailBuilder
) -> None:
    [kim] = run(world, [signed(make_mail, "kim@acme.example", message_id="<kim-1@acme.example>")])
    assert ticket(world, kim.ticket_id).status == "pending_authorisation"
    [hank] = run(
        world, [signed(make_mail, "hank@globex.example", headers={"In-Reply-To": "<kim-1@acme.example>"})]
    )
    assert_held_stranger(world, hank, named=kim.ticket_id or 0)
    assert ticket(world, kim.ticket_id).status == "pending_authorisation"
    [dana] = run(
        world, [signed(make_mail, "dana@acme.example", headers={"In-Reply-To": "<kim-1@acme.example>"})]
    )
    assert (dana.disposition, dana.ticket_id) == ("followup", kim.ticket_id)
    assert ticket(world, kim.ticket_id).status == "acknowledged"


def _slack(ts: str, user: str, channel: str, thread_ts: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="slack",
        external_id=f"{channel}:{ts}",
        sender=user,
        text="the export fails again",
        thread_ts=thread_ts,
        headers={"slack-channel": channel},
    )


def test_a_slack_thread_reply_passes_the_same_check(world: Runtime) -> None:
    with world.sessions() as session:
        session.execute(update(Organisation).where(Organisation.name == "Acme").values(slack_channel="CACME"))
        session.execute(
            update(Organisation).where(Organisation.name == "Globex").values(slack_channel="CGLOBEX")
        )
        session.commit()
    with world.deps(classifier=False) as deps:
        [root] = ingest([_slack("111.1", "UDANA", "CACME")], deps)
    with world.deps(classifier=False) as deps:
        same, other, unmapped = ingest(
            [
                _slack("111.2", "UKIM", "CACME", thread_ts="111.1"),
                _slack("111.3", "UHANK", "CGLOBEX", thread_ts="111.1"),
                _slack("111.4", "UEVE", "CSTRANGER", thread_ts="111.1"),
            ],
            deps,
        )
    assert (same.disposition, same.ticket_id) == ("followup", root.ticket_id)
    for outcome in (other, unmapped):
        assert outcome.disposition == "ticket" and outcome.ticket_id != root.ticket_id
        assert "thread_ts 111.1 names ticket" in outcome.reason
        assert ticket(world, outcome.ticket_id).status == "pending_authorisation"


def test_a_contact_on_a_freemail_address_is_of_her_organisation(
    world: Runtime, make_mail: MailBuilder
) -> None:
    with world.sessions() as session:
        add_contact(session, world.clock, "Acme", "acme.ops@freemail.example", "Ops", "designated")
        session.commit()
    [ops] = run(world, [signed(make_mail, "acme.ops@freemail.example", headers={"In-Reply-To": ROOT})])
    assert (ops.disposition, ops.ticket_id) == ("followup", 1)
    [eve] = run(world, [signed(make_mail, "eve@freemail.example", headers={"In-Reply-To": ROOT})])
    assert_held_stranger(world, eve)
