"""The `intake` command line: thin wrappers that parse arguments and print results.

Exit codes: 0 ok, 1 failure (including a missing ticket), 2 bad usage or bad
input, with a one-line reason on stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.cli_support import JsonOpt, NowOpt, close_all, emit, err, out, runtime
from intake.errors import BadInput, IntakeError, NotFound

app = typer.Typer(
    name="intake",
    help="Support intake bot: customer mail and Slack in, triaged tickets out, under real support policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
org_app = typer.Typer(help="Customer organisations.", no_args_is_help=True)
contact_app = typer.Typer(help="Designated contacts of an organisation.", no_args_is_help=True)
tickets_app = typer.Typer(help="Look at tickets.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Input that could not be processed, kept with the reason.", no_args_is_help=True
)
policies_app = typer.Typer(help="The bundled support policies.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(contact_app, name="contact")
app.add_typer(tickets_app, name="tickets")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(policies_app, name="policies")


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or migrate the database and check the bundled policies."""
    from intake.policies.loader import load_all
    from intake.store.migrate import upgrade

    rt = runtime(schema=False)
    revision = upgrade(rt.engine)
    policies = sorted(load_all())
    doc = {
        "database": rt.engine.url.render_as_string(hide_password=True),
        "revision": revision,
        "policies": policies,
    }
    if as_json:
        emit(doc)
    else:
        out.print(f"database ready at revision {revision}: {doc['database']}")
        out.print(f"policies: {', '.join(policies)}")


@org_app.command("add")
def org_add(
    name: str,
    policy: Annotated[str, typer.Option(help="Bundled policy name, see `intake policies list`.")],
    plan: Annotated[str | None, typer.Option(help="The organisation's support plan.")] = None,
    domain: Annotated[
        list[str] | None, typer.Option(help="Mail domain of the organisation (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a customer organisation under a policy."""
    from intake.orgs import add_org

    rt = runtime()
    with rt.sessions() as session:
        org = add_org(session, rt.clock, name, policy, plan, domain or [])
        session.commit()
        doc = {
            "id": org.id,
            "name": org.name,
            "policy": org.policy,
            "plan": org.plan,
            "domains": [d.domain for d in org.domains],
        }
    emit(doc) if as_json else out.print(f"added organisation {doc['name']} ({doc['policy']})")


@contact_app.command("add")
def contact_add(
    org: str,
    email: str,
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    role: Annotated[
        str | None, typer.Option(help="primary, backup or designated (default: the first role with room).")
    ] = None,
    slack_user: Annotated[str | None, typer.Option(help="Slack user id, e.g. U012ABCDEF.")] = None,
    replaces: Annotated[
        str | None,
        typer.Option(help="Transfer: this contact takes over from another (with the policy's notice)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a designated contact to an organisation."""
    from intake.orgs import add_contact

    rt = runtime()
    with rt.sessions() as session:
        person, warnings = add_contact(session, rt.clock, org, email, name, role, slack_user, replaces)
        session.commit()
        doc = {
            "org": org,
            "email": person.email,
            "name": person.name,
            "role": person.role,
            "warnings": warnings,
        }
    for warning in warnings:
        err.print(f"warning: {warning}")
    emit(doc) if as_json else out.print(f"added {doc['email']} as {doc['role']} contact of {org}")


@app.command()
def ingest(
    target: Annotated[str, typer.Argument(help="An .eml file, a folder of them, or - for stdin.")],
    channel: Annotated[str, typer.Option(help="email (RFC 5322 files) or slack (event JSON).")] = "email",
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Feed stored messages through the pipeline, oldest first; nothing is moved or deleted."""
    from intake.ingest_files import ingest_paths

    if channel != "email":
        raise BadInput(f"--channel {channel}: only email files can be ingested")
    rt = runtime(now)
    stdin = sys.stdin.buffer.read() if target == "-" else None
    show = sys.stderr.isatty() and not as_json
    with rt.deps() as deps:
        if show:
            from rich.progress import Progress

            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("ingesting", total=None)
                summary = ingest_paths(
                    target, deps, stdin=stdin, progress=lambda d, t: bar.update(task, completed=d, total=t)
                )
        else:
            summary = ingest_paths(target, deps, stdin=stdin)
    doc = summary.as_json()
    if as_json:
        emit(doc)
        return
    out.print(", ".join(f"{k} {v}" for k, v in doc.items()))
    for source, outcome in summary.outcomes:
        if outcome.disposition == "quarantined":
            out.print(f"quarantined {source}: {outcome.reason.splitlines()[0]}")


@tickets_app.command("list")
def tickets_list(
    status: Annotated[str | None, typer.Option(help="Only tickets in this status.")] = None,
    org: Annotated[str | None, typer.Option(help="Only tickets of this organisation.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """List tickets, newest first."""
    from intake.store.orm import Organisation, Ticket
    from intake.views import ticket_json

    rt = runtime()
    prefix = rt.settings.tickets.ref_prefix
    with rt.sessions() as session:
        query = select(Ticket).options(selectinload(Ticket.org)).order_by(Ticket.id.desc()).limit(limit)
        if status:
            query = query.where(Ticket.status == status)
        if org:
            query = query.join(Organisation).where(Organisation.name == org)
        docs = [ticket_json(t, prefix) for t in session.scalars(query)]
    if as_json:
        emit(docs)
        return
    table = Table("ref", "status", "severity", "category", "org", "contact", "subject")
    for d in docs:
        table.add_row(
            d["ref"],
            d["status"],
            d["severity"],
            d["category"] or "-",
            d["org"] or "-",
            d["contact_status"],
            (d["subject"] or "")[:60],
        )
    out.print(table)


@tickets_app.command("show")
def tickets_show(ref: str, as_json: JsonOpt = False) -> None:
    """Show one ticket with its messages."""
    from intake.replies import parse_ref
    from intake.store.orm import Message, Ticket
    from intake.views import ticket_json

    rt = runtime()
    prefix = rt.settings.tickets.ref_prefix
    number = parse_ref(ref, prefix)
    with rt.sessions() as session:
        ticket = session.scalar(
            select(Ticket)
            .where(Ticket.id == number)
            .options(
                selectinload(Ticket.org), selectinload(Ticket.messages).selectinload(Message.attachments)
            )
        )
        if ticket is None:
            raise NotFound(f"no ticket {ref}")
        doc = ticket_json(ticket, prefix, with_messages=True)
    if as_json:
        emit(doc)
        return
    out.print(f"{doc['ref']}  {doc['subject']}")
    for key in (
        "status",
        "severity",
        "possible_critical",
        "category",
        "language",
        "org",
        "policy",
        "contact_status",
        "created_at",
        "first_response_due",
        "resolution_due",
        "closed_at",
        "close_reason",
    ):
        out.print(f"  {key}: {doc[key]}")
    for m in doc["messages"]:
        out.print(f"\n--- {m['sender']} at {m['received_at']} ({m['disposition']})")
        out.print(m["text"], markup=False)


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False) -> None:
    """List quarantined input with the reason it was set aside."""
    from intake.store.orm import Quarantine
    from intake.views import quarantine_json

    rt = runtime()
    with rt.sessions() as session:
        docs = [quarantine_json(q) for q in session.scalars(select(Quarantine).order_by(Quarantine.id))]
    if as_json:
        emit(docs)
        return
    table = Table("id", "source", "size", "reason")
    for d in docs:
        table.add_row(str(d["id"]), d["source"], str(d["size"]), d["reason"])
    out.print(table)


@policies_app.command("list")
def policies_list(as_json: JsonOpt = False) -> None:
    """List the bundled policies."""
    from intake.policies.loader import load_all

    docs = [{"name": n, "title": p.title, "plans": list(p.plans)} for n, p in sorted(load_all().items())]
    if as_json:
        emit(docs)
        return
    for d in docs:
        out.print(f"{d['name']}: {d['title']} (plans: {', '.join(d['plans'])})")


@policies_app.command("show")
def policies_show(name: str, as_json: JsonOpt = False) -> None:
    """Show one policy in full."""
    from intake.policies.loader import load_all

    policies = load_all()
    if name not in policies:
        raise BadInput(f"unknown policy {name!r}; bundled: {', '.join(sorted(policies))}")
    doc = policies[name].model_dump(mode="json")
    if as_json:
        emit(doc)
    else:
        out.print_json(data=doc)


@app.command()
def demo() -> None:
    """Run everything on the embedded defaults with sample traffic, and print what came out."""
    from intake.demo import run_demo

    run_demo(out)


def _register_modules() -> None:
    """Commands of the other areas live in their own modules, each with `register(app)`."""
    import importlib

    for name in ("intake.cli_lifecycle", "intake.cli_mail", "intake.cli_triage"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)
    from intake.cli_lifecycle import register_doctor

    register_doctor(app)


_register_modules()


def _fail(code: int, message: str) -> NoReturn:
    sys.stderr.write(f"intake: {message}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, exit 2 for bad usage or input, 1 for failures."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command: Callable[..., Any] = typer.main.get_command(app)
    try:
        try:
            # Without standalone mode click returns a command's exit code instead of raising it.
            code = command.main(args=argv, prog_name="intake", standalone_mode=False)  # type: ignore[attr-defined]
        finally:
            close_all()
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        _fail(1, "aborted")
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(int(getattr(exc, "exit_code", 2)), message.splitlines()[0] if message else "bad usage")
    except BadInput as exc:
        _fail(2, str(exc).splitlines()[0])
    except (NotFound, IntakeError) as exc:
        _fail(1, str(exc).splitlines()[0])
    except BrokenPipeError:
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
