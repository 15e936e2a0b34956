"""Customer organisations and their designated contacts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.errors import BadInput, NotFound
from intake.policies.loader import load_all
from intake.store import repo
from intake.store.orm import Contact, Organisation, OrgDomain

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@([a-z0-9.-]+)$")


def check_timezone(value: str) -> str:
    """An IANA time zone name ("Europe/Berlin"), or BadInput saying so."""
    zone = value.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return zone


def add_org(
    session: Session,
    clock: Clock,
    name: str,
    policy: str,
    plan: str | None,
    domains: list[str],
    timezone: str | None = None,
) -> Organisation:
    name = name.strip()
    if not name:
        raise BadInput("organisation name is empty")
    policies = load_all()
    if policy not in policies:
        raise BadInput(f"unknown policy {policy!r}; bundled: {', '.join(sorted(policies))}")
    if plan is not None and plan not in policies[policy].plans:
        raise BadInput(f"policy {policy} has no plan {plan!r}; plans: {', '.join(policies[policy].plans)}")
    cleaned = []
    for domain in domains:
        value = domain.strip().lower().lstrip("@")
        if not _DOMAIN.match(value):
            raise BadInput(f"not a domain name: {domain!r}")
        cleaned.append(value)
    if repo.org_id_by_name(session, name) is not None:
        raise BadInput(f"organisation {name!r} already exists")
    taken = repo.domains_taken(session, cleaned)
    if taken:
        raise BadInput(f"domain {taken[0]} already belongs to another organisation")
    zone = check_timezone(timezone) if timezone is not None else None
    org = Organisation(name=name, policy=policy, plan=plan, timezone=zone, created_at=clock.now())
    org.domains = [OrgDomain(domain=d) for d in dict.fromkeys(cleaned)]
    session.add(org)
    session.flush()
    return org


def find_org(session: Session, name: str) -> Organisation:
    org = repo.org_by_name(session, name)
    if org is None:
        raise NotFound(f"no organisation named {name!r}")
    return org


def _counts(people: list[Contact], now: datetime) -> tuple[dict[str, int], int]:
    by_role: dict[str, int] = {}
    for person in people:
        if person.active and (person.retires_at is None or person.retires_at > now):
            by_role[person.role] = by_role.get(person.role, 0) + 1
    return by_role, sum(by_role.values())


def _policy_reminders(name: str, rules: Any, address: str, transfer: bool, now: datetime) -> list[str]:
    """What the policy asks of a new contact that the bot cannot check (training, transfer notice)."""
    said = []
    if rules.training_required:
        said.append(
            f"{name} designates only trained contacts: make sure {address} has had the product training"
        )
    if rules.must_notify_transfer and transfer:
        said.append(
            f"{name} requires written notice of a contact transfer: this change, dated "
            f"{now:%Y-%m-%d %H:%M} UTC, is the record of it"
        )
    return said


def add_contact(
    session: Session,
    clock: Clock,
    org_name: str,
    email: str,
    name: str = "",
    role: str | None = None,
    slack_user: str | None = None,
    replaces: str | None = None,
) -> tuple[Contact, list[str]]:
    """Add a designated contact within the plan's limits; returns it with the policy's warnings.

    With `replaces`, the change is a transfer: where the policy asks for notice
    (Revalize: 5 business days) the new contact becomes designated, and the old
    one stops being so, when the notice has run; otherwise at once.
    """
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise BadInput(f"not an email address: {email!r}")
    org = find_org(session, org_name)
    policy = load_all()[org.policy]
    rules = policy.plan(org.plan).contacts
    now = clock.now()
    if role is None:
        by_role, _ = _counts(list(org.contacts), now)
        role = next(
            (r for r, limit in rules.roles.items() if limit is None or by_role.get(r, 0) < limit),
            next(iter(rules.roles)),
        )
    if role not in rules.roles:
        raise BadInput(f"{policy.name} has no contact role {role!r}; roles: {', '.join(rules.roles)}")
    existing = repo.contact_by_email(session, address)
    if existing is not None and existing.active:
        raise BadInput(f"{address} is already a contact of {existing.org.name}")
    if existing is not None:
        # removed earlier: the address may be designated again (here or elsewhere)
        session.delete(existing)
        session.flush()
        session.expire(org, ["contacts"])
    leaving: Contact | None = None
    if replaces is not None:
        leaving = next((c for c in org.contacts if c.email == replaces.strip().lower()), None)
        if leaving is None:
            raise NotFound(f"{replaces} is not a contact of {org.name}")
    staying = [c for c in org.contacts if c is not leaving]
    by_role, total = _counts(staying, now)
    limit = rules.role_limit(role)
    if limit is not None and by_role.get(role, 0) >= limit:
        names = ", ".join(c.email for c in staying if c.role == role)
        raise BadInput(
            f"the {policy.name} {org.plan or policy.default_plan} plan allows {limit} {role} contact(s); "
            f"{org.name} has {names}; use --replaces to transfer"
        )
    cap = rules.total_limit()
    if cap is not None and total >= cap:
        raise BadInput(f"the {policy.name} plan allows {cap} contacts in all; {org.name} has {total}")
    warnings: list[str] = []
    effective: datetime | None = None
    if leaving is not None:
        notice = rules.transfer_notice
        effective = (
            notice.due(now, policy.calendar_for(org.plan, org.timezone)) if notice is not None else now
        )
        leaving.retires_at = effective
        if effective is not None and effective > now:
            warnings.append(
                f"transfer notice: {address} replaces {leaving.email} on {effective:%Y-%m-%d %H:%M} UTC "
                f"({notice.describe() if notice else 'immediately'})"
            )
    person = Contact(
        org_id=org.id,
        email=address,
        name=name,
        role=role,
        slack_user=slack_user,
        created_at=now,
        transfer_effective_at=effective if effective is not None and effective > now else None,
    )
    session.add(person)
    session.flush()
    warnings.extend(_policy_reminders(policy.name, rules, address, leaving is not None, now))
    if rules.min_recommended is not None and total + 1 < rules.min_recommended:
        warnings.append(
            f"{policy.name} asks for at least {rules.min_recommended} designated contacts; "
            f"{org.name} now has {total + 1}"
        )
    return person, warnings


def _when(value: datetime) -> str:
    """In the viewer's zone (TZ), to the minute, with the UTC offset."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M %z")


def contact_state(person: Contact, now: datetime) -> str:
    """Whether a contact is designated now, and until or from when (a transfer's dates)."""
    if not person.active:
        return f"removed {_when(person.retires_at)}" if person.retires_at else "removed"
    if person.transfer_effective_at is not None and person.transfer_effective_at > now:
        return f"from {_when(person.transfer_effective_at)}"
    if person.retires_at is not None:
        if person.retires_at > now:
            return f"until {_when(person.retires_at)}"
        return f"ended {_when(person.retires_at)}"
    return "yes"


def contact_json(person: Contact, now: datetime) -> dict[str, Any]:
    return {
        "org": person.org.name,
        "email": person.email,
        "name": person.name,
        "role": person.role,
        "slack_user": person.slack_user,
        "active": person.active,
        "designated_now": person.active
        and (person.transfer_effective_at is None or person.transfer_effective_at <= now)
        and (person.retires_at is None or person.retires_at > now),
        "state": contact_state(person, now),
        "starts_at": person.transfer_effective_at.isoformat() if person.transfer_effective_at else None,
        "ends_at": person.retires_at.isoformat() if person.retires_at else None,
        "created_at": person.created_at.isoformat(),
    }


def org_json(org: Organisation, now: datetime, *, open_tickets: int | None = None) -> dict[str, Any]:
    policy = load_all().get(org.policy)
    rules = policy.plan(org.plan).contacts if policy is not None else None
    doc: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "policy": org.policy,
        "plan": org.plan,
        "effective_plan": org.plan or (policy.default_plan if policy else None),
        "domains": sorted(d.domain for d in org.domains),
        "slack_channel": org.slack_channel,
        "timezone": org.timezone,
        # The zone the organisation's due times are counted in under its policy.
        "calendar_timezone": (
            str(policy.calendar_for(org.plan, org.timezone).timezone) if policy is not None else None
        ),
        "contacts": [contact_json(c, now) for c in sorted(org.contacts, key=lambda c: c.id)],
        "contact_limits": (
            {
                "roles": dict(rules.roles),
                "max_total": rules.max_total,
                "min_recommended": rules.min_recommended,
                "transfer_notice": rules.transfer_notice.describe() if rules.transfer_notice else None,
            }
            if rules is not None
            else None
        ),
        "created_at": org.created_at.isoformat(),
    }
    if open_tickets is not None:
        doc["open_tickets"] = open_tickets
    return doc


def ticket_allowance(session: Session, org: Organisation, now: datetime) -> dict[str, Any] | None:
    """Tickets counted against the plan's allowance in the current term (Resilio), or None.

    "Included Regular Ticket (per subscription term)"; "Issues reported that turn out to be
    product defects (bugs) don't count against the total included ticket number." The
    term is not stored: [choice] a year from the organisation's creation, renewed yearly.
    """
    policy = load_all().get(org.policy)
    if policy is None or policy.ticket_counting is None:
        return None
    counting = policy.ticket_counting
    start = org.created_at
    while True:
        nxt = start.replace(year=start.year + 1)
        if nxt > now:
            break
        start = nxt
    excluded = {policy.category(key).canonical for key in counting.exclude_categories}
    rows = repo.counted_tickets(session, org.id, start)
    counted = [r for r in rows if r.category not in excluded]
    critical = sum(1 for r in counted if r.severity in counting.critical_levels)
    allowance = policy.plan(org.plan).allowance
    return {
        "per": counting.per,
        "term_start": start.isoformat(),
        "regular": len(counted) - critical,
        "critical": critical,
        "not_counted": len(rows) - len(counted),
        "regular_included": allowance.regular if allowance else None,
        "critical_included": allowance.critical if allowance else None,
        "additional_purchasable": allowance.additional_purchasable if allowance else False,
    }


def list_orgs(session: Session) -> list[Organisation]:
    return repo.orgs(session)


def _set_timezone(org: Organisation, value: str | None) -> list[str]:
    """`--tz`: an IANA zone, or '' for none (the policy's own zone)."""
    if value is None:
        return []
    zone = check_timezone(value) if value.strip() else None
    if zone == org.timezone:
        return []
    change = f"time zone {org.timezone or '-'} -> {zone or '-'}"
    org.timezone = zone
    return [change]


def set_org(
    session: Session,
    name: str,
    *,
    policy: str | None = None,
    plan: str | None = None,
    add_domains: list[str] | None = None,
    remove_domains: list[str] | None = None,
    slack_channel: str | None = None,
    timezone: str | None = None,
) -> list[str]:
    """Change an organisation's policy, plan, domains, Slack channel or time zone; returns what changed."""
    org = find_org(session, name)
    policies = load_all()
    changes: list[str] = []
    new_policy = policy if policy is not None else org.policy
    if new_policy not in policies:
        raise BadInput(f"unknown policy {new_policy!r}; bundled: {', '.join(sorted(policies))}")
    new_plan = org.plan if plan is None else (None if plan in ("", "default") else plan)
    if new_plan is not None and new_plan not in policies[new_policy].plans:
        raise BadInput(
            f"policy {new_policy} has no plan {new_plan!r}; plans: {', '.join(policies[new_policy].plans)}"
        )
    if policy is not None and policy != org.policy:
        changes.append(f"policy {org.policy} -> {policy}")
        org.policy = policy
    if new_plan != org.plan:
        changes.append(f"plan {org.plan or 'default'} -> {new_plan or 'default'}")
        org.plan = new_plan
    current = {d.domain: d for d in org.domains}
    for domain in add_domains or []:
        value = domain.strip().lower().lstrip("@")
        if not _DOMAIN.match(value):
            raise BadInput(f"not a domain name: {domain!r}")
        if value in current:
            continue
        owner = repo.domain_owner(session, value)
        if owner is not None:
            raise BadInput(f"domain {value} already belongs to {owner.org.name}")
        org.domains.append(OrgDomain(domain=value))
        current[value] = org.domains[-1]
        changes.append(f"domain {value} added")
    for domain in remove_domains or []:
        value = domain.strip().lower().lstrip("@")
        if value not in current:
            raise BadInput(
                f"{org.name} has no domain {value!r}; it has: {', '.join(sorted(current)) or 'none'}"
            )
        org.domains.remove(current.pop(value))
        changes.append(f"domain {value} removed")
    if slack_channel is not None:
        value_or_none = slack_channel.strip() or None
        if value_or_none != org.slack_channel:
            changes.append(f"slack channel {org.slack_channel or '-'} -> {value_or_none or '-'}")
            org.slack_channel = value_or_none
    changes.extend(_set_timezone(org, timezone))
    session.flush()
    return changes


def list_contacts(session: Session, org_name: str | None = None) -> list[Contact]:
    return repo.contacts(session, find_org(session, org_name).id if org_name is not None else None)


def remove_contact(
    session: Session, clock: Clock, org_name: str, email: str, *, force: bool = False
) -> tuple[Contact, list[str]]:
    """Stop a contact being designated (the row stays, for the history); returns it and warnings.

    Refused when it would leave the organisation with fewer designated contacts
    than its policy requires (at least one where only designated contacts may
    open tickets, and the plan's minimum where the policy warns below it),
    unless `force`.
    """
    org = find_org(session, org_name)
    address = email.strip().lower()
    person = next((c for c in org.contacts if c.email == address and c.active), None)
    if person is None:
        names = ", ".join(c.email for c in org.contacts if c.active) or "none"
        raise NotFound(f"{address} is not a contact of {org.name} (its contacts: {names})")
    policy = load_all()[org.policy]
    rules = policy.plan(org.plan).contacts
    now = clock.now()
    _, remaining = _counts([c for c in org.contacts if c is not person and c.active], now)
    required = 1 if rules.only_designated_may_submit else 0
    if rules.warn_below_min and rules.min_recommended:
        required = max(required, rules.min_recommended)
    warnings: list[str] = []
    if remaining < required:
        reason = (
            f"{org.name} would have {remaining} designated contact(s); the {policy.name} policy "
            f"requires at least {required}"
            + (" (only designated contacts may open tickets)" if rules.only_designated_may_submit else "")
        )
        if not force:
            raise BadInput(
                f"refused: {reason}; add another contact first, use `contact add --replaces`, or --force"
            )
        warnings.append(reason)
    person.active = False
    person.retires_at = now
    session.flush()
    return person, warnings
