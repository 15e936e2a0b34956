"""tests/hostile/thread/ through the ingest pipeline on SQLite and PostgreSQL, in the suite's seeded world.

The shared runner (tests/integration/test_hostile_suite.py) sends these files
through every channel; this test checks the area's manifest on its own, one file
per batch, so a wrong expectation shows up here first.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.ingest_files import parse_one
from intake.orgs import add_contact, add_org
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Ticket
from tests.conftest import MailBuilder

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
