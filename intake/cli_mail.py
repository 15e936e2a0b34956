"""Mail commands: `intake poll`, `intake serve`, `intake outbox list|send`. Thin: the work is elsewhere."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from intake.cli_support import JsonOpt, emit, err, out, runtime
from intake.errors import BadInput, IntakeError

outbox_app = typer.Typer(help="Outgoing mail: list it, deliver what is due.", no_args_is_help=True)


def poll(as_json: JsonOpt = False) -> None:
    """Read every configured IMAP mailbox folder once, then exit (exit 1 if any failed)."""
    from channels.imap import poll_once

    rt = runtime()
    if not rt.settings.imap:
        raise BadInput("no [[imap]] mailbox is configured")
    summary = poll_once(rt.settings, rt)
    doc = summary.as_json()
    if as_json:
        emit(doc)
    else:
        for folder in doc["folders"]:
            where = f"{folder['mailbox']}/{folder['folder']}"
            if folder["error"]:
                out.print(f"{where}: failed: {folder['error']}", markup=False)
            else:
                out.print(
                    f"{where}: fetched {folder['fetched']}, tickets {folder['tickets']}, "
                    f"followups {folder['followups']}, dropped {folder['dropped']}, "
                    f"duplicates {folder['duplicates']}, quarantined {folder['quarantined']}",
                    markup=False,
                )
    if not summary.ok:
        raise IntakeError(f"{doc['errors']} mailbox folder(s) failed")


def serve(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the SMTP server, IMAP mailboxes, outbox worker and timers as configured, until SIGTERM/SIGINT."""
    from intake.service import run

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise BadInput(f"--log-level {log_level}: expected debug, info, warning or error")
    logging.getLogger().setLevel(level)
    # aiosmtpd logs every SMTP command at INFO; keep that for --log-level debug
    logging.getLogger("mail.log").setLevel(level if level <= logging.DEBUG else logging.WARNING)
    rt = runtime()
    err.print(f"intake serve: database {rt.engine.url.render_as_string(hide_password=True)}", markup=False)
    run(rt)


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        str | None, typer.Option(help="Only rows in this state: pending, sent, failed, suppressed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """List outgoing mail with its state, attempts and last error."""
    from intake.store.orm import Outbox
    from intake.views import outbox_json

    rt = runtime()
    with rt.sessions() as session:
        query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
        if state:
            query = query.where(Outbox.state == state)
        docs = [outbox_json(row) for row in session.scalars(query)]
    if as_json:
        emit(docs)
        return
    table = Table("id", "state", "attempts", "recipient", "subject", "last error")
    for d in docs:
        table.add_row(
            str(d["id"]),
            d["state"],
            str(d["attempts"]),
            d["recipient"],
            (d["subject"] or "")[:50],
            (d["last_error"] or "")[:60],
        )
    out.print(table)


@outbox_app.command("send")
def outbox_send(as_json: JsonOpt = False) -> None:
    """Deliver every due outgoing mail once through the relay, then exit."""
    from intake.outbox import deliver_due

    rt = runtime()
    with rt.sessions() as session:
        summary = deliver_due(session, rt.clock, rt.settings)
    doc = summary.as_json()
    if as_json:
        emit(doc)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in doc.items()))


def register(app: typer.Typer) -> None:
    app.command("poll")(poll)
    app.command("serve")(serve)
    app.add_typer(outbox_app, name="outbox")
