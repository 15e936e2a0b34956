"""Outgoing messages: template choice (deployment, policy, common), subject line, escaped HTML twin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from intake.config import Settings
from intake.outgoing.compose import clean_subject, outbox_row, render
from intake.policies.loader import load_all

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_reply_prefixes_and_our_reference_are_dropped_from_the_subject() -> None:
    assert clean_subject("RE: AW: [support-7] Re: Export fails", "support-7") == "Export fails"
    assert clean_subject("", "support-7") == "(no subject)"


def test_a_deployment_template_wins_over_a_policy_one_which_wins_over_the_common_one(tmp_path: Path) -> None:
    values = {"ref": "support-1", "vendor": "V", "subject": "S", "name": "N", "text": "T"}
    plain = Settings()
    assert render(plain, "revalize", "reply", values)[0] == "[support-1] S"
    (tmp_path / "revalize").mkdir()
    (tmp_path / "revalize" / "reply.txt.j2").write_text(
        "Subject: Revalize {{ ref }}\n\nPartner reply: {{ text }}\n"
    )
    (tmp_path / "reply.txt.j2").write_text("Subject: Ours {{ ref }}\n\nOur reply: {{ text }}\n")
    custom = Settings.model_validate({"templates": {"dir": str(tmp_path)}})
    assert render(custom, "revalize", "reply", values)[:2] == ("Revalize support-1", "Partner reply: T\n")
    assert render(custom, "functionize", "reply", values)[:2] == ("Ours support-1", "Our reply: T\n")


def test_html_twin_escapes_what_customers_wrote() -> None:
    policy = load_all()["rezilion"]
    row = outbox_row(
        Settings(),
        policy,
        "reply",
        ref="support-3",
        recipient="a@b.example",
        now=NOW,
        variables={"subject": "<script>alert(1)</script>", "name": "Eve", "text": "<b>bold</b> & more"},
    )
    assert row.subject == "[support-3] <script>alert(1)</script>"
    assert "<script>" not in row.body_html and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in row.body_html
    assert "<b>bold</b> & more" in row.body_text
    assert row.message_id.endswith(".support-3@vendor.example") and row.state == "pending"


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        render(Settings(), "revalize", "reply", {"ref": "support-1", "vendor": "V", "subject": "S"})


@pytest.mark.parametrize(
    "recipient",
    ["", "<>", '"victim@x.example,eve"@stranger.example', "a@b.example, c@d.example", "a@b\r\nBcc: c@d"],
)
def test_a_row_for_no_valid_recipient_is_created_failed_with_the_reason(recipient: str) -> None:
    row = outbox_row(
        Settings(),
        load_all()["rezilion"],
        "reply",
        ref="support-3",
        recipient=recipient,
        now=NOW,
        variables={"subject": "S", "name": "N", "text": "T"},
    )
    assert row.state == "failed" and row.last_error.startswith("not sent: recipient: ")
    assert "\n" not in row.recipient and "\r" not in row.recipient and row.rcpt_key is None


def test_threading_ids_subject_and_greeting_are_validated_when_the_row_is_made() -> None:
    row = outbox_row(
        Settings(),
        load_all()["rezilion"],
        "reply",
        ref="support-3",
        recipient="Robot+x@Robots.example",
        now=NOW,
        in_reply_to="=?utf-8?q?a@b=0D=0ABcc:_eve@evil.example?=",
        references=["ok@acme.example", "bad\r\nBcc: eve@evil.example", "<ok2@acme.example>"],
        variables={
            "subject": clean_subject("Re: Help\r\nBcc: eve@evil.example\x00", "support-3"),
            "name": "Eve\r\nBcc:",
            "text": "line\r\nline\x00",
        },
    )
    assert row.state == "pending" and row.recipient == "Robot+x@robots.example"
    assert (row.rcpt_key, row.rcpt_domain) == ("robot@robots.example", "robots.example")
    assert row.in_reply_to is None and row.references == ["ok@acme.example", "ok2@acme.example"]
    assert row.subject == "[support-3] Help Bcc: eve@evil.example"
    assert "\x00" not in row.body_text and "\r" not in row.body_text
    assert "Eve Bcc:" in row.body_text
