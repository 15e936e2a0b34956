"""Admin commands: `intake org add|list|show|set` and `intake contact add|list|remove`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from intake.cli.support import JsonOpt, NowOpt, emit, err, out, plural, print_table, runtime, table

org_app = typer.Typer(help="Customer organisations: add, list, show, change.", no_args_is_help=True)
contact_app = typer.Typer(help="Designated contacts of an organisation.", no_args_is_help=True)

DomainOpt = Annotated[list[str] | None, typer.Option("--domain", help="Mail domain (repeatable).")]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz",
        help="IANA time zone (Europe/Berlin); used where the policy's hours are local time.",
    ),
]


@org_app.command("add")
def org_add(
    name: str,
    policy: Annotated[str, typer.Option(help="Bundled policy name, see `intake policies list`.")],
    plan: Annotated[str | None, typer.Option(help="The organisation's support plan.")] = None,
    domain: DomainOpt = None,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a customer organisation under a policy."""
    from intake.customers.orgs import add_org

    rt = runtime()
    with rt.sessions() as session:
        org = add_org(session, rt.clock, name, policy, plan, domain or [], tz)
        session.commit()
        doc: dict[str, Any] = {
            "id": org.id,
            "name": org.name,
            "policy": org.policy,
            "plan": org.plan,
            "domains": [d.domain for d in org.domains],
            "timezone": org.timezone,
        }
    if as_json:
        emit(doc)
        return
    domains = ", ".join(doc["domains"]) or "no domains"
    zone = f"; time zone {doc['timezone']}" if doc["timezone"] else ""
    plan = doc["plan"] or "default"
    out.print(f"added organisation {doc['name']} ({doc['policy']}, plan {plan}; {domains}{zone})")


@org_app.command("list")
def org_list(now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """List organisations with their policy, plan, domains and designated contacts."""
    from intake.customers.orgs import list_orgs, org_json

    rt = runtime(now)
    at = rt.clock.now()
    with rt.sessions() as session:
        docs = [org_json(org, at) for org in list_orgs(session)]
    if as_json:
        emit(docs)
        return
    if not docs:
        out.print("no organisations yet: add one with `intake org add NAME --policy POLICY --domain DOMAIN`")
        return
    rows = [
        [
            d["name"],
            d["policy"],
            d["effective_plan"] or "-",
            ", ".join(d["domains"]) or "-",
            str(sum(1 for c in d["contacts"] if c["designated_now"])),
        ]
        for d in docs
    ]
    print_table(
        table(
            ["name", "policy", "plan", "domains", "contacts"],
            rows,
            flexible=("name", "domains"),
            caps={"name": 24},
        )
    )
    out.print(plural(len(docs), "organisation"))


@org_app.command("show")
def org_show(name: str, now: NowOpt = None, as_json: JsonOpt = False) -> None:
    """Show one organisation: policy, plan, domains, contacts (transfers with their dates), open tickets."""
    from intake.customers.orgs import find_org, org_json, ticket_allowance
    from intake.store import repo
    from intake.tickets.lifecycle import is_open

    rt = runtime(now)
    at = rt.clock.now()
    with rt.sessions() as session:
        org = find_org(session, name)
        counts = repo.status_counts(session, org.id)
        doc = org_json(org, at, open_tickets=sum(n for s, n in counts.items() if is_open(s)))
        doc["tickets_counted"] = ticket_allowance(session, org, at)
    if as_json:
        emit(doc)
        return
    out.print(f"{doc['name']}: policy {doc['policy']}, plan {doc['effective_plan']}")
    out.print(f"  domains: {', '.join(doc['domains']) or 'none'}")
    out.print(f"  slack channel: {doc['slack_channel'] or 'none'}")
    out.print(f"  time zone: {doc['timezone'] or 'none'} (due times counted in {doc['calendar_timezone']})")
    out.print(f"  open tickets: {doc['open_tickets']}")
    counted = doc["tickets_counted"]
    if counted is not None:
        included = counted["regular_included"]
        out.print(
            f"  tickets this term (from {counted['term_start'][:10]}): {counted['regular']} regular"
            f" of {included if included is not None else 'the order form'}, {counted['critical']} critical;"
            f" {counted['not_counted']} not counted (defects)"
        )
    limits = doc["contact_limits"]
    if limits:
        roles = ", ".join(f"{r} {'any' if n is None else n}" for r, n in limits["roles"].items())
        extra = f"; at most {limits['max_total']} in all" if limits["max_total"] else ""
        extra += f"; at least {limits['min_recommended']} recommended" if limits["min_recommended"] else ""
        notice = f"; transfers take {limits['transfer_notice']}" if limits["transfer_notice"] else ""
        out.print(f"  contacts allowed: {roles}{extra}{notice}")
    out.print(f"  contacts ({plural(len(doc['contacts']), 'contact')}):")
    for c in doc["contacts"]:
        label = f"{c['name']} <{c['email']}>" if c["name"] else c["email"]
        out.print(f"    {label}, {c['role']}; designated: {c['state']}")


@org_app.command("set")
def org_set(
    name: str,
    policy: Annotated[str | None, typer.Option(help="Move the organisation to this policy.")] = None,
    plan: Annotated[str | None, typer.Option(help="The plan; 'default' for the policy's default.")] = None,
    add_domain: Annotated[list[str] | None, typer.Option("--add-domain", help="Add a mail domain.")] = None,
    remove_domain: Annotated[
        list[str] | None, typer.Option("--remove-domain", help="Remove a mail domain.")
    ] = None,
    slack_channel: Annotated[
        str | None, typer.Option(help="Slack channel id of the organisation; '' for none.")
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="The organisation's IANA time zone; '' for the policy's.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an organisation's policy, plan, domains, Slack channel or time zone."""
    from intake.customers.orgs import find_org, org_json, set_org

    rt = runtime()
    with rt.sessions() as session:
        changes = set_org(
            session,
            name,
            policy=policy,
            plan=plan,
            add_domains=add_domain,
            remove_domains=remove_domain,
            slack_channel=slack_channel,
            timezone=tz,
        )
        session.commit()
        doc = {**org_json(find_org(session, name), rt.clock.now()), "changes": changes}
    if as_json:
        emit(doc)
    elif changes:
        out.print(f"{name}: {'; '.join(changes)}")
    else:
        out.print(f"{name}: nothing changed")


@contact_app.command("add")
def contact_add(
    org: str,
    email: str,
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    role: Annotated[
        str | None,
        typer.Option(help="primary, backup or designated (default: the first role with room)."),
    ] = None,
    slack_user: Annotated[str | None, typer.Option(help="Slack user id, e.g. U012ABCDEF.")] = None,
    replaces: Annotated[
        str | None,
        typer.Option(help="Transfer: this contact takes over from another (with the policy's notice)."),
    ] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a designated contact to an organisation (a transfer with --replaces)."""
    from intake.customers.orgs import add_contact, contact_json, find_org

    rt = runtime(now)
    at = rt.clock.now()
    with rt.sessions() as session:
        person, warnings = add_contact(session, rt.clock, org, email, name, role, slack_user, replaces)
        session.commit()
        doc = contact_json(person, at)
        doc["warnings"] = warnings
        doc["replaced"] = None
        if replaces is not None:
            leaving = next(c for c in find_org(session, org).contacts if c.email == replaces.strip().lower())
            doc["replaced"] = contact_json(leaving, at)
    for warning in warnings:
        err.print(f"warning: {warning}")
    if as_json:
        emit(doc)
        return
    out.print(f"added {doc['email']} as {doc['role']} contact of {doc['org']}; designated: {doc['state']}")
    if doc["replaced"] is not None:
        gone = doc["replaced"]
        out.print(f"{gone['email']} is replaced; designated: {gone['state']}")


@contact_app.command("list")
def contact_list(
    org: Annotated[str | None, typer.Argument(help="Only this organisation's contacts.")] = None,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List designated contacts, with transfers and their start or end dates."""
    from intake.customers.orgs import contact_json, list_contacts

    rt = runtime(now)
    at = rt.clock.now()
    with rt.sessions() as session:
        docs = [contact_json(c, at) for c in list_contacts(session, org)]
    if as_json:
        emit(docs)
        return
    if not docs:
        out.print("no contacts" + (f" for {org}" if org else " yet"))
        return
    rows = [[d["org"], d["email"], d["name"] or "-", d["role"], d["state"]] for d in docs]
    print_table(
        table(
            ["org", "email", "name", "role", "designated"],
            rows,
            flexible=("designated", "org", "name"),
            caps={"org": 16, "name": 16},
        )
    )
    out.print(plural(len(docs), "contact"))


@contact_app.command("remove")
def contact_remove(
    org: str,
    email: str,
    force: Annotated[
        bool, typer.Option("--force", help="Remove even below the policy's minimum of contacts.")
    ] = False,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a contact being designated; refused where the policy requires more contacts."""
    from intake.customers.orgs import contact_json, remove_contact

    rt = runtime(now)
    with rt.sessions() as session:
        person, warnings = remove_contact(session, rt.clock, org, email, force=force)
        session.commit()
        doc = {**contact_json(person, rt.clock.now()), "warnings": warnings}
    for warning in warnings:
        err.print(f"warning: {warning}")
    if as_json:
        emit(doc)
    else:
        out.print(f"{doc['email']} is no longer a designated contact of {doc['org']}")


def _import(kind: str, file: Path, as_json: bool) -> None:
    from intake.customers.imports import run_import
    from intake.errors import BadInput

    rt = runtime()
    with rt.sessions() as session:
        result = run_import(session, rt.clock, "org" if kind == "org" else "contact", file)
    doc = result.as_json()
    what = "organisation" if kind == "org" else "contact"
    if as_json:
        emit(doc)
    else:
        for line in result.errors:
            err.print(f"{file}: {line}", markup=False)
        for line in result.warnings:
            err.print(f"warning: {file}: {line}", markup=False)
    if result.errors:
        raise BadInput(
            f"{plural(len(result.errors), 'bad row')} of {plural(result.rows, 'row')} in {file}: "
            "nothing was imported; fix them and import the file again"
        )
    if not as_json:
        out.print(
            f"{plural(result.rows, what)}: {doc['added']} added, {doc['updated']} updated, "
            f"{doc['unchanged']} unchanged"
        )


FileArg = Annotated[
    Path, typer.Argument(help="CSV with a header row, or JSON Lines (.jsonl) with the same keys.")
]


@org_app.command("import")
def org_import(file: FileArg, as_json: JsonOpt = False) -> None:
    """Add or update organisations from a file (keys name, policy, plan, domains, tz); all rows or none."""
    _import("org", file, as_json)


@contact_app.command("import")
def contact_import(file: FileArg, as_json: JsonOpt = False) -> None:
    """Add or update designated contacts from a file (keys organisation, email, name, role, slack_user);
    all rows or none, within each plan's limits."""
    _import("contact", file, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(contact_app, name="contact")
