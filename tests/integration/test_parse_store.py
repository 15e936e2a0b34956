"""What the parse edge promises, checked through the store on SQLite and PostgreSQL (issue 8).

- a value a driver cannot write (a lone surrogate, a NUL on PostgreSQL) costs its own message
  only: the batch falls back to one message at a time, the innocent ones commit;
- NUL in Subject and a 5,000-character Message-ID end up identical on both databases;
- dedup absorbs a redelivery (SMTP trace fields, IMAP CRLF, other relays) but never a
  different message, with or without a reused Message-ID.
"""

from __future__ import annotations

import re
import smtplib
import threading
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select

from channels.parse import parse_one
from intake.clock import FixedClock
from intake.customers.orgs import add_contact, add_org
from intake.models import InboundMessage
from intake.outgoing.outbox import deliver_due
from intake.pipeline import Item, Outcome, Rejected, ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Outbox, Quarantine, Ticket, TriageDecision
from tests.conftest import MailBuilder
from tests.servers.smtp import Relay, intake_smtp
from tests.servers.stack import make_runtime


@pytest.fixture
def acme(runtime: Runtime) -> Runtime:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith")
        session.commit()
    return runtime


def parsed(runtime: Runtime, raw: bytes, source: str = "test", trace: bytes = b"") -> InboundMessage:
    item = parse_one(raw, source, runtime.clock.now(), trace=trace)
    assert isinstance(item, InboundMessage), item
    return item


def run(runtime: Runtime, items: Sequence[Item]) -> list[Outcome]:
    with runtime.deps() as deps:
        return ingest(items, deps)


def poisoned(msg: InboundMessage, **values: str) -> InboundMessage:
    """A message whose fields bypass the model's validation, as a careless channel might build one."""
    return msg.model_copy(update=values)


@pytest.mark.parametrize(
    "poison",
    [{"subject": "\ud800 x"}, {"text": "body \udcff"}, {"display_name": "\ud83d"}, {"subject": "a\x00b"}],
    ids=["surrogate subject", "surrogate escape in body", "surrogate name", "NUL subject"],
)
def test_an_unwritable_message_costs_only_itself(
    acme: Runtime, make_mail: MailBuilder, poison: dict[str, str]
) -> None:
    good = [parsed(acme, make_mail(subject=f"Problem {n}"), f"good-{n}") for n in range(3)]
    bad = poisoned(parsed(acme, make_mail(subject="Poison"), "bad"), **poison)
    outcomes = run(acme, [good[0], bad, good[1], good[2]])
    dispositions = [o.disposition for o in outcomes]
    if acme.engine.dialect.name == "sqlite" and "\x00" in poison.get("subject", ""):
        assert dispositions == ["ticket"] * 4  # SQLite stores NUL; the parse edge never lets one through
        return
    assert dispositions == ["ticket", "quarantined", "ticket", "ticket"]
    assert outcomes[1].reason.startswith("store refused the message")
    with acme.sessions() as session:
        assert sorted(session.scalars(select(Ticket.subject))) == ["Problem 0", "Problem 1", "Problem 2"]
        [row] = session.scalars(select(Quarantine)).all()
        assert (row.source, row.raw) == ("bad", bad.raw)
    # The same message as the parse edge builds it is stored, with the poison replaced.
    [again] = run(acme, [parsed(acme, bad.raw.replace(b"Poison", b"Poison again"))])
    assert again.disposition == "ticket"


def test_a_batch_of_only_unwritable_messages_quarantines_each(acme: Runtime, make_mail: MailBuilder) -> None:
    bad = [poisoned(parsed(acme, make_mail(subject=f"P{n}"), f"bad-{n}"), subject="\ud800") for n in range(2)]
    rejected = Rejected(b"junk", "no headers", "junk")
    outcomes = run(acme, [bad[0], rejected, bad[1]])
    assert [o.disposition for o in outcomes] == ["quarantined"] * 3
    with acme.sessions() as session:
        assert sorted(session.scalars(select(Quarantine.source))) == ["bad-0", "bad-1", "junk"]


NUL_SUBJECT = (
    b"From: Dana <dana@acme.example>\r\nTo: support@vendor.example\r\nSubject: Export\x00 fails\r\n"
    b"Message-ID: <nul-1@acme.example>\r\n\r\nThe export fails.\r\n"
)


def test_nul_in_subject_is_stored_and_answered_alike_on_both_databases(acme: Runtime) -> None:
    [outcome] = run(acme, [parsed(acme, NUL_SUBJECT)])
    assert outcome.disposition == "ticket"
    with acme.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.subject == "Export\ufffd fails"
        for row in session.scalars(select(Outbox)):
            assert "\x00" not in row.subject and "\x00" not in row.body_text
            assert "\r" not in row.subject and "\n" not in row.subject


def raw_mail(message_id: str, subject: str, *extra: str) -> bytes:
    """Byte for byte (the stdlib's generator would encode an over-long id as an encoded word)."""
    head = [
        "From: Dana <dana@acme.example>",
        "To: support@vendor.example",
        f"Subject: {subject}",
        f"Message-ID: <{message_id}>",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\nThe export fails.\r\n").encode()


def test_a_5000_character_message_id_is_kept_bounded_and_still_threads(acme: Runtime) -> None:
    long_id = "x" * 5000 + "@mail.acme.example"
    first = parsed(acme, raw_mail(long_id, "Long id"))
    assert first.external_id.startswith("sha256.") and len(first.external_id) < 80
    reply = raw_mail(
        "r1@acme.example", "Re: Long id", f"In-Reply-To: <{long_id}>", f"References: <{long_id}>"
    )
    outcomes = run(acme, [first])
    outcomes += run(acme, [parsed(acme, reply)])
    outcomes += run(acme, [parsed(acme, TRACE + raw_mail(long_id, "Long id"))])
    assert [o.disposition for o in outcomes] == ["ticket", "followup", "duplicate"]
    assert outcomes[0].ticket_id == outcomes[1].ticket_id
    with acme.sessions() as session:
        ids = set(session.scalars(select(Message.external_id)))
        assert ids == {first.external_id, "r1@acme.example"}


TRACE = (
    b"Return-Path: <dana@acme.example>\r\n"
    b"Received: from mx.acme.example ([192.0.2.1]) by intake with ESMTP; Mon, 16 Nov 2026 08:01:00 +0000\r\n"
)
IMAP_COPY_HEADERS = (
    b"Return-Path: <dana@acme.example>\r\nDelivered-To: support@vendor.example\r\n"
    b"Received: from mx2.vendor.example by imap.vendor.example; Mon, 16 Nov 2026 08:02:00 +0000\r\n"
    b"Authentication-Results: mx.vendor.example; dmarc=pass header.from=acme.example\r\n"
    b"X-Spam-Status: No, score=0.1\r\n"
)


@pytest.mark.parametrize("with_id", [True, False], ids=["with Message-ID", "without Message-ID"])
def test_smtp_and_imap_copies_of_one_message_are_stored_once(
    acme: Runtime, make_mail: MailBuilder, with_id: bool
) -> None:
    raw = make_mail(subject="Double delivery", message_id=None if with_id else "")
    over_smtp = parsed(acme, raw.replace(b"\n", b"\r\n"), "smtp:192.0.2.1:dana@acme.example", trace=TRACE)
    over_imap = parsed(acme, IMAP_COPY_HEADERS + raw.replace(b"\n", b"\r\n"), "imap://support/INBOX;UID=7")
    from_file = parsed(acme, raw + b"\n\n", "/var/mail/export.eml")
    outcomes = [*run(acme, [over_smtp]), *run(acme, [over_imap, from_file])]
    assert [o.disposition for o in outcomes] == ["ticket", "duplicate", "duplicate"]


def test_different_messages_are_never_duplicates(acme: Runtime, make_mail: MailBuilder) -> None:
    no_blank = (
        "From: {who}\nTo: support@vendor.example\nSubject: Printer\n"
        "Date: Mon, 16 Nov 2026 08:40:00 +0000\n{text}\n"
    )
    variants = [
        no_blank.format(who="pat@acme.example", text="The printer crashes.").encode(),
        no_blank.format(who="sam@acme.example", text="The printer crashes.").encode(),
        no_blank.format(who="pat@acme.example", text="The scanner is offline.").encode(),
        make_mail(subject="Same subject", message_id="", body="one"),
        make_mail(subject="Same subject", message_id="", body="two"),
    ]
    outcomes = run(acme, [parsed(acme, raw, f"v{n}") for n, raw in enumerate(variants)])
    assert [o.disposition for o in outcomes] == ["ticket"] * len(variants)


def test_a_reused_message_id_is_kept_with_the_reason_and_its_own_redelivery_absorbed(
    acme: Runtime, make_mail: MailBuilder
) -> None:
    original = make_mail(subject="Export fails", message_id="<same@acme.example>")
    other_sender = make_mail(
        subject="Export fails", message_id="<same@acme.example>", sender="Eve <eve@stranger.example>"
    )
    other_text = make_mail(subject="Export fails", message_id="<same@acme.example>", body="Other words.")
    outcomes = run(acme, [parsed(acme, original)])
    outcomes += run(acme, [parsed(acme, other_sender), parsed(acme, other_text)])
    outcomes += run(acme, [parsed(acme, TRACE + other_sender.replace(b"\n", b"\r\n"))])  # redelivered
    assert [o.disposition for o in outcomes] == ["ticket", "ticket", "ticket", "duplicate"]
    assert len({o.ticket_id for o in outcomes[:3]}) == 3
    with acme.sessions() as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
        assert [r.sender for r in rows] == ["dana@acme.example", "eve@stranger.example", "dana@acme.example"]
        assert (
            rows[1].dedup_key.startswith("email-sha256:") and rows[0].dedup_key == "email:same@acme.example"
        )
        decision = session.scalars(
            select(TriageDecision).where(TriageDecision.message_id == rows[1].id)
        ).one()
        assert any(h["step"] == "dedup.reused-message-id" for h in decision.hits)


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay().start()
    yield server
    server.stop()


QUOTED = '"victim@x.example,eve"@stranger.example'


@pytest.mark.parametrize(
    ("sender", "subject", "recipient"),
    [
        (QUOTED, "Where is my invoice", QUOTED),
        (f"Eve <{QUOTED}>", "Where is my invoice", QUOTED),
        ('"<dana@acme.example>"@stranger.example', "Invoice", '"<dana@acme.example>"@stranger.example'),
        ("Dana <dana@acme.example>", "Export\x00 fails\rBcc: eve@evil.example", "dana@acme.example"),
        ("=?utf-7?q?+2AA-?= <dana@acme.example>", "=?utf-7?q?+2AA-?= x", "dana@acme.example"),
    ],
    ids=["quoted local part", "quoted local part, named", "quoted brackets", "NUL and CR", "surrogates"],
)
def test_the_acknowledgement_goes_to_the_one_stored_address_with_clean_headers(
    db_url: str, clock: FixedClock, relay: Relay, sender: str, subject: str, recipient: str
) -> None:
    rt = make_runtime(db_url, clock, relay=relay.settings())
    try:
        with rt.sessions() as session:
            add_org(session, clock, "Acme", "resource-optimizer", None, ["acme.example"])
            add_contact(session, clock, "Acme", "dana@acme.example", "Dana Smith")
            session.commit()
        raw = (
            f"From: {sender}\r\nTo: support@vendor.example\r\nSubject: {subject}\r\n"
            "Message-ID: <q-1@stranger.example>\r\n\r\nPlease help.\r\n"
        ).encode()
        [outcome] = run(rt, [parsed(rt, raw)])
        assert outcome.disposition == "ticket"
        with rt.sessions() as session:
            assert session.scalars(select(Message.sender)).one() == recipient
            deliver_due(session, clock, rt.settings)
        quoted = recipient.startswith('"')
        # a quoted local part is stored as written, but the outbox sends only to plain addresses
        # (channels/safe_values.py): its reply fails with the reason, and nothing goes elsewhere
        assert bool(relay.received) is not quoted, "an acknowledgement or notice went out"
        for got in relay.received:
            assert got.rcpt_tos == [recipient]
            head = got.data.split(b"\r\n\r\n", 1)[0]
            assert b"\x00" not in head and not re.search(rb"(?im)^(bcc|reply-to):", head)
            assert all(line.endswith(b"\r") or not line for line in got.data.split(b"\n")[:-1])
    finally:
        rt.engine.dispose()


def test_poison_sent_concurrently_with_innocent_mail_over_smtp_is_all_accepted(
    db_url: str, clock: FixedClock
) -> None:
    """One group-commit batch holds the poison and the innocent messages: every one gets 250."""
    rt = make_runtime(db_url, clock, smtp_server={"host": "127.0.0.1", "port": 0,
                                                  "accept": ["support@vendor.example"]})  # fmt: skip
    poison = [
        "Subject: =?utf-7?q?+2AA-?= x",
        "Subject: Export\x00 fails",
        "Subject: b\r\nContent-Type: text/plain; charset=utf-7",
    ]
    mails = [
        (
            f"From: user{n}@acme.example\r\nTo: support@vendor.example\r\n"
            f"Message-ID: <smtp-{n}@acme.example>\r\n"
            f"{poison[n % 3] if n % 2 else f'Subject: Innocent {n}'}\r\n\r\nbody +2AA- {n}\r\n"
        ).encode()
        for n in range(12)
    ]
    codes: list[int] = []

    def send(raw: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.sendmail("user@acme.example", ["support@vendor.example"], raw)
            codes.append(250)

    try:
        with intake_smtp(rt.settings, rt) as server:
            threads = [threading.Thread(target=send, args=(raw,)) for raw in mails]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        assert codes == [250] * len(mails)
        with rt.sessions() as session:
            ids = set(session.scalars(select(Message.external_id)))
            assert ids == {f"smtp-{n}@acme.example" for n in range(12)}
            assert not session.scalars(select(Quarantine)).all()
    finally:
        rt.engine.dispose()
