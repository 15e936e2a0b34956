"""The command line a support engineer lives in (issue 14), driven through `intake.cli.main`.

Store-touching stories run on SQLite and PostgreSQL; what only a real process can
show (no traceback on a broken database, the width of a real terminal) runs in a
subprocess.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from intake.store.migrate import upgrade
from intake.store.session import make_engine
from tests.conftest import MailBuilder
from tests.e2e.cli import Done, invoke
from tests.e2e.test_cli import Cli as CliHere
from tests.servers.net import free_port
from tests.servers.stack import migrated_sqlite


class Cli:
    """`intake ...` in this process: the console script's entry point, exit code and streams."""

    def __init__(self, tmp_path: Path, make_mail: MailBuilder) -> None:
        self.tmp_path = tmp_path
        self.make_mail = make_mail
        self.count = 0

    def __call__(self, *args: str, code: int = 0) -> Done:
        done = invoke(list(args))
        assert done.code == code, (args, done)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").out)

    def mail(self, now: str, **kwargs: Any) -> Done:
        self.count += 1
        path = self.tmp_path / f"mail-{self.count}.eml"
        kwargs.setdefault("date", datetime.fromisoformat(now))
        path.write_bytes(self.make_mail(**kwargs))
        return self("ingest", str(path), "--now", now)


def _free_port() -> int:
    return free_port()  # tests/servers/net.py: outside the ephemeral range, per worker


class _Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[int, _Sink]]:
    sink = _Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


@pytest.fixture
def cli(
    db_url: str,
    tmp_path: Path,
    make_mail: MailBuilder,
    monkeypatch: pytest.MonkeyPatch,
    relay: tuple[int, _Sink],
) -> Cli:
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[relay]\nhost = "127.0.0.1"\nport = {relay[0]}\n\n[escalation]\nnotify = ["leads@vendor.example"]\n'
    )
    monkeypatch.setenv("INTAKE_DATABASE_URL", db_url)
    monkeypatch.setenv("INTAKE_CONFIG", str(config))
    in_utc(monkeypatch)
    runner = Cli(tmp_path, make_mail)
    runner("init")
    return runner


def in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terminal output is in the viewer's zone (TZ): pin it, then restore it after the test."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture(autouse=True)
def _reset_zone() -> Iterator[None]:
    yield
    time.tzset()


def _one_line(done: Done) -> str:
    lines = done.err.strip().splitlines()
    assert len(lines) == 1, done
    assert "Traceback" not in done.err
    return lines[0]


# --- (5) invalid values: exit 2 and a one-line reason ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["tickets", "list", "--status", "bogus"], "--status 'bogus' is not a ticket status"),
        (["tickets", "list", "--status", ""], "is not a ticket status"),
        (["tickets", "list", "--org", "Nope"], "--org 'Nope': no such organisation (known: Acme)"),
        (["tickets", "list", "--org", "acme"], "no such organisation"),
        (["outbox", "list", "--state", "bogus"], "--state 'bogus' is not valid; expected one of: pending"),
        (["outbox", "list", "--state", "Sent"], "--state 'Sent' is not valid"),
        (["classify", "Subject: x\nit broke", "--channel", "bogus"], "--channel 'bogus' is not valid"),
        (["classify", "x", "--channel", "sms"], "expected one of: email, slack"),
        (["tick", "--now", ""], "--now is empty"),
        (["tick", "--now", "  "], "--now is empty"),
        (["ingest", "x.eml", "--now", ""], "--now is empty"),
        (["tickets", "list", "--now", "tomorrow"], "ISO 8601"),
        (["org", "set", "Acme", "--plan", "gold"], "has no plan 'gold'"),
        (["org", "set", "Acme", "--remove-domain", "other.example"], "has no domain"),
        (["org", "set", "Acme", "--add-domain", "not a domain"], "not a domain"),
        (["org", "set", "Acme", "--policy", "nope"], "unknown policy"),
    ],
)
def test_invalid_values_exit_2_with_the_reason(cli: Cli, args: list[str], fragment: str) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    done = cli(*args, code=2)
    assert fragment in _one_line(done)
    assert done.out == ""


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n\n"),
        ("empty.csv", ""),
        ("header-only.csv", "subject,body,severity,category\n"),
    ],
)
def test_eval_of_a_file_with_no_labelled_messages_exits_2(
    cli: Cli, tmp_path: Path, name: str, content: str
) -> None:
    empty = tmp_path / name
    empty.write_text(content)
    done = cli("eval", str(empty), code=2)
    assert f"{empty} holds no labelled messages: nothing to evaluate" in _one_line(done)


def test_status_filter_takes_canonical_names_and_policies_own_labels(cli: Cli, db_url: str) -> None:
    cli("org", "add", "Acme", "--policy", "revalize", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    for n in range(3):
        cli.mail("2026-11-16T09:00:00+00:00", subject=f"Export fails {n}")
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET status = 'escalated' WHERE id = 1"))
        conn.execute(text("UPDATE tickets SET status = 'waiting_on_customer' WHERE id = 2"))
    engine.dispose()
    refs = lambda *a: [t["ref"] for t in cli.json("tickets", "list", *a)]  # noqa: E731
    assert refs("--status", "escalated") == ["support-1"]
    assert refs("--status", "Escalated") == ["support-1"]  # every policy's own label
    assert refs("--status", "Awaiting Partner") == ["support-2"]  # Revalize's waiting_on_customer
    assert refs("--status", "waiting") == ["support-2"]
    assert refs("--status", "waiting-on-customer") == ["support-2"]
    assert set(refs("--status", "open")) == {"support-1", "support-2", "support-3"}
    assert refs("--status", "closed") == []
    assert cli("tickets", "list", "--status", "closed").out.strip() == "no tickets match"


# --- (2) database errors: which one and what to do, one line, no traceback ------------------------


def _run(env: dict[str, str], *args: str, pre: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{pre}\nfrom intake.cli import main\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "INTAKE_CONFIG": "", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _refused_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{_free_port()}/intake"


@pytest.mark.parametrize(
    ("url", "code", "fragment"),
    [
        ("REFUSED", 1, "refused the connection: is the server running"),  # a free port, found when run
        ("postgresql://postgres@no-such-host.invalid/intake", 1, "cannot resolve the database host"),
        ("mysql://root@127.0.0.1/intake", 2, "scheme mysql:// is not supported"),
        ("mysql+pymysql://root@127.0.0.1/intake", 2, "is not supported: use sqlite:///PATH or postgresql"),
        ("oracle://scott@127.0.0.1/x", 2, "is not supported"),
        ("postgresql+asyncpg://u@127.0.0.1/x", 2, "driver postgresql+asyncpg is not supported"),
        ("not a url", 2, "is not valid: expected sqlite:///PATH or postgresql"),
        ("sqlite:////proc/self/intake.db", 1, "folder /proc/self is not writable by this user"),
        ("sqlite:////proc/self/deeper/intake.db", 1, "cannot create the database folder"),
    ],
)
@pytest.mark.parametrize("command", [["tickets", "list"], ["init"]])
def test_database_errors_are_one_line(url: str, code: int, fragment: str, command: list[str]) -> None:
    # the port is found when the test runs: test ids must not differ between pytest-xdist workers
    done = _run({"INTAKE_DATABASE_URL": _refused_url() if url == "REFUSED" else url}, *command)
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr


def test_a_database_that_is_not_there_is_not_reported_as_empty(postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    missing_db = make_url(postgres_url).set(database="no_such_database_here").render_as_string(False)
    for command in (["tickets", "list"], ["init"], ["doctor"]):
        done = _run({"INTAKE_DATABASE_URL": missing_db}, *command)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr
        assert "run `intake init`" not in done.stdout + done.stderr
        assert "has no database 'no_such_database_here': create it" in done.stdout + done.stderr
    wrong_login = make_url(postgres_url).set(username="nobody_here", password="x").render_as_string(False)
    done = _run({"INTAKE_DATABASE_URL": wrong_login}, "tickets", "list")
    assert done.returncode == 1 and "refused the login for user 'nobody_here'" in done.stderr, done


def test_without_the_postgresql_driver_says_how_to_install_it() -> None:
    done = _run(
        {"INTAKE_DATABASE_URL": "postgresql://postgres@127.0.0.1/intake"},
        "tickets",
        "list",
        pre="import sys; sys.modules['psycopg'] = None",
    )
    assert done.returncode == 1, done
    assert done.stderr.strip().splitlines() == [
        "intake: the PostgreSQL driver (psycopg) is not installed: pip install 'support-intake[postgres]'"
    ]


def test_serve_stops_at_start_when_sqlite_cannot_write_beside_its_file(tmp_path: Path) -> None:
    """An -shm SQLite cannot map kills the process with SIGBUS later; refuse at start instead."""
    done = _run({"INTAKE_DATABASE_URL": "sqlite:////proc/self/intake.db"}, "serve")
    assert done.returncode == 1, done
    assert done.stderr.strip().splitlines() == [
        "intake: the database folder /proc/self is not writable by this user: SQLite needs to create "
        "intake.db-wal and intake.db-shm there (fix its owner or mode)"
    ]
    db = tmp_path / "intake.db"
    env = {"INTAKE_DATABASE_URL": f"sqlite:///{db}"}
    assert _run(env, "init").returncode == 0
    for name in ("intake.db-shm", "intake.db-wal"):
        (tmp_path / name).unlink(missing_ok=True)
        (tmp_path / name).mkdir()
        for command in (["serve"], ["tickets", "list"]):
            done = _run(env, *command)
            assert done.returncode == 1, done
            assert (
                done.stderr.strip() == f"intake: {tmp_path / name} is a folder, not an SQLite database file"
            )
        (tmp_path / name).rmdir()


def test_not_initialised_older_and_newer_revisions_say_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "intake.db"
    env = {"INTAKE_DATABASE_URL": f"sqlite:///{db}"}
    done = _run(env, "tickets", "list")
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "intake: the database has no tables yet: run `intake init` first",
    )
    engine = make_engine(env["INTAKE_DATABASE_URL"])
    upgrade(engine, "0002")  # a store left by an older release
    engine.dispose()
    done = _run(env, "tickets", "list")
    assert done.returncode == 1
    assert "older than this intake" in done.stderr and "run `intake init` to migrate it" in done.stderr
    assert _run(env, "init").returncode == 0
    assert _run(env, "tickets", "list").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (["tickets", "list"], ["init"]):
        done = _run(env, *command)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "newer than this intake" in done.stderr


# --- (3) tickets show: the whole story --------------------------------------------------------------


def test_tickets_show_tells_the_whole_story_in_time_order(
    cli: Cli, db_url: str, relay: tuple[int, _Sink]
) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example", "--name", "Dana Smith")
    # the customer states severity 1; the model sees a question: the decision asks for review
    cli.mail(
        "2026-11-16T09:00:00+00:00",
        subject="Severity 1: how do I rename a report?",
        body="Severity: 1\nHow do I rename a saved report in the dashboard?",
        attachments=[("trace.log", "text/plain", b"line 1\nline 2\n")],
    )
    assert cli("outbox", "send", "--now", "2026-11-16T09:01:00+00:00").code == 0
    cli(
        "reply",
        "support-1",
        "--text",
        "Which release are you on?",
        "--request-info",
        "--now",
        "2026-11-16T10:00:00+00:00",
    )
    cli("outbox", "send", "--now", "2026-11-16T10:01:00+00:00")
    tick = cli.json("tick", "--now", "2026-11-18T10:00:00+00:00")
    assert {"ref": "support-1", "timer": "reminder", "fired": True} in tick["tickets"]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE triage_decisions SET reviewed_by = 'mia@vendor.example', "
                "reviewed_at = :at, corrected_severity = 'critical' WHERE ticket_id = 1"
            ),
            {"at": datetime.fromisoformat("2026-11-16T11:00:00+00:00")},
        )
    engine.dispose()

    story = cli.json("tickets", "show", "support-1", "--now", "2026-11-18T12:00:00+00:00")
    history = story["history"]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    kinds = [h["kind"] for h in history]
    assert kinds[0] == "message_in" and {"status", "triage", "message_out", "timer", "review"} <= set(kinds)
    out_kinds = [h["summary"] for h in history if h["kind"] == "message_out"]
    assert any("acknowledgement to dana@acme.example (sent" in s for s in out_kinds), out_kinds
    assert any("info request" in s for s in out_kinds), out_kinds
    assert any("reminder to dana@acme.example" in s for s in out_kinds), out_kinds
    statuses = [(h["from_status"], h["to_status"], h["actor"]) for h in history if h["kind"] == "status"]
    assert (None, "new", "bot") in statuses
    assert ("acknowledged", "waiting_on_customer", "engineer") in statuses
    [triage] = [h for h in history if h["kind"] == "triage"]
    assert triage["confidence"] is not None and triage["reasons"], triage
    assert any(r["step"] == "decide.stated-severity" for r in triage["rules"]), triage["rules"]
    # the ticket row and its decision agree on review
    assert triage["needs_review"] == story["needs_review"]
    [review] = [h for h in history if h["kind"] == "review"]
    assert review["reviewed_by"] == "mia@vendor.example" and review["corrected_severity"] == "critical"
    fired = [h for h in history if h["kind"] == "timer"]
    assert any(h["timer"] == "reminder" and h["state"] == "fired" for h in fired), fired
    assert [t["timer"] for t in story["pending_timers"]] == ["auto_close"]
    assert {o["kind"] for o in story["outgoing"]} >= {
        "acknowledgement",
        "info request",
    }
    assert story["messages"][0]["attachments"][0]["filename"] == "trace.log"

    shown = cli("tickets", "show", "support-1", "--now", "2026-11-18T12:00:00+00:00").out
    order = [
        "mail in from dana@acme.example (ticket); attached trace.log",
        "status opened as new by bot",
        "triage: severity",
        "mail out: acknowledgement to dana@acme.example (sent",
        "status acknowledged -> waiting_on_customer by engineer: engineer asked for information",
        "Which release are you on?",
        "review by mia@vendor.example: severity critical",
        "timer reminder to the customer fired",
        "mail out: reminder to dana@acme.example",
        "Pending timers (1 timer)",
        "close if the customer stays silent (in ",
    ]
    positions = [shown.find(fragment) for fragment in order]
    assert -1 not in positions, [f for f, p in zip(order, positions, strict=True) if p == -1]
    assert positions == sorted(positions), shown
    assert "because: " in shown and "rule decide.stated-severity" in shown
    assert "{'" not in shown and "None" not in shown


def test_needs_review_agrees_between_ticket_and_decision_on_disagreement(cli: Cli, db_url: str) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    for n, (subject, body) in enumerate(
        [
            ("Severity 1 - question about report names", "Severity: 1\nHow do I rename a report?"),
            ("Priority: low", "Priority: low\nProduction is down for every user, data loss, outage."),
            ("Export fails", "The export fails with error 500."),
        ]
    ):
        cli.mail(f"2026-11-16T09:0{n}:00+00:00", subject=subject, body=body)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.id, t.needs_review, d.needs_review FROM tickets t "
                "JOIN triage_decisions d ON d.ticket_id = t.id ORDER BY t.id"
            )
        ).all()
    engine.dispose()
    assert len(rows) == 3
    for ticket_id, on_ticket, on_decision in rows:
        assert bool(on_ticket) == bool(on_decision), (ticket_id, on_ticket, on_decision)


# --- (4) admin -----------------------------------------------------------------------------------


def test_org_list_show_set_and_contacts_with_transfers(cli: Cli) -> None:
    cli("org", "add", "Acme", "--policy", "revalize", "--domain", "acme.example")
    cli("org", "add", "Globex", "--policy", "rezilion", "--plan", "standard", "--domain", "globex.example")
    cli(
        "contact", "add", "Acme", "dana@acme.example", "--name", "Dana Smith", "--now", "2026-11-16T09:00:00Z"
    )
    cli("contact", "add", "Acme", "lee@acme.example", "--now", "2026-11-16T09:00:00Z")
    moved = cli(
        "contact",
        "add",
        "Acme",
        "kim@acme.example",
        "--replaces",
        "lee@acme.example",
        "--now",
        "2026-11-16T09:00:00Z",
    )
    # Revalize asks 5 business days' notice: both are told, with the date
    assert (
        "added kim@acme.example as designated contact of Acme; designated: from 2026-11-20 22:00 +0000"
        in moved.out
    )
    assert "lee@acme.example is replaced; designated: until 2026-11-20 22:00 +0000" in moved.out
    transfer = cli.json("contact", "add", "Globex", "ann@globex.example", "--now", "2026-11-16T09:00:00Z")
    assert transfer["replaced"] is None and transfer["designated_now"] is True

    orgs = cli.json("org", "list", "--now", "2026-11-16T10:00:00Z")
    assert [(o["name"], o["policy"], o["domains"]) for o in orgs] == [
        ("Acme", "revalize", ["acme.example"]),
        ("Globex", "rezilion", ["globex.example"]),
    ]
    listing = cli("org", "list").out
    assert "Acme" in listing and "revalize" in listing and "2 organisations" in listing

    shown = cli.json("org", "show", "Acme", "--now", "2026-11-16T10:00:00Z")
    states = {c["email"]: (c["designated_now"], c["ends_at"], c["starts_at"]) for c in shown["contacts"]}
    assert states["dana@acme.example"] == (True, None, None)
    assert states["lee@acme.example"][0] is True and states["lee@acme.example"][1].startswith("2026-11-20")
    assert states["kim@acme.example"][0] is False and states["kim@acme.example"][2].startswith("2026-11-20")
    after = cli.json("contact", "list", "Acme", "--now", "2026-11-21T10:00:00Z")
    assert {c["email"]: c["designated_now"] for c in after} == {
        "dana@acme.example": True,
        "lee@acme.example": False,
        "kim@acme.example": True,
    }
    human = cli("contact", "list", "--now", "2026-11-16T10:00:00Z").out
    assert "until 2026-11-20 22:00" in human and "from 2026-11-20 22:00" in human
    assert "4 contacts" in human
    text_show = cli("org", "show", "Acme", "--now", "2026-11-16T10:00:00Z").out
    assert "transfers take 5 business days" in text_show and "lee@acme.example" in text_show

    changed = cli.json("org", "set", "Acme", "--add-domain", "acme.co.example", "--slack-channel", "C0ACME")
    assert changed["domains"] == ["acme.co.example", "acme.example"] and changed["slack_channel"] == "C0ACME"
    assert changed["changes"] == ["domain acme.co.example added", "slack channel - -> C0ACME"]
    assert "nothing changed" in cli("org", "set", "Acme").out
    taken = cli("org", "set", "Acme", "--add-domain", "globex.example", code=2)
    assert "already belongs to Globex" in _one_line(taken)
    moved_org = cli.json("org", "set", "Globex", "--policy", "resource-optimizer", "--plan", "default")
    assert (moved_org["policy"], moved_org["plan"]) == ("resource-optimizer", None)
    assert "no organisation named 'Nope'" in _one_line(cli("org", "show", "Nope", code=1))


def test_removing_the_last_designated_contact_is_refused_with_the_reason(
    cli: Cli, make_mail: MailBuilder
) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli("contact", "add", "Acme", "lee@acme.example")
    gone = cli.json("contact", "remove", "Acme", "lee@acme.example", "--now", "2026-11-16T09:00:00Z")
    assert (gone["email"], gone["active"], gone["designated_now"]) == ("lee@acme.example", False, False)
    refused = cli("contact", "remove", "Acme", "dana@acme.example", code=2)
    line = _one_line(refused)
    assert "refused: Acme would have 0 designated contact(s)" in line
    assert "resource-optimizer policy requires at least 1" in line
    assert [c["email"] for c in cli.json("contact", "list", "Acme") if c["active"]] == ["dana@acme.example"]
    assert "not a contact of Acme" in _one_line(cli("contact", "remove", "Acme", "lee@acme.example", code=1))
    # the removed contact's next mail is no longer designated, and the story says why
    cli.mail("2026-11-16T10:00:00+00:00", sender="Lee <lee@acme.example>", subject="Still broken")
    [ticket] = cli.json("tickets", "list")
    assert ticket["contact_status"] != "designated"
    story = cli("tickets", "show", ticket["ref"]).out
    assert "rule contact." in story
    # a removed address may be designated again
    cli("contact", "add", "Acme", "lee@acme.example")
    forced = cli("contact", "remove", "Acme", "dana@acme.example", "--force")
    assert forced.code == 0


# --- (6) outbox -------------------------------------------------------------------------------------


def test_outbox_kind_show_send_now_and_failure_exit(
    cli: Cli, relay: tuple[int, _Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    long_subject = "Export fails " + "with a very long explanation of what happened " * 3
    # mail made under a future --now stays pending for a plain `outbox send`, not for --now
    cli.mail("2030-01-06T09:00:00+00:00", subject=long_subject.strip())
    [row] = cli.json("outbox", "list", "--state", "pending")
    assert row["kind"] == "acknowledgement" and row["ticket_id"] == 1
    assert cli("outbox", "send").out.strip() == "nothing due to send"
    shown = cli("outbox", "show", str(row["id"])).out
    assert f"outgoing mail {row['id']}: acknowledgement (automatic)" in shown
    assert "to: dana@acme.example" in shown and "state: pending after no attempts" in shown
    assert "Please keep support-1 in the subject" in shown
    assert cli.json("outbox", "show", str(row["id"]))["kind"] == "acknowledgement"
    assert "no outgoing mail with id 999" in _one_line(cli("outbox", "show", "999", code=1))

    monkeypatch.setenv("INTAKE_RELAY__PORT", str(_free_port()))  # nobody listens there
    failed = cli("outbox", "send", "--now", "2030-01-06T09:05:00+00:00", code=1)
    assert "none of 1 mail could be delivered through the relay" in _one_line(failed)
    assert "1 mail due: 0 sent, 1 to retry" in failed.out
    [retry] = cli.json("outbox", "list", "--ticket", "support-1")
    assert retry["state"] == "pending" and retry["attempts"] == 1 and retry["last_error"]

    monkeypatch.setenv("INTAKE_RELAY__PORT", str(relay[0]))
    sent = cli("outbox", "send", "--now", "2030-01-06T12:00:00+00:00")
    assert "1 mail due: 1 sent" in sent.out and len(relay[1].received) == 1
    assert cli.json("outbox", "list", "--state", "sent")[0]["id"] == row["id"]


# --- (7) output made for a terminal --------------------------------------------------------------


def _process(tmp_path: Path, columns: int, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "intake", *args],
        cwd=tmp_path,
        env={
            **os.environ,
            "INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}",
            "INTAKE_CONFIG": "",
            "COLUMNS": str(columns),
            "TZ": "UTC",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == code, (args, done)
    return done


def test_tables_fit_80_columns_and_nothing_is_cut_on_a_wide_terminal(
    tmp_path: Path, make_mail: MailBuilder
) -> None:
    subject = "Nightly export to the finance warehouse fails with error 500 after the 5.2 upgrade"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(3):
        (inbox / f"{n}.eml").write_bytes(make_mail(subject=f"{subject} #{n}"))
    # the store is set up in this process (what a terminal shows is what the processes below print)
    setup = CliHere(tmp_path, in_process=True)
    setup.env["TZ"] = "UTC"
    migrated_sqlite(tmp_path / "intake.db")
    setup("org", "add", "Acme Analytics Worldwide", "--policy", "revalize", "--domain", "acme.example")
    ingested = setup("ingest", str(inbox), "--now", "2026-11-16T10:00:00Z").stdout
    assert "3 files: 3 new tickets, no follow-ups, 0 dropped, no duplicates, 0 quarantined" in ingested
    assert "new tickets: support-1, support-2, support-3" in ingested

    narrow = _process(tmp_path, 80, "tickets", "list", "--now", "2026-11-16T13:30:00Z").stdout
    lines = narrow.splitlines()
    assert all(len(line) <= 80 for line in lines), narrow
    rows = [line for line in lines if line.startswith("support-")]
    assert len(rows) == 3, narrow  # one line per ticket, no wrapped subjects
    assert "ref" in lines[0] and "age" in lines[0] and "due" in lines[0]
    assert "3h 30m" in rows[0] and "…" in rows[0]
    assert lines[-1] == "3 tickets"

    wide = _process(tmp_path, 250, "tickets", "list", "--now", "2026-11-16T13:30:00Z").stdout
    assert f"{subject} #2" in wide and "Acme Analytics Worldwide" in wide

    outbox = _process(tmp_path, 80, "outbox", "list").stdout
    assert all(len(line) <= 80 for line in outbox.splitlines()), outbox
    assert "kind" in outbox.splitlines()[0] and "not-a-contact" in outbox
    wide_outbox = _process(tmp_path, 250, "outbox", "list").stdout
    assert f"[support-3] {subject} #2" in wide_outbox

    cut = _process(tmp_path, 80, "tickets", "list", "--limit", "2")
    assert len([line for line in cut.stdout.splitlines() if line.startswith("support-")]) == 2
    assert "showing the newest 2 tickets; there are more (raise --limit)" in cut.stderr
    everything = _process(tmp_path, 80, "tickets", "list", "--limit", "3")
    assert "there are more" not in everything.stderr


def test_tick_names_tickets_and_no_python_reprs(cli: Cli) -> None:
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli.mail("2026-11-16T09:00:00+00:00")
    cli(
        "reply",
        "support-1",
        "--text",
        "Which release?",
        "--request-info",
        "--now",
        "2026-11-16T10:00:00+00:00",
    )
    [waiting] = [line for line in cli("tickets", "list").out.splitlines() if line.startswith("support-1")]
    assert "paused" in waiting  # the SLA clock stops while the customer is asked
    nothing = cli("tick", "--now", "2026-11-16T10:05:00+00:00").out
    assert nothing.strip() == "no timers were due"
    fired = cli("tick", "--now", "2026-11-18T10:05:00+00:00").out
    assert "support-1: reminder to the customer fired" in fired
    assert "1 timer fired" in fired
    assert "{" not in fired and "None" not in fired
    assert "org: None" not in cli("tickets", "show", "support-1").out


def test_version_and_policies_show(cli: Cli) -> None:
    from intake import __version__

    assert cli("--version").out.strip() == f"intake {__version__}"
    bare = cli()  # the help, not a one-line usage error
    assert "Commands:" in bare.out and "tickets" in bare.out and bare.err == ""
    assert "Commands:" in cli("org").out
    summary = cli("policies", "show", "resource-optimizer").out
    for fragment in (
        "resource-optimizer: ",
        "Levels (most severe first)",
        "s1  Severity 1",
        "Plan standard",
        "hours: ",
        "first response 8 business hours",
        "contacts: ",
        "silent customer: reminders after 2 calendar days; closed after 3 calendar days",
        "escalation: on ",
    ):
        assert fragment in summary, (fragment, summary)
    assert not summary.lstrip().startswith("{") and len(summary.splitlines()) < 80
    data = cli.json("policies", "show", "resource-optimizer")
    assert data["name"] == "resource-optimizer" and data["levels"][0]["key"] == "s1"
    assert "unknown policy 'nope'" in _one_line(cli("policies", "show", "nope", code=2))


# --- (8) customer-facing wording ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ({"amount": 3, "unit": "days", "clock": "calendar_hours"}, "3 calendar days"),
        ({"amount": 1, "unit": "days", "clock": "calendar_hours"}, "1 calendar day"),
        ({"amount": 4, "unit": "hours", "clock": "calendar_hours"}, "4 calendar hours"),
        ({"amount": 5, "unit": "days", "clock": "business_days"}, "5 business days"),
        ({"amount": 1, "unit": "days", "clock": "business_days"}, "1 business day"),
        ({"amount": 8, "unit": "hours", "clock": "business_hours"}, "8 business hours"),
        ({"amount": 30, "unit": "minutes", "clock": "business_hours"}, "30 minutes of business hours"),
        ({"amount": 2, "unit": "hours", "clock": "24x7"}, "2 hours, around the clock"),
    ],
)
def test_targets_read_as_a_customer_says_them(target: dict[str, Any], words: str) -> None:
    from intake.policies.schema import Target

    assert Target.model_validate(target).describe() == words


def test_every_mail_of_a_ticket_gives_dates_in_one_zone(cli: Cli, relay: tuple[int, _Sink]) -> None:
    """The acknowledgement says GMT (the policy's zone); the reminder must not switch to UTC."""
    import email
    import email.policy

    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    cli.mail("2026-11-16T09:00:00+00:00")
    cli(
        "reply",
        "support-1",
        "--text",
        "Which release?",
        "--request-info",
        "--now",
        "2026-11-16T10:00:00+00:00",
    )
    cli("tick", "--now", "2026-11-18T10:05:00+00:00")
    cli("outbox", "send", "--now", "2026-11-18T10:06:00+00:00")
    texts = []
    for raw in relay[1].received:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        texts.append(str(body.get_content()))
    joined = "\n".join(texts)
    assert "GMT" in joined and " UTC" not in joined, joined
    assert "calendar hours)" not in joined and "(business days)" not in joined, joined
    for text_ in texts:
        for line in text_.splitlines():
            assert not (line and line[-1].isalpha() and line.split()[-1] in {"this", "the", "to", "a"}), line


def test_demo_promises_a_date_ahead_and_says_the_out_of_office_was_dropped(tmp_path: Path) -> None:
    done = _process(tmp_path, 200, "demo")
    out = done.stdout
    assert "03-out-of-office.eml: 250" in out
    assert "-> dropped: Auto-Submitted: auto-replied" in out
    assert "-> follow-up: " in out and "-> new ticket: jortega@example.net is unknown: held" in out
    promised = next(line for line in out.splitlines() if "Next: a first response" in line)
    when = promised.split(" by ", 1)[1].split(" (", 1)[0]  # e.g. "Fri 04 Dec 2026 08:40 GMT"
    due = datetime.strptime(when.rsplit(" ", 1)[0], "%a %d %b %Y %H:%M")
    assert due > datetime.now(UTC).replace(tzinfo=None), promised
    assert "'" not in out.split("5. tickets", 1)[1].split("6.", 1)[0].replace("morning's", "")


# --- (6 of must-be-true) doctor warnings --------------------------------------------------------


def test_doctor_warns_about_configuration_that_silently_does_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_mail: MailBuilder, relay: tuple[int, _Sink]
) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'intake.db'}")
    config = tmp_path / "intake.toml"
    config.write_text('[slack]\nintake_channels = { C0ACME = "Acme", C0GHOST = "Ghost Corp" }\n')
    monkeypatch.setenv("INTAKE_CONFIG", str(config))
    cli = Cli(tmp_path, make_mail)
    cli("init")
    cli("org", "add", "Acme", "--policy", "revalize", "--domain", "acme.example")
    checks = {c["check"]: c for c in json.loads(cli("doctor", "--json", code=1).out)}
    warnings = {name: c["detail"] for name, c in checks.items() if c["warning"]}
    assert "[escalation] notify is empty" in warnings["escalation recipients"]
    assert "no [relay] section" in warnings["relay configured"]
    assert "revalize (used by Acme) promises a first response" in warnings["engineer channel for revalize"]
    assert "set [slack] triage_channel or [escalation] notify" in warnings["engineer channel for revalize"]
    assert "maps C0GHOST to 'Ghost Corp', which is no organisation" in warnings["slack channel C0GHOST"]
    assert "slack channel C0ACME" not in warnings
    assert all(c["ok"] for c in checks.values() if c["warning"])
    human = cli("doctor", code=1).out
    assert "warn escalation recipients: " in human

    config.write_text(
        f'[relay]\nhost = "127.0.0.1"\nport = {relay[0]}\n\n[escalation]\nnotify = ["leads@vendor.example"]\n'
        '[slack]\nintake_channels = { C0ACME = "Acme" }\n'
    )
    quiet = json.loads(cli("doctor", "--json").out)
    assert [c["check"] for c in quiet if c["warning"]] == []
