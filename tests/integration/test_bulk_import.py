"""Bulk onboarding (issue 15, point 2): `org import` and `contact import`, on SQLite and PostgreSQL.

All or nothing: one bad row (any reason, anywhere in the file) and nothing is
written, with one line per bad row; a good file imported twice changes nothing
the second time; plan limits hold across the rows of one file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.customers.imports import run_import
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.orm import Contact, Organisation, OrgDomain

ORGS_CSV = """name,policy,plan,domains,tz
Acme,resource-optimizer,,acme.example acme-mail.example,Europe/Berlin
Globex,rezilion,standard,globex.example,
Initech,functionize,standard,"initech.example, initech.test",America/New_York
"""


def rows_of(kind: str, path: Path, runtime: Runtime) -> dict[str, object]:
    with runtime.sessions() as session:
        return run_import(session, runtime.clock, "org" if kind == "org" else "contact", path).as_json()


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Organisation)) or 0,
            session.scalar(select(func.count()).select_from(OrgDomain)) or 0,
            session.scalar(select(func.count()).select_from(Contact)) or 0,
        )


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("shape", ["csv", "jsonl"])
def test_orgs_import_and_a_second_import_changes_nothing(
    runtime: Runtime, tmp_path: Path, shape: str
) -> None:
    if shape == "csv":
        path = tmp_path / "orgs.csv"
        path.write_text(ORGS_CSV)
    else:
        path = jsonl(
            tmp_path / "orgs.jsonl",
            [
                {"name": "Acme", "policy": "resource-optimizer",
                 "domains": ["acme.example", "acme-mail.example"], "tz": "Europe/Berlin"},
                {"name": "Globex", "policy": "rezilion", "plan": "standard", "domains": "globex.example"},
                {"name": "Initech", "policy": "functionize", "plan": "standard",
                 "domains": "initech.example initech.test", "tz": "America/New_York"},
            ],
        )  # fmt: skip
    first = rows_of("org", path, runtime)
    assert (first["rows"], first["added"], first["errors"]) == (3, 3, [])
    assert counts(runtime) == (3, 5, 0)
    again = rows_of("org", path, runtime)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert counts(runtime) == (3, 5, 0)
    with runtime.sessions() as session:
        globex = session.scalars(select(Organisation).where(Organisation.name == "Globex")).one()
        assert (globex.policy, globex.plan) == ("rezilion", "standard")


BAD_ORG_ROWS = [
    ("Nope,no-such-policy,,nope.example,", "line 5: unknown policy 'no-such-policy'"),
    ("Bad Plan,rezilion,gold,bad.example,", "line 5: policy rezilion has no plan 'gold'"),
    ("Bad Domain,rezilion,,not_a_domain,", "line 5: not a domain name: 'not_a_domain'"),
    ("Taken,rezilion,,globex.example,", "line 5: domain globex.example already belongs to"),
    ("Bad Zone,rezilion,,zone.example,Mars/Olympus", "line 5: tz: unknown time zone 'Mars/Olympus'"),
    ("Acme,rezilion,,x.example,", "line 5: organisation 'Acme' is already on line 2"),
    (",rezilion,,empty.example,", "line 5: name is empty"),
    ("Short,rezilion,,short.example,,extra", "line 5: 1 more field(s) than the header has"),
]


@pytest.mark.parametrize(
    ("row", "reason"), BAD_ORG_ROWS, ids=[r[1].split(": ", 1)[1][:24] for r in BAD_ORG_ROWS]
)
def test_one_bad_org_row_and_nothing_is_written(
    runtime: Runtime, tmp_path: Path, row: str, reason: str
) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(ORGS_CSV + row + "\n")
    result = rows_of("org", path, runtime)
    assert len(result["errors"]) == 1 and str(result["errors"][0]).startswith(reason), result["errors"]  # type: ignore[arg-type,index]
    assert "\n" not in str(result["errors"][0])  # type: ignore[index]
    assert result["written"] is False
    assert counts(runtime) == (0, 0, 0)


def test_every_bad_row_is_named_and_jsonl_errors_too(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "orgs.jsonl"
    path.write_text(
        '{"name": "Acme", "policy": "resource-optimizer", "domains": "acme.example"}\n'
        "not json\n"
        '["a", "list"]\n'
        '{"name": "Globex", "policy": "rezilion", "colour": "blue"}\n'
        "\n"
        '{"name": "Hooli", "policy": "rezilion", "plan": 5}\n'
    )
    result = rows_of("org", path, runtime)
    errors = [str(e) for e in result["errors"]]  # type: ignore[attr-defined]
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 6"]
    assert "not JSON" in errors[0] and "not a JSON object" in errors[1]
    assert "colour: unknown key" in errors[2] and "plan" in errors[3]
    assert counts(runtime) == (0, 0, 0)


def test_an_existing_org_takes_the_rows_policy_plan_and_new_domains(runtime: Runtime, tmp_path: Path) -> None:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Globex", "resource-optimizer", None, ["old-globex.example"])
        session.commit()
    path = tmp_path / "orgs.csv"
    path.write_text(ORGS_CSV)
    result = rows_of("org", path, runtime)
    assert (result["added"], result["updated"]) == (2, 1)
    with runtime.sessions() as session:
        globex = session.scalars(select(Organisation).where(Organisation.name == "Globex")).one()
        assert (globex.policy, globex.plan) == ("rezilion", "standard")
        assert sorted(d.domain for d in globex.domains) == ["globex.example", "old-globex.example"]


@pytest.fixture
def orgs(runtime: Runtime) -> Runtime:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_org(session, runtime.clock, "Globex", "rezilion", "standard", ["globex.example"])
        add_org(session, runtime.clock, "Initech", "functionize", "standard", ["initech.example"])
        session.commit()
    return runtime


CONTACTS = """organisation,email,name,role,slack_user
Acme,dana@acme.example,Dana Smith,,U0DANA
Acme,Lee@Acme.example,Lee,,
Globex,hank@globex.example,Hank,designated,
Initech,peter@initech.example,Peter,primary,
Initech,milton@initech.example,Milton,backup,
"""


def test_contacts_import_idempotent_and_updated(orgs: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS)
    assert rows_of("contact", path, orgs)["added"] == 5
    again = rows_of("contact", path, orgs)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 5)
    path.write_text(CONTACTS.replace("Dana Smith,,U0DANA", "Dana Smith-Jones,,U0DANA2"))
    changed = rows_of("contact", path, orgs)
    assert (changed["updated"], changed["unchanged"]) == (1, 4)
    with orgs.sessions() as session:
        dana = session.scalars(select(Contact).where(Contact.email == "dana@acme.example")).one()
        assert (dana.name, dana.slack_user) == ("Dana Smith-Jones", "U0DANA2")
        assert session.scalar(
            select(func.count()).select_from(Contact).where(Contact.email == "lee@acme.example")
        )


def test_plan_limits_hold_across_the_rows_of_one_file(orgs: Runtime, tmp_path: Path) -> None:
    """Rezilion standard allows 4 contacts, functionize standard 1 primary: the 5th, the 2nd are refused."""
    lines = ["organisation,email"] + [f"Globex,p{i}@globex.example" for i in range(5)]
    lines += ["Initech,a@initech.example", "Initech,b@initech.example"]
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n")
    path_roles = tmp_path / "roles.csv"
    path_roles.write_text(
        "organisation,email,role\nInitech,a@initech.example,primary\nInitech,b@initech.example,primary\n"
    )
    result = rows_of("contact", path, orgs)
    assert [str(e).split(":")[0] for e in result["errors"]] == ["line 6"]  # type: ignore[attr-defined]
    assert "allows 4" in str(result["errors"][0])  # type: ignore[index]
    roles = rows_of("contact", path_roles, orgs)
    assert [str(e).split(":")[0] for e in roles["errors"]] == ["line 3"]  # type: ignore[attr-defined]
    assert "allows 1 primary" in str(roles["errors"][0])  # type: ignore[index]
    assert counts(orgs)[2] == 0


def test_existing_contacts_count_against_the_limit(orgs: Runtime, tmp_path: Path) -> None:
    with orgs.sessions() as session:
        for i in range(3):
            add_contact(session, orgs.clock, "Globex", f"old{i}@globex.example")
        session.commit()
    path = tmp_path / "c.jsonl"
    jsonl(path, [{"organisation": "Globex", "email": f"new{i}@globex.example"} for i in range(2)])
    result = rows_of("contact", path, orgs)
    assert [str(e).split(":")[0] for e in result["errors"]] == ["line 2"]  # type: ignore[attr-defined]
    assert counts(orgs)[2] == 3


BAD_CONTACTS = [
    ("Nowhere,x@nowhere.example,,,", "no organisation named 'Nowhere'"),
    ("Acme,not-an-address,,,", "not an email address"),
    ("Acme,ROLE@acme.example,,boss,", "has no contact role 'boss'"),
    ("Globex,dana@acme.example,,,", "dana@acme.example is already on line 2"),
    ("Acme,,,,", "not an email address"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_CONTACTS, ids=[r[1][:24] for r in BAD_CONTACTS])
def test_one_bad_contact_row_and_nothing_is_written(
    orgs: Runtime, tmp_path: Path, row: str, reason: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(CONTACTS + row + "\n")
    result = rows_of("contact", path, orgs)
    assert len(result["errors"]) == 1 and reason in str(result["errors"][0]), result["errors"]  # type: ignore[arg-type,index]
    assert str(result["errors"][0]).startswith("line 7: ")  # type: ignore[index]
    assert counts(orgs)[2] == 0


def test_a_contact_of_another_org_is_refused(orgs: Runtime, tmp_path: Path) -> None:
    with orgs.sessions() as session:
        add_contact(session, orgs.clock, "Acme", "dana@acme.example")
        session.commit()
    path = tmp_path / "c.csv"
    path.write_text("organisation,email\nGlobex,dana@acme.example\n")
    result = rows_of("contact", path, orgs)
    assert "already a contact of Acme" in str(result["errors"][0])  # type: ignore[index]


def test_tz_is_validated_and_stored(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(ORGS_CSV)
    result = rows_of("org", path, runtime)
    assert not result["warnings"]
    with runtime.sessions() as session:
        acme = session.scalars(select(Organisation).where(Organisation.name == "Acme")).one()
        assert acme.timezone == "Europe/Berlin"
