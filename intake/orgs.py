"""Customer organisations and their designated contacts."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.errors import BadInput, NotFound
from intake.policies.loader import load_all
from intake.store.orm import Contact, Organisation, OrgDomain

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@([a-z0-9.-]+)$")


def add_org(
    session: Session, clock: Clock, name: str, policy: str, plan: str | None, domains: list[str]
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
    if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
        raise BadInput(f"organisation {name!r} already exists")
    taken = session.scalars(select(OrgDomain.domain).where(OrgDomain.domain.in_(cleaned))).all()
    if taken:
        raise BadInput(f"domain {taken[0]} already belongs to another organisation")
    org = Organisation(name=name, policy=policy, plan=plan, created_at=clock.now())
    org.domains = [OrgDomain(domain=d) for d in dict.fromkeys(cleaned)]
    session.add(org)
    session.flush()
    return org


def find_org(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFound(f"no organisation named {name!r}")
    return org


def _counts(people: list[Contact], now: datetime) -> tuple[dict[str, int], int]:
    by_role: dict[str, int] = {}
    for person in people:
        if person.active and (person.retires_at is None or person.retires_at > now):
            by_role[person.role] = by_role.get(person.role, 0) + 1
    return by_role, sum(by_role.values())


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
    if session.scalar(select(Contact.id).where(Contact.email == address)) is not None:
        raise BadInput(f"{address} is already a contact")
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
        effective = notice.due(now, policy.calendar(org.plan)) if notice is not None else now
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
    if rules.min_recommended is not None and total + 1 < rules.min_recommended:
        warnings.append(
            f"{policy.name} asks for at least {rules.min_recommended} designated contacts; "
            f"{org.name} now has {total + 1}"
        )
    return person, warnings
