"""Customer organisations and their designated contacts."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.clock import Clock
from intake.errors import BadInput, NotFound
from intake.policies.loader import load_all
from intake.store.orm import Contact, Organisation, OrgDomain

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@([a-z0-9.-]+)$")
ROLES = ("primary", "backup", "designated")


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


def add_contact(
    session: Session,
    clock: Clock,
    org_name: str,
    email: str,
    name: str = "",
    role: str = "designated",
    slack_user: str | None = None,
) -> tuple[Contact, list[str]]:
    """Add a designated contact; returns it with any warnings the policy asks for."""
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise BadInput(f"not an email address: {email!r}")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    org = find_org(session, org_name)
    if session.scalar(select(Contact.id).where(Contact.email == address)) is not None:
        raise BadInput(f"{address} is already a contact")
    person = Contact(
        org_id=org.id, email=address, name=name, role=role, slack_user=slack_user, created_at=clock.now()
    )
    session.add(person)
    session.flush()
    return person, []
