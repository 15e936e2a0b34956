"""Backup and retention: `intake export` and `intake retention run`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from intake.cli.support import JsonOpt, NowOpt, emit, err, out, plural, runtime
from intake.errors import BadInput

retention_app = typer.Typer(help="Raw mail retention ([retention] raw_days).", no_args_is_help=True)


def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON Lines here instead of stdout.")
    ] = None,
    no_raw: Annotated[bool, typer.Option("--no-raw", help="Leave out the raw mail bytes.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export every ticket with its messages, outgoing mail and history as JSON Lines (streamed).

    To stdout one ticket per line; with --output, to that file, and a summary (JSON with --json).
    """
    from intake.tickets.export import export as run_export

    rt = runtime()
    prefix = rt.settings.tickets.ref_prefix
    with rt.sessions() as session:
        if output is None:
            run_export(session, prefix, sys.stdout, with_raw=not no_raw)
            return
        try:
            fh = output.open("w", encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot write {output}: {exc.strerror}") from exc
        with fh:
            summary = run_export(session, prefix, fh, with_raw=not no_raw)
    doc = {"output": str(output), **summary.as_json()}
    if as_json:
        emit(doc)
    else:
        out.print(
            f"exported {plural(summary.tickets, 'ticket')} with {plural(summary.messages, 'message')} "
            f"and {plural(summary.outgoing, 'outgoing mail')} to {output}"
            + (
                f" ({summary.raw_removed} without raw mail, removed by retention)"
                if summary.raw_removed
                else ""
            ),
            markup=False,
        )


@retention_app.command("run")
def retention_run(now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Remove raw mail bodies older than [retention] raw_days once; tickets and their history stay."""
    from intake.tickets.retention import purge_raw

    rt = runtime(now)
    if not rt.settings.retention.raw_days:
        err.print("retention: [retention] raw_days is 0; raw mail is kept", markup=False)
    with rt.sessions() as session:
        report = purge_raw(session, rt.clock, rt.settings)
    if as_json:
        emit({"raw_days": rt.settings.retention.raw_days, **report.as_json()})
    elif report.cutoff is not None:
        out.print(
            f"removed the raw mail of {plural(report.messages, 'message')} and "
            f"{plural(report.quarantined, 'quarantined input')} older than {report.cutoff:%Y-%m-%d %H:%M} UTC"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.add_typer(retention_app, name="retention")
