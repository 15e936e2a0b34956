"""channels.email_parse.parse on focused cases: odd mail kept in tests/data/, the rest built here."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email_parse import DEFAULT_LIMITS, Limits, parse
from channels.mail_headers import decode_words, parse_addresses
from channels.mail_text import split_reply, strip_signature
from intake.errors import BadInput
from intake.models import InboundMessage

DATA = Path(__file__).resolve().parents[1] / "data"


def load(name: str) -> InboundMessage:
    return parse((DATA / name).read_bytes(), raw_ref=name)


def mail(
    body: str | bytes = "Hello, the export fails.", *, headers: list[tuple[str, str | None]] | None = None
) -> bytes:
    """One raw message, byte for byte as given: LF line ends, the body after one empty line.

    Defaults supply From/To/Subject/Date/Message-ID and a UTF-8 text/plain type; a header
    given in `headers` replaces the default of the same name, and a value of None drops it.
    """
    fields: dict[str, str | None] = {
        "From": "Dana Smith <Dana@Acme.example>",
        "To": "support@vendor.example",
        "Subject": "Export fails",
        "Date": "Tue, 17 Nov 2026 08:00:00 +0000",
        "Message-ID": "<m1@acme.example>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "8bit",
    }
    extra: list[tuple[str, str]] = []
    for name, value in headers or []:
        if name in fields:
            fields[name] = value
        elif value is not None:
            extra.append((name, value))
    lines = [f"{name}: {value}" for name, value in fields.items() if value is not None]
    lines += [f"{name}: {value}" for name, value in extra]
    data = body.encode("utf-8") if isinstance(body, str) else body
    return "\n".join(lines).encode("utf-8") + b"\n\n" + data


# --- headers ------------------------------------------------------------------------------------


def test_encoded_words_in_every_header() -> None:
    msg = load("encoded_words.eml")
    # A UTF-8 character split across two encoded words is joined before decoding.
    assert msg.subject.startswith("Support anfrage: Gültigkeit für")
    # A broken encoded word stays as text instead of failing the message.
    assert msg.subject.endswith("=?utf-8?B?broken!?= tail")
    # An encoded comma in a display name does not split the address list.
    assert msg.display_name == "Müller, Jörg"
    assert msg.sender == "joerg.mueller@example.de"
    assert msg.to == ["rene@example.fr", "jane@example.com", "a@example.org", "b@example.org"]
    assert msg.cc == []
    assert msg.headers["x-mailer"] == "Outlöok"
    assert msg.text == "Grüße, die Lizenz ist abgelaufen."


def test_raw_8bit_latin1_headers_and_mislabelled_body() -> None:
    msg = load("latin1_mislabelled.eml")
    assert msg.display_name == "François"
    assert msg.subject == "Problème de connexion"
    assert "je n'arrive plus à me connecter" in msg.text
    assert "Grüße aus München" in msg.text
    assert any("did not fit" in d for d in msg.defects)


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    raw = mail(headers=[("Subject", "Störung im Büro"), ("From", "Zoë <zoe@example.com>")])
    msg = parse(raw)
    assert msg.subject == "Störung im Büro"
    assert msg.display_name == "Zoë"


def test_subject_whitespace_is_collapsed_and_folding_undone() -> None:
    raw = mail(headers=[("Subject", "Re:   export\n\tfails   again ")])
    assert parse(raw).subject == "Re: export fails again"


def test_ids_dates_and_thread_hints() -> None:
    msg = load("html_only.eml")
    assert msg.external_id == "html-only@example.com"
    assert msg.in_reply_to == "ack-42@vendor.example"
    assert msg.references == ["orig-42@example.com", "ack-42@vendor.example"]
    assert msg.sent_at == datetime(2026, 11, 17, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 17 Nov 2026 09:30:00 +0100", datetime(2026, 11, 17, 8, 30, tzinfo=UTC)),
        ("17 Nov 2026 09:30 -0000", datetime(2026, 11, 17, 9, 30, tzinfo=UTC)),
        ("Tue, 17 Nov 2026 09:30:00 GMT", datetime(2026, 11, 17, 9, 30, tzinfo=UTC)),
        ("Sat, 30 Jun 2012 06:06:01 -0700 (PDT)", datetime(2012, 6, 30, 13, 6, 1, tzinfo=UTC)),
        ("Whenever", None),
        ("Tue, 31 Feb 2026 10:00:00 +0000", None),
    ],
)
def test_dates_are_tz_aware_or_none(value: str, expected: datetime | None) -> None:
    msg = parse(mail(headers=[("Date", value)]))
    assert msg.sent_at == expected
    if msg.sent_at is not None:
        assert msg.sent_at.utcoffset() is not None
    else:
        assert any(d.startswith("unreadable Date") for d in msg.defects)


def test_message_id_without_brackets_and_missing() -> None:
    assert parse(mail(headers=[("Message-ID", "bare-id@example.com")])).external_id == "bare-id@example.com"
    msg = load("no_message_id.eml")
    assert msg.external_id == ""
    assert len(msg.content_hash) == 64
    assert "no Message-ID" in msg.defects


def test_same_mail_delivered_twice_hashes_equal() -> None:
    first = mail(headers=[("Message-ID", None)])
    # The second copy went through another relay (new Received, Return-Path) and came over IMAP (CRLF).
    second = (
        b"Return-Path: <dana@acme.example>\nReceived: from mx2 by mx3; Tue, 17 Nov 2026 08:00:05 +0000\n"
        + first
    )
    second = second.replace(b"\n", b"\r\n") + b"\r\n"
    assert parse(first).content_hash == parse(second).content_hash
    assert (
        parse(first).content_hash != parse(mail("Another body", headers=[("Message-ID", None)])).content_hash
    )
    assert (
        parse(first).content_hash
        != parse(mail(headers=[("Message-ID", None), ("Subject", "Other")])).content_hash
    )


def test_sender_never_falls_back_to_sender_or_reply_to() -> None:
    """Identity is the one From address (tests/unit/test_parse_edge.py has the variants)."""
    msg = parse(mail(headers=[("From", "Support Team"), ("Sender", "Agent <Agent@Acme.example>")]))
    assert msg.sender == "" and (msg.identity_problem or "").startswith("unreadable From")
    msg = parse(mail(headers=[("From", None), ("Reply-To", "reply@acme.example")]))
    assert (msg.sender, msg.identity_problem) == ("", "no From field")


def test_guard_headers_are_kept_lower_cased_and_repeats_joined() -> None:
    msg = load("inline_image.eml")
    assert msg.headers["auto-submitted"] == "no"
    assert msg.headers["x-loop"] == "support@vendor.example\nhelpdesk@vendor.example"
    assert msg.headers["content-type"].startswith("multipart/related")
    assert "received" not in msg.headers
    raw = mail(
        headers=[
            ("Auto-Submitted", "auto-replied"),
            ("Precedence", "bulk"),
            ("List-Id", "<users.lists.example>"),
            ("Authentication-Results", "mx.vendor.example;\n dmarc=pass header.from=acme.example"),
            ("X-Intake-Ticket", "T-1042"),
        ]
    )
    headers = parse(raw).headers
    assert headers["auto-submitted"] == "auto-replied"
    assert headers["precedence"] == "bulk"
    assert headers["list-id"] == "<users.lists.example>"
    assert headers["authentication-results"] == "mx.vendor.example; dmarc=pass header.from=acme.example"
    assert headers["x-intake-ticket"] == "T-1042"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Doe, John" <J@X.org>, b@c.de', [("Doe, John", "j@x.org"), ("", "b@c.de")]),
        ("a@b.example (Alice A)", [("Alice A", "a@b.example")]),
        ("team: a@x.example, b@y.example;", [("", "a@x.example"), ("", "b@y.example")]),
        ("=?utf-8?q?Doe=2C_John?= <j@x.org>", [("Doe, John", "j@x.org")]),
        ("<@relay.example:u@h.example>", [("", "u@h.example")]),
        ("Whomever", [("Whomever", "")]),
    ],
)
def test_address_lists(value: str, expected: list[tuple[str, str]]) -> None:
    assert parse_addresses(value) == expected


def test_decode_words_joins_and_tolerates_breakage() -> None:
    assert decode_words("=?utf-8?B?w7w=?= =?utf-8?B?w7w=?=") == "üü"
    assert decode_words("=?iso-8859-1?q?caf=E9?= au lait") == "café au lait"
    assert decode_words("=?unknown-charset?q?caf=E9?=") == "café"
    assert decode_words("=?utf-8?q?unterminated") == "=?utf-8?q?unterminated"


# --- bodies -------------------------------------------------------------------------------------


def test_html_only_is_converted_and_its_quote_split() -> None:
    msg = load("html_only.eml")
    assert msg.text.startswith("The export still fails with error 500.")
    assert "Chrome 124" in msg.text and "Firefox 125" in msg.text
    assert "color:red" not in msg.text
    assert "We received your request." in msg.quoted
    assert "We received your request." not in msg.text
    assert msg.html.startswith("<html>")


def test_alternative_keeps_text_and_html_without_converting() -> None:
    raw = mail(
        b"--a\nContent-Type: text/plain; charset=utf-8\n\nPlain words.\n"
        b"--a\nContent-Type: text/html; charset=utf-8\n\n<p>HTML words.</p>\n--a--\n",
        headers=[("Content-Type", 'multipart/alternative; boundary="a"')],
    )
    msg = parse(raw)
    assert msg.text == "Plain words."
    assert msg.html.strip() == "<p>HTML words.</p>"


QUOTED_REPLIES = {
    "gmail": (
        "Yes, it happens every time.\n\n"
        "On Mon, Nov 16, 2026 at 9:00 AM Support <support@vendor.example> wrote:\n"
        "> Does it happen every time?\n>\n> Regards\n"
    ),
    "gmail-wrapped": (
        "Yes, it happens every time.\n\n"
        "On Mon, 16 Nov 2026 09:00:00 +0100, Support <support@vendor.example>\n"
        "wrote:\n> Does it happen every time?\n"
    ),
    "outlook": (
        "Yes, it happens every time.\n\n________________________________\n"
        "From: Support <support@vendor.example>\n"
        "Sent: Monday, November 16, 2026 9:00 AM\nTo: Dana Smith\nSubject: RE: Export fails\n\n"
        "Does it happen every time?\n"
    ),
    "outlook-original": (
        "Yes, it happens every time.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\n"
        "Does it happen every time?\n"
    ),
    "german": (
        "Ja, jedes Mal.\n\nAm 16.11.2026 um 09:00 schrieb Support <support@vendor.example>:\n"
        "> Passiert das jedes Mal?\n"
    ),
    "german-outlook": (
        "Ja, jedes Mal.\n\nVon: Support <support@vendor.example>\nGesendet: Montag, 16. November 2026 09:00\n"
        "An: Dana Smith\nBetreff: AW: Export\n\nPassiert das jedes Mal?\n"
    ),
    "french": (
        "Oui, à chaque fois.\n\nLe lun. 16 nov. 2026 à 09:00, Support <support@vendor.example> a écrit :\n"
        "> Est-ce que cela arrive à chaque fois ?\n"
    ),
    "spanish": (
        "Sí, cada vez.\n\nEl lun, 16 nov 2026 a las 9:00, Support (<support@vendor.example>) escribió:\n"
        "> ¿Pasa cada vez?\n"
    ),
}


@pytest.mark.parametrize("client", sorted(QUOTED_REPLIES))
def test_quoted_reply_is_separated(client: str) -> None:
    msg = parse(mail(QUOTED_REPLIES[client]))
    first_line = QUOTED_REPLIES[client].split("\n", 1)[0]
    assert msg.text == first_line
    assert msg.quoted
    assert (
        "jedes Mal?" in msg.quoted
        or "every time?" in msg.quoted
        or "fois ?" in msg.quoted
        or "vez?" in msg.quoted
    )


def test_inline_reply_keeps_quotes_as_context() -> None:
    body = (
        "On Mon, Nov 16, 2026 at 9:00 AM Support <support@vendor.example> wrote:\n"
        "> Which browser?\nChrome 124.\n\n> Which version of the app?\n3.2.1\n\n> Anything else?\n"
    )
    msg = parse(mail(body))
    assert msg.text == "> Which browser?\nChrome 124.\n\n> Which version of the app?\n3.2.1"
    assert "wrote:" in msg.quoted and "Anything else?" in msg.quoted


def test_forward_without_comment_keeps_the_forwarded_text() -> None:
    body = (
        "---------- Forwarded message ---------\nFrom: Accountant <acc@example.com>\n"
        "Date: Mon, Nov 16, 2026 at 9:00 AM\nSubject: invoice\nTo: <maria@example.com>\n\n"
        "Invoice 4711 is charged twice.\n"
    )
    msg = parse(mail(body))
    assert msg.text == "Invoice 4711 is charged twice."


def test_plain_text_without_quotes_is_untouched() -> None:
    body = "Hi,\n\nthe log says:\nERROR 500 at 10:02:13\n-> retry\n\n--\nDana\ndana@acme.example\n"
    msg = parse(mail(body))
    assert msg.text == body.strip("\n")
    assert msg.quoted == ""
    assert strip_signature(msg.text) == (
        "Hi,\n\nthe log says:\nERROR 500 at 10:02:13\n-> retry",
        "--\nDana\ndana@acme.example",
    )


def test_mobile_signature_is_split_off_by_strip_signature() -> None:
    assert strip_signature("Thanks, works now.\n\nSent from my iPhone") == (
        "Thanks, works now.",
        "Sent from my iPhone",
    )


def test_split_reply_on_empty_and_quote_only() -> None:
    assert split_reply("") == ("", "")
    assert split_reply("> only a quote") == ("> only a quote", "")


# --- attachments ----------------------------------------------------------------------------------


def test_rfc2231_and_encoded_word_filenames() -> None:
    msg = load("rfc2231_filename.eml")
    names = [a.filename for a in msg.attachments]
    assert names == ["ログ résumé.txt", "Bildschirmfoto ü.png"]
    log = msg.attachments[0]
    assert log.kind == "file"
    assert log.data == b"2026-11-17 ERROR sync failed\n"
    assert log.size == len(log.data)


def test_calendar_part_is_a_calendar_attachment() -> None:
    msg = load("calendar.eml")
    assert msg.text == "You have been invited to: Escalation call"
    (cal,) = msg.attachments
    assert cal.kind == "calendar"
    assert cal.content_type == "text/calendar"
    assert b"METHOD:REQUEST" in cal.data


def test_tnef_part_is_kept_as_tnef() -> None:
    msg = load("tnef.eml")
    (tnef,) = msg.attachments
    assert (tnef.kind, tnef.filename, tnef.content_type) == ("tnef", "winmail.dat", "application/ms-tnef")
    assert tnef.data.startswith(b"\x78\x9f\x3e\x22")


def test_forwarded_message_is_an_attachment_not_merged() -> None:
    msg = load("forwarded_rfc822.eml")
    assert msg.text == "Please look at the mail below from our accountant."
    (fwd,) = msg.attachments
    assert (fwd.kind, fwd.filename, fwd.content_type) == ("message", "invoice question.eml", "message/rfc822")
    assert b"Invoice 4711 is charged twice." in fwd.data
    assert "Invoice 4711" not in msg.text
    # The forwarded bytes are a message of their own that parse reads.
    assert parse(fwd.data).subject == "invoice question"


def test_inline_image_has_its_content_id() -> None:
    msg = load("inline_image.eml")
    (image,) = msg.attachments
    assert (image.kind, image.content_id, image.content_type) == ("inline", "shot1@example.com", "image/png")
    assert msg.text == "See the screenshot."


def test_attachment_names_lose_directories() -> None:
    raw = mail(
        b"--m\nContent-Type: text/plain\n\nsee file\n"
        b"--m\nContent-Type: application/octet-stream\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd"\n\n'
        b"x\n--m--\n",
        headers=[("Content-Type", 'multipart/mixed; boundary="m"')],
    )
    assert [a.filename for a in parse(raw).attachments] == ["passwd"]


def test_broken_base64_attachment_is_decoded_as_far_as_possible() -> None:
    raw = mail(
        b"--m\nContent-Type: text/plain\n\nsee file\n"
        b'--m\nContent-Type: application/octet-stream; name="a.bin"\nContent-Transfer-Encoding: base64\n\n'
        b"aGVsbG8gd29ybGQ=!!\nAHEBA\n--m--\n",
        headers=[("Content-Type", 'multipart/mixed; boundary="m"')],
    )
    msg = parse(raw)
    assert msg.text == "see file"
    assert msg.attachments[0].data.startswith(b"hello world")


# --- hostile and broken input ---------------------------------------------------------------------


def _nested(depth: int, *, rfc822: bool = False) -> bytes:
    body = b"Content-Type: text/plain\n\nleaf\n"
    for level in range(depth):
        if rfc822:
            body = b"Content-Type: message/rfc822\n\nFrom: x@y.example\nSubject: level %d\n" % level + body
        else:
            boundary = b"b%d" % level
            body = (
                b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n--' + boundary + b"\n"
                + body + b"\n--" + boundary + b"--\n"
            )  # fmt: skip
    return b"From: a@b.example\nSubject: bomb\nMIME-Version: 1.0\n" + body


@pytest.mark.parametrize("rfc822", [False, True])
@pytest.mark.parametrize("depth", [25, 400, 5000])
def test_depth_bomb_is_bad_input_naming_the_bound(depth: int, rfc822: bool) -> None:
    start = time.perf_counter()
    with pytest.raises(BadInput, match=f"nesting deeper than {DEFAULT_LIMITS.max_depth} levels"):
        parse(_nested(depth, rfc822=rfc822))
    assert time.perf_counter() - start < 1.0


def test_nesting_within_the_bound_parses() -> None:
    assert parse(_nested(10)).text == "leaf"


def test_part_count_bound() -> None:
    parts = b"".join(b"--p\nContent-Type: text/plain\n\npart %d\n" % i for i in range(600))
    raw = mail(parts + b"--p--\n", headers=[("Content-Type", 'multipart/mixed; boundary="p"')])
    with pytest.raises(BadInput, match="more than 500 MIME parts"):
        parse(raw)
    assert parse(raw, limits=Limits(max_parts=1000)).text.startswith("part 0")


def test_size_bound() -> None:
    raw = mail("x" * 2000)
    with pytest.raises(BadInput, match="message larger than 1000 bytes"):
        parse(raw, limits=Limits(max_bytes=1000))
    assert "message larger than 50 MB" in _reason(lambda: parse(b"x" * (50 * 1024 * 1024 + 1)))


def _reason(call: object) -> str:
    try:
        call()  # type: ignore[operator]
    except BadInput as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n  \n", "empty message"),
        (b"This is just some text.\nNo headers here.\n", "no headers"),
        (b"\x00\x01\x02\xff\xfe binary junk", "no headers"),
    ],
)
def test_unreadable_input_is_bad_input(raw: bytes, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        parse(raw)


def test_leading_blank_line_bom_and_mbox_envelope_are_skipped() -> None:
    base = mail()
    for raw in (
        b"\n" + base,
        b"\xef\xbb\xbf" + base,
        b"From dana@acme.example Tue Nov 17 08:00:00 2026\n" + base,
    ):
        msg = parse(raw)
        assert (msg.sender, msg.subject) == ("dana@acme.example", "Export fails")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_bad_input(raw: bytes) -> None:
    try:
        msg = parse(raw)
    except BadInput as exc:
        assert str(exc)
    else:
        assert isinstance(msg, InboundMessage)


def test_truncated_and_mangled_real_mail_never_crashes() -> None:
    sources = [p.read_bytes() for p in sorted(DATA.glob("*.eml"))]
    rng = random.Random(7)
    for _ in range(400):
        raw = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.3:
                del raw[pos:]
                if not raw:
                    break
            elif action < 0.6:
                raw[pos] = rng.randrange(256)
            else:
                raw[pos:pos] = rng.choice(
                    [b"\n--", b"=?utf-8?B?", b"\r\n\r\n", b"boundary=", b"\x00", b"=\n"]
                )
        with contextlib.suppress(BadInput):
            parse(bytes(raw))


def test_received_at_and_raw_ref_pass_through() -> None:
    when = datetime(2026, 11, 17, 8, 0, 1, tzinfo=UTC) + timedelta(seconds=1)
    raw = mail()
    msg = parse(raw, received_at=when, raw_ref="imap:support/4711")
    assert (msg.received_at, msg.raw_ref, msg.raw, msg.channel) == (when, "imap:support/4711", raw, "email")


@pytest.mark.parametrize(
    "html",
    [
        "<" * 300_000,
        "<div>" * 100_000 + "deep" + "</div>" * 100_000,
        "<script>" * 50_000,
        "<!--" * 100_000,
        "text<style>" + "x" * 500_000,
        "<ul><li>" * 12_000,
    ],
    ids=["lt-run", "deep-divs", "open-scripts", "open-comments", "unclosed-style", "nested-lists"],
)
def test_hostile_html_only_bodies_finish_fast(html: str) -> None:
    raw = mail(html, headers=[("Content-Type", "text/html; charset=utf-8")])
    start = time.perf_counter()
    msg = parse(raw)
    assert time.perf_counter() - start < 1.0
    assert msg.html


def test_html_longer_than_the_bound_is_converted_in_part() -> None:
    html = "<p>" + "word " * 50_000 + "</p><p>END</p>"
    msg = parse(mail(html, headers=[("Content-Type", "text/html")]), limits=Limits(max_html_chars=10_000))
    assert msg.text.startswith("word word")
    assert "END" not in msg.text
    assert any("HTML body longer than 10000 characters" in d for d in msg.defects)


def test_stdlib_fallback_reads_what_the_native_parser_refuses() -> None:
    # A part whose base64 cannot be decoded makes fast_mail_parser refuse the part;
    # the stdlib path reads the message and the rest of it is intact.
    raw = mail(
        b"--m\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        b"SGVsbG8gdGhlcmU=\nAHEBA\n--m\nContent-Type: text/plain; name=log.txt\n"
        b"Content-Disposition: attachment; filename=log.txt\n\nline 1\n--m--\n",
        headers=[("Content-Type", 'multipart/mixed; boundary="m"')],
    )
    msg = parse(raw)
    assert msg.text == "Hello there"
    assert [a.filename for a in msg.attachments] == ["log.txt"]
    assert any("stdlib" in d for d in msg.defects)


def test_blank_text_part_falls_back_to_the_html_part() -> None:
    raw = mail(
        b"--a\nContent-Type: text/plain; charset=utf-8\n\n  \n\n"
        b"--a\nContent-Type: text/html; charset=utf-8\n\n<p>Only the HTML has words.</p>\n--a--\n",
        headers=[("Content-Type", 'multipart/alternative; boundary="a"')],
    )
    assert parse(raw).text == "Only the HTML has words."
