"""Backup and retention (issue 15, point 8), on SQLite and PostgreSQL.

`export` writes every ticket with its messages (raw bytes included until
retention removed them), outgoing mail and history, streamed page by page;
retention empties raw mail older than `raw_days` and keeps the ticket history.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from channels.parse import parse_one
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Quarantine, Ticket
from intake.tickets import export as export_module
from intake.tickets.export import export
from intake.tickets.retention import RetentionReport, purge_raw
from intake.tickets.story import load_story
from tests.conftest import MailBuilder

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def at(runtime: Runtime, when: datetime, **retention: object) -> Runtime:
    settings = runtime.settings
    if retention:
        settings = Settings.model_validate({**settings.model_dump(), "retention": retention})
    return dataclasses.replace(runtime, clock=FixedClock(when), settings=settings)


def feed(runtime: Runtime, raws: list[bytes]) -> None:
    items = [parse_one(raw, f"file-{i}", runtime.clock.now()) for i, raw in enumerate(raws)]
    with runtime.deps(classifier=False) as deps:
        ingest(items, deps)


@pytest.fixture
def history(runtime: Runtime, make_mail: MailBuilder) -> dict[str, bytes]:
    """Two tickets received 90 days ago (one with a reply 10 days ago), one received today, a quarantined
    file 90 days old."""
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    raws = {
        "old": make_mail("The export fails", subject="Export fails", message_id="<old@acme.example>"),
        "old2": make_mail("Login is slow", subject="Slow login", message_id="<old2@acme.example>"),
        "reply": make_mail("Still failing", subject="Re: Export fails", message_id="<reply@acme.example>",
                           headers={"In-Reply-To": "<old@acme.example>"}),
        "new": make_mail("New problem", subject="Reports empty", message_id="<new@acme.example>"),
        "junk": b"\x00\x01 not mail at all",
    }  # fmt: skip
    feed(at(runtime, NOW - timedelta(days=90)), [raws["old"], raws["old2"], raws["junk"]])
    feed(at(runtime, NOW - timedelta(days=10)), [raws["reply"]])
    feed(at(runtime, NOW), [raws["new"]])
    return raws


def exported(runtime: Runtime) -> list[dict[str, object]]:
    buffer = io.StringIO()
    with runtime.sessions() as session:
        summary = export(session, "support", buffer)
    lines = buffer.getvalue().splitlines()
    assert summary.tickets == len(lines)
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("page", [1, 2, 200])
def test_export_has_every_ticket_with_its_messages_and_raw_bytes(
    runtime: Runtime, history: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(export_module, "PAGE", page)
    docs = exported(runtime)
    assert [d["subject"] for d in docs] == ["Export fails", "Slow login", "Reports empty"]
    assert [d["ref"] for d in docs] == [f"support-{d['id']}" for d in docs]
    first = docs[0]
    messages = first["messages"]
    assert isinstance(messages, list)
    assert [m["external_id"] for m in messages] == ["old@acme.example", "reply@acme.example"]
    assert base64.b64decode(messages[0]["raw_b64"]) == history["old"]
    assert messages[0]["raw_removed"] is False and "The export fails" in messages[0]["text"]
    outgoing = first["outgoing"]
    assert isinstance(outgoing, list) and outgoing[0]["template"] == "ack"
    assert first["history"] and first["status"]


def test_retention_removes_old_raw_mail_and_keeps_the_history(
    runtime: Runtime, history: dict[str, bytes]
) -> None:
    before = exported(runtime)
    report = purge(at(runtime, NOW, raw_days=30))
    assert (report.messages, report.quarantined) == (2, 1)
    with runtime.sessions() as session:
        raws = {m.external_id: m.raw for m in session.scalars(select(Message))}
        assert raws["old@acme.example"] == b"" and raws["old2@acme.example"] == b""
        assert raws["reply@acme.example"] == history["reply"] and raws["new@acme.example"] == history["new"]
        junk = session.scalars(select(Quarantine)).one()
        assert junk.raw == b"" and junk.reason  # the reason and hash stay
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.subject == "Export fails")).one()
        story = load_story(session, ticket_id, "support", f"support-{ticket_id}")
        assert story is not None
    after = exported(runtime)
    # everything but the raw bytes of the two old messages is the same
    for doc in before:
        for message in doc["messages"]:  # type: ignore[attr-defined]
            if message["external_id"] in ("old@acme.example", "old2@acme.example"):
                message.pop("raw_b64")
                message["raw_removed"] = True
    assert after == before
    again = purge(at(runtime, NOW, raw_days=30))
    assert (again.messages, again.quarantined) == (0, 0)
    later = purge(at(runtime, NOW + timedelta(days=25), raw_days=30))
    assert later.messages == 1  # the reply is now older than 30 days


def test_retention_without_raw_days_keeps_everything(runtime: Runtime, history: dict[str, bytes]) -> None:
    report = purge(at(runtime, NOW + timedelta(days=3650)))
    assert report.cutoff is None and report.messages == 0
    with runtime.sessions() as session:
        assert all(m.raw for m in session.scalars(select(Message)))


def test_retention_works_in_chunks(
    runtime: Runtime, history: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake.tickets import retention

    monkeypatch.setattr(retention, "CHUNK", 1)
    report = purge(at(runtime, NOW + timedelta(days=2), raw_days=1))
    assert report.messages == 4


def purge(runtime: Runtime) -> RetentionReport:
    with runtime.sessions() as session:
        return purge_raw(session, runtime.clock, runtime.settings)
