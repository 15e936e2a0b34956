"""The bundled policies load, say what their documents say, and bad files fail clearly."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.errors import NotFound, PolicyError
from intake.policies import (
    CANONICAL_SEVERITIES,
    LIFECYCLE,
    Policy,
    Target,
    bundled_policy_names,
    load_all,
    load_policy,
    parse_policy,
)

NAMES = ["functionize", "resilio-connect", "resource-optimizer", "revalize", "rezilion"]
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "intake" / "policies"


def bundled_text(name: str) -> str:
    return (BUNDLED_DIR / f"{name}.toml").read_text(encoding="utf-8")


# --- loading ---------------------------------------------------------------------


def test_bundled_names() -> None:
    assert bundled_policy_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_bundled_policy_loads_and_is_complete(name: str) -> None:
    policy = load_policy(name)
    assert policy.name == name
    assert policy.source.endswith(".txt")
    # Every level has targets in every supported plan; every canonical severity has a level.
    for plan_name, plan in policy.plans.items():
        for level in policy.levels if plan.supported else ():
            policy.targets(plan_name, level.key)
        assert policy.calendar(plan_name).name
    for canonical in CANONICAL_SEVERITIES:
        assert policy.level_for_canonical(canonical).canonical == canonical
    assert policy.default_level.key == policy.default_level_key
    assert policy.default_level.canonical == "medium"
    for status in LIFECYCLE:
        assert policy.status_label(status)
    assert policy.plan(None) is policy.plan(policy.default_plan)


@pytest.mark.parametrize("name", NAMES)
def test_json_dump_round_trips(name: str) -> None:
    # `intake policies show --json` prints model_dump(mode="json"); it reads back as the same policy.
    policy = load_policy(name)
    doc = policy.model_dump(mode="json")
    assert doc["default_level"] == policy.default_level.key
    assert Policy.model_validate(doc).model_dump(mode="json") == doc


def test_load_all_is_cached() -> None:
    first = load_all()
    assert list(first) == NAMES
    assert load_all() is first
    assert load_policy("rezilion") is first["rezilion"]


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(bundled_text("functionize"), encoding="utf-8")
    assert load_policy(str(path)).name == "functionize"


def test_unknown_policy_name() -> None:
    with pytest.raises(NotFound, match="bundled: functionize"):
        load_policy("zendesk")


# --- bad files ---------------------------------------------------------------------


def test_bad_clock_names_file_and_field(tmp_path: Path) -> None:
    text = bundled_text("resilio-connect")
    block = text.index("[plans.standard.targets.critical]")
    bad = text[:block] + text[block:].replace('clock = "business_hours"', 'clock = "bizhours"', 1)
    path = tmp_path / "resilio-connect.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    assert str(caught.value) == (
        "resilio-connect.toml: plans.standard.targets.critical.first_response: unknown clock 'bizhours'"
    )


def _broken(name: str, old: str, new: str) -> str:
    text = bundled_text(name)
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "rezilion",
            'exclude = ["Columbus Day", "Veterans Day"]',
            'exclude = []\ncolour = "blue"',
            "rezilion.toml: calendars.business.holidays.colour: unknown field",
        ),
        (
            "rezilion",
            'timezone = "America/Chicago"',
            'timezone = "America/Dallas"',
            "rezilion.toml: calendars.business.timezone: unknown time zone 'America/Dallas'",
        ),
        (
            "functionize",
            'hours = ["09:00-17:00"]',
            'hours = ["09:00-25:00"]',
            "functionize.toml: calendars.business.windows.0.hours: bad window '09:00-25:00'",
        ),
        (
            "revalize",
            'calendar = "business"',
            'calendar = "office"',
            "revalize.toml: plans.standard.calendar: unknown calendar 'office'",
        ),
        (
            "resource-optimizer",
            "[plans.standard.targets.s4]",
            "[plans.standard.targets.s5]",
            "resource-optimizer.toml: plans.standard.targets.s5: unknown severity level",
        ),
        (
            "resource-optimizer",
            'default_level = "s3"',
            'default_level = "s9"',
            "resource-optimizer.toml: default_level: unknown level 's9'",
        ),
        (
            "functionize",
            "roles = { primary = 1, backup = 2 }",
            "roles = { primary = 1, owner = 2 }",
            "functionize.toml: plans.standard.contacts.roles.owner",
        ),
        (
            "revalize",
            'first_response = { amount = 2, unit = "hours"',
            'first_response = { amount = 2, unit = "weeks"',
            "revalize.toml: plans.standard.targets.s1.first_response: unknown unit 'weeks'",
        ),
        (
            "rezilion",
            'resolution = { amount = 2, unit = "days", clock = "business_days" }',
            'resolution = { amount = 16, unit = "hours", clock = "business_days" }',
            "rezilion.toml: plans.standard.targets.critical.resolution: business_days counts whole days",
        ),
        (
            # 00:00-23:00 runs into the same day's 22:00-24:00 block.
            "resource-optimizer",
            'hours = ["00:00-16:00", "22:00-24:00"]',
            'hours = ["00:00-23:00", "22:00-24:00"]',
            "resource-optimizer.toml: calendars.coverage: open windows overlap",
        ),
        (
            "revalize",
            'country = "US"',
            'country = "ZZ"',
            "revalize.toml: calendars.business: Country ZZ not available",
        ),
        (
            "resilio-connect",
            'redirect_to = "portal"\n',
            "",
            "resilio-connect.toml: channels.unsupported.redirect_to: a redirect needs a channel",
        ),
        (
            "resource-optimizer",
            'name = "resource-optimizer"',
            'name = "resource-optimizer"\nname2 = 1',
            "resource-optimizer.toml: name2: unknown field",
        ),
        (
            "functionize",
            'key = "critical"\nlabel = "Critical"\ncanonical = "critical"',
            'key = "critical"\nlabel = "Critical"\ncanonical = "low"',
            "functionize.toml: levels: list the levels most severe first",
        ),
    ],
)
def test_bad_policy_files(tmp_path: Path, name: str, old: str, new: str, expected: str) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(_broken(name, old, new), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    assert str(caught.value).startswith(expected), str(caught.value)


def test_missing_field_and_invalid_toml() -> None:
    with pytest.raises(PolicyError, match=r"^x\.toml: not valid TOML"):
        parse_policy("name = ", "x.toml")
    text = bundled_text("functionize").replace('vendor = "Functionize, Inc."\n', "")
    with pytest.raises(PolicyError, match=r"^functionize\.toml: vendor: required field missing$"):
        parse_policy(text, "functionize.toml")


def test_several_errors_one_line_each() -> None:
    text = (
        bundled_text("functionize")
        .replace('vendor = "Functionize, Inc."\n', "")
        .replace('title = "Technical Support Policies"\n', "")
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "f.toml")
    assert str(caught.value).splitlines() == [
        "f.toml: vendor: required field missing",
        "f.toml: title: required field missing",
    ]


def test_best_effort_cannot_carry_an_amount() -> None:
    text = bundled_text("functionize").replace(
        'resolution = "best_effort"   # "TBD based on priority"',
        'resolution = { amount = 3, unit = "days", clock = "best_effort" }',
    )
    with pytest.raises(PolicyError, match=r"plans\.standard\.targets\.low\.resolution: a best-effort target"):
        parse_policy(text, "functionize.toml")


# --- what each document says ----------------------------------------------------------


def test_resource_optimizer() -> None:
    p = load_policy("resource-optimizer")
    assert p.level_keys() == ["s1", "s2", "s3", "s4"]
    assert [p.canonical(k) for k in p.level_keys()] == ["critical", "high", "medium", "low"]
    assert p.targets(None, "s1").first_response == Target(amount=8, unit="hours", clock="business_hours")
    assert p.targets(None, "s2").first_response == Target(amount=1, unit="days", clock="business_days")
    assert p.targets(None, "s3").first_response == Target(amount=2, unit="days", clock="business_days")
    assert p.targets(None, "s4").first_response is None  # best effort
    assert all(p.targets(None, k).resolution is None for k in p.level_keys())  # no resolution times
    assert not p.level(
        "s1"
    ).customer_settable  # "Resource Optimizer may modify the Incident's Severity Level"
    assert {c.canonical for c in p.categories} >= {"question", "defect", "account", "enhancement"}
    assert p.customer_sets_category
    assert p.channels.supported == ["email", "phone"] and not p.accepts_channel("slack")
    assert p.dropped.close_after == Target(amount=3, unit="days", clock="calendar_hours")
    assert len(p.dropped.remind_after) == 1
    assert p.dropped.remind_after[0].amount < p.dropped.close_after.amount
    assert p.reopen.action == "review"
    assert p.enhancements.action == "close_when_recorded" and p.enhancements.level == "s4"
    assert not p.enhancements.feedback
    assert p.closing.out_of_scope
    assert p.acknowledgement.within == "first_response"
    assert p.acknowledgement_target(None, "s1") == p.targets(None, "s1").first_response
    cal = p.calendar()
    assert cal.holiday_country == "AU"
    assert str(cal.timezone) == "Etc/GMT"


def test_resilio_connect() -> None:
    p = load_policy("resilio-connect")
    assert [lv.label for lv in p.levels] == ["Critical", "Urgent", "Important", "Configuration", "Low"]
    assert list(p.plans) == ["standard", "enhanced", "premium"]
    assert not p.acknowledgement.counts_as_first_response  # "First Non-Automated response"
    assert p.level_for_canonical("low").key == "low"
    assert p.canonical("configuration") == "low"
    expected = {
        "standard": (24, 8, "business_hours"),
        "enhanced": (12, 6, "business_hours"),
        "premium": (8, 2, "24x7"),
    }
    for plan, (regular, level5, clock) in expected.items():
        assert p.targets(plan, "important").first_response == Target(
            amount=regular, unit="hours", clock=clock
        )
        assert p.targets(plan, "critical").first_response == Target(amount=level5, unit="hours", clock=clock)
        assert p.plan(plan).contacts.role_limit("designated") == 5
    assert p.targets("premium", "critical").milestones["debug_analysis"] == Target(
        amount=8, unit="hours", clock="24x7"
    )
    # Email is not a supported channel: redirect the sender to the portal.
    assert not p.accepts_channel("email")
    assert p.channels.unsupported.action == "redirect" and p.channels.unsupported.redirect_to == "portal"
    assert p.channels.unsupported.template == "portal_redirect"
    # Tickets are counted per subscription term; defects are not counted.
    assert p.ticket_counting is not None
    assert p.ticket_counting.per == "subscription_term"
    assert p.ticket_counting.exclude_categories == ["defect"]
    assert p.ticket_counting.critical_levels == ["critical"]
    cal = p.calendar("standard")
    assert str(cal.timezone) == "UTC"
    assert cal.intervals_on(datetime(2024, 6, 10).date()) == [
        (datetime(2024, 6, 10, 6, tzinfo=UTC), datetime(2024, 6, 10, 21, tzinfo=UTC))
    ]


def test_revalize() -> None:
    p = load_policy("revalize")
    assert p.level("s1").requires_environment == "production"
    assert p.admissible_level("s1", "production").key == "s1"
    assert p.admissible_level("s1", "test").key == "s2"
    assert p.admissible_level("s1", "unknown").key == "s1"
    assert p.admissible_level("s3", "test").key == "s3"
    assert p.ordering == ["severity", "business_impact", "environment", "received_at"]
    assert p.case_owner
    assert p.enhancements.action == "transfer_then_close"
    assert p.enhancements.transfer_to == "Revalize Product Management"
    assert p.closing.survey is not None and p.closing.survey.template == "csat_survey"
    contacts = p.plan().contacts
    assert contacts.min_recommended == 2 and contacts.warn_below_min
    assert contacts.transfer_notice == Target(amount=5, unit="days", clock="business_days")
    assert contacts.role_limit("designated") is None and contacts.total_limit() is None
    assert p.category("implementation").transfer_to == "Revalize Professional Services"
    assert all(p.targets(None, k).resolution is None for k in p.level_keys())  # "cannot be guaranteed"


def test_functionize() -> None:
    p = load_policy("functionize")
    critical = p.targets(None, "critical")
    assert critical.first_response == Target(amount=2, unit="hours", clock="24x7")
    assert critical.resolution is not None and critical.resolution.clock == "24x7"
    assert p.targets(None, "high").first_response == Target(amount=2, unit="hours", clock="business_hours")
    assert p.targets(None, "medium").first_response == Target(amount=4, unit="hours", clock="business_hours")
    assert p.targets(None, "low").first_response == Target(amount=24, unit="hours", clock="business_hours")
    assert p.targets(None, "low").resolution is None  # "TBD based on priority"
    contacts = p.plan().contacts
    assert contacts.roles == {"primary": 1, "backup": 2}
    assert contacts.total_limit() == 3 and contacts.must_notify_transfer
    with pytest.raises(NotFound, match="role 'designated' is not used by this policy"):
        contacts.role_limit("designated")
    assert p.channels.supported == ["in_app"] and p.channels.fallback == ["email"]
    assert p.accepts_channel("email") and not p.accepts_channel("slack")


def test_rezilion() -> None:
    p = load_policy("rezilion")
    assert list(p.plans) == ["standard", "premium", "trial"]
    assert not p.plans["trial"].supported
    # "Trials are provided 'As-is' without support": no target at any level.
    assert all(p.targets("trial", level.key).first_response is None for level in p.levels)
    assert p.plan("standard").contacts.role_limit("designated") == 4
    assert p.plan("standard").contacts.total_limit() == 4
    assert [
        s
        for s in (
            p.statuses.new,
            p.statuses.in_progress,
            p.statuses.waiting_on_customer,
            p.statuses.escalated,
            p.statuses.closed,
        )
    ] == ["New", "In Process", "On Hold", "Escalated", "Closed"]
    assert p.status_label("waiting_on_customer") == "On Hold"
    assert p.targets("standard", "critical").first_response == Target(
        amount=2, unit="hours", clock="business_hours"
    )
    resolutions = [p.targets("standard", k).resolution for k in p.level_keys()]
    assert [(t.amount, t.clock) for t in resolutions if t] == [
        (2, "business_days"),
        (5, "business_days"),
        (10, "business_days"),
        (15, "business_days"),
    ]
    assert p.targets("premium", "critical").first_response == Target(amount=2, unit="hours", clock="24x7")
    cal = p.calendar("standard")
    assert cal.is_holiday(datetime(2024, 12, 25).date())
    assert "resolution_breach" in p.escalation.escalate_on
    assert "customer_request" in p.escalation.escalate_on
    assert p.escalation.customer is not None and p.escalation.customer.subject_must_contain_case_ref
    assert p.dropped.enabled and len(p.dropped.remind_after) >= 2  # "multiple attempts to contact"
    assert p.closing.close_on_confident_answer


def test_helpers_reject_unknown_keys() -> None:
    p = load_policy("rezilion")
    with pytest.raises(NotFound, match="no severity level 's1'"):
        p.level("s1")
    with pytest.raises(NotFound, match="no plan 'gold'"):
        p.plan("gold")
    with pytest.raises(NotFound, match="unknown canonical severity 'severe'"):
        p.level_for_canonical("severe")
    with pytest.raises(NotFound, match="unknown lifecycle status 'pending'"):
        p.status_label("pending")


def test_calendar_timezone_override() -> None:
    p = load_policy("rezilion")
    local = p.calendar("standard", timezone="Europe/Berlin")
    start = datetime(2024, 6, 3, 7, tzinfo=UTC)  # Monday 09:00 in Berlin
    assert p.due("first_response", start, "critical", timezone="Europe/Berlin") == datetime(
        2024, 6, 3, 9, tzinfo=UTC
    )
    assert str(local.timezone) == "Europe/Berlin"
    assert p.calendar("standard", timezone="Europe/Berlin") is local


def test_every_choice_is_marked_in_the_data_files() -> None:
    # Values the documents leave open carry a "[choice]" comment; each file has some,
    # and each cites its seed document.
    for name in NAMES:
        text = bundled_text(name)
        assert "[choice]" in text
        assert re.search(r"seed 00\d_[0-9a-f]{16}\.txt", text)
