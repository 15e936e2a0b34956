"""The bot's own mail carries exactly the headers it means to write, whatever customers sent (issue 8).

Hostile inbound files (tests/hostile/outgoing/) go through the real pipeline;
their acknowledgements, an engineer's replies, reminders and closing notices go
through the real outbox to the relay stand-in, and what the relay received is
read back byte by byte: only our header names, each once, every line break
folded, no Bcc/Reply-To/Cc, threading headers of strict msg-ids only, one
text/plain body with our HTML twin, and the envelope recipient exactly the To
address. Rows stored by older code with raw values must neither crash a pass
nor hold back the rows claimed with them.
"""

from __future__ import annotations

import email.errors
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from channels.parse import parse_one
from channels.safe_values import valid_address, valid_msg_id
from channels.smtp_send import HEADERS
from intake.clock import FixedClock
from intake.customers.orgs import add_contact, add_org
from intake.outgoing.outbox import deliver_due
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Outbox, Ticket
from intake.tickets.replies import reply
from intake.tickets.scheduler import tick
from tests.servers.smtp import Received, Relay, intake_smtp
from tests.servers.stack import add_customers, add_outbox, make_runtime, make_ticket

HOSTILE = Path(__file__).resolve().parents[1] / "hostile" / "outgoing"
MARKERS = ("evil.example", "EVIL-HTML", "<b>")
ALWAYS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "x-auto-response-suppress",
    "x-loop",
    "mime-version",
    "content-type",
}


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay().start()
    yield server
    server.stop()


@pytest.fixture
def bot(db_url: str, clock: FixedClock, relay: Relay) -> Iterator[Runtime]:
    rt = make_runtime(
        db_url,
        clock,
        relay=relay.settings(),
        smtp_server={"host": "127.0.0.1", "port": 0, "accept": ["support@vendor.example"]},
        outbox={"max_auto_per_recipient": 50, "max_auto_per_domain": 200, "max_auto_per_ticket": 50},
    )
    add_customers(rt)
    yield rt
    rt.engine.dispose()


def deliver(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        return deliver_due(session, rt.clock, rt.settings).as_json()


def assert_clean(got: Received) -> EmailMessage:
    """What the relay received is exactly a message we mean to send; returns it parsed."""
    head, sep, _ = got.data.partition(b"\r\n\r\n")
    assert sep, "no header block"
    names: list[str] = []
    for line in head.split(b"\r\n"):
        assert re.fullmatch(rb"[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*|[ \t][\t\x20-\x7e]*", line), line
        if line[:1] not in b" \t":
            names.append(line.partition(b":")[0].decode().lower())
    assert len(names) == len(set(names)), names
    assert ALWAYS <= set(names) <= HEADERS, set(names) ^ ALWAYS
    assert b"\r\n" not in got.data.replace(b"\r\n", b"") and b"\r" not in got.data.replace(b"\r\n", b"")
    msg = got.message
    for name in names:
        value = str(msg[name])
        assert not re.search(r"[\x00-\x1f\x7f\x85\u2028\u2029]", value), (name, value)
        assert "=?" not in value, (name, value)
    assert msg["From"] == got.mail_from == "support@vendor.example"
    assert valid_address(str(msg["To"])) == str(msg["To"]) and got.rcpt_tos == [str(msg["To"])]
    for name in ("message-id", "in-reply-to"):
        if msg[name] is not None:
            assert valid_msg_id(str(msg[name])) is not None, (name, msg[name])
    if msg["References"] is not None:
        assert all(valid_msg_id(t) for t in str(msg["References"]).split()), msg["References"]
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts in (["text/plain"], ["multipart/alternative", "text/plain", "text/html"]), parts
    html = msg.get_body(("html",))
    if html is not None:
        content = html.get_content()
        assert "EVIL-HTML" not in content or "&lt;b&gt;EVIL-HTML" in content
    return msg


def ingest_files(rt: Runtime, paths: list[Path]) -> list[str]:
    now = rt.clock.now()
    items = [parse_one(p.read_bytes(), p.name, now) for p in paths]
    with rt.deps() as deps:
        return [o.disposition for o in ingest(items, deps)]


def test_acknowledgements_of_hostile_mail_carry_only_our_headers(bot: Runtime, relay: Relay) -> None:
    files = sorted(HOSTILE.glob("*.eml"))
    assert len(files) >= 14
    dispositions = dict(zip([f.stem for f in files], ingest_files(bot, files), strict=True))
    # NUL in a header is the parse edge's to make storable (issue 8, defect 10); until then
    # PostgreSQL quarantines those two, and they have no acknowledgement to check.
    nul = {"subject_nul", "msgid_whitespace_nul"}
    # a From whose display name decodes to CRLF + headers is no identity: quarantined, never answered
    assert dispositions.pop("display_name_encoded_crlf") == "quarantined"
    assert all(d == "ticket" for name, d in dispositions.items() if name not in nul), dispositions
    assert all(dispositions[name] in ("ticket", "quarantined") for name in nul), dispositions
    summary = deliver(bot)
    assert summary["claimed"] >= 1 and summary["retried"] == 0
    received = relay.received
    assert len(received) == summary["sent"]
    for got in received:
        assert_clean(got)
        assert not any(r.endswith("evil.example") or "victim" in r for r in got.rcpt_tos)
    with bot.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
        # every sender that is one plain address got its answer, and only there
        answered = sorted(r.recipient for r in rows if r.state == "sent")
        assert answered == sorted(got.rcpt_tos[0] for got in received)
        expected = {f"u{i}@initech.example" for i in (1, 2, 3, 4, 5, 6, 8, 12, 14)}
        expected |= {"u7@initech.example"} if dispositions["subject_nul"] == "ticket" else set()
        expected |= {"u13@initech.example"} if dispositions["msgid_whitespace_nul"] == "ticket" else set()
        assert set(answered) == expected
        for r in rows:
            assert r.in_reply_to is None or valid_msg_id(r.in_reply_to) == r.in_reply_to
            assert all(valid_msg_id(i) == i for i in r.references)
            if r.state == "failed":  # the quoted-comma and percent-hack senders: never sent anywhere
                assert r.last_error is not None and "recipient" in r.last_error
                assert valid_address(r.recipient) is None


def test_threading_headers_keep_the_valid_ids_in_order(bot: Runtime, relay: Relay) -> None:
    ingest_files(bot, [HOSTILE / "references_encoded_word.eml"])
    deliver(bot)
    [got] = relay.received
    msg = assert_clean(got)
    assert str(msg["In-Reply-To"]) == "<out-3@mail.initech.example>"
    chain = str(msg["References"]).split()
    # whatever the parser took from the encoded word, only strict ids remain, in their order
    assert chain[-1] == "<out-3@mail.initech.example>"
    assert chain.index("<ok-1@mail.initech.example>") < chain.index("<ok-2@mail.initech.example>")


def test_a_long_valid_message_id_is_threaded_without_encoded_words(bot: Runtime, relay: Relay) -> None:
    long_id = "<" + "k" * 200 + "@mail.acme.example>"
    references = "\r\n ".join(f"<r{i}{'x' * 90}@acme.example>" for i in range(5))
    raw = (
        f"From: dana@acme.example\r\nTo: support@vendor.example\r\nSubject: Export fails\r\n"
        f"Message-ID: {long_id}\r\nReferences: {references}\r\n\r\nThe export fails.\r\n"
    ).encode()
    with bot.deps() as deps:
        ingest([parse_one(raw, "long", bot.clock.now())], deps)
    deliver(bot)
    [got] = relay.received
    msg = assert_clean(got)
    assert str(msg["In-Reply-To"]) == long_id  # not folded into =?utf-8?q?...?= (the stdlib folder would)
    assert len(str(msg["References"]).split()) == 6


def test_later_mail_on_a_hostile_ticket_is_clean_too(bot: Runtime, relay: Relay, clock: FixedClock) -> None:
    """An engineer's reply, an information request, its reminders and the closing notice."""
    ingest_files(
        bot,
        [
            HOSTILE / "msgid_encoded_word_q.eml",
            HOSTILE / "subject_encoded_crlf.eml",
            HOSTILE / "display_name_encoded_crlf.eml",
        ],
    )
    deliver(bot)
    with bot.sessions() as session:
        refs = [f"support-{t}" for t in session.scalars(select(Ticket.id).order_by(Ticket.id))]
    first = len(relay.received)
    with bot.sessions() as session:
        for ref in refs:
            reply(
                session,
                clock,
                bot.settings,
                ref,
                "Which version do you run?\r\nBcc: x@evil.example",
                request_info=True,
            )
    deliver(bot)
    for _ in range(40):  # reminders, then the dropped-ticket close
        clock.advance(days=1)
        with bot.sessions() as session:
            tick(session, clock, bot.settings)
        deliver(bot)
    later = relay.received[first:]
    templates = {t for (t,) in _templates(bot)}
    assert len(later) > len(refs), "no mail after the acknowledgements"
    assert {"info_request"} <= templates and len(templates) >= 3, templates
    for got in later:
        msg = assert_clean(got)
        assert msg["Bcc"] is None
    with bot.sessions() as session:
        closed = session.scalars(select(Ticket.status)).all()
    assert set(closed) == {"closed"}


def _templates(rt: Runtime) -> list[tuple[str]]:
    with rt.sessions() as session:
        return [(t,) for t in session.scalars(select(Outbox.template).where(Outbox.state == "sent")).all()]


def test_the_smtp_channel_too(bot: Runtime, relay: Relay) -> None:
    """The same files delivered to the bot's own SMTP server, as an attacker would send them."""
    names = ["msgid_encoded_word_b_in_brackets", "subject_lone_cr", "in_reply_to_encoded_word"]
    with intake_smtp(bot.settings, bot) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        for name in names:
            client.sendmail(
                "u@initech.example", ["support@vendor.example"], (HOSTILE / f"{name}.eml").read_bytes()
            )
    deliver(bot)
    assert len(relay.received) == len(names)
    for got in relay.received:
        assert_clean(got)


HOSTILE_ROWS = [
    {"recipient": "dana@acme.example\r\nBcc: eve@evil.example"},
    {"recipient": "<>"},
    {"recipient": ""},
    {"recipient": '"victim@x.example,eve"@stranger.example'},
    {"recipient": "victim@x.example, eve@stranger.example"},
    {"recipient": "victim%x.example@stranger.example"},
    {"recipient": "Dana <dana@acme.example>"},
    {"recipient": "=?utf-8?q?victim@x.example?=@stranger.example"},
    {"message_id": "x@vendor.example\r\nBcc: eve@evil.example"},
    {"message_id": "=?utf-8?q?x=0D=0ABcc:_eve@evil.example?=@vendor.example"},
]
CLEANED_ROWS = [
    {"subject": "Hi\r\nBcc: eve@evil.example\r\nContent-Type: text/html\r\n\r\n<b>EVIL-HTML</b>"},
    {"subject": "=?utf-8?q?Hi=0D=0ABcc:_eve@evil.example?="},
    {"subject": "Hi\rBcc: eve@evil.example\x00"},
    {"subject": "x" * 5000},
    {
        "in_reply_to": "=?utf-8?q?<p@acme.example>=0D=0ABcc:_eve@evil.example?=",
        "references": ["ok@acme.example", "bad\r\nBcc: eve@evil.example", "<also-ok@acme.example>", 7, None],
    },
    {
        "in_reply_to": "a" * 450 + "@acme.example",
        "references": ["=?utf-8?b?QmNjOiBldmU=?=@acme.example", "r" * 5000 + "@acme.example"],
    },
    {
        "body_text": "Line one\rBcc: eve@evil.example\x00\r\n\r\n--boundary\r\n"
        "Content-Type: text/html\r\n\r\nx"
    },
]


def test_rows_that_cannot_be_built_fail_alone_and_the_rest_go_out(bot: Runtime, relay: Relay) -> None:
    """Rows stored directly (as older code or a bad migration would leave them), in one claimed batch."""
    ticket = make_ticket(bot)
    postgres = bot.settings.database.url.startswith("postgresql")

    def storable(values: dict[str, object]) -> dict[str, object]:  # PostgreSQL text holds no NUL
        return {k: v.replace("\x00", "") if postgres and isinstance(v, str) else v for k, v in values.items()}

    good_before = add_outbox(bot, ticket, recipient="lee@acme.example")
    bad = [add_outbox(bot, ticket, **storable(values))[0] for values in HOSTILE_ROWS]
    cleaned = [
        add_outbox(bot, ticket, recipient=f"c{i}@acme.example", **storable(values))[0]
        for i, values in enumerate(CLEANED_ROWS)
    ]
    good_after = add_outbox(bot, ticket, recipient="kim@acme.example")
    summary = deliver(bot)
    assert summary == {
        "claimed": len(bad) + len(cleaned) + 2,
        "sent": len(cleaned) + 2,
        "retried": 0,
        "failed": len(bad),
        "suppressed": 0,
    }
    with bot.sessions() as session:
        for rid in bad:
            row = session.get(Outbox, rid)
            assert row is not None and row.state == "failed"
            assert row.last_error is not None and row.last_error.startswith("cannot be sent: ")
            assert "recipient" in row.last_error or "Message-ID" in row.last_error
        for rid in good_before + cleaned + good_after:
            row = session.get(Outbox, rid)
            assert row is not None and row.state == "sent", (rid, row and row.last_error)
    assert sorted(r.rcpt_tos[0] for r in relay.received) == sorted(
        ["lee@acme.example", "kim@acme.example"] + [f"c{i}@acme.example" for i in range(len(cleaned))]
    )
    for got in relay.received:
        msg = assert_clean(got)
        assert len(str(msg["Subject"])) <= 250
        if got.rcpt_tos == ["c4@acme.example"]:
            assert msg["In-Reply-To"] is None
            assert str(msg["References"]).split() == ["<ok@acme.example>", "<also-ok@acme.example>"]
        if got.rcpt_tos == ["c6@acme.example"]:
            assert "\x00" not in msg.get_content() and "\r" not in msg.get_content().replace("\r\n", "")
            assert msg.get_content_type() == "text/plain" and len(msg.get_all("Content-Type") or []) == 1
    assert deliver(bot)["claimed"] == 0


def test_mail_to_an_invalid_address_is_never_queued_as_pending(
    bot: Runtime, relay: Relay, clock: FixedClock
) -> None:
    """An engineer answers tickets whose requester is empty, `<>` or a comma trick: nothing is sent."""
    refs = [make_ticket(bot, requester=r) for r in ("", "<>", '"victim@x.example,eve"@stranger.example')]
    with bot.sessions() as session:
        for ticket in refs:
            reply(session, clock, bot.settings, f"support-{ticket}", "We are on it.")
    with bot.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
    assert len(rows) == 3
    assert all(r.state == "failed" and (r.last_error or "").startswith("not sent: recipient") for r in rows)
    assert deliver(bot)["claimed"] == 0 and relay.received == []
    clock.advance(days=1)
    assert deliver(bot)["claimed"] == 0


def test_a_message_the_email_package_refuses_fails_alone(
    bot: Runtime, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython with the CVE-2024-6923 fix raises HeaderWriteError while serialising such a message.

    This CPython (3.11.7) predates the fix, so the refusal is emulated where the fix lives, in the
    generator's header writer, for one row; the pass goes on and the other rows are sent.
    """
    import email.generator

    original = email.generator.BytesGenerator._write_headers

    def refusing(self: email.generator.BytesGenerator, msg: EmailMessage) -> None:
        if "REFUSE-ME" in str(msg.get("Subject", "")):
            raise email.errors.MessageError("folded header contains newline")  # HeaderWriteError's base
        original(self, msg)

    monkeypatch.setattr(email.generator.BytesGenerator, "_write_headers", refusing)
    ticket = make_ticket(bot)
    first = add_outbox(bot, ticket, recipient="a1@acme.example")
    [refused] = add_outbox(bot, ticket, recipient="a2@acme.example", subject="REFUSE-ME")
    last = add_outbox(bot, ticket, recipient="a3@acme.example")
    assert deliver(bot) == {"claimed": 3, "sent": 2, "retried": 0, "failed": 1, "suppressed": 0}
    assert sorted(r.rcpt_tos[0] for r in relay.received) == ["a1@acme.example", "a3@acme.example"]
    with bot.sessions() as session:
        row = session.get(Outbox, refused)
        assert row is not None and row.state == "failed"
        assert "the email package refused the message: MessageError" in (row.last_error or "")
        assert {session.get(Outbox, i).state for i in first + last} == {"sent"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"junk without any header\r\n",
        b"Subject: no sender at all\r\n\r\nhello\r\n",
        b"From: <>\r\nSubject: null path\r\n\r\nhello\r\n",
        b"From: \r\nSubject: empty From\r\n\r\nhello\r\n",
        b"From: undisclosed-recipients:;\r\nSubject: a group\r\n\r\nhello\r\n",
    ],
)
def test_junk_data_over_smtp_is_never_answered_to_the_null_path(
    bot: Runtime, relay: Relay, data: bytes
) -> None:
    """Issue 8, defect 6: junk DATA with MAIL FROM:<> became a ticket whose replies went to <>."""
    with intake_smtp(bot.settings, bot) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail("", ["support@vendor.example"], data)
    deliver(bot)
    assert relay.received == []
    with bot.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
    for r in rows:  # a row may record that nobody could be answered; none is pending or sent
        assert r.state == "failed" and (r.last_error or "").startswith("not sent: recipient"), r.recipient


def test_escalation_notices_about_a_hostile_ticket_are_clean(
    bot: Runtime, relay: Relay, clock: FixedClock
) -> None:
    """A designated contact's ticket whose Subject and display name hide headers: the team's notices."""
    bot.settings.escalation.notify = ["oncall@team.example"]
    bot.settings.guard.trusted_authserv_ids = ["mx.vendor.example"]
    with bot.sessions() as session:
        add_org(session, clock, "Globex", "rezilion", "standard", ["globex.example"])
        add_contact(session, clock, "Globex", "hank@globex.example", "Hank")
        session.commit()
    raw = (
        b"Authentication-Results: mx.vendor.example; spf=pass smtp.mailfrom=globex.example; "
        b"dkim=pass header.d=globex.example; dmarc=pass header.from=globex.example\r\n"
        b"From: =?utf-8?q?Hank=E2=80=A8Bcc:=09eve@evil.example?= <hank@globex.example>\r\n"
        b"To: support@vendor.example\r\n"
        b"Subject: =?utf-8?q?Production_down=0D=0ABcc:_eve@evil.example=0D=0A=0D=0A<b>EVIL-HTML</b>?=\r\n"
        b"Message-ID: =?utf-8?q?<d1@globex.example>=0D=0AReply-To:_eve@evil.example?=\r\n"
        b"Date: Mon, 16 Nov 2026 08:00:00 +0000\r\n\r\n"
        b"Production is down, nothing works, severity 1.\r\n"
    )
    with bot.deps() as deps:
        [outcome] = ingest([parse_one(raw, "hank", clock.now())], deps)
    assert outcome.disposition == "ticket"
    deliver(bot)
    for _ in range(12):  # warnings and breaches of the first-response and resolution targets
        clock.advance(hours=8)
        with bot.sessions() as session:
            tick(session, clock, bot.settings)
        deliver(bot)
    to_team = [r for r in relay.received if r.rcpt_tos == ["oncall@team.example"]]
    assert to_team, "no escalation notice reached the team"
    for got in relay.received:
        assert_clean(got)
