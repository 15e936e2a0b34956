"""A bounce is believed only when it returns mail we sent and comes from a bounce path (issue 8, defect 5).

Through the pipeline and the store, on SQLite and PostgreSQL: forged delivery
reports (from anyone, naming a ticket and a Final-Recipient, guessing or quoting
Message-IDs, returning an acknowledgement not yet sent) are dropped with the
reason and change nothing; real ones in the shapes Postfix, qmail and Exchange
write suppress automatic mail to the address and mark our message failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import func, select, update

from channels.parse import parse_one
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import Outcome, ingest
from intake.runtime import Runtime
from intake.store.orm import Outbox, Suppression
from tests.conftest import MailBuilder


def run(runtime: Runtime, raws: Sequence[bytes]) -> list[Outcome]:
    now = runtime.clock.now()
    items = [parse_one(raw, f"test-{i}", now) for i, raw in enumerate(raws)]
    with runtime.deps(classifier=False) as deps:
        return ingest(items, deps)


def report(
    returned_id: str,
    *,
    sender: str = "MAILER-DAEMON@mx.acme.example (Mail Delivery System)",
    return_path: str | None = "<>",
    recipient: str = "dana@acme.example",
    part: str = "text/rfc822-headers",
    subject: str = "Undelivered Mail Returned to Sender",
) -> bytes:
    """An RFC 3464 delivery report as Postfix writes it, returning the headers of `returned_id`."""
    head = f"Return-Path: {return_path}\n" if return_path is not None else ""
    text = f"""{head}From: {sender}
To: support@vendor.example
Subject: {subject}
Message-ID: <dsn-{uuid.uuid4().hex}@mx.acme.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

Your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected

--B1
Content-Type: {part}

From: support@vendor.example
To: {recipient}
Subject: [support-1] Export fails
Message-ID: <{returned_id}>
X-Intake-Ticket: support-1

--B1--
"""
    return text.replace("\n", "\r\n").encode()


def qmail(returned_id: str, sender: str = "MAILER-DAEMON@mx.acme.example", return_path: str = "<>") -> bytes:
    """A bounce without a report part: qmail quotes the original message in the text."""
    text = f"""Return-Path: {return_path}
From: {sender}
To: support@vendor.example
Subject: failure notice
Message-ID: <qmail-{uuid.uuid4().hex}@mx.acme.example>

Hi. This is the qmail-send program at mx.acme.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<dana@acme.example>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

From: support@vendor.example
Message-ID: <{returned_id}>
Subject: [support-1] Export fails
"""
    return text.replace("\n", "\r\n").encode()


@pytest.fixture
def acked(runtime: Runtime, make_mail: MailBuilder) -> tuple[Runtime, str]:
    """Dana's ticket 1 with its acknowledgement queued (not yet sent); returns its Message-ID."""
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    [first] = run(runtime, [make_mail(message_id="<acme-1@mail.acme.example>")])
    assert first.ticket_id == 1
    with runtime.sessions() as session:
        ack = session.scalars(select(Outbox).where(Outbox.ticket_id == 1)).one()
        assert ack.state == "pending"
        return runtime, ack.message_id


def mark_sent(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        session.execute(update(Outbox).values(state="sent", sent_at=runtime.clock.now()))
        session.commit()


def state(runtime: Runtime) -> tuple[str, int]:
    with runtime.sessions() as session:
        ack = session.scalars(select(Outbox).where(Outbox.ticket_id == 1)).one()
        suppressed = session.scalar(select(func.count()).select_from(Suppression)) or 0
        return ack.state, suppressed


FORGED: dict[str, Callable[[str], bytes]] = {
    # a fake DSN from anyone, naming the ticket and the Final-Recipient (the reported attack)
    "from-a-stranger": lambda ack: report(
        "acme-1@mail.acme.example", sender="eve@freemail.example", return_path="<eve@freemail.example>"
    ),
    "stranger-null-sender": lambda ack: report("acme-1@mail.acme.example", sender="eve@freemail.example"),
    "daemon-naming-ticket-only": lambda ack: report("acme-1@mail.acme.example"),
    "daemon-guessed-id": lambda ack: report("ack-1.support-1@vendor.example"),
    "daemon-message-rfc822": lambda ack: report("nobody@vendor.example", part="message/rfc822"),
    "qmail-style-unknown-id": lambda ack: qmail("acme-1@mail.acme.example"),
}


@pytest.mark.parametrize("name", list(FORGED))
def test_a_forged_bounce_silences_no_one(acked: tuple[Runtime, str], name: str) -> None:
    runtime, ack = acked
    mark_sent(runtime)
    [outcome] = run(runtime, [FORGED[name](ack)])
    assert outcome.disposition == "dropped" and "not believed" in outcome.reason, outcome
    assert state(runtime) == ("sent", 0)


def test_a_bounce_of_an_acknowledgement_not_yet_sent_is_not_believed(acked: tuple[Runtime, str]) -> None:
    runtime, ack = acked
    [outcome] = run(runtime, [report(ack)])
    assert outcome.disposition == "dropped" and "not believed" in outcome.reason
    assert state(runtime) == ("pending", 0)  # her pending acknowledgement still goes out


@pytest.mark.parametrize("carrier", ["x-failed-recipients", "quoted-id-from-a-person", "postmaster-plain"])
def test_our_message_id_from_no_bounce_path_is_not_believed(
    acked: tuple[Runtime, str], make_mail: MailBuilder, carrier: str
) -> None:
    """Someone who saw our Message-ID (a recipient, a forward) still cannot bounce it."""
    runtime, ack = acked
    mark_sent(runtime)
    body = f"This message could not be delivered.\n\nMessage-ID: <{ack}>\nTo: dana@acme.example\n"
    if carrier == "x-failed-recipients":
        raw = make_mail(
            body,
            sender="eve@freemail.example",
            subject="Undeliverable: Export fails",
            headers={"X-Failed-Recipients": "dana@acme.example", "In-Reply-To": f"<{ack}>"},
        )
    elif carrier == "quoted-id-from-a-person":
        raw = report(ack, sender="eve@freemail.example", return_path="<eve@freemail.example>").replace(
            b"multipart/report; report-type=delivery-status", b"multipart/mixed"
        )
    else:
        raw = make_mail(
            body,
            sender="postmaster@freemail.example",
            subject="Your mail to dana",
            headers={"References": f"<{ack}>"},
        )
    [outcome] = run(runtime, [raw])
    assert "bounced" not in outcome.reason
    assert state(runtime) == ("sent", 0)


REAL: dict[str, Callable[[str], bytes]] = {
    "postfix-headers": report,
    "postfix-message": lambda ack: report(ack, part="message/rfc822"),
    "exchange-postmaster": lambda ack: report(
        ack,
        sender="postmaster@acme.example",
        return_path=None,
        subject="Undeliverable: [support-1] Export fails",
    ),
    "no-return-path-daemon": lambda ack: report(ack, return_path=None),
    "qmail": qmail,
}


@pytest.mark.parametrize("name", list(REAL))
def test_a_real_bounce_of_our_acknowledgement_suppresses_mail_to_her(
    acked: tuple[Runtime, str], name: str
) -> None:
    runtime, ack = acked
    mark_sent(runtime)
    [outcome] = run(runtime, [REAL[name](ack)])
    assert outcome.disposition == "dropped" and "bounced" in outcome.reason, outcome
    assert state(runtime) == ("failed", 1)
    with runtime.sessions() as session:
        assert session.scalars(select(Suppression.address)).one() == "dana@acme.example"
