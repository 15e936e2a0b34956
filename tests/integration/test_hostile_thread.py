"""tests/hostile/thread/ through ingest and the bot's SMTP server, on SQLite and PostgreSQL.

The shared runner (tests/integration/test_hostile_suite.py) sends these files
through every channel; this test checks the area's manifest on its own, one file
per batch, so a wrong expectation shows up here first.
"""

from __future__ import annotations

import smtplib
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.parse import parse_one
from intake.config import SmtpServerSettings
from intake.customers.orgs import add_contact, add_org
from intake.models import InboundMessage
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Ticket, TriageDecision
from tests.conftest import MailBuilder
from tests.servers.smtp import intake_smtp

HERE = Path(__file__).resolve().parents[1] / "hostile" / "thread"
EXPECTED: dict[str, Any] = tomllib.loads((HERE / "expected.toml").read_text())
AUTH = "mx.vendor.example; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; dmarc=pass"


def expectation(name: str) -> dict[str, Any]:
    entry = dict(EXPECTED[name])
    entry.update(entry.pop("ingest", {}))
    entry.pop("smtp", None)
    entry.pop("imap", None)
    return entry


@pytest.fixture
def world(runtime: Runtime, make_mail: MailBuilder) -> Runtime:
    runtime.settings.guard.trusted_authserv_ids = ["mx.vendor.example"]
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        add_contact(session, runtime.clock, "Acme", "lee@acme.example", "Lee Park", "designated")
        add_org(session, runtime.clock, "Globex", "rezilion", "standard", ["globex.example"])
        add_contact(session, runtime.clock, "Globex", "hank@globex.example", "Hank", "designated")
        session.commit()
    raw = make_mail(message_id="<acme-1@mail.acme.example>", headers={"Authentication-Results": AUTH})
    with runtime.deps(classifier=False) as deps:
        [first] = ingest([parse_one(raw, "seed", runtime.clock.now())], deps)
    assert first.ticket_id == 1
    return runtime


def test_every_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in HERE.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_thread_file(world: Runtime, name: str) -> None:
    want = expectation(name)
    raw = (HERE / f"{name}.eml").read_bytes()
    with world.deps(classifier=False) as deps:
        [outcome] = ingest([parse_one(raw, name, world.clock.now())], deps)
    assert outcome.disposition == want["outcome"], outcome
    assert want.get("reason", "") in outcome.reason, outcome.reason
    if outcome.disposition == "followup":
        assert outcome.ticket_id == 1
    if "contact_status" in want:
        with world.sessions() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.id == outcome.ticket_id)).one()
            assert ticket.contact_status == want["contact_status"]


def _envelope_sender(raw: bytes) -> str:
    """What a sending server would give as MAIL FROM: <> for a report, else the From address."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    if "MAILER-DAEMON" in head or "multipart/report" in head:
        return ""
    item = parse_one(raw, "envelope", datetime.now(UTC))
    return item.sender if isinstance(item, InboundMessage) else ""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_thread_file_over_smtp(world: Runtime, name: str) -> None:
    """The same files through the bot's own SMTP server (smtplib over a socket), checked in the store."""
    want = dict(EXPECTED[name])
    want.update(want.pop("smtp", {}))
    raw = (HERE / f"{name}.eml").read_bytes()
    section = SmtpServerSettings.model_validate(
        {"host": "127.0.0.1", "port": 0, "accept": ["support@vendor.example"]}
    )
    settings = world.settings.model_copy(update={"smtp_server": section})
    runtime = Runtime(settings, world.engine, world.sessions, world.clock)
    with (
        intake_smtp(settings, runtime) as server,
        smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client,
    ):
        client.sendmail(_envelope_sender(raw), ["support@vendor.example"], raw)
    message_id = raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode()
    with world.sessions() as session:
        stored = session.scalars(select(Message).where(Message.external_id == message_id)).one()
        assert stored.disposition == want["outcome"], (stored.disposition, stored.ticket_id)
        if want["outcome"] == "followup":
            assert stored.ticket_id == 1
        if want["outcome"] == "ticket":
            assert stored.ticket_id not in (None, 1)
        decision = session.scalars(select(TriageDecision).where(TriageDecision.message_id == stored.id)).one()
        reasons = " | ".join(h["reason"] for h in decision.hits)
        assert want.get("reason", "") in reasons, reasons
