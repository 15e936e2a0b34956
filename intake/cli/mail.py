"""Mail commands: `intake poll`, `intake serve`, `intake outbox list|send`. Thin: the work is elsewhere."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from intake.cli.support import (
    JsonOpt,
    NowOpt,
    choice,
    cut_notice,
    emit,
    err,
    local_time,
    out,
    plural,
    print_table,
    runtime,
    table,
)
from intake.errors import BadInput, IntakeError, NotFound
from intake.tickets.refs import format_ref, parse_ref, prefix_of

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


OUTBOX_STATES = ("pending", "sent", "failed", "suppressed")


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        str | None, typer.Option(help="Only rows in this state: pending, sent, failed, suppressed.")
    ] = None,
    ticket: Annotated[str | None, typer.Option(help="Only mail about this ticket, e.g. support-42.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """List outgoing mail with its kind, state, attempts and last error."""
    from intake.store import repo
    from intake.tickets.views import outbox_json

    if state is not None:
        choice("--state", state, OUTBOX_STATES)
    rt = runtime()
    prefix = prefix_of(rt.settings)
    with rt.sessions() as session:
        ticket_id = parse_ref(ticket, prefix) if ticket else None
        found = repo.outbox_rows(session, state=state, ticket_id=ticket_id, limit=limit + 1)
        docs = [outbox_json(row) for row in found]
    more = len(docs) > limit
    docs = docs[:limit]
    cut_notice(len(docs), limit, more, "outgoing mails")
    if as_json:
        emit(docs)
        return
    if not docs:
        out.print("no outgoing mail" + (f" in state {state}" if state else ""))
        return
    errors = any(d["last_error"] for d in docs)
    rows = []
    for d in docs:
        tries = (
            f" ({plural(d['attempts'], 'try', 'tries')})"
            if d["attempts"] > 1 or d["state"] == "failed"
            else ""
        )
        row = [
            str(d["id"]),
            format_ref(prefix, d["ticket_id"]) if d["ticket_id"] else "-",
            d["kind"],
            d["state"] + tries,
            d["recipient"],
            d["subject"] or "-",
        ]
        if errors:
            row.append(d["last_error"].splitlines()[0] if d["last_error"] else "-")
        rows.append(row)
    headers = ["id", "ticket", "kind", "state", "to", "subject", *(["last error"] if errors else [])]
    print_table(
        table(
            headers,
            rows,
            flexible=("kind", "to", "subject", "last error"),
            caps={"kind": 16, "to": 24, "subject": 30},
        )
    )
    out.print(plural(len(docs), "mail") + (" (cut at --limit)" if more else ""))


@outbox_app.command("show")
def outbox_show(
    row_id: Annotated[int, typer.Argument(metavar="ID", help="The outbox row, see `intake outbox list`.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one outgoing mail in full: headers, state, attempts, error and body."""
    from intake.store import repo
    from intake.tickets.views import outbox_json

    rt = runtime()
    with rt.sessions() as session:
        row = repo.outbox_row(session, row_id)
        if row is None:
            raise NotFound(f"no outgoing mail with id {row_id}")
        doc = outbox_json(row)
        doc["next_attempt_at"] = row.next_attempt_at.isoformat()
        doc["references"] = list(row.references or [])
    if as_json:
        emit(doc)
        return
    prefix = prefix_of(rt.settings)
    out.print(f"outgoing mail {doc['id']}: {doc['kind']} ({'automatic' if doc['automatic'] else 'by hand'})")
    fields = [
        ("ticket", format_ref(prefix, doc["ticket_id"]) if doc["ticket_id"] else "-"),
        ("to", doc["recipient"]),
        ("subject", doc["subject"]),
        ("message-id", doc["message_id"]),
        ("in-reply-to", doc["in_reply_to"] or "-"),
        ("state", f"{doc['state']} after {plural(doc['attempts'], 'attempt')}"),
        ("created", local_time(row.created_at)),
        ("sent", local_time(row.sent_at)),
        ("next attempt", local_time(row.next_attempt_at) if doc["state"] == "pending" else "-"),
        ("last error", doc["last_error"] or "-"),
    ]
    for name, value in fields:
        out.print(f"  {name}: {value}")
    out.print("")
    out.print(doc["body"] or "(empty body)")


@outbox_app.command("send")
def outbox_send(now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Deliver every due outgoing mail once through the relay, then exit (exit 1 if none could go)."""
    from intake.outgoing.outbox import deliver_due

    rt = runtime(now)
    with rt.sessions() as session:
        summary = deliver_due(session, rt.clock, rt.settings)
    doc = summary.as_json()
    if as_json:
        emit(doc)
    elif not summary.claimed:
        out.print("nothing due to send")
    else:
        out.print(
            f"{plural(summary.claimed, 'mail')} due: {summary.sent} sent, {summary.retried} to retry, "
            f"{summary.failed} failed, {summary.suppressed} suppressed"
        )
    undelivered = summary.claimed - summary.suppressed
    if undelivered > 0 and summary.sent == 0:
        relay = f"{rt.settings.relay.host}:{rt.settings.relay.port}"
        raise IntakeError(
            f"none of {plural(undelivered, 'mail')} could be delivered through the relay {relay}: "
            "see `intake outbox list --state pending` for the error"
        )


def register(app: typer.Typer) -> None:
    app.command("poll")(poll)
    app.command("serve")(serve)
    app.add_typer(outbox_app, name="outbox")
