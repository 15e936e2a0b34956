"""The values the bot's headers are built from: strict msg-ids, one plain address, one line of text."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.safe_values import (
    MAX_MSG_ID,
    address_key,
    address_problem,
    clean_text,
    domain_key,
    msg_ids,
    one_line,
    valid_address,
    valid_msg_id,
)
from channels.smtp_send import Unbuildable, verify_headers

INJECTED = "\r\nBcc: eve@evil.example\r\nContent-Type: text/html\r\n\r\n<b>EVIL</b>"


@pytest.mark.parametrize(
    "value",
    [
        "CAH+x=y.z@mail.gmail.com",
        "<AM6PR.1@eurprd.prod.outlook.com>",
        "a!#$%&'*+/?=^_`{|}~-@b.c",  # all of atext; "=?" alone is refused (an encoded word)
        "k" * 240 + "@x",
    ],
)
def test_real_msg_ids_pass(value: str) -> None:
    assert valid_msg_id(value) == value.strip("<>")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "<>",
        "no-at-sign",
        "a@b" + INJECTED,
        "=?utf-8?q?a@b" + INJECTED.replace("\r\n", "=0D=0A").replace(" ", "_") + "?=",
        "=?utf-8?b?QmNjOiBldmVAZXZpbC5leGFtcGxl?=@evil.example",  # atext only, yet an encoded word
        "<a@b>\r\nBcc: eve@evil.example",
        "a@b\rBcc: x@y",
        "a@b\nx",
        "a\x00b@c",
        "a b@c",
        "a\tb@c",
        "ünï@c.example",
        "lit@[192.0.2.1]",
        "a..b@c",
        ".a@c",
        "a@b.",
        "<a@b> <c@d>",
        "<<a@b>>",
        "a@b@c",
        '"quoted"@c',
        "a@" + "x" * MAX_MSG_ID,
        "a@b\u2028Bcc: x",
    ],
)
def test_anything_else_is_no_msg_id(value: str) -> None:
    assert valid_msg_id(value) is None


def test_msg_id_lists_keep_valid_distinct_ids_in_order_and_name_the_rest() -> None:
    found = msg_ids(["a@b", "<c@d>", "bad" + INJECTED, 7, None, "a@b", "e@f"])
    assert found.kept == ["a@b", "c@d", "e@f"]
    assert len(found.omitted) == 3 and all("\n" not in o and len(o) <= 80 for o in found.omitted)
    assert msg_ids([f"m{i}@x" for i in range(30)]).kept == [f"m{i}@x" for i in range(10, 30)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dana@acme.example", "dana@acme.example"),
        ("Dana.Smith+tickets@Mail.ACME.example", "Dana.Smith+tickets@mail.acme.example"),
        ("o'brien@x-y.example", "o'brien@x-y.example"),
    ],
)
def test_plain_addresses_pass(value: str, expected: str) -> None:
    assert valid_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "<>",
        "<dana@acme.example>",
        "Dana <dana@acme.example>",
        '"victim@x.example,eve"@stranger.example',
        '"dana"@acme.example',
        "victim@x.example,eve@stranger.example",
        "victim@x.example, eve@stranger.example",
        "victim%x.example@relay.example",
        "x.example!victim@relay.example",
        "@relay.example:victim@x.example",
        "dana@acme.example\r\nBcc: eve@evil.example",
        "dana@acme.example\nRCPT TO:<eve@evil.example>",
        "dana@acme.example\r",
        "dana@acme.example\x00",
        " dana@acme.example",
        "dana@localhost",
        "dana@[192.0.2.1]",
        "dana@-acme.example",
        "dana@acme..example",
        "dänä@acme.example",
        "dana@äcme.example",
        "=?utf-8?q?victim@x.example?=@stranger.example",
        "a" * 65 + "@acme.example",
        "a@" + "b" * 64 + ".example",
        "a@" + ".".join(["b" * 60] * 5),
    ],
)
def test_anything_else_is_no_recipient(value: str) -> None:
    assert valid_address(value) is None
    assert address_problem(value)


def test_empty_and_null_path_are_named() -> None:
    assert "null path" in address_problem("<>") and "null path" in address_problem("")
    assert "not one valid address" in address_problem("a@b.example, c@d.example")


@pytest.mark.parametrize(
    ("address", "mailbox", "domain"),
    [
        ("Robot+abc@Robots.Example", "robot@robots.example", "robots.example"),
        ("robot@a.b.robots.example", "robot@a.b.robots.example", "robots.example"),
        ("x@mail.example.co.uk", "x@mail.example.co.uk", "example.co.uk"),
        ("+only@robots.example", "+only@robots.example", "robots.example"),
    ],
)
def test_caps_count_mailboxes_and_registrable_domains(address: str, mailbox: str, domain: str) -> None:
    assert (address_key(address), domain_key(address)) == (mailbox, domain)
    assert domain_key("a@x.co.uk") != domain_key("a@y.co.uk")


@pytest.mark.parametrize(
    "value",
    [
        "Export fails" + INJECTED,
        "Export fails\rBcc: eve@evil.example",
        "Export\x00 fails\x85Bcc: x",
        "Export\u2028Bcc: x\u2029Reply-To: y\x0b\x0c\x1c\x1d\x1e",
        "=?utf-8?q?Export=0D=0ABcc:_eve@evil.example?=",
        "=?=?utf-8?b?QmNjOg==?=?=",
        "bidi \u202egnp.exe",
        "lone surrogate \udcff here",
    ],
)
def test_one_line_leaves_nothing_a_header_could_break_on(value: str) -> None:
    line = one_line(value)
    assert line == line.strip() and "  " not in line
    assert len(line.splitlines()) == 1 and "=?" not in line
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029\u202e" for c in line)
    line.encode("utf-8")  # no surrogate left


def test_one_line_is_bounded() -> None:
    assert len(one_line("x" * 100_000)) == 250 and one_line("x" * 100_000).endswith("\u2026")
    assert one_line("Grüße aus Köln") == "Grüße aus Köln"


@given(st.text())
def test_any_text_set_as_a_subject_gives_exactly_one_subject_header(text: str) -> None:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = one_line(text)
    msg["To"] = "a@b.example"
    head = msg.as_bytes().partition(b"\r\n\r\n")[0]
    names = [line.partition(b":")[0] for line in head.split(b"\r\n") if line[:1] not in b" \t"]
    assert names.count(b"Subject") == 1 and set(names) <= {b"Subject", b"To"}, head


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=300))
def test_a_valid_msg_id_can_carry_no_line_break_or_space(text: str) -> None:
    found = valid_msg_id(text)
    if found is not None:
        assert not any(c.isspace() or ord(c) < 33 or c in '<>()[]\\,;:"' for c in found)
        assert found.count("@") == 1


def test_body_text_keeps_its_lines_and_loses_its_controls() -> None:
    assert clean_text("a\r\nb\rc\nd\x00e\x1bf\tg") == "a\nb\nc\ndef\tg"


@pytest.mark.parametrize(
    "head",
    [
        b"Subject: a\r\nBcc: eve@evil.example",
        b"Subject: a\nBcc: eve@evil.example",
        b"Subject: a\rBcc: eve@evil.example",
        b"Subject: a\x00b",
        b"Subject: a\r\nSubject: b",
        b"Subject: caf\xc3\xa9",
        b"Reply-To: eve@evil.example",
        b"not a header line",
    ],
)
def test_the_final_check_refuses_any_header_block_but_ours(head: bytes) -> None:
    with pytest.raises(Unbuildable, match="header"):
        verify_headers(head + b"\r\n\r\nbody\r\n")


def test_the_final_check_passes_folded_headers() -> None:
    verify_headers(b"Subject: a\r\n b\r\nTo: a@b.example\r\n\r\nbody")
