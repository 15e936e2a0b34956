"""`intake demo`: the whole path on the embedded defaults, with sample traffic.

It works in a throw-away SQLite store under .intake/demo/, so it never touches
the deployment's own database.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.clock import FixedClock
from intake.config import Settings
from intake.ingest_files import ingest_paths
from intake.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.migrate import upgrade
from intake.store.orm import Quarantine, Ticket
from intake.views import ticket_json

SAMPLES = Path(__file__).parent / "samples"
DEMO_DIR = Path(".intake/demo")
DEMO_NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def run_demo(out: Console, workdir: Path = DEMO_DIR) -> dict[str, object]:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = Settings.model_validate({"database": {"url": f"sqlite:///{workdir / 'intake.db'}"}})
    runtime = Runtime.build(settings, FixedClock(DEMO_NOW))
    revision = upgrade(runtime.engine)
    out.print(f"[bold]1. store[/bold] SQLite at {workdir / 'intake.db'} (revision {revision})")

    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme Analytics", "resource-optimizer", None, ["acme.example"])
        add_contact(
            session, runtime.clock, "Acme Analytics", "priya.raman@acme.example", "Priya Raman", "designated"
        )
        session.commit()
    out.print(
        "[bold]2. customer[/bold] Acme Analytics on the resource-optimizer policy, "
        "contact priya.raman@acme.example"
    )

    with runtime.deps() as deps:
        summary = ingest_paths(str(SAMPLES), deps)
    out.print(f"[bold]3. ingest[/bold] {len(list(SAMPLES.glob('*.eml')))} sample mails from {SAMPLES}:")
    for source, outcome in summary.outcomes:
        ticket = f" -> {settings.tickets.ref_prefix}-{outcome.ticket_id}" if outcome.ticket_id else ""
        out.print(f"   {Path(source).name}: {outcome.disposition}{ticket} ({outcome.reason.splitlines()[0]})")

    prefix = settings.tickets.ref_prefix
    with runtime.sessions() as session:
        tickets = [
            ticket_json(t, prefix, with_messages=True)
            for t in session.scalars(
                select(Ticket)
                .options(selectinload(Ticket.org), selectinload(Ticket.messages))
                .order_by(Ticket.id)
            )
        ]
        quarantined = session.scalars(select(Quarantine)).all()
        table = Table(
            "ref", "status", "severity", "org", "contact", "messages", "subject", title="4. tickets"
        )
        for t in tickets:
            table.add_row(
                t["ref"],
                t["status"],
                t["severity"],
                t["org"] or "-",
                t["contact_status"],
                str(len(t["messages"])),
                t["subject"],
            )
        out.print(table)
        for q in quarantined:
            out.print(f"[bold]5. quarantine[/bold] {Path(q.source).name}: {q.reason.splitlines()[0]}")
    out.print(
        "\nNext: `intake init`, then `intake org add`, `intake contact add` "
        "and `intake ingest` on your own mail."
    )
    runtime.engine.dispose()
    return {"summary": summary.as_json(), "tickets": tickets}
