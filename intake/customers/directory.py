"""Organisations, their domains and designated contacts, loaded once per batch run.

The directory is small (one row per customer organisation and contact), so it is
read whole into memory; the contact step then costs no query per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from intake.store import repo


@dataclass(frozen=True)
class ContactView:
    email: str
    name: str
    role: str
    active: bool
    slack_user: str | None
    starts_at: datetime | None = None
    retires_at: datetime | None = None

    def designated_at(self, now: datetime) -> bool:
        """Active, past any transfer notice, and not yet replaced."""
        if not self.active:
            return False
        if self.starts_at is not None and now < self.starts_at:
            return False
        return self.retires_at is None or now < self.retires_at


@dataclass
class OrgView:
    id: int
    name: str
    policy: str
    plan: str | None
    timezone: str | None = None
    domains: set[str] = field(default_factory=set)
    contacts: dict[str, ContactView] = field(default_factory=dict)


@dataclass
class Directory:
    orgs: dict[int, OrgView] = field(default_factory=dict)
    by_domain: dict[str, OrgView] = field(default_factory=dict)
    by_contact: dict[str, OrgView] = field(default_factory=dict)
    by_slack_channel: dict[str, OrgView] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Directory:
        found = cls()
        rows = repo.directory_rows(session)
        for org in rows.orgs:
            view = OrgView(org.id, org.name, org.policy, org.plan, org.timezone)
            found.orgs[org.id] = view
            if org.slack_channel:
                found.by_slack_channel[org.slack_channel] = view
        for dom in rows.domains:
            found.orgs[dom.org_id].domains.add(dom.domain)
            found.by_domain[dom.domain] = found.orgs[dom.org_id]
        for person in rows.contacts:
            view = found.orgs[person.org_id]
            view.contacts[person.email] = ContactView(
                person.email,
                person.name,
                person.role,
                person.active,
                person.slack_user,
                person.transfer_effective_at,
                person.retires_at,
            )
            found.by_contact[person.email] = view
        return found

    def org_for_address(self, address: str) -> OrgView | None:
        """The organisation of a sender: a contact's own organisation, else by domain or a parent domain."""
        if address in self.by_contact:
            return self.by_contact[address]
        domain = address.rpartition("@")[2]
        while domain:
            if domain in self.by_domain:
                return self.by_domain[domain]
            _, dot, rest = domain.partition(".")
            domain = rest if dot and "." in rest else ""
        return None
