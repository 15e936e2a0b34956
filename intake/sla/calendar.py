"""Business-time arithmetic: the one place SLA due times are computed.

Pure functions over a `BusinessCalendar` (a time zone, weekly open windows in
that zone's wall-clock time, and holidays). Nothing here reads the wall clock:
every instant comes in as a tz-aware argument, and every instant goes out in UTC.

Clock kinds, as the policies name them:

- ``business_hours``: only time inside open windows counts.
- ``business_days``: N whole business days later at the same business-time
  position (see `add_business_time`).
- ``calendar_hours`` and ``24x7``: plain elapsed time; the calendar is ignored.
  ``24x7`` names round-the-clock support, ``calendar_hours`` a target counted in
  elapsed hours; the arithmetic is the same.
- ``best_effort``: no due time at all (`None`).

Windows are wall-clock times in the calendar's zone. Each is converted to a pair
of real instants per date, so a DST change inside a window counts the real time
elapsed (a 00:00-03:00 window on the autumn fall-back day is open four hours).
A window bound that falls in a spring-forward gap is moved to the instant the
clocks jumped. A window may belong to a business day yet lie on the evening
before it (``day_offset=-1``): Resource Optimizer's 22:00-24:00 GMT block is
08:00-10:00 in Australia, the start of the next day's shift, and a holiday on
that day closes it too.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import holidays as holidays_lib

ClockKind = Literal["business_hours", "business_days", "calendar_hours", "24x7", "best_effort"]
Unit = Literal["minutes", "hours", "days"]
CLOCK_KINDS: tuple[str, ...] = get_args(ClockKind)
UNITS: tuple[str, ...] = get_args(Unit)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY = 24 * 60
# How far back or forward the search for open time may run before the calendar
# is declared to have none (every weekday closed by explicit holiday dates).
_SEARCH_LIMIT_DAYS = 800


@dataclass(frozen=True, order=True)
class Window:
    """One open period of a business day, in minutes from that day's local midnight.

    `start` may be negative (down to -24:00, the evening before) and `end` may
    pass 24:00 (up to 48:00, the small hours after); a window is at most one day long.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not -_DAY <= self.start < self.end <= 2 * _DAY:
            raise ValueError(f"bad window {self.start}..{self.end} minutes")
        if self.end - self.start > _DAY:
            raise ValueError("a window is at most 24 hours long")

    @classmethod
    def parse(cls, text: str, day_offset: int = 0) -> Window:
        """Parse ``"HH:MM-HH:MM"`` (``24:00`` may end it); `day_offset` -1 puts it on the day before."""
        try:
            first, second = (part.strip() for part in text.split("-"))
            start, end = _minutes(first), _minutes(second)
        except ValueError:
            raise ValueError(f"bad window {text!r}, expected 'HH:MM-HH:MM'") from None
        if not 0 <= start < end <= _DAY:
            raise ValueError(f"bad window {text!r}, start must be before end within one day")
        if day_offset not in (-1, 0, 1):
            raise ValueError(f"day_offset must be -1, 0 or 1, not {day_offset}")
        return cls(start + day_offset * _DAY, end + day_offset * _DAY)


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(hhmm)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > _DAY:
        raise ValueError(hhmm)
    return value


@dataclass(frozen=True)
class BusinessCalendar:
    """When support is open: a zone, windows per weekday (Monday first) and holidays.

    Holidays close a business day (all of its windows). They come from the
    `holidays` package by `holiday_country`/`holiday_subdivision` (minus names in
    `holiday_exclude`, e.g. "Columbus Day"), plus explicit `holiday_dates`.
    """

    timezone: ZoneInfo
    weekly: tuple[tuple[Window, ...], ...]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_dates: frozenset[date] = frozenset()
    holiday_exclude: frozenset[str] = frozenset()
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly needs seven entries, Monday first")
        if not any(self.weekly):
            raise ValueError("a calendar needs at least one open window")
        _check_no_overlap(self.weekly)
        if self.holiday_country is not None:
            # Fail now, not on the first due-time computation.
            _country_holidays(self.holiday_country, self.holiday_subdivision, 2000)

    @classmethod
    def build(
        cls,
        timezone: str,
        windows: dict[str, Sequence[str]],
        *,
        country: str | None = None,
        subdivision: str | None = None,
        dates: Iterable[date] = (),
        exclude: Iterable[str] = (),
        name: str = "",
    ) -> BusinessCalendar:
        """Convenience constructor: ``{"mon": ["09:00-17:00"], ...}``; also ``"mon-fri"`` as a key."""
        weekly: list[list[Window]] = [[] for _ in WEEKDAYS]
        for days, spans in windows.items():
            for day in _expand_days(days):
                weekly[day].extend(Window.parse(span) for span in spans)
        return cls(
            ZoneInfo(timezone),
            tuple(tuple(sorted(day)) for day in weekly),
            holiday_country=country,
            holiday_subdivision=subdivision,
            holiday_dates=frozenset(dates),
            holiday_exclude=frozenset(exclude),
            name=name,
        )

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        """Open every minute of every day, no holidays (24x7 support)."""
        return cls.build(timezone, {"mon-sun": ["00:00-24:00"]}, name="24x7")

    def with_timezone(self, timezone: str) -> BusinessCalendar:
        """The same windows read in another zone (e.g. a customer's "local time")."""
        return BusinessCalendar(
            ZoneInfo(timezone),
            self.weekly,
            self.holiday_country,
            self.holiday_subdivision,
            self.holiday_dates,
            self.holiday_exclude,
            self.name,
        )

    def is_holiday(self, day: date) -> bool:
        if day in self.holiday_dates:
            return True
        if self.holiday_country is None:
            return False
        names = _country_holidays(self.holiday_country, self.holiday_subdivision, day.year).get(day)
        if names is None:
            return False
        return any(name not in self.holiday_exclude for name in names)

    def is_business_day(self, day: date) -> bool:
        return bool(self.weekly[day.weekday()]) and not self.is_holiday(day)

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals (UTC instants) belonging to business day `day`; empty if closed.

        Remembered per calendar (a pure function of it and the day): the dashboard asks for
        hundreds of due times in a row, each walking a few days.
        """
        known: dict[date, tuple[tuple[datetime, datetime], ...]] = self.__dict__.setdefault("_days", {})
        found = known.get(day)
        if found is None:
            if len(known) > 20_000:
                known.clear()
            found = known[day] = self._intervals_on(day)
        return list(found)

    def _intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if not self.is_business_day(day):
            return ()
        midnight = datetime.combine(day, time())
        result = []
        for window in self.weekly[day.weekday()]:
            start = _local_to_utc(self.timezone, midnight + timedelta(minutes=window.start))
            end = _local_to_utc(self.timezone, midnight + timedelta(minutes=window.end))
            if start < end:
                result.append((start, end))
        return tuple(result)

    def local_date(self, t: datetime) -> date:
        return t.astimezone(self.timezone).date()


def _expand_days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.lower().split(","):
        first, _, last = part.strip().partition("-")
        lo = WEEKDAYS.index(first)
        hi = WEEKDAYS.index(last) if last else lo
        if hi < lo:
            raise ValueError(f"bad day range {part!r}")
        days.extend(range(lo, hi + 1))
    return days


def _check_no_overlap(weekly: tuple[tuple[Window, ...], ...]) -> None:
    """Windows of the week, placed on one cyclic week of minutes, must not overlap."""
    week = 7 * _DAY
    spans: list[tuple[int, int]] = []
    for weekday, windows in enumerate(weekly):
        for w in windows:
            start = (weekday * _DAY + w.start) % week
            spans.append((start, start + (w.end - w.start)))
    spans.sort()
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        if next_start < end:
            raise ValueError("open windows overlap")
    if spans and spans[-1][1] > week and spans[-1][1] - week > spans[0][0]:
        raise ValueError("open windows overlap")


@functools.lru_cache(maxsize=256)
def _country_holidays(country: str, subdivision: str | None, year: int) -> dict[date, tuple[str, ...]]:
    try:
        table = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
    return {day: tuple(str(name).split("; ")) for day, name in table.items()}


def _local_to_utc(zone: ZoneInfo, wall: datetime) -> datetime:
    """A naive wall-clock time in `zone` as a UTC instant.

    Ambiguous times (autumn) take the first occurrence; times that do not exist
    (spring gap) become the instant of the jump, so windows stay contiguous.
    """
    utc = wall.replace(tzinfo=zone).astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == wall:
        return utc
    # In a gap: fold=0 and fold=1 bracket the transition; find the first instant
    # whose wall-clock time is not earlier than `wall`.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = int(min(utc, other).timestamp()), int(max(utc, other).timestamp())

    def reached(seconds: int) -> bool:
        return datetime.fromtimestamp(seconds, zone).replace(tzinfo=None) >= wall

    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _require_aware(*instants: datetime) -> None:
    for t in instants:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t.isoformat()}: pass a tz-aware instant")


def _intervals_from(calendar: BusinessCalendar, t: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals in time order that end after `t`, the first clipped to start at `t` at the earliest."""
    zone = calendar.timezone
    day = calendar.local_date(t) - timedelta(days=1)
    pending: list[tuple[datetime, datetime]] = []
    idle = 0
    while True:
        found = [iv for iv in calendar.intervals_on(day) if iv[1] > t]
        pending.extend(found)
        idle = 0 if found else idle + 1
        if idle > _SEARCH_LIMIT_DAYS:
            raise ValueError(f"calendar {calendar.name or ''} has no open time after {t.isoformat()}")
        # Windows of later business days start no earlier than this day's local midnight.
        horizon = _local_to_utc(zone, datetime.combine(day, time()))
        pending.sort()
        while pending and pending[0][0] < horizon:
            start, end = pending.pop(0)
            yield max(start, t), end
        day += timedelta(days=1)


def is_open(t: datetime, calendar: BusinessCalendar) -> bool:
    """Whether `t` lies inside an open window (start inclusive, end exclusive)."""
    _require_aware(t)
    start, _ = next(_intervals_from(calendar, t))
    return start <= t


def next_open(t: datetime, calendar: BusinessCalendar) -> datetime:
    """`t` itself (in UTC) if open, else the start of the next open window."""
    _require_aware(t)
    start, _ = next(_intervals_from(calendar, t))
    return start.astimezone(UTC)


def _to_delta(amount: float, unit: str) -> timedelta:
    if unit == "minutes":
        return timedelta(minutes=amount)
    if unit == "hours":
        return timedelta(hours=amount)
    if unit == "days":
        return timedelta(days=amount)
    raise ValueError(f"unknown unit {unit!r}")


def _add_open_time(start: datetime, amount: timedelta, calendar: BusinessCalendar) -> datetime:
    remaining = amount
    for s, e in _intervals_from(calendar, start):
        span = e - s
        if remaining <= span:
            return (s + remaining).astimezone(UTC)
        remaining -= span
    raise AssertionError("unreachable: _intervals_from never ends")


def add_business_time(
    start: datetime, amount: float, unit: str, clock: str, calendar: BusinessCalendar
) -> datetime | None:
    """The instant `amount` `unit`s of `clock` time after `start`, in UTC; None for best effort.

    - business_hours (units minutes/hours): count only open time. The result is
      inside an open window or exactly at a window's end (never the start of the
      next one); an amount of 0 gives `next_open(start)`.
    - business_days (unit days, whole numbers): the business-time position of
      `start` is (D, e): D is the latest business day whose first window opens
      before `start`, e the open time of D elapsed by `start`. The result is the
      instant where e of open time has elapsed on the N-th business day after D
      (clamped to that day's close). So Monday 10:00 + 2 days is Wednesday 10:00,
      and anything received after Friday's close or over the weekend + 2 days is
      Tuesday's close: two whole business days of work. With equal-length days
      this equals N x (open hours per day) of business_hours. 0 gives `next_open`.
    - calendar_hours and 24x7: plain elapsed time (days are 24 hours).
    - best_effort: None.
    """
    _require_aware(start)
    if clock not in CLOCK_KINDS:
        raise ValueError(f"unknown clock {clock!r}")
    if clock == "best_effort":
        return None
    if amount < 0:
        raise ValueError("amount must not be negative")
    if clock in ("calendar_hours", "24x7"):
        return (start + _to_delta(amount, unit)).astimezone(UTC)
    if clock == "business_hours":
        if unit == "days":
            raise ValueError("business_hours counts minutes or hours; use business_days for days")
        return _add_open_time(start, _to_delta(amount, unit), calendar)
    # business_days
    if unit != "days":
        raise ValueError("business_days counts days")
    if amount != int(amount):
        raise ValueError("business_days needs a whole number of days")
    if amount == 0:
        return next_open(start, calendar)
    day, elapsed = _business_position(start, calendar)
    for _ in range(int(amount)):
        day = _next_business_day(day, calendar)
    return _instant_at(day, elapsed, calendar)


def _business_position(t: datetime, calendar: BusinessCalendar) -> tuple[date, timedelta]:
    day = calendar.local_date(t) + timedelta(days=1)
    for _ in range(_SEARCH_LIMIT_DAYS):
        intervals = calendar.intervals_on(day)
        if intervals and intervals[0][0] < t:
            elapsed = sum((min(e, t) - s for s, e in intervals if s < t), timedelta())
            return day, elapsed
        day -= timedelta(days=1)
    raise ValueError(f"calendar {calendar.name} has no open time before {t.isoformat()}")


def _next_business_day(day: date, calendar: BusinessCalendar) -> date:
    for _ in range(_SEARCH_LIMIT_DAYS):
        day += timedelta(days=1)
        if calendar.intervals_on(day):
            return day
    raise ValueError(f"calendar {calendar.name} has no business day after {day}")


def _instant_at(day: date, elapsed: timedelta, calendar: BusinessCalendar) -> datetime:
    remaining = elapsed
    intervals = calendar.intervals_on(day)
    for s, e in intervals:
        if remaining <= e - s:
            return (s + remaining).astimezone(UTC)
        remaining -= e - s
    return intervals[-1][1].astimezone(UTC)


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    """Open time elapsed from `a` to `b` (negative if `b` is before `a`)."""
    _require_aware(a, b)
    if b < a:
        return -business_time_between(b, a, calendar)
    total = timedelta()
    for s, e in _intervals_from(calendar, a):
        if s >= b:
            break
        total += min(e, b) - s
    return total


def clock_time_between(a: datetime, b: datetime, clock: str, calendar: BusinessCalendar) -> timedelta:
    """Time from `a` to `b` as `clock` counts it: open time for business clocks, else elapsed."""
    if clock in ("business_hours", "business_days"):
        return business_time_between(a, b, calendar)
    _require_aware(a, b)
    return b - a


def _advance(start: datetime, amount: timedelta, clock: str, calendar: BusinessCalendar) -> datetime:
    if clock in ("business_hours", "business_days"):
        return _add_open_time(start, amount, calendar)
    return (start + amount).astimezone(UTC)


Pause = tuple[datetime, datetime | None]


def _merge_pauses(start: datetime, pauses: Iterable[Pause]) -> list[Pause]:
    """Sorted, overlapping pauses merged, clipped to begin no earlier than `start`."""
    far = datetime.max.replace(tzinfo=UTC)
    spans = []
    for ps, pe in pauses:
        _require_aware(ps, *([] if pe is None else [pe]))
        end = far if pe is None else pe
        if end <= start or end <= ps:
            continue
        spans.append((max(ps, start), end))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for ps, pe in spans:
        if merged and ps <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], pe))
        else:
            merged.append((ps, pe))
    return [(ps, None if pe == far else pe) for ps, pe in merged]


def due_with_pauses(
    start: datetime,
    amount: float,
    unit: str,
    clock: str,
    calendar: BusinessCalendar,
    *,
    pauses: Iterable[Pause] = (),
) -> datetime | None:
    """The due time of a target whose clock stops during `pauses` (waiting on the customer).

    The due time moves later by the clock time (open time for business clocks)
    spent inside pauses that begin before the target is reached; a pause that
    starts after the due time changes nothing (the target was already missed).
    A pause with no end (None) that begins before the due time means the clock is
    stopped now: the result is None, as it is for best effort. A business_days
    target is first turned into the open time it spans from `start`.
    """
    _require_aware(start)
    unpaused = add_business_time(start, amount, unit, clock, calendar)
    if unpaused is None:
        return None
    remaining = clock_time_between(start, unpaused, clock, calendar)
    cursor = start
    for ps, pe in _merge_pauses(start, pauses):
        candidate = _advance(cursor, remaining, clock, calendar)
        if candidate <= ps:
            return candidate
        remaining -= clock_time_between(cursor, ps, clock, calendar)
        if pe is None:
            return None
        cursor = max(cursor, pe)
    return _advance(cursor, remaining, clock, calendar)


def point_between(
    start: datetime, due: datetime, fraction: float, clock: str, calendar: BusinessCalendar
) -> datetime:
    """The instant `fraction` (0..1) of the way from `start` to `due`, measured in `clock` time.

    Used for "warn at 75% of the target": the warning lands inside open time for
    business clocks.
    """
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    span = clock_time_between(start, due, clock, calendar)
    return _advance(start, span * fraction, clock, calendar)
