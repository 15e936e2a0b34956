"""Commands of the ticket lifecycle: `tick` (the scheduler, once), `reply` (an engineer's answer) and
`escalate` (a manager's request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from intake.cli.support import JsonOpt, NowOpt, emit, out, plural, runtime
from intake.errors import BadInput
from intake.tickets.refs import format_ref, prefix_of

if TYPE_CHECKING:
    from intake.runtime import Runtime


def register(app: typer.Typer) -> None:
    @app.command()
    def escalate(
        ref: Annotated[str, typer.Argument(help="The ticket, e.g. support-42.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (recorded and sent to the team).")],
        by: Annotated[str, typer.Option("--by", help="The manager who asks (recorded in the audit trail).")],
        now: NowOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Escalate a ticket at a manager's request, where its policy provides for it (Rezilion, Revalize)."""
        _escalate(runtime(now), ref, reason.strip(), by.strip(), as_json)

    @app.command()
    def tick(now: NowOpt = None, as_json: JsonOpt = False) -> None:
        """Run due timers once: SLA warnings and escalations, reminders, auto-closes."""
        from intake.tickets.scheduler import tick as run_tick
        from intake.tickets.story import TIMER_KINDS

        rt = runtime(now)
        with rt.sessions() as session:
            report = run_tick(session, rt.clock, rt.settings)
        prefix = prefix_of(rt.settings)
        doc = report.as_json()
        doc["tickets"] = [
            {"ref": format_ref(prefix, ticket_id), "timer": kind, "fired": fired}
            for ticket_id, kind, fired in report.touched
        ]
        if as_json:
            emit(doc)
            return
        if not report.touched:
            out.print("no timers were due")
            return
        fired_n = sum(report.fired.values())
        skipped_n = sum(report.skipped.values())
        out.print(
            f"{plural(fired_n, 'timer')} fired, {plural(skipped_n, 'timer')} skipped "
            f"(their reason had passed), on {plural(len({t for t, _, _ in report.touched}), 'ticket')}"
        )
        for ticket_id, kind, fired in report.touched:
            what = TIMER_KINDS.get(kind, kind.replace("_", " "))
            out.print(f"  {format_ref(prefix, ticket_id)}: {what} {'fired' if fired else 'skipped'}")

    @app.command()
    def reply(
        ref: Annotated[str, typer.Argument(help="The ticket, e.g. support-42.")],
        text: Annotated[str, typer.Option("--text", help="The answer to send to the customer.")],
        request_info: Annotated[
            bool,
            typer.Option("--request-info", help="Ask the customer for information; the SLA clock pauses."),
        ] = False,
        resolve: Annotated[bool, typer.Option("--resolve", help="This answer resolves the ticket.")] = False,
        out_of_scope: Annotated[
            bool, typer.Option("--out-of-scope", help="Close: the request is outside the scope of support.")
        ] = False,
        reopen: Annotated[
            bool, typer.Option("--reopen", help="Reopen a closed ticket (where the vendor decides reopens).")
        ] = False,
        now: NowOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Send an engineer's answer to a ticket's requester."""
        from intake.tickets.replies import reply as send_reply

        rt = runtime(now)
        with rt.sessions() as session:
            doc = send_reply(
                session,
                rt.clock,
                rt.settings,
                ref,
                text,
                request_info=request_info,
                resolve=resolve,
                out_of_scope=out_of_scope,
                reopen=reopen,
            )
        if as_json:
            emit(doc)
        else:
            out.print(f"{doc['ref']}: {doc['status']}")


def register_doctor(app: typer.Typer) -> None:
    @app.command()
    def doctor(as_json: JsonOpt = False) -> None:
        """Check the configuration and every configured connection; exit 1 if anything fails."""
        from intake.cli.doctor import run_checks

        rt = runtime(schema=False)
        checks = run_checks(rt)
        if as_json:
            emit([{"check": c.name, "ok": c.ok, "warning": c.warning, "detail": c.detail} for c in checks])
        else:
            for c in checks:
                mark = "warn" if c.warning else "ok  " if c.ok else "FAIL"
                out.print(f"{mark} {c.name}: {c.detail}")
        if not all(c.ok for c in checks):
            raise typer.Exit(1)


def _escalate(rt: Runtime, ref: str, reason: str, by: str, as_json: bool) -> None:
    from intake.tickets.ops import TicketOps
    from intake.tickets.replies import find_ticket
    from intake.tickets.views import ticket_json

    if not reason or not by:
        raise BadInput("--reason and --by must not be empty")
    with rt.sessions() as session:
        ticket = find_ticket(session, ref, rt.settings.tickets.ref_prefix)
        TicketOps(session, rt.settings, rt.clock.now(), actor=by).escalate(ticket, reason)
        session.commit()
        doc = ticket_json(ticket, rt.settings.tickets.ref_prefix)
    if as_json:
        emit(doc)
    else:
        out.print(
            f"{doc['ref']}: escalated; the team is told ({len(rt.settings.escalation.notify)} recipients)"
        )
