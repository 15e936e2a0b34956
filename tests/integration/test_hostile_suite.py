"""The shared hostile-mail suite (issue 8, requirement 7): every crafted file, every channel, both stores.

Each area keeps its files in tests/hostile/<area>/NAME.eml with the expected
outcome in tests/hostile/<area>/expected.toml (see the BRIEF's schema; every
manifest is discovered, so an area only adds files). For each database
(SQLite, PostgreSQL) and each channel one world is seeded (Acme with dana and
lee, Globex on Rezilion with hank, one open ticket support-1 from dana) and
every file goes through it:

- ingest: `intake ingest DIR --json` (the CLI, one folder, a subprocess);
- smtp: the bot's own SMTP server, one smtplib transaction per file, bare LF
  turned into CRLF as every SMTP client must (RFC 5321 2.3.8), MAIL FROM taken
  from the file's Return-Path (`<>` for a bounce), else its From;
- imap: appended to a real Dovecot mailbox, read by the IMAP channel.

The outcome of each file is read back from the store (its message row and
decision, or its quarantine row; neither means duplicate), compared with the
manifest, and the outcomes must add up to the number of files with no
traceback anywhere. An SMTP reply other than 250 is the outcome "rejected".
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from channels.files import Entry, find_messages
from channels.imap import poll_once
from channels.parse import parse_one
from intake.clock import FixedClock
from intake.customers.orgs import add_contact, add_org
from intake.models import InboundMessage
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Quarantine, TriageDecision
from tests.servers.dovecot import Dovecot, Mailbox, dovecot_fixture, mailbox_fixture  # noqa: F401
from tests.servers.smtp import intake_smtp
from tests.servers.stack import make_runtime

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"
INTAKE = Path(sys.executable).parent / "intake"
SUPPORT = "support@vendor.example"
SEED_ID = "acme-1@mail.acme.example"

Outcome = Literal["ticket", "followup", "dropped", "duplicate", "quarantined", "rejected"]
ContactStatus = Literal["designated", "not_designated", "unknown", "unverified"]
ChannelName = Literal["ingest", "smtp", "imap"]
CHANNELS: tuple[ChannelName, ...] = ("ingest", "smtp", "imap")


class Override(BaseModel):
    """What differs on one channel (the same keys as the file's own, all optional)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome | None = None
    reason: str | None = None
    contact_status: ContactStatus | None = None
    requester: str | None = None
    why: str | None = None


class Expected(BaseModel):
    """One file's entry in expected.toml."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    why: str
    reason: str | None = None
    contact_status: ContactStatus | None = None
    requester: str | None = None  # the stored sender address, exactly
    ingest: Override | None = None
    smtp: Override | None = None
    imap: Override | None = None

    def on(self, channel: ChannelName) -> Expected:
        """The expectation on one channel: an override of the outcome replaces the whole expectation."""
        override: Override | None = getattr(self, channel)
        if override is None:
            return self
        base = self
        if override.outcome is not None:
            base = self.model_copy(update={"reason": None, "contact_status": None, "requester": None})
        return base.model_copy(update=override.model_dump(exclude_none=True))


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    path: Path
    expected: Expected

    @property
    def id(self) -> str:
        return f"{self.area}/{self.name}"


def load_cases(root: Path = HOSTILE) -> list[Case]:
    cases: list[Case] = []
    for manifest in sorted(root.glob("*/expected.toml")):
        entries = tomllib.loads(manifest.read_text(encoding="utf-8"))
        for name, entry in entries.items():
            path = manifest.parent / f"{name}.eml"
            cases.append(Case(manifest.parent.name, name, path, Expected.model_validate(entry)))
    return cases


CASES = load_cases()


def test_every_file_has_an_entry_and_every_entry_a_file() -> None:
    files = {f"{p.parent.name}/{p.stem}" for p in HOSTILE.glob("*/*.eml")}
    entries = {case.id for case in CASES}
    assert files - entries == set(), "files without an entry in their expected.toml"
    assert entries - files == set(), "entries without a file"
    assert len(CASES) >= 20


# --- the seeded world ---------------------------------------------------------------------------

SECTIONS: dict[str, Any] = {
    "guard": {"trusted_authserv_ids": ["mx.vendor.example"], "own_addresses": [SUPPORT]},
    # no trusted relay: the bot's own server checks SPF/DKIM/DMARC of mail from smtplib on loopback
    "smtp_server": {"host": "127.0.0.1", "port": 0, "accept": [SUPPORT], "trusted_networks": []},
    "relay": {"from_address": SUPPORT},
}

SEED = (
    "Authentication-Results: mx.vendor.example; spf=pass smtp.mailfrom=acme.example;\r\n"
    " dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example\r\n"
    "From: Dana Smith <dana@acme.example>\r\n"
    f"To: {SUPPORT}\r\n"
    "Subject: Export fails\r\n"
    "Date: Mon, 16 Nov 2026 08:00:00 +0000\r\n"
    f"Message-ID: <{SEED_ID}>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hello, the export fails with error 500 since this morning.\r\n"
).encode()


def seed_world(url: str, clock: FixedClock, **extra: Any) -> Runtime:
    """Acme (dana primary, lee), Globex on Rezilion standard (hank), and ticket support-1 from dana."""
    rt = make_runtime(url, clock, **SECTIONS, **extra)
    with rt.sessions() as session:
        add_org(session, clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, clock, "Acme", "dana@acme.example", "Dana Smith")  # resource-optimizer: one role
        add_contact(session, clock, "Acme", "lee@acme.example", "Lee Jones")
        add_org(session, clock, "Globex", "rezilion", "standard", ["globex.example"])
        add_contact(session, clock, "Globex", "hank@globex.example", "Hank Scorpio")
        session.commit()
    with rt.deps() as deps:
        [outcome] = ingest([parse_one(SEED, "seed", clock.now())], deps)
    assert (outcome.disposition, outcome.ticket_id) == ("ticket", 1), outcome
    return rt


def ordered(cases: list[Case]) -> list[Case]:
    """The order `intake ingest` takes a folder in (Date, then name): every channel sends in it."""
    by_source = {str(case.path): case for case in cases}
    entries = [entry for case in cases for entry in find_messages(str(case.path))]
    return [by_source[entry.path] for entry in sorted(entries, key=Entry.order)]


# --- what became of each file -------------------------------------------------------------------


@dataclass
class Observed:
    outcome: str
    reasons: list[str] = field(default_factory=list)
    contact_status: str | None = None
    requester: str | None = None


@dataclass
class StoreView:
    """Every message and quarantine row, with the decision hits, read once after a run."""

    messages: list[tuple[int, str, str, str, list[str], str | None]]
    quarantined: list[tuple[int, str, str]]

    @classmethod
    def read(cls, rt: Runtime) -> StoreView:
        with rt.sessions() as session:
            decisions = {
                d.message_id: d for d in session.scalars(select(TriageDecision)) if d.message_id is not None
            }
            messages = []
            for m in session.scalars(select(Message).order_by(Message.id)):
                decision = decisions.get(m.id)
                hits = [h.get("reason", "") for h in decision.hits] if decision else []
                status = (decision.inputs or {}).get("contact_status") if decision else None
                messages.append((m.id, m.raw_ref, m.disposition, m.sender, hits, status))
            quarantined = [
                (q.id, q.source, q.reason)
                for q in session.scalars(select(Quarantine).order_by(Quarantine.id))
            ]
        return cls(messages, quarantined)

    def observe(self, source: Callable[[str], bool], after: tuple[int, int] = (0, 0)) -> Observed:
        quarantine = [q for q in self.quarantined if q[0] > after[1] and source(q[1])]
        messages = [m for m in self.messages if m[0] > after[0] and source(m[1])]
        if quarantine and not messages:
            return Observed("quarantined", [q[2] for q in quarantine])
        if len(messages) == 1 and not quarantine:
            _, _, disposition, sender, hits, status = messages[0]
            return Observed(disposition, hits, status, sender)
        if not messages and not quarantine:
            return Observed("duplicate")
        return Observed(f"ambiguous ({len(messages)} messages, {len(quarantine)} quarantined)")

    def high_water(self) -> tuple[int, int]:
        return (
            max((m[0] for m in self.messages), default=0),
            max((q[0] for q in self.quarantined), default=0),
        )


def check(channel: ChannelName, results: list[tuple[Case, Observed]]) -> None:
    """Compare every file's outcome with its manifest; report all mismatches at once."""
    wrong: list[str] = []
    for case, seen in results:
        want = case.expected.on(channel)
        problems = []
        if seen.outcome != want.outcome:
            problems.append(f"outcome {seen.outcome}, expected {want.outcome}")
        if want.reason and not any(want.reason in r for r in seen.reasons):
            problems.append(f"no reason containing {want.reason!r} in {seen.reasons}")
        if want.contact_status and seen.contact_status != want.contact_status:
            problems.append(f"contact_status {seen.contact_status}, expected {want.contact_status}")
        if want.requester is not None and seen.requester != want.requester:
            problems.append(f"requester {seen.requester!r}, expected {want.requester!r}")
        if problems:
            wrong.append(f"{case.id} [{channel}]: " + "; ".join(problems) + f" (reasons: {seen.reasons[:3]})")
    assert not wrong, "\n".join(wrong)
    counts = Counter(seen.outcome for _, seen in results)
    assert sum(counts.values()) == len(CASES), counts


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    crashed = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.CRITICAL]
    assert not crashed, crashed


# --- the channels ---------------------------------------------------------------------------------


@pytest.fixture
def world(db_url: str, clock: FixedClock) -> Iterator[Callable[..., Runtime]]:
    made: list[Runtime] = []

    def build(**extra: Any) -> Runtime:
        rt = seed_world(db_url, clock, **extra)
        made.append(rt)
        return rt

    yield build
    for rt in made:
        rt.engine.dispose()


def test_hostile_files_through_intake_ingest(
    world: Callable[..., Runtime], db_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    rt = world()
    folder = tmp_path / "mail"
    folder.mkdir()
    copies: dict[str, Case] = {}
    for case in CASES:
        target = folder / f"{case.area}--{case.name}.eml"
        target.write_bytes(case.path.read_bytes())
        copies[str(target)] = case
    config = tmp_path / "intake.toml"
    config.write_text(toml_of({"database": {"url": db_url}, **SECTIONS}))
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_CONFIG": str(config)}
    done = subprocess.run(
        [str(INTAKE), "ingest", str(folder), "--json", "--now", clock.now().isoformat()],
        capture_output=True, env=env, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0 and "Traceback" not in stderr, stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["files"] == len(CASES)
    assert sum(
        summary[k] for k in ("tickets", "followups", "dropped", "duplicates", "quarantined", "already_stored")
    ) == len(CASES), summary
    view = StoreView.read(rt)
    results = [(case, view.observe(lambda s, p=path: s == p)) for path, case in copies.items()]
    check("ingest", results)


def smtp_bytes(raw: bytes) -> bytes:
    """What an SMTP client puts on the wire: CRLF line ends (a bare LF cannot travel over SMTP)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^>\r\n]*)>", re.MULTILINE | re.IGNORECASE)


def envelope_sender(raw: bytes) -> str:
    """MAIL FROM: the file's Return-Path (`<>` for a bounce) if it has one, else its From, else a stand-in."""
    found = RETURN_PATH.search(raw.split(b"\r\n\r\n", 1)[0])
    if found:
        return found.group(1).decode(errors="replace")
    parsed = parse_one(raw, "probe", datetime(2026, 11, 16, tzinfo=UTC))
    if isinstance(parsed, InboundMessage) and parsed.sender and parsed.sender.isascii():
        return parsed.sender
    return "sender@client.example"


def test_hostile_files_through_the_smtp_server(
    world: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    rt = world()
    results: list[tuple[Case, Observed]] = []
    with intake_smtp(rt.settings, rt) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
        client.ehlo("client.example")
        for case in ordered(CASES):
            raw = smtp_bytes(case.path.read_bytes())
            before = StoreView.read(rt).high_water()
            client.rset()
            code, reply = client.mail(envelope_sender(raw))
            assert code == 250, reply
            code, _ = client.rcpt(SUPPORT)
            assert code == 250
            code, reply = client.data(raw)
            assert code != 451, f"{case.id}: {reply!r}"
            if code != 250:
                results.append((case, Observed("rejected", [reply.decode(errors="replace")])))
                continue
            results.append((case, StoreView.read(rt).observe(lambda s: s.startswith("smtp:"), before)))
    no_tracebacks(caplog)
    check("smtp", results)


APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


def test_hostile_files_through_imap(
    world: Callable[..., Runtime], mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    rt = world(imap=[mailbox.settings()])
    uids: dict[int, Case] = {}
    results: list[tuple[Case, Observed]] = []
    with mailbox.client() as client:
        for case in ordered(CASES):
            try:
                reply = client.append("INBOX", case.path.read_bytes())
            except Exception as exc:  # the IMAP server refused the message itself
                results.append((case, Observed("rejected", [str(exc)])))
                continue
            found = APPENDUID.search(reply)
            assert found, reply
            uids[int(found.group(1))] = case
    summary = poll_once(rt.settings, rt).as_json()
    assert summary["errors"] == 0 and summary["fetched"] == len(uids), summary
    view = StoreView.read(rt)
    for uid, case in uids.items():
        results.append((case, view.observe(lambda s, u=uid: s.endswith(f";UID={u}"))))
    flags = mailbox.flags("INBOX")
    assert all(rb"\Seen" in f for f in flags.values()), "every fetched message is acknowledged"
    no_tracebacks(caplog)
    check("imap", results)


def toml_of(doc: dict[str, Any]) -> str:
    """A TOML file from nested dicts of strings, numbers and lists of strings (what SECTIONS holds)."""
    lines: list[str] = []
    for section, values in doc.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
