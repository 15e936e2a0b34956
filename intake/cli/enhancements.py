"""`intake enhancements list|export|record|reject`: the enhancement register."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intake.cli.support import JsonOpt, NowOpt, emit, out, plural, print_table, runtime, table

enhancements_app = typer.Typer(help="The enhancement register.", no_args_is_help=True)
StateOpt = Annotated[
    str | None,
    typer.Option(
        help="Only this state: awaiting_review, awaiting_record, awaiting_information, recorded, "
        "transferred, rejected."
    ),
]
OrgOpt = Annotated[str | None, typer.Option(help="Only requests of this organisation.")]


@enhancements_app.command("list")
def enhancements_list(state: StateOpt = None, org: OrgOpt = None, as_json: JsonOpt = False) -> None:
    """Every enhancement request and where it stands under its policy."""
    from intake.tickets.enhancements import entries

    rt = runtime()
    with rt.sessions() as session:
        found = entries(session, rt.settings.tickets.ref_prefix, state=state, org=org)
    if as_json:
        emit([e.as_json() for e in found])
        return
    if not found:
        out.print("no enhancement requests" + (" match" if state or org else " yet"))
        return
    rows = [[e.ref, e.state, e.org or "-", e.destination or "-", e.summary or "(no subject)"] for e in found]
    print_table(table(["ref", "state", "org", "to", "summary"], rows, flexible=("org", "summary")))
    out.print(plural(len(found), "enhancement request"))


@enhancements_app.command("export")
def enhancements_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    state: StateOpt = None,
    org: OrgOpt = None,
) -> None:
    """The register as CSV or JSON (for the product team's tool)."""
    from intake.tickets.enhancements import entries, export

    rt = runtime()
    with rt.sessions() as session:
        text = export(entries(session, rt.settings.tickets.ref_prefix, state=state, org=org), fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@enhancements_app.command("record")
def enhancements_record(
    ref: str,
    complete: Annotated[
        bool,
        typer.Option(help="Revalize: the partner's additional information is collected; close the case."),
    ] = False,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recorded (Resource Optimizer) or transferred (Revalize); closes the case where the policy says."""
    from intake.tickets.enhancements import record

    rt = runtime(now)
    with rt.sessions() as session:
        doc = record(session, rt.clock, rt.settings, ref, complete=complete)
    if as_json:
        emit(doc)
        return
    out.print(f"{doc['ref']}: {doc['state']} ({doc['destination'] or '-'}); ticket {doc['status']}")


@enhancements_app.command("reject")
def enhancements_reject(ref: str, now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Not an enhancement request: the ticket goes on as an ordinary one."""
    from intake.tickets.enhancements import reject

    rt = runtime(now)
    with rt.sessions() as session:
        doc = reject(session, rt.clock, rt.settings, ref)
    if as_json:
        emit(doc)
        return
    out.print(f"{doc['ref']}: not an enhancement request; ticket {doc['status']}")


def register(app: typer.Typer) -> None:
    app.add_typer(enhancements_app, name="enhancements")
