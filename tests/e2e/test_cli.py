"""The command-line contract, driven as a user would: a real SQLite file, in a folder of the user's.

What only a process shows (exit codes with one line on stderr and no traceback, standard
input, the demo, text laid out for the terminal's width) runs `python -m intake` as a real
process; the other stories call the console script's entry point in this process with the
same environment, folder and streams (`cli_here`), which saves a second of interpreter
start per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import MailBuilder
from tests.e2e.cli import invoke
from tests.servers.stack import migrated_sqlite


class Cli:
    def __init__(self, workdir: Path, *, in_process: bool = False) -> None:
        self.workdir = workdir
        self.in_process = in_process
        self.env = {
            **os.environ,
            "INTAKE_DATABASE_URL": f"sqlite:///{workdir / 'intake.db'}",
            "INTAKE_CONFIG": "",
            "COLUMNS": "200",
        }

    def __call__(
        self, *args: str, stdin: bytes | None = None, code: int = 0
    ) -> subprocess.CompletedProcess[str]:
        done = self._here(list(args)) if self.in_process and stdin is None else self._process(args, stdin)
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        return done

    def _process(self, args: tuple[str, ...], stdin: bytes | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "intake", *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin.decode("latin-1") if stdin else None,
            capture_output=True,
            text=True,
            check=False,
        )

    def _here(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        with self._environment():
            done = invoke(args)
        return subprocess.CompletedProcess(["intake", *args], done.code, done.out, done.err)

    @contextmanager
    def _environment(self) -> Iterator[None]:
        """This process, for one command, as the process would be: its environment and folder."""
        saved, folder = dict(os.environ), Path.cwd()
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.workdir)
        try:
            yield
        finally:
            os.chdir(folder)
            os.environ.clear()
            os.environ.update(saved)

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """A user's folder with the store `intake init` makes, for commands run as processes (`init`
    itself runs as one in test_cli_engineer.py; here its result is copied, a second sooner)."""
    migrated_sqlite(tmp_path / "intake.db")
    return Cli(tmp_path)


@pytest.fixture
def cli_here(tmp_path: Path) -> Cli:
    """The same, with the commands run in this process (standard input still goes to a process)."""
    migrated_sqlite(tmp_path / "intake.db")
    return Cli(tmp_path, in_process=True)


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command and sub-command answers --help (walked from the app, so new ones are covered too)."""
    import typer

    from intake.cli import app, main

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found.extend(walk(sub, [*path, name]))
        return found

    paths = walk(typer.main.get_command(app), [])
    names = {" ".join(p) for p in paths}
    for expected in (
        "init",
        "ingest",
        "tick",
        "reply",
        "poll",
        "serve",
        "outbox list",
        "classify",
        "train",
        "eval",
        "demo",
        "policies show",
        "contact add",
        "contact list",
        "contact remove",
        "org list",
        "org show",
        "org set",
        "outbox show",
        "outbox send",
        "quarantine list",
    ):
        assert expected in names
    for path in paths:
        try:
            main([*path, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, path
        assert "Usage" in capsys.readouterr().out, path


def test_ingest_dir_in_date_order_with_a_summary_that_adds_up(
    cli_here: Cli, tmp_path: Path, make_mail: MailBuilder
) -> None:
    from datetime import UTC, datetime

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # a.eml is the reply but was sent later; b.eml is the original: Date order must win over name order
    (inbox / "a.eml").write_bytes(
        make_mail(
            subject="Re: Export fails",
            date=datetime(2026, 11, 16, 9, tzinfo=UTC),
            headers={"In-Reply-To": "<orig@acme.example>"},
        )
    )
    (inbox / "b.eml").write_bytes(
        make_mail(message_id="<orig@acme.example>", date=datetime(2026, 11, 16, 8, tzinfo=UTC))
    )
    (inbox / "c.eml").write_bytes(make_mail(headers={"Auto-Submitted": "auto-replied"}, subject="Away"))
    (inbox / "d.eml").write_bytes(b"\x00\x01garbage")
    (inbox / "e.eml").write_bytes((inbox / "b.eml").read_bytes())
    summary = cli_here.json("ingest", str(inbox), "--now", "2026-11-16T10:00:00Z")
    assert summary == {
        "files": 5,
        "tickets": 1,
        "followups": 1,
        "dropped": 1,
        "duplicates": 1,
        "quarantined": 1,
        "already_stored": 0,
    }
    again = cli_here.json("ingest", str(inbox))
    assert again == {
        "files": 5,
        "tickets": 0,
        "followups": 0,
        "dropped": 0,
        "duplicates": 0,
        "quarantined": 0,
        "already_stored": 5,
    }
    assert sorted(p.name for p in inbox.iterdir()) == ["a.eml", "b.eml", "c.eml", "d.eml", "e.eml"]

    tickets = cli_here.json("tickets", "list")
    assert isinstance(tickets, list) and len(tickets) == 1
    ticket = tickets[0]
    for key in (
        "ref",
        "status",
        "severity",
        "category",
        "confidence",
        "needs_review",
        "org",
        "policy",
        "contact_status",
        "channel",
        "created_at",
        "acknowledged_at",
        "first_response_due",
        "resolution_due",
        "closed_at",
        "close_reason",
    ):
        assert key in ticket
    assert ticket["created_at"] == "2026-11-16T10:00:00+00:00"
    shown = cli_here.json("tickets", "show", ticket["ref"])
    assert isinstance(shown, dict) and len(shown["messages"]) == 2
    quarantined = cli_here.json("quarantine", "list")
    assert isinstance(quarantined, list) and len(quarantined) == 1 and quarantined[0]["reason"]


def test_ingest_from_stdin(cli: Cli, make_mail: MailBuilder) -> None:
    done = cli("ingest", "-", "--json", stdin=make_mail())
    assert json.loads(done.stdout)["tickets"] == 1


def test_org_and_contact_then_designated(cli_here: Cli, tmp_path: Path, make_mail: MailBuilder) -> None:
    org = cli_here.json("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    assert org == {
        "id": 1,
        "name": "Acme",
        "policy": "resource-optimizer",
        "plan": None,
        "domains": ["acme.example"],
        "timezone": None,
    }
    cli_here("contact", "add", "Acme", "dana@acme.example", "--name", "Dana", "--role", "designated")
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail())
    cli_here("ingest", str(mail))
    [ticket] = cli_here.json("tickets", "list", "--org", "Acme")  # type: ignore[misc]
    assert (ticket["org"], ticket["contact_status"]) == ("Acme", "designated")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["org", "add", "X", "--policy", "nope"], "unknown policy"),
        (["org", "add", "X", "--policy", "revalize", "--domain", "not a domain"], "not a domain"),
        (["contact", "add", "Nobody", "a@b.example"], "no organisation"),
        (["ingest", "/no/such/place"], "no such file"),
        (["ingest", "x", "--now", "yesterday"], "ISO 8601"),
        (["tickets", "show", "banana"], "not a ticket reference"),
        (["tickets", "list", "--limit", "0"], "--limit"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: Cli, args: list[str], fragment: str) -> None:
    code = 1 if args[0] == "contact" else 2
    done = cli(*args, code=code)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert fragment in done.stderr


def test_missing_ticket_exits_1(cli: Cli) -> None:
    done = cli("tickets", "show", "support-999", code=1)
    assert "no ticket" in done.stderr


def test_uninitialised_database_says_what_to_do(tmp_path: Path) -> None:
    done = Cli(tmp_path)("tickets", "list", code=1)
    assert "intake init" in done.stderr


def test_policies_list_and_show(cli_here: Cli) -> None:
    names = [p["name"] for p in cli_here.json("policies", "list")]  # type: ignore[union-attr]
    assert names == ["functionize", "resilio-connect", "resource-optimizer", "revalize", "rezilion"]
    shown = cli_here.json("policies", "show", "resilio-connect")
    assert isinstance(shown, dict) and shown


def test_demo_runs_the_whole_path(tmp_path: Path) -> None:
    """SMTP in (250 after the commit), ticket, threading, guard, quarantine, acknowledgement out."""
    out = Cli(tmp_path)("demo").stdout
    assert "01-new-ticket.eml: 250 2.0.0 Message accepted as support-1" in out
    assert "02-reply.eml: 250 2.0.0 Message accepted as support-1" in out
    assert "support-1  acknowledged" in out and "2 message(s)" in out
    assert "quarantine 05-garbage.eml: no headers" in out
    assert "to priya.raman@acme.example" in out and "Auto-Submitted: auto-replied" in out
    assert "In-Reply-To: <CAF3x9-demo-0001@mail.acme.example>" in out
    assert (tmp_path / ".intake" / "demo" / "intake.db").exists()
    # The Slack part: a shared-channel message becomes a ticket, the engineer's answer reaches the
    # customer's thread, greeting them by mention (Slack shows the name), never by a bare user ID.
    assert "customer <@UHANK> writes in CGLOBEX: 200" in out
    assert "Thanks <@UHANK>, this is *support-3*." in out
    assert "Hello <@UHANK>," in out and "Hello UHANK" not in out


def test_text_output_prints_what_strangers_wrote_as_written(
    cli: Cli, tmp_path: Path, make_mail: MailBuilder
) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(make_mail(subject="[support-7] broken [/bold] [red]x[/red]"))
    cli("ingest", str(mail))
    listing = cli("tickets", "list").stdout
    assert "[support-7] broken [/bold] [red]x[/red]" in listing.replace("\n", "")
    assert "[support-7] broken [/bold]" in cli("tickets", "show", "support-1").stdout
    # an engineer answering a held request takes it on
    cli("reply", "support-1", "--text", "Which version?", "--request-info")
    assert cli.json("tickets", "show", "support-1")["status"] == "waiting_on_customer"  # type: ignore[index]
