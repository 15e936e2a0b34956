"""`intake org import`, `contact import`, `export`, `retention run` and mbox ingest, as a user runs them."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest

from tests.conftest import MailBuilder
from tests.e2e.test_cli import Cli
from tests.servers.stack import migrated_sqlite


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    migrated_sqlite(tmp_path / "intake.db")  # what `intake init` leaves (tests/e2e/test_cli.py)
    return Cli(tmp_path)


@pytest.fixture
def cli_here(tmp_path: Path) -> Cli:
    migrated_sqlite(tmp_path / "intake.db")
    return Cli(tmp_path, in_process=True)


def test_imports_all_or_nothing_with_one_line_per_bad_row(cli: Cli, tmp_path: Path) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text(
        "name,policy,plan,domains\n"
        "Acme,resource-optimizer,,acme.example\n"
        "Globex,rezilion,gold,globex.example\n"
        "Initech,no-such,,initech.example\n"
    )
    done = cli("org", "import", str(orgs), code=2)
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"{orgs}: line 3: policy rezilion has no plan 'gold'; plans: standard, premium, trial"
    assert lines[1].startswith(f"{orgs}: line 4: unknown policy 'no-such'")
    assert "2 bad rows of 3 rows" in lines[-1] and "nothing was imported" in lines[-1]
    assert "Traceback" not in done.stderr
    assert cli.json("org", "list") == []
    orgs.write_text(orgs.read_text().replace("gold", "standard").replace("no-such", "functionize"))
    done = cli("org", "import", str(orgs))
    assert "3 organisations: 3 added, 0 updated, 0 unchanged" in done.stdout
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text(
        '{"organisation": "Acme", "email": "dana@acme.example", "name": "Dana"}\n'
        '{"organisation": "Globex", "email": "hank@globex.example", "slack_user": "U1"}\n'
    )
    doc = cli.json("contact", "import", str(contacts))
    assert (doc["added"], doc["errors"], doc["written"]) == (2, [], True)  # type: ignore[index]
    doc = cli.json("contact", "import", str(contacts))
    assert (doc["added"], doc["unchanged"]) == (0, 2)  # type: ignore[index]
    missing = cli("contact", "import", str(tmp_path / "nope.csv"), code=2)
    assert missing.stderr.strip().endswith("no such file: " + str(tmp_path / "nope.csv"))


def test_export_and_retention_from_the_command_line(
    cli_here: Cli, tmp_path: Path, make_mail: MailBuilder
) -> None:
    cli = cli_here  # commands in this process: what they store and export is the point here
    cli("org", "add", "Acme", "--policy", "resource-optimizer", "--domain", "acme.example")
    cli("contact", "add", "Acme", "dana@acme.example")
    box = mailbox.mbox(tmp_path / "old.mbox")
    box.add(make_mail(subject="Export fails", message_id="<a@acme.example>"))
    box.add(make_mail(subject="Re: Export fails", message_id="<b@acme.example>",
                      headers={"In-Reply-To": "<a@acme.example>"}))  # fmt: skip
    box.flush()
    box.close()
    done = cli("ingest", str(tmp_path / "old.mbox"), "--now", "2026-01-01T09:00:00Z")
    assert done.stdout.startswith("2 messages: 1 new ticket, 1 follow-up")
    again = cli("ingest", str(tmp_path / "old.mbox"), "--now", "2026-01-01T09:00:00Z")
    assert "2 already stored (skipped)" in again.stdout
    lines = cli("export").stdout.splitlines()
    assert len(lines) == 1
    ticket = json.loads(lines[0])
    assert [m["external_id"] for m in ticket["messages"]] == ["a@acme.example", "b@acme.example"]
    assert all(m["raw_b64"] for m in ticket["messages"])
    (tmp_path / "retention.toml").write_text("[retention]\nraw_days = 30\n")
    cli.env["INTAKE_CONFIG"] = str(tmp_path / "retention.toml")
    doc = cli.json("retention", "run", "--now", "2026-03-01T00:00:00Z")
    assert (doc["raw_days"], doc["messages"]) == (30, 2)  # type: ignore[index]
    summary = cli.json("export", "--output", str(tmp_path / "backup.jsonl"))
    assert summary == {"output": str(tmp_path / "backup.jsonl"), "tickets": 1, "messages": 2, "outgoing": 1,
                       "raw_removed": 2}  # fmt: skip
    kept = json.loads((tmp_path / "backup.jsonl").read_text())
    assert [m["text"] for m in kept["messages"]] == [m["text"] for m in ticket["messages"]]
    assert not any("raw_b64" in m for m in kept["messages"])
