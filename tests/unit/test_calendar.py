"""Business-time arithmetic: properties over random calendars, and worked examples per seed policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.policies import load_all
from intake.sla.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    Window,
    add_business_time,
    business_time_between,
    due_with_pauses,
    is_open,
    next_open,
    point_between,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


POLICIES = load_all()

# --- worked examples ------------------------------------------------------------
# Every seed calendar appears; the reasoning is spelled out so a reader can check it
# against the document. `due` is in UTC; None means best effort.


class Example(NamedTuple):
    policy: str
    level: str
    kind: Literal["first_response", "resolution"]
    received: str
    due: str | None
    why: str
    plan: str | None = None


# fmt: off
EXAMPLES = [
    # Resource Optimizer windows, as the document writes them (Annex A): "00:00 - 16:00 GMT,
    # 22:00 - 24:00 GMT, Monday - Friday".
    Example(
        "resource-optimizer", "s1", "first_response", "2024-06-07T15:30+00:00", "2024-06-10T05:30+00:00",
        # 0.5 h Friday to 16:00, 2 h Friday 22:00-24:00 (2.5 h so far); Monday 00:00 + 5.5 h.
        "S1 8 business hours from Friday 15:30 GMT",
    ),
    Example(
        "resource-optimizer", "s1", "first_response", "2024-06-07T22:30+00:00", "2024-06-10T06:30+00:00",
        # 1.5 h Friday night; Saturday and Sunday closed; Monday 00:00 + 6.5 h.
        "S1 received Friday 22:30 GMT",
    ),
    Example(
        "resource-optimizer", "s1", "first_response", "2024-06-09T22:30+00:00", "2024-06-10T08:00+00:00",
        # Sunday evening is not coverage: Monday 00:00 + 8 h.
        "S1 received Sunday 22:30 GMT",
    ),
    Example(
        "resource-optimizer", "s1", "first_response", "2024-06-07T23:00+00:00", "2024-06-10T07:00+00:00",
        # 1 h Friday night + 7 h Monday.
        "S1 received Friday 23:00 GMT",
    ),
    Example(
        "resource-optimizer", "s2", "first_response", "2024-06-07T15:30+00:00", "2024-06-10T15:30+00:00",
        # 1 business day: the same position (17.5 h in) in the next business day's shift.
        "S2 1 business day from Friday 15:30 GMT",
    ),
    Example(
        "resource-optimizer", "s3", "first_response", "2024-04-24T10:00+00:00", "2024-04-29T10:00+00:00",
        # Thursday 25 April is ANZAC Day (AU holiday: Thursday's coverage is closed):
        # Friday is business day 1, Monday day 2.
        "S3 2 business days across ANZAC Day",
    ),
    Example("resource-optimizer", "s4", "first_response", "2024-06-07T15:30+00:00", None, "S4 best effort"),
    Example("resource-optimizer", "s1", "resolution", "2024-06-07T15:30+00:00", None, "no resolution times"),
    # Rezilion: Mon-Fri 09:00-17:00 America/Chicago, US holidays.
    Example(
        "rezilion", "critical", "first_response", "2024-07-03T16:30-05:00", "2024-07-05T15:30+00:00",
        # 0.5 h Wednesday; Thursday 4 July closed; Friday 09:00 + 1.5 h = 10:30 CDT.
        "Critical 2 business hours across Independence Day",
    ),
    Example(
        "rezilion", "critical", "resolution", "2024-07-03T16:30-05:00", "2024-07-08T21:30+00:00",
        # Wednesday, 7.5 h into the day; business day 1 is Friday, day 2 Monday: 16:30 CDT.
        "Critical resolution 2 business days across Independence Day",
    ),
    Example(
        "rezilion", "high", "first_response", "2024-11-01T16:00-05:00", "2024-11-04T22:00+00:00",
        # 1 business day from Friday 16:00 CDT is Monday 16:00, by then CST (DST ended 3 Nov).
        "High 1 business day across the end of DST",
    ),
    Example(
        "rezilion", "critical", "first_response", "2024-07-06T03:00-05:00", "2024-07-06T10:00+00:00",
        "Premium critical 2 hours, 24x7, on a Saturday night",
        plan="premium",
    ),
    # Resilio Connect: Mon-Fri 06:00-21:00 UTC.
    Example(
        "resilio-connect", "important", "first_response", "2024-06-07T18:00+00:00", "2024-06-11T12:00+00:00",
        # 24 business hours: 3 h Friday, weekend closed, 15 h Monday, 6 h Tuesday.
        "Standard level 1-4, 24 business hours across a weekend",
    ),
    Example(
        "resilio-connect", "critical", "first_response", "2024-06-07T18:00+00:00", "2024-06-10T11:00+00:00",
        # Level 5, 8 business hours: 3 h Friday, 5 h Monday.
        "Standard Level 5, 8 business hours across a weekend",
    ),
    Example(
        "resilio-connect", "urgent", "first_response", "2024-06-07T20:00+00:00", "2024-06-10T17:00+00:00",
        "Enhanced 12 business hours: 1 h Friday, 11 h Monday",
        plan="enhanced",
    ),
    Example(
        "resilio-connect", "critical", "first_response", "2024-06-08T10:00+00:00", "2024-06-08T12:00+00:00",
        "24/7 tier Level 5, 2 hours on a Saturday",
        plan="premium",
    ),
    # Functionize: critical 24x7; the rest Mon-Fri 09:00-17:00 America/Los_Angeles.
    Example(
        "functionize", "critical", "first_response", "2024-06-02T03:00-07:00", "2024-06-02T12:00+00:00",
        "Critical at 3am Sunday: 2 hours, 24x7 (05:00 PDT)",
    ),
    Example(
        "functionize", "critical", "resolution", "2024-06-02T03:00-07:00", "2024-06-03T10:00+00:00",
        "Critical 'Same day' update, read as 24 hours on the 24x7 clock",
    ),
    Example(
        "functionize", "critical", "first_response", "2024-03-10T03:00-07:00", "2024-03-10T12:00+00:00",
        # The clocks went from 02:00 PST to 03:00 PDT just before: 2 real hours later is 05:00 PDT.
        "Critical at 3am Sunday on the day DST starts",
    ),
    Example(
        "functionize", "high", "first_response", "2024-06-02T03:00-07:00", "2024-06-03T18:00+00:00",
        "High at 3am Sunday: 2 business hours from Monday 09:00 PDT",
    ),
    Example(
        "functionize", "medium", "first_response", "2024-07-03T15:00-07:00", "2024-07-05T18:00+00:00",
        # 4 business hours: 2 h Wednesday, 4 July closed, 2 h Friday.
        "Medium 4 business hours across Independence Day",
    ),
    Example("functionize", "low", "resolution", "2024-07-03T15:00-07:00", None, "Low: TBD, best effort"),
    # Revalize: Mon-Fri 08:00-17:00 America/New_York, US holidays but Columbus and Veterans Day.
    Example(
        "revalize", "s1", "first_response", "2024-11-27T16:00-05:00", "2024-11-29T14:00+00:00",
        # 1 h Wednesday, Thanksgiving closed, Friday 08:00 + 1 h.
        "S1 2 business hours across Thanksgiving",
    ),
    Example(
        "revalize", "s3", "first_response", "2024-10-14T10:00-04:00", "2024-10-15T14:00+00:00",
        "S3 1 business day from Columbus Day (excluded: a working day)",
    ),
]
# fmt: on


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.policy}:{e.why}" for e in EXAMPLES])
def test_worked_example(example: Example) -> None:
    policy = POLICIES[example.policy]
    result = policy.due(example.kind, at(example.received), example.level, plan=example.plan)
    assert result == (None if example.due is None else at(example.due)), example.why
    if result is not None:
        assert result.tzinfo is UTC


def test_every_seed_calendar_has_an_example() -> None:
    assert {e.policy for e in EXAMPLES} == set(POLICIES)


def test_rezilion_resolution_clock_pauses_while_waiting_on_customer() -> None:
    policy = POLICIES["rezilion"]
    start = at("2024-06-03T10:00:00-05:00")  # Monday
    assert policy.due("resolution", start, "critical") == at("2024-06-05T15:00:00+00:00")  # Wed 10:00 CDT
    # On hold Monday 15:00 to Tuesday 11:00: 2 h + 2 h of business time -> 4 h later.
    pause = (at("2024-06-03T15:00:00-05:00"), at("2024-06-04T11:00:00-05:00"))
    assert policy.due("resolution", start, "critical", pauses=[pause]) == at("2024-06-05T19:00:00+00:00")


# --- example-based checks of the primitives -------------------------------------------

NINE_TO_FIVE = BusinessCalendar.build("America/New_York", {"mon-fri": ["09:00-17:00"]})


def test_window_parse_and_limits() -> None:
    assert Window.parse("22:00-24:00", -1) == Window(-120, 0)
    for bad in ("25:00-26:00", "10:00-09:00", "9-17", "09:00-09:00", "09:60-10:00"):
        with pytest.raises(ValueError, match=rf"bad window '{bad}'"):
            Window.parse(bad)


def test_overlapping_windows_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        BusinessCalendar.build("UTC", {"mon": ["09:00-12:00", "11:00-13:00"]})
    # Monday's evening-before window overlaps Sunday's late window.
    with pytest.raises(ValueError, match="overlap"):
        BusinessCalendar(ZoneInfo("UTC"), ((Window(-120, 0),), (), (), (), (), (), (Window(1200, 1440),)))


def test_naive_datetimes_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_business_time(datetime(2024, 1, 1, 9), 1, "hours", "business_hours", NINE_TO_FIVE)


def test_bad_clock_and_unit() -> None:
    start = utc("2024-01-02T15:00")
    with pytest.raises(ValueError, match="unknown clock"):
        add_business_time(start, 1, "hours", "bizhours", NINE_TO_FIVE)
    with pytest.raises(ValueError, match="use business_days for days"):
        add_business_time(start, 1, "days", "business_hours", NINE_TO_FIVE)
    with pytest.raises(ValueError, match="needs a whole number of days"):
        add_business_time(start, 1.5, "days", "business_days", NINE_TO_FIVE)
    assert add_business_time(start, 3, "hours", "best_effort", NINE_TO_FIVE) is None


def test_exactly_at_close_stays_at_close() -> None:
    # 09:00 + 8 h is 17:00 the same day, not 09:00 the next.
    start = at("2024-01-02T09:00:00-05:00")
    assert add_business_time(start, 8, "hours", "business_hours", NINE_TO_FIVE) == utc("2024-01-02T22:00")
    assert next_open(at("2024-01-02T17:00:00-05:00"), NINE_TO_FIVE) == utc("2024-01-03T14:00")
    assert not is_open(at("2024-01-02T17:00:00-05:00"), NINE_TO_FIVE)
    assert is_open(at("2024-01-02T09:00:00-05:00"), NINE_TO_FIVE)


def test_business_days_positions() -> None:
    monday_10 = at("2024-01-08T10:00:00-05:00")
    assert add_business_time(monday_10, 2, "days", "business_days", NINE_TO_FIVE) == at(
        "2024-01-10T10:00:00-05:00"
    )
    # Saturday, and Monday at opening, are both "after Friday's close": 2 days = Tuesday's close.
    for start in ("2024-01-06T12:00:00-05:00", "2024-01-08T09:00:00-05:00", "2024-01-05T18:00:00-05:00"):
        assert add_business_time(at(start), 2, "days", "business_days", NINE_TO_FIVE) == at(
            "2024-01-09T17:00:00-05:00"
        )


def test_dst_inside_window_counts_real_time() -> None:
    # A 00:00-04:00 window on the autumn fall-back day lasts 5 real hours (01:00-02:00 twice).
    night = BusinessCalendar.build("America/New_York", {"mon-sun": ["00:00-04:00"]})
    sunday = date(2024, 11, 3)
    ((start, end),) = night.intervals_on(sunday)
    assert end - start == timedelta(hours=5)
    assert business_time_between(start, end, night) == timedelta(hours=5)
    # Spring forward: 00:00-04:00 holds 3 real hours.
    ((start, end),) = night.intervals_on(date(2024, 3, 10))
    assert end - start == timedelta(hours=3)


def test_window_bound_in_spring_gap_moves_to_the_jump() -> None:
    # 02:30 does not exist on 10 March 2024 in New York; the window opens at 03:00 EDT (07:00Z).
    cal = BusinessCalendar.build("America/New_York", {"sun": ["02:30-05:00"]})
    ((start, end),) = cal.intervals_on(date(2024, 3, 10))
    assert (start, end) == (utc("2024-03-10T07:00"), utc("2024-03-10T09:00"))


def test_holiday_exclusions_and_explicit_dates() -> None:
    cal = BusinessCalendar.build(
        "America/New_York",
        {"mon-fri": ["09:00-17:00"]},
        country="US",
        exclude=["Columbus Day"],
        dates=[date(2024, 12, 24)],
    )
    assert cal.is_holiday(date(2024, 12, 25))
    assert cal.is_holiday(date(2024, 12, 24))
    assert not cal.is_holiday(date(2024, 10, 14))
    with pytest.raises(ValueError, match="Country XX not available"):
        BusinessCalendar.build("UTC", {"mon": ["09:00-17:00"]}, country="XX")


def test_with_timezone_reads_windows_elsewhere() -> None:
    berlin = NINE_TO_FIVE.with_timezone("Europe/Berlin")
    assert next_open(utc("2024-01-08T00:00"), berlin) == utc("2024-01-08T08:00")


def test_pauses() -> None:
    start = at("2024-01-08T09:00:00-05:00")  # Monday
    plain = add_business_time(start, 10, "hours", "business_hours", NINE_TO_FIVE)
    assert plain == at("2024-01-09T11:00:00-05:00")
    # Paused overnight only: no open time lost.
    night = (at("2024-01-08T18:00:00-05:00"), at("2024-01-09T08:00:00-05:00"))
    assert due_with_pauses(start, 10, "hours", "business_hours", NINE_TO_FIVE, pauses=[night]) == plain
    # Paused Monday 15:00-16:30: 1.5 h later.
    short = (at("2024-01-08T15:00:00-05:00"), at("2024-01-08T16:30:00-05:00"))
    assert due_with_pauses(start, 10, "hours", "business_hours", NINE_TO_FIVE, pauses=[short]) == at(
        "2024-01-09T12:30:00-05:00"
    )
    # Overlapping pauses count once.
    overlapping = [short, (at("2024-01-08T16:00:00-05:00"), at("2024-01-08T16:30:00-05:00"))]
    assert due_with_pauses(start, 10, "hours", "business_hours", NINE_TO_FIVE, pauses=overlapping) == at(
        "2024-01-09T12:30:00-05:00"
    )
    # A pause after the due time changes nothing; one still open before it stops the clock.
    late = (at("2024-01-10T09:00:00-05:00"), at("2024-01-10T12:00:00-05:00"))
    assert due_with_pauses(start, 10, "hours", "business_hours", NINE_TO_FIVE, pauses=[late]) == plain
    waiting = (at("2024-01-08T15:00:00-05:00"), None)
    assert due_with_pauses(start, 10, "hours", "business_hours", NINE_TO_FIVE, pauses=[waiting]) is None
    # 24x7: the pause's full length.
    assert due_with_pauses(
        start, 2, "hours", "24x7", NINE_TO_FIVE, pauses=[(start, start + timedelta(hours=1))]
    ) == (start + timedelta(hours=3))


def test_point_between_for_warnings() -> None:
    start = at("2024-01-08T16:00:00-05:00")
    due = add_business_time(start, 4, "hours", "business_hours", NINE_TO_FIVE)
    assert due == at("2024-01-09T12:00:00-05:00")
    # 75% of 4 business hours = 3 h: 1 h Monday, 2 h Tuesday.
    assert point_between(start, due, 0.75, "business_hours", NINE_TO_FIVE) == at("2024-01-09T11:00:00-05:00")


def test_calendar_without_open_time_fails_loudly() -> None:
    with pytest.raises(ValueError, match="at least one open window"):
        BusinessCalendar(ZoneInfo("UTC"), ((),) * 7)
    everything_closed = BusinessCalendar.build(
        "UTC",
        {"mon": ["09:00-17:00"]},
        dates=[date(2024, 1, 1) + timedelta(days=7 * n) for n in range(200)],
    )
    with pytest.raises(ValueError, match="no open time"):
        next_open(utc("2024-01-01T00:00"), everything_closed)


# --- properties -------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random weekly windows (0-2 a day, on the hour or half hour) in zones with and without DST."""
    zone = draw(st.sampled_from(ZONES))
    weekly: list[tuple[Window, ...]] = []
    for _ in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(0, 48), min_size=0, max_size=4)))
        if len(cuts) % 2:
            cuts = cuts[:-1]
        weekly.append(tuple(Window(cuts[i] * 30, cuts[i + 1] * 30) for i in range(0, len(cuts), 2)))
    if not any(weekly):
        weekly[0] = (Window(9 * 60, 17 * 60),)
    # Two adjacent days must not overlap: windows stay within their own day here.
    country = draw(st.sampled_from([None, "US", "GB", "AU"]))
    return BusinessCalendar(ZoneInfo(zone), tuple(weekly), holiday_country=country)


SEED_CALENDARS = [p.calendar(name) for p in POLICIES.values() for name in p.plans]
any_calendar = st.one_of(st.sampled_from(SEED_CALENDARS), calendars())
instants = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
# Around DST changes: the last weeks of March, October and November.
dst_instants = st.builds(
    lambda day, minute: day + timedelta(minutes=minute),
    st.sampled_from(
        [
            utc("2024-03-08T00:00"),
            utc("2024-03-29T00:00"),
            utc("2024-10-25T00:00"),
            utc("2024-11-01T00:00"),
            utc("2024-04-05T00:00"),
            utc("2024-09-06T00:00"),
        ]
    ),
    st.integers(0, 4 * 24 * 60),
)
any_instant = st.one_of(instants, dst_instants)
hours = st.integers(0, 120 * 60).map(lambda m: m / 60)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(any_calendar, any_instant, hours, hours)
def test_monotonic_in_amount(cal: BusinessCalendar, start: datetime, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    first = add_business_time(start, lo, "hours", "business_hours", cal)
    second = add_business_time(start, hi, "hours", "business_hours", cal)
    assert first is not None and second is not None and first <= second


@FAST
@given(any_calendar, any_instant, st.integers(0, 30), st.integers(0, 30))
def test_business_days_monotonic(cal: BusinessCalendar, start: datetime, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    first = add_business_time(start, lo, "days", "business_days", cal)
    second = add_business_time(start, hi, "days", "business_days", cal)
    assert first is not None and second is not None and first <= second


def _open_or_at_close(t: datetime, cal: BusinessCalendar) -> bool:
    return is_open(t, cal) or is_open(t - timedelta(microseconds=1), cal)


@FAST
@given(any_calendar, any_instant, hours)
def test_result_inside_open_window_or_at_its_end(
    cal: BusinessCalendar, start: datetime, amount: float
) -> None:
    result = add_business_time(start, amount, "hours", "business_hours", cal)
    assert result is not None and result >= start
    assert _open_or_at_close(result, cal)


@FAST
@given(any_calendar, any_instant, st.integers(1, 20))
def test_business_days_land_in_open_time(cal: BusinessCalendar, start: datetime, days: int) -> None:
    result = add_business_time(start, days, "days", "business_days", cal)
    assert result is not None and result > start
    assert _open_or_at_close(result, cal)


@FAST
@given(any_calendar, any_instant, hours)
def test_add_then_between_round_trips(cal: BusinessCalendar, start: datetime, amount: float) -> None:
    result = add_business_time(start, amount, "hours", "business_hours", cal)
    assert result is not None
    assert business_time_between(start, result, cal) == timedelta(hours=amount)


@FAST
@given(any_calendar, any_instant, any_instant, any_instant)
def test_between_is_additive(cal: BusinessCalendar, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    assert business_time_between(a, b, cal) + business_time_between(b, c, cal) == business_time_between(
        a, c, cal
    )
    assert business_time_between(c, a, cal) == -business_time_between(a, c, cal)
    assert timedelta() <= business_time_between(a, c, cal) <= c - a


@FAST
@given(any_calendar, any_instant, hours, st.sampled_from(["24x7", "calendar_hours"]))
def test_24x7_is_plain_addition(cal: BusinessCalendar, start: datetime, amount: float, clock: str) -> None:
    assert add_business_time(start, amount, "hours", clock, cal) == start + timedelta(hours=amount)
    assert add_business_time(start, amount, "minutes", clock, cal) == start + timedelta(minutes=amount)


@FAST
@given(any_instant, st.sampled_from(ZONES), hours)
def test_always_open_calendar_is_plain_addition(start: datetime, zone: str, amount: float) -> None:
    # Real elapsed time, whatever the zone's DST does.
    cal = BusinessCalendar.always_open(zone)
    assert add_business_time(start, amount, "hours", "business_hours", cal) == start + timedelta(hours=amount)


@FAST
@given(st.sampled_from(["UTC", "Asia/Kolkata", "Etc/GMT-3"]), any_instant, st.integers(1, 15))
def test_business_days_equal_whole_days_of_hours_when_days_are_equal(
    zone: str, start: datetime, n: int
) -> None:
    # No DST and no holidays: every business day has 8 open hours, so N business days
    # is N x 8 business hours from the same position.
    cal = BusinessCalendar.build(zone, {"mon-fri": ["09:00-12:00", "13:00-18:00"]})
    assert add_business_time(start, n, "days", "business_days", cal) == add_business_time(
        start, 8 * n, "hours", "business_hours", cal
    )


@FAST
@given(any_calendar, any_instant)
def test_next_open_is_open_and_nothing_open_before_it(cal: BusinessCalendar, t: datetime) -> None:
    first = next_open(t, cal)
    assert first >= t and is_open(first, cal)
    assert business_time_between(t, first, cal) == timedelta()


@FAST
@given(
    any_calendar,
    any_instant,
    hours,
    st.lists(st.tuples(st.integers(0, 30 * 24 * 60), st.integers(1, 5 * 24 * 60)), max_size=4),
)
def test_pauses_shift_due_by_paused_open_time(
    cal: BusinessCalendar, start: datetime, amount: float, raw: list[tuple[int, int]]
) -> None:
    pauses = [(start + timedelta(minutes=o), start + timedelta(minutes=o + n)) for o, n in raw]
    due = due_with_pauses(start, amount, "hours", "business_hours", cal, pauses=pauses)
    plain = add_business_time(start, amount, "hours", "business_hours", cal)
    assert due is not None and plain is not None and due >= plain
    # Open time from start to due, minus the open time spent paused before due, is the target.
    merged: list[tuple[datetime, datetime]] = []
    for ps, pe in sorted(pauses):
        if merged and ps <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], pe))
        else:
            merged.append((ps, pe))
    paused = sum((business_time_between(ps, min(pe, due), cal) for ps, pe in merged if ps < due), timedelta())
    assert business_time_between(start, due, cal) - paused == timedelta(hours=amount)
