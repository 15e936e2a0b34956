"""Edges parse once: the parser reads a delivery report onto InboundMessage.report (issue 9, point 4).

Variants: the returned headers as text/rfc822-headers, message/rfc822 and UTF-8
message/global-delivery-status; the stdlib fallback parser; qmail's inline copy;
Exchange's X-Failed-Recipients; delay notices. Then the pure belief
(`bounces.believe`) and the guard, which decides from the report alone (no raw
bytes) and stages its suppression only when run.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from channels import email_parse
from channels.email_parse import parse
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.directory import Directory
from intake.models import DeliveryReport, InboundMessage
from intake.outgoing import bounces
from intake.pipeline import guard
from intake.pipeline.batch import Batch
from intake.pipeline.context import Context, Deps
from intake.policies.loader import load_all
from intake.store.migrate import upgrade
from intake.store.repo import SentMail
from intake.store.session import make_engine, make_sessionmaker
from tests.integration.test_bounce_trust import qmail, report
from tests.servers.stack import dsn

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
OURS = "ack-7.support-1@vendor.example"
SENT = {OURS: SentMail(outbox_id=3, message_id=f"<{OURS}>", recipient="Dana@Acme.example", ticket_id=1)}
SETTINGS = Settings.model_validate({"outbox": {"bounce_suppress": 3600}})


def report_of(raw: bytes) -> DeliveryReport:
    msg = parse(raw)
    assert msg.report is not None, msg.headers
    return msg.report


@pytest.mark.parametrize("part", ["text/rfc822-headers", "message/rfc822"])
def test_a_dsn_is_read_with_its_recipients_and_returned_ids(part: str) -> None:
    found = report_of(report(OURS, part=part, recipient="Lee@Acme.example"))
    assert found.path == "multipart/report; report-type=delivery-status"
    assert found.report_type == "delivery-status"
    [recipient] = found.recipients
    assert (recipient.address, recipient.action, recipient.status) == ("lee@acme.example", "failed", "5.1.1")
    assert recipient.diagnostic.startswith("smtp; 550 5.1.1")
    assert found.returned_ids[0] == OURS
    assert not any(i.startswith("dsn-") for i in found.returned_ids)  # never its own Message-ID


def test_the_stdlib_fallback_reads_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = dsn(OURS, "gone@acme.example", headers_only=False)
    native = report_of(raw)

    def refuse(payload: bytes, limits: email_parse.Limits) -> object:
        raise email_parse._Fallback("native parser: refused for the test")

    monkeypatch.setattr(email_parse, "_native_tree", refuse)
    fallback = parse(raw)
    assert any("stdlib" in d for d in fallback.defects)
    assert fallback.report == native
    assert native.recipients[0].address == "gone@acme.example"


def test_a_utf8_global_delivery_status_is_read() -> None:
    raw = (
        report(OURS)
        .replace(b"Content-Type: message/delivery-status", b"Content-Type: message/global-delivery-status")
        .replace(b"rfc822; dana@acme.example", "utf-8; jörg@acme.example".encode())
    )
    [recipient] = report_of(raw).recipients
    assert recipient.final_recipient == "jörg@acme.example"


def test_qmail_and_exchange_shapes() -> None:
    found = report_of(qmail(OURS))
    assert found.path.startswith("null Return-Path") and found.recipients == []
    assert found.returned_ids == [OURS] and found.says_failed
    exchange = (
        b"From: postmaster@acme.example\r\nTo: support@vendor.example\r\n"
        b"Subject: Undeliverable: Export\r\nMessage-ID: <x1@acme.example>\r\n"
        b"In-Reply-To: <"
        + OURS.encode()
        + b">\r\nX-Failed-Recipients: Old@Acme.example, b@acme.example\r\n\r\n"
        b"Delivery has failed to these recipients.\r\n"
    )
    found = report_of(exchange)
    assert found.failed_recipients == ["old@acme.example", "b@acme.example"]
    assert found.returned_ids == [OURS]


@pytest.mark.parametrize(
    "raw",
    [
        b"From: dana@acme.example\r\nTo: support@vendor.example\r\nSubject: Undeliverable: x\r\n\r\nhi\r\n",
        b"From: eve@freemail.example\r\nX-Failed-Recipients: dana@acme.example\r\n\r\nMessage-ID: <a@b>\r\n",
        b"From: postmaster@acme.example\r\nSubject: Your mail to dana\r\n\r\nMessage-ID: <a@b>\r\n",
    ],
    ids=["person-bounce-words", "person-failed-recipients", "postmaster-person"],
)
def test_mail_from_no_bounce_path_carries_no_report(raw: bytes) -> None:
    assert parse(raw).report is None


def test_believe_suppresses_the_address_we_sent_to() -> None:
    found = bounces.believe(report_of(report(OURS, recipient="typo@acme.example")), SENT, NOW, SETTINGS)
    assert found is not None
    assert (found.recipient, found.outbox_id, found.ticket_id, found.status) == (
        "dana@acme.example",
        3,
        1,
        "5.1.1",
    )
    assert found.until == NOW + timedelta(hours=1)
    assert "bounced 5.1.1" in found.reason() and OURS in found.reason()


@pytest.mark.parametrize(
    "raw",
    [
        dsn(OURS, "dana@acme.example", action="delayed", status="4.4.1"),
        report("acme-1@mail.acme.example"),  # returns none of our sent mail
        b"Return-Path: <>\r\nFrom: x@mx.acme.example\r\nIn-Reply-To: <"
        + OURS.encode()
        + b">\r\n\r\nThanks!\r\n",
    ],
    ids=["delay", "not-ours", "no-failure-said"],
)
def test_believe_refuses(raw: bytes) -> None:
    assert bounces.believe(report_of(raw), SENT, NOW, SETTINGS) is None


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    engine = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('report')) / 'intake.db'}")
    upgrade(engine)
    return make_sessionmaker(engine)()


def test_the_guard_decides_from_the_report_alone_and_stages_when_run(session: Session) -> None:
    msg: InboundMessage = parse(report(OURS)).model_copy(update={"raw": b""})  # nothing left to re-parse
    deps = Deps(
        session=session, clock=FixedClock(NOW), settings=SETTINGS, directory=Directory(), policies=load_all()
    )
    ctx = Context(inbound=msg, deps=deps, batch=Batch(session), now=NOW)
    assert guard.check(ctx) is not None and "not believed" in guard.check(ctx).hit.reason  # type: ignore[union-attr]
    ctx.batch.sent_mail.update(SENT)
    stop = guard.check(ctx)
    assert isinstance(stop, guard.BounceStop) and stop.suppress is not None
    assert "bounced (5.1.1)" in stop.hit.reason
    assert ctx.batch.suppressions == []  # check is pure
    assert guard.run(ctx) == stop
    assert ctx.batch.suppressions == [stop.suppress]


def test_bounces_no_longer_parse_raw_mail() -> None:
    tree = ast.parse(Path(bounces.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m == "email" or m.startswith("email.")}
