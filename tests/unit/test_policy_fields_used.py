"""Every rule a policy file can store is read by code (issue 12, must be true 5).

A field of a model in intake/policies/schema.py counts as read when code outside the
schema module accesses it as an attribute (``.field``), or when a helper method of the
schema that reads it is called from outside (listed in READ_BY_HELPER, and checked).
A field that nothing reads is a rule the bot claims and does not keep: remove it from
the schema, or make code read it.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import intake.policies.schema as schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = Path(schema.__file__).resolve()

# field -> the schema helper that reads it on behalf of the rest of the code
# (Channels.accepts is reached through Policy.accepts_channel, status_label reads by name)
CALLED_AS = {"accepts": "accepts_channel"}
READS = {"status_label": "getattr(self.statuses"}
READ_BY_HELPER = {
    ("SeverityLevel", "requires_environment"): "admissible_level",
    ("Policy", "canonical_levels"): "level_for_canonical",
    ("Policy", "levels"): "level",
    ("Policy", "categories"): "category",
    ("Policy", "default_category"): "category_for_canonical",
    ("Policy", "default_level_key"): "default_level",
    ("Policy", "plans"): "plan",
    ("Policy", "default_plan"): "plan",
    ("Policy", "calendars"): "calendar",
    ("Policy", "statuses"): "status_label",
    ("Plan", "calendar"): "calendar",
    ("Plan", "targets"): "targets",
    ("Channels", "supported"): "accepts",
    ("Channels", "fallback"): "accepts",
    **{("Statuses", name): "status_label" for name in schema.LIFECYCLE},
    ("Contacts", "roles"): "role_limit",
    ("Contacts", "max_total"): "total_limit",
    ("CalendarSpec", "windows"): "build",
    ("CalendarSpec", "holidays"): "build",
    ("CalendarSpec", "local_time"): "zone_for",
    ("WindowGroup", "days"): "build",
    ("WindowGroup", "hours"): "build",
    ("Holidays", "country"): "build",
    ("Holidays", "subdivision"): "build",
    ("Holidays", "dates"): "build",
    ("Holidays", "exclude"): "build",
    ("Target", "amount"): "due",
    ("Target", "unit"): "due",
    ("Target", "clock"): "due",
}


def _models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(schema).values()
        if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == schema.__name__
    ]


def _code_outside_schema() -> str:
    parts = []
    for folder in ("intake", "channels", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".j2") or path.resolve() == SCHEMA_FILE:
                continue
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


CODE = _code_outside_schema()
FIELDS = [
    pytest.param(model.__name__, name, id=f"{model.__name__}.{name}")
    for model in _models()
    for name in model.model_fields
]


def _accessed(name: str, code: str) -> bool:
    return re.search(rf"\.{re.escape(name)}\b", code) is not None


@pytest.mark.parametrize(("model", "field"), FIELDS)
def test_every_schema_field_is_read_outside_the_schema(model: str, field: str) -> None:
    helper = READ_BY_HELPER.get((model, field))
    if helper is not None:
        owner = next(m for m in _models() if helper in vars(m))
        member = vars(owner)[helper]
        source = inspect.getsource(member.fget if isinstance(member, property) else member)
        reads = READS.get(helper)
        assert (
            (reads is not None and reads in source)
            or _accessed(field, source)
            or _accessed(field.removesuffix("_key"), source)
        ), f"{model}.{field}: {owner.__name__}.{helper} does not read it"
        called = CALLED_AS.get(helper, helper)
        assert _accessed(called, CODE), f"{model}.{field}: nothing outside the schema calls {called}"
        return
    assert _accessed(field, CODE), (
        f"{model}.{field} is stored in policy files but nothing outside intake/policies/schema.py reads it: "
        "make the bot apply it, or remove it from the schema"
    )


def test_the_check_can_fail() -> None:
    assert not _accessed("surely_no_such_policy_field", CODE)
    assert _accessed("counts_as_first_response", CODE)
