"""Bulk onboarding: `intake org import FILE` and `intake contact import FILE`.

A file is CSV with a header row, or JSON Lines with the same keys (chosen by the
suffix .jsonl/.ndjson/.json, else by a first character `{`).

- organisations: `name, policy` and optionally `plan, domains, tz` (several
  domains separated by spaces or commas; in JSON Lines also a list);
- contacts: `organisation, email` and optionally `name, role, slack_user`.

All or nothing: every row is validated (against the file, the store and the
rows before it, plan limits included) inside one transaction; when any row is
bad, each bad row gets one line with its line number and reason, nothing is
written, and the import fails. So a file can be fixed and imported again.

Idempotent: a row that matches what is stored is `unchanged`. An organisation
that exists takes the row's policy and plan and gains its missing domains
(domains are never removed by an import: `intake org set --remove-domain`); a
contact that exists in the same organisation takes the row's name, role and
Slack user (a role change within the plan's limits). A contact active in
another organisation is refused (a transfer is `contact add --replaces`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from intake.clock import Clock
from intake.errors import BadInput, IntakeError
from intake.policies.schema import Policy
from intake.store.orm import Contact, Organisation

Kind = Literal["org", "contact"]
Action = Literal["added", "updated", "unchanged"]


class OrgRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    policy: str
    plan: str | None = None
    domains: list[str] = []
    tz: str | None = None

    @field_validator("plan", "tz", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("domains", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, str):
            return [d for d in re.split(r"[\s,]+", value) if d]
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as Europe/Berlin)"
            ) from exc
        return value


class ContactRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organisation: str
    email: str
    name: str = ""
    role: str | None = None
    slack_user: str | None = None

    @field_validator("role", "slack_user", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("name", mode="before")
    @classmethod
    def _none_is_blank(cls, value: object) -> object:
        return "" if value is None else value


@dataclass
class ImportResult:
    kind: Kind
    rows: int = 0
    actions: dict[str, int] = field(default_factory=lambda: {"added": 0, "updated": 0, "unchanged": 0})
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            **self.actions,
            "errors": self.errors,
            "warnings": self.warnings,
            "written": not self.errors,
        }


def _is_jsonl(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    if path.suffix.lower() == ".csv":
        return False
    return text.lstrip().startswith("{")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, object] | str]]:
    """(line number, the row's fields) per data row; a row that cannot be read is its reason instead."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise BadInput(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    if _is_jsonl(path, text):
        for number, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield number, f"not JSON: {exc.msg} at column {exc.colno}"
                continue
            yield number, value if isinstance(value, dict) else "not a JSON object"
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise BadInput(f"{path} is empty: expected a header row")
    try:
        for row in reader:
            number = reader.line_num
            if None in row:
                yield number, f"{len(row[None])} more field(s) than the header has"
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue
            yield number, {k.strip(): v for k, v in row.items() if k is not None}
    except csv.Error as exc:
        yield reader.line_num, f"unreadable CSV: {exc}"


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def import_orgs(session: Session, clock: Clock, path: Path) -> ImportResult:
    from intake.customers.orgs import add_org, set_org

    result = ImportResult("org")
    seen: dict[str, int] = {}
    for number, fields in read_rows(path):
        result.rows += 1
        try:
            if isinstance(fields, str):
                raise BadInput(fields)
            row = OrgRow.model_validate(fields)
            if not row.name:
                raise BadInput("name is empty")
            if row.name in seen:
                raise BadInput(f"organisation {row.name!r} is already on line {seen[row.name]}")
            seen[row.name] = number
            existing = session.scalar(
                select(Organisation)
                .options(selectinload(Organisation.domains))
                .where(Organisation.name == row.name)
            )
            if existing is None:
                org = add_org(session, clock, row.name, row.policy, row.plan, row.domains)
                action: Action = "added"
            else:
                stored = {d.domain for d in existing.domains}
                changes = set_org(
                    session,
                    row.name,
                    policy=row.policy,
                    plan=row.plan or "default",
                    add_domains=[d for d in row.domains if d.strip().lower().lstrip("@") not in stored],
                )
                org, action = existing, "updated" if changes else "unchanged"
            if row.tz is not None and org.timezone != row.tz:
                org.timezone = row.tz
                action = "updated" if action == "unchanged" else action
            result.actions[action] += 1
        except ValidationError as exc:
            result.errors.append(f"line {number}: {_reason(exc)}")
        except IntakeError as exc:
            result.errors.append(f"line {number}: {exc}")
    return result


def import_contacts(session: Session, clock: Clock, path: Path) -> ImportResult:
    """Contacts in bulk: the organisations and existing contacts are read once, each row is checked
    against them and against the rows before it (the same rules as `contact add`), and the new
    contacts are written together. A row re-adding a removed contact takes `add_contact`'s path."""
    from intake.customers.orgs import _EMAIL, _counts, add_contact
    from intake.policies.loader import load_all

    result = ImportResult("contact")
    policies = load_all()
    now = clock.now()
    orgs = {
        o.name: o for o in session.scalars(select(Organisation).options(selectinload(Organisation.contacts)))
    }
    people = {c.email: c for o in orgs.values() for c in o.contacts}
    counts: dict[int, tuple[dict[str, int], int]] = {}
    seen: dict[str, int] = {}
    fresh: list[Contact] = []
    for number, fields in read_rows(path):
        result.rows += 1
        try:
            if isinstance(fields, str):
                raise BadInput(fields)
            row = ContactRow.model_validate(fields)
            address = row.email.strip().lower()
            if not _EMAIL.match(address):
                raise BadInput(f"not an email address: {row.email!r}")
            if address in seen:
                raise BadInput(f"{address} is already on line {seen[address]}")
            seen[address] = number
            org = orgs.get(row.organisation)
            if org is None:
                raise BadInput(f"no organisation named {row.organisation!r}")
            policy = policies[org.policy]
            existing = people.get(address)
            if existing is not None and existing.active and existing.org_id == org.id:
                result.actions[_update_contact(existing, row, clock, policy)] += 1
                continue
            if existing is not None and existing.active:
                raise BadInput(f"{address} is already a contact of {existing.org.name}")
            if existing is not None:  # removed earlier: the slow path deletes the old row first
                add_contact(session, clock, org.name, address, row.name, row.role, row.slack_user)
                session.expire(org, ["contacts"])
                counts.pop(org.id, None)
                result.actions["added"] += 1
                continue
            rules = policy.plan(org.plan).contacts
            by_role, total = counts.get(org.id) or _counts(list(org.contacts), now)
            role = row.role
            if role is None:
                role = next(
                    (r for r, limit in rules.roles.items() if limit is None or by_role.get(r, 0) < limit),
                    next(iter(rules.roles)),
                )
            if role not in rules.roles:
                raise BadInput(f"{policy.name} has no contact role {role!r}; roles: {', '.join(rules.roles)}")
            limit = rules.role_limit(role)
            if limit is not None and by_role.get(role, 0) >= limit:
                raise BadInput(
                    f"the {policy.name} {org.plan or policy.default_plan} plan allows {limit} {role} "
                    f"contact(s); {org.name} has {by_role.get(role, 0)}; use --replaces to transfer"
                )
            cap = rules.total_limit()
            if cap is not None and total >= cap:
                raise BadInput(f"the {policy.name} plan allows {cap} contacts in all; {org.name} has {total}")
            counts[org.id] = ({**by_role, role: by_role.get(role, 0) + 1}, total + 1)
            fresh.append(
                Contact(org_id=org.id, email=address, name=row.name, role=role, slack_user=row.slack_user,
                        created_at=now)
            )  # fmt: skip
            result.actions["added"] += 1
        except ValidationError as exc:
            result.errors.append(f"line {number}: {_reason(exc)}")
        except IntakeError as exc:
            result.errors.append(f"line {number}: {exc}")
    if not result.errors and fresh:
        session.add_all(fresh)
        session.flush()
    return result


def _update_contact(person: Contact, row: ContactRow, clock: Clock, policy: Policy) -> Action:
    """Bring an existing contact in line with the row; a new role must fit the plan's limits."""
    from intake.customers.orgs import _counts

    changed = False
    if row.name and row.name != person.name:
        person.name, changed = row.name, True
    if row.slack_user is not None and row.slack_user != person.slack_user:
        person.slack_user, changed = row.slack_user, True
    if row.role is not None and row.role != person.role:
        rules = policy.plan(person.org.plan).contacts
        if row.role not in rules.roles:
            raise BadInput(f"{policy.name} has no contact role {row.role!r}; roles: {', '.join(rules.roles)}")
        by_role, _ = _counts([c for c in person.org.contacts if c is not person], clock.now())
        limit = rules.role_limit(row.role)
        if limit is not None and by_role.get(row.role, 0) >= limit:
            raise BadInput(
                f"the {policy.name} {person.org.plan or policy.default_plan} plan allows {limit} "
                f"{row.role} contact(s); {person.org.name} has {by_role[row.role]}"
            )
        person.role, changed = row.role, True
    return "updated" if changed else "unchanged"


def run_import(session: Session, clock: Clock, kind: Kind, path: Path) -> ImportResult:
    """Validate and stage every row; commit only when none is bad (else roll back everything)."""
    result = import_orgs(session, clock, path) if kind == "org" else import_contacts(session, clock, path)
    if result.errors:
        session.rollback()
    else:
        session.commit()
    return result
