"""The `intake` command line: thin wrappers that parse arguments and print results.

Exit codes: 0 ok, 1 failure (including a missing ticket), 2 bad usage or bad
input, with a one-line reason on stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from intake.cli.support import (
    JsonOpt,
    NowOpt,
    close_all,
    cut_notice,
    database_problem,
    emit,
    err,
    local_time,
    out,
    plural,
    print_table,
    runtime,
    span,
    table,
    until,
)
from intake.errors import BadInput, IntakeError, NotFound
from intake.tickets.refs import parse_ref, prefix_of

app = typer.Typer(
    name="intake",
    help="Support intake bot: customer mail and Slack in, triaged tickets out, under real support policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
tickets_app = typer.Typer(help="Look at tickets.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Input that could not be processed, kept with the reason.", no_args_is_help=True
)
policies_app = typer.Typer(help="The bundled support policies.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from intake import __version__

        out.print(f"intake {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Support intake bot: customer mail and Slack in, triaged tickets out, under real support policies."""


app.add_typer(tickets_app, name="tickets")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(policies_app, name="policies")


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or migrate the database and check the bundled policies."""
    from alembic.util.exc import CommandError

    from intake.policies.loader import load_all
    from intake.store.migrate import upgrade

    rt = runtime(schema=False)
    try:
        revision = upgrade(rt.engine)
    except CommandError as exc:
        raise IntakeError(
            f"cannot migrate the database: {str(exc).splitlines()[0]} (is it newer than this intake?)"
        ) from exc
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


@app.command()
def ingest(
    target: Annotated[
        str,
        typer.Argument(help="An .eml file, a folder of them, an mbox file, a Maildir, or - for stdin."),
    ],
    channel: Annotated[str, typer.Option(help="email (RFC 5322 files) or slack (event JSON).")] = "email",
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Feed stored messages through the pipeline, oldest first, in batches; nothing is moved or deleted.

    A rerun skips what an earlier (perhaps interrupted) run stored and counts it as already stored.
    """
    from channels.files import ingest_paths

    if channel != "email":
        raise BadInput(f"--channel {channel}: only email files can be ingested")
    rt = runtime(now)
    stdin = sys.stdin.buffer if target == "-" else None
    show = sys.stderr.isatty() and not as_json
    with rt.deps() as deps:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("reading dates", total=None)

                def step(phase: str, done: int, total: int | None) -> None:
                    label = "reading dates" if phase == "dates" else "ingesting"
                    bar.update(task, description=label, completed=done, total=total)

                summary = ingest_paths(target, deps, stdin=stdin, progress=step)
        else:
            summary = ingest_paths(target, deps, stdin=stdin)
    doc = summary.as_json()
    if as_json:
        emit(doc)
        return
    prefix = prefix_of(rt.settings)
    out.print(
        f"{plural(doc['files'], 'message' if summary.from_mbox else 'file')}: "
        f"{plural(doc['tickets'], 'new ticket')}, "
        f"{plural(doc['followups'], 'follow-up')}, {doc['dropped']} dropped, "
        f"{plural(doc['duplicates'], 'duplicate')}, {doc['quarantined']} quarantined"
        + (f", {doc['already_stored']:,} already stored (skipped)" if doc["already_stored"] else "")
    )
    sets = (
        ("new tickets", summary.new_tickets, doc["tickets"]),
        ("follow-ups on", sorted(summary.followup_tickets), len(summary.followup_tickets)),
    )
    for label, ids, total in sets:
        if ids:
            refs = [f"{prefix}-{i}" for i in ids[:12]]
            shown = ", ".join(refs) + (f" and {total - len(refs):,} more" if total > len(refs) else "")
            out.print(f"  {label}: {shown}")
    for source, reason in summary.quarantined:
        out.print(f"  quarantined {source}: {reason.splitlines()[0] if reason else ''}", markup=False)
    if doc["quarantined"] > len(summary.quarantined):
        rest = doc["quarantined"] - len(summary.quarantined)
        out.print(f"  and {rest:,} more quarantined: see `intake quarantine list`")


def status_values(value: str) -> list[str]:
    """Canonical statuses for `--status`: a canonical name, a short form, or a policy's own label."""
    from typing import get_args

    from intake.policies.loader import load_all
    from intake.tickets.lifecycle import OPEN_WORK, Status

    canonical = list(get_args(Status))
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    if key in canonical:
        return [key]
    if key in STATUS_SHORT:
        return [STATUS_SHORT[key]]
    if key == "open":
        return [*OPEN_WORK, "new", "pending_authorisation", "waiting_on_customer"]
    found = {
        status
        for policy in load_all().values()
        for status in canonical
        if status in type(policy.statuses).model_fields
        and getattr(policy.statuses, status).strip().lower() == value.strip().lower()
    }
    if found:
        return sorted(found)
    raise BadInput(
        f"--status {value!r} is not a ticket status; expected one of: {', '.join(canonical)}, "
        f"{', '.join(STATUS_SHORT)}, open (or a policy's own label, e.g. Escalated)"
    )


STATUS_SHORT = {"held": "pending_authorisation", "waiting": "waiting_on_customer"}
STATUS_SHOWN = {v: k for k, v in STATUS_SHORT.items()}


def known_org(session: Session, name: str) -> int:
    """The id of the organisation called `name`, or `BadInput` listing the known ones (exit 2)."""
    from intake.store import repo

    found = repo.org_id_by_name(session, name)
    if found is None:
        names = repo.org_names(session)
        known = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") if names else "none yet"
        raise BadInput(f"--org {name!r}: no such organisation (known: {known})")
    return found


def _next_due(d: dict[str, Any]) -> str | None:
    if d["closed_at"] or d["status"] in ("resolved", "closed"):
        return None
    value: str | None = d["first_response_due"] if not d.get("first_responded_at") else d["resolution_due"]
    return value or d["resolution_due"]


@tickets_app.command("list")
def tickets_list(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: a lifecycle status, held, waiting, open, or a policy's label."),
    ] = None,
    org: Annotated[str | None, typer.Option(help="Only tickets of this organisation.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 1000,
    queue: Annotated[
        bool, typer.Option("--queue", help="Open tickets in the order their policy works them.")
    ] = False,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tickets, newest first, with their age and when the next target falls due."""
    from intake.store import repo
    from intake.tickets.lifecycle import is_open
    from intake.tickets.views import queue_key, ticket_json

    statuses = status_values(status) if status is not None else None
    rt = runtime(now)
    prefix = prefix_of(rt.settings)
    with rt.sessions() as session:
        org_id = known_org(session, org) if org is not None else None
        if queue:
            everything = repo.tickets(session, statuses=statuses, org_id=org_id, newest_first=False)
            found = sorted((t for t in everything if is_open(t.status)), key=queue_key)[: limit + 1]
        else:
            found = repo.tickets(session, statuses=statuses, org_id=org_id, limit=limit + 1)
        docs = [ticket_json(t, prefix) for t in found]
    more = len(docs) > limit
    docs = docs[:limit]
    cut_notice(len(docs), limit, more, "tickets")
    if as_json:
        emit(docs)
        return
    if not docs:
        out.print("no tickets" + (" match" if status or org else " yet"))
        return
    at = rt.clock.now()
    rows = []
    for d in docs:
        due = _next_due(d)
        rows.append(
            [
                d["ref"],
                STATUS_SHOWN.get(d["status"], d["status"]),
                d["severity"] or "-",
                d["org"] or "-",
                span(at - _dt(d["created_at"])),
                "paused" if d["status"] == "waiting_on_customer" else until(_dt(due), at) if due else "-",
                d["subject"] or "(no subject)",
            ]
        )
    print_table(
        table(
            ["ref", "status", "sev", "org", "age", "due", "subject"],
            rows,
            flexible=("org", "subject"),
            caps={"org": 16},
        )
    )
    out.print(plural(len(docs), "ticket") + (" (cut at --limit)" if more else ""))


@tickets_app.command("show")
def tickets_show(ref: str, now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Show one ticket's whole story in time order: mail in and out, status changes, timers, triage."""
    from intake.tickets.story import load_story

    rt = runtime(now)
    prefix = prefix_of(rt.settings)
    number = parse_ref(ref, prefix)
    with rt.sessions() as session:
        story = load_story(session, number, prefix, ref)
    if as_json:
        emit(story.as_json())
        return
    _print_story(story, rt.clock.now())


def _print_story(story: Any, at: datetime) -> None:
    d = story.ticket
    out.print(f"{d['ref']}  {d['subject'] or '(no subject)'}")
    review = " (needs review)" if d["needs_review"] else ""
    confidence = f"{d['confidence']:.2f}" if d["confidence"] is not None else "-"
    out.print(
        f"  status {d['status']}; severity {d['severity']} ({d['canonical_severity']}); "
        f"category {d['category'] or '-'}; confidence {confidence}{review}"
    )
    if d.get("possible_critical"):
        out.print("  POSSIBLE CRITICAL: confirm or lower it with `intake severity`")
    if d.get("language"):
        out.print(f"  language {d['language']}")
    org = f"{d['org']} ({d['policy']}, plan {d['plan'] or 'default'})" if d["org"] else "no organisation"
    out.print(f"  {org}; from {d['requester']} ({d['contact_status'].replace('_', ' ')}) by {d['channel']}")
    out.print(f"  opened {local_time(_dt(d['created_at']))}, {span(at - _dt(d['created_at']))} ago")
    if d["first_responded_at"]:
        out.print(f"  first response given {local_time(_dt(d['first_responded_at']))}")
    for key, label in (("first_response_due", "first response due"), ("resolution_due", "resolution due")):
        if key == "first_response_due" and d["first_responded_at"]:
            continue
        if d[key]:
            out.print(f"  {label} {local_time(_dt(d[key]))} ({until(_dt(d[key]), at)})")
    if d["closed_at"]:
        out.print(f"  closed {local_time(_dt(d['closed_at']))}: {d['close_reason'] or '-'}")
    out.print("")
    out.print(f"History ({plural(len(story.entries), 'entry', 'entries')})")
    for entry in story.entries:
        out.print(f"  {local_time(entry.at)}  {entry.summary}")
        if entry.kind == "message_in" and entry.data.get("text"):
            out.print(_indent(entry.data["text"]))
        elif entry.kind == "message_out" and not entry.data.get("automatic", True) and entry.data.get("body"):
            out.print(_indent(entry.data["body"]))
        elif entry.kind == "triage":
            if entry.data["reasons"]:
                out.print(f"      because: {', '.join(entry.data['reasons'])}")
            for hit in entry.data["rules"]:
                out.print(f"      rule {hit.get('step', '?')}: {hit.get('reason', '')}")
    if story.pending_timers:
        out.print("")
        out.print(f"Pending timers ({plural(len(story.pending_timers), 'timer')})")
        for timer in story.pending_timers:
            due = _dt(timer["due_at"])
            out.print(f"  {local_time(due)}  {timer['what']} ({until(due, at)})")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _indent(text: str, limit: int = 40) -> str:
    lines = text.strip().splitlines()
    shown = ["      " + line for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"      ... {len(lines) - limit} more lines (--json has them all)")
    return "\n".join(shown)


@quarantine_app.command("list")
def quarantine_list(as_json: JsonOpt = False) -> None:
    """List quarantined input with the reason it was set aside."""
    from intake.store import repo
    from intake.tickets.views import quarantine_json

    rt = runtime()
    with rt.sessions() as session:
        docs = [quarantine_json(q) for q in repo.quarantined(session)]
    if as_json:
        emit(docs)
        return
    if not docs:
        out.print("nothing is quarantined")
        return
    rows = [
        [str(d["id"]), local_time(_dt(d["created_at"])), d["source"] or "-", f"{d['size']:,}", d["reason"]]
        for d in docs
    ]
    print_table(table(["id", "kept", "source", "bytes", "reason"], rows, flexible=("reason", "source")))
    out.print(plural(len(docs), "quarantined input"))


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
def policies_show(
    name: str,
    rules: Annotated[
        bool,
        typer.Option("--rules", help="The conformance table: each rule, the document's sentence, the bot."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one policy in full."""
    from intake.policies.loader import load_all

    policies = load_all()
    if name not in policies:
        raise BadInput(f"unknown policy {name!r}; bundled: {', '.join(sorted(policies))}")
    policy = policies[name]
    if rules:
        from intake.policies.conformance import conformance_rows

        if as_json:
            emit(conformance_rows(policy))
            return
        for line in conformance_lines(policy):
            out.print(line)
        return
    if as_json:
        emit(policy.model_dump(mode="json", by_alias=True))
        return
    for line in policy_summary(policy):
        out.print(line)


def conformance_lines(policy: Any) -> list[str]:
    """The conformance table for a terminal: topic, the document's words, what the bot does."""
    from intake.policies.conformance import conformance_rows

    lines = [f"{policy.name}: {policy.title} ({policy.vendor}), {policy.source}"]
    for row in conformance_rows(policy):
        mark = " [choice]" if row["choice"] else ""
        where = f" ({row['section']})" if row["section"] else ""
        lines.append(f"{row['topic']}{where}{mark}")
        lines.append(f"  document: {row['says'] or '(silent)'}")
        lines.append(f"  bot:      {row['bot']}")
        if row["fields"]:
            lines.append(f"  fields:   {', '.join(row['fields'])}")
    return lines


def _target(value: Any) -> str:
    return value.describe() if value is not None else "best effort"


def policy_summary(policy: Any) -> list[str]:
    """The policy as a support engineer reads it: levels and targets per plan, hours, contacts, rules."""
    revision = f", revised {policy.revision}" if policy.revision else ", undated"
    lines = [f"{policy.name}: {policy.title} ({policy.vendor})", f"  source: {policy.source}{revision}"]
    lines.append("Levels (most severe first)")
    for level in policy.levels:
        default = ", the default" if level.key == policy.default_level_key else ""
        lines.append(f"  {level.key}  {level.label} ({level.canonical}{default}): {level.description}")
        lines.extend(f"      e.g. {example}" for example in level.examples)
    for plan_name, plan in policy.plans.items():
        default = ", the default" if plan_name == policy.default_plan else ""
        lines.append(f"Plan {plan_name}: {plan.label}{default}")
        if not plan.supported:
            lines.append(f"  no support: {plan.unsupported_text}; requests are answered and closed")
        calendar = policy.calendars[plan.calendar]
        lines.append(f"  hours: {plan.availability or calendar.label or plan.calendar} ({calendar.timezone})")
        if calendar.local_time:
            lines.append(
                f"    read in the organisation's time zone (org --tz); {calendar.timezone} without one"
            )
        for group in calendar.windows:
            lines.append(f"    {', '.join(group.days)}: {', '.join(group.hours)}")
        if calendar.note:
            lines.append(f"    note: {calendar.note}")
        for key, targets in plan.targets.items():
            milestones = "".join(
                f", {name.replace('_', ' ')} {t.describe()}" for name, t in targets.milestones.items()
            )
            notes = [
                n
                for n in (targets.note, *(t.note for t in (targets.first_response, targets.resolution) if t))
                if n
            ]
            lines.append(
                f"  {key}: first response {_target(targets.first_response)}, "
                f"resolution {_target(targets.resolution)}{milestones}"
                + (f" ({'; '.join(notes)})" if notes else "")
            )
        rules = plan.contacts
        roles = ", ".join(f"{r} {'any number' if n is None else n}" for r, n in rules.roles.items())
        extra = f"; at most {rules.max_total} in all" if rules.max_total else ""
        extra += f"; at least {rules.min_recommended} recommended" if rules.min_recommended else ""
        notice = f"; transfers take {rules.transfer_notice.describe()}" if rules.transfer_notice else ""
        lines.append(f"  contacts: {roles}{extra}{notice}")
        who = "only designated contacts" if rules.only_designated_may_submit else "anyone at the customer"
        lines.append(
            f"  who may open tickets: {who}; others: {rules.not_designated.action.replace('_', ' ')}"
        )
    lines.append("Rules")
    ack = policy.acknowledgement
    within = "within the first-response target" if ack.within == "first_response" else _target(ack.within)
    lines.append(
        f"  acknowledgement: {'automatic' if ack.automated else 'by an engineer'}, {within}"
        f"{'; counts as the first response' if ack.counts_as_first_response else ''}"
    )
    channels = policy.channels
    lines.append(
        f"  channels: {', '.join(channels.supported)}; others: {channels.unsupported.action}"
        + (f" to {channels.unsupported.redirect_to}" if channels.unsupported.redirect_to else "")
    )
    dropped = policy.dropped
    if dropped.enabled:
        reminders = ", ".join(t.describe() for t in dropped.remind_after) or "none"
        lines.append(
            f"  silent customer: reminders after {reminders}; closed after {_target(dropped.close_after)}"
        )
    else:
        lines.append("  silent customer: no automatic reminders or close")
    reopen = policy.reopen
    lines.append(
        f"  reply after close: {reopen.action.replace('_', ' ')}"
        + (f" within {reopen.within.describe()}" if reopen.within else "")
    )
    escalation = policy.escalation
    lines.append(
        f"  escalation: on {', '.join(t.replace('_', ' ') for t in escalation.escalate_on)}; "
        f"tells the {escalation.notify}"
    )
    statuses = policy.statuses.model_dump()
    lines.append("  statuses: " + ", ".join(f"{k} = {v!s}" for k, v in statuses.items() if k != v))
    return lines


@app.command()
def demo() -> None:
    """Run everything on the embedded defaults with sample traffic, and print what came out."""
    from intake.cli.demo import run_demo

    run_demo(out)


def _register_modules() -> None:
    """Commands of the other areas live in their own modules, each with `register(app)`."""
    import importlib

    modules = ("admin", "lifecycle", "mail", "triage", "web", "backup", "enhancements")
    for name in (f"intake.cli.{m}" for m in modules):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)
    from intake.cli.lifecycle import register_doctor

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
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            sys.stdout.write(context.get_help() + "\n")  # `intake` or `intake tickets` alone: the help
            raise SystemExit(0) from None
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(int(getattr(exc, "exit_code", 2)), message.splitlines()[0] if message else "bad usage")
    except BadInput as exc:
        _fail(2, str(exc).splitlines()[0])
    except (NotFound, IntakeError) as exc:
        _fail(1, str(exc).splitlines()[0])
    except DBAPIError as exc:
        _fail(1, database_problem(exc))
    except BrokenPipeError:
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
