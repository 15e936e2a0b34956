"""The dashboard: per policy and organisation, as server-side SVG plots, tables and CSV.

Figures are counted over the last `DAYS` days in aggregate queries, one per plot
(no row per ticket leaves the database, see `_acknowledgements` for the one
exception); the plots are plain SVG built here, so nothing is fetched from a
network and the CSP needs no exception. The table under each plot and its CSV
are the plot's own rows, so the three always show the same figures.

Acknowledgements are measured against the policy's window for the ticket's plan and
level (`[acknowledgement] within`: 15 calendar minutes, or the level's first-response
target, which may run in business hours), from the ticket's creation; first responses
against the ticket's `first_response_due` (as overrides recomputed it).
"""

from __future__ import annotations

import csv
import functools
import io
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Float, Select, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from intake.errors import NotFound
from intake.policies.loader import load_all
from intake.policies.schema import Policy
from intake.store.orm import Organisation, Review, Ticket, TriageDecision, UtcDateTime
from intake.web.app import Web
from intake.web.queries import OPEN_STATUSES

Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")
DAYS = 28
NEAR = timedelta(hours=4)
SEVERITIES = ("critical", "high", "medium", "low")
# Kinds of acknowledgement window (see `_windows`).
NO_WINDOW, WALL, BUSINESS = 0, 1, 2
ACK_COLUMNS = [
    "policy",
    "within the window",
    "after the window",
    "not acknowledged, window passed",
    "not acknowledged, window open",
    "acknowledged, no window (best effort)",
]


@dataclass
class Plot:
    """One figure: a title, column names, and rows (the first column is the label)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    kind: str = "bar"  # bar (stacked over columns[1:]) | matrix

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue()

    def svg(self) -> str:
        return _matrix_svg(self) if self.kind == "matrix" else _bar_svg(self)


@dataclass
class Figures:
    plots: list[Plot]

    def as_json(self) -> dict[str, Any]:
        return {p.key: {"title": p.title, "columns": p.columns, "rows": p.rows} for p in self.plots}

    def get(self, key: str) -> Plot | None:
        return next((p for p in self.plots if p.key == key), None)


def _scoped(query: Q, policy: str | None, org: str | None) -> Q:
    if policy:
        query = query.where(Ticket.policy == policy)
    if org:
        query = query.where(
            Ticket.org_id == select(Organisation.id).where(Organisation.name == org).scalar_subquery()
        )
    return query


def _day_of(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as the database computes it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)  # SQLite keeps the UTC time as ISO text


def _seconds(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """`end - start` in seconds, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _week(value: date) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


# --- acknowledgements within the window ----------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What SQL can know of one acknowledgement window without the policy's calendar.

    `seconds` is the window's length in elapsed time for a WALL window (calendar hours,
    24x7), and a lower bound of it for a BUSINESS one: business time never runs faster
    than elapsed time, so an acknowledgement within `seconds` is in time for certain
    (business days give no such bound but 0). Anything else is placed in Python.
    """

    kind: int
    seconds: float


def _window(policy: Policy, plan: str | None, level: str) -> Window:
    target = policy.acknowledgement_target(plan, level)
    if target is None:
        return Window(NO_WINDOW, 0.0)
    amount = target.amount * {"minutes": 60, "hours": 3600, "days": 86400}[target.unit]
    if target.clock in ("calendar_hours", "24x7"):
        return Window(WALL, amount)
    return Window(BUSINESS, 0.0 if target.clock == "business_days" else amount)


def _branches(policies: Mapping[str, Policy]) -> list[tuple[ColumnElement[bool], Window]]:
    """Which window each ticket has, by its policy (and, where they differ, plan and level)."""
    t = Ticket
    branches: list[tuple[ColumnElement[bool], Window]] = []
    for policy in policies.values():
        cells = {
            (plan, level): _window(policy, plan, level)
            for plan in policy.plans
            for level in policy.level_keys()
        }
        if len(set(cells.values())) == 1:
            branches.append((t.policy == policy.name, next(iter(cells.values()))))
            continue
        for (plan, level), window in cells.items():
            on_plan = t.plan == plan
            if plan == policy.default_plan:
                on_plan = or_(on_plan, t.plan.is_(None))
            branches.append((and_(t.policy == policy.name, t.severity == level, on_plan), window))
    return branches


UNSURE = 0  # a bucket SQL cannot fill: a business-time window, exceeded in elapsed time


def _bucket(session: Session, now: datetime, policies: Mapping[str, Policy]) -> ColumnElement[int]:
    """Each ticket's ACK_COLUMNS index (from 1), or UNSURE, as one CASE evaluated once per row."""
    t = Ticket
    epsilon = 0.001  # SQLite's julianday keeps milliseconds
    elapsed = _seconds(session, t.created_at, t.acknowledged_at)
    waited = _seconds(session, t.created_at, literal(now, UtcDateTime()))
    acked = t.acknowledged_at.is_not(None)
    no_window = case((acked, 5), else_=4)

    def placed(window: Window) -> ColumnElement[int]:
        if window.kind == NO_WINDOW:
            return no_window
        beyond = 2 if window.kind == WALL else UNSURE
        waited_beyond = 3 if window.kind == WALL else UNSURE
        return case(
            (acked, case((elapsed <= window.seconds + epsilon, 1), else_=beyond)),
            else_=case((waited <= window.seconds + epsilon, 4), else_=waited_beyond),
        )

    return case(*((cond, placed(window)) for cond, window in _branches(policies)), else_=no_window)


@functools.lru_cache(maxsize=100_000)
def _ack_due(
    policy_name: str, plan: str | None, level: str, zone: str | None, created: datetime
) -> datetime | None:
    """When a ticket's acknowledgement is due by its policy's calendar (None: no window).

    Remembered: it depends on nothing else, and each dashboard asks again for the same
    late tickets until they leave the period.
    """
    policy = load_all().get(policy_name)
    if policy is None:
        return None
    try:
        target = policy.acknowledgement_target(plan, level)
        return target.due(created, policy.calendar_for(plan, zone)) if target else None
    except NotFound:
        return None


def _place(row: Any, now: datetime) -> int:
    """The ACK_COLUMNS index (from 1) of one ticket SQL could not place, by the policy's calendar."""
    name, plan, level, created, acknowledged, zone = row
    due = _ack_due(str(name), plan, str(level), zone, created)
    if due is None:
        return 5 if acknowledged is not None else 4
    if acknowledged is not None:
        return 1 if acknowledged <= due else 2
    return 3 if now > due else 4


def _first_response_cells(now: datetime) -> list[ColumnElement[bool]]:
    """First responses by `first_response_due`: within, late, and still unanswered past it."""
    t = Ticket
    answered, due = t.first_responded_at.is_not(None), t.first_response_due.is_not(None)
    return [
        and_(answered, due, t.first_responded_at <= t.first_response_due),
        and_(answered, due, t.first_responded_at > t.first_response_due),
        and_(t.first_responded_at.is_(None), due, t.first_response_due < now),
    ]


def _period(
    session: Session, now: datetime, since: datetime, policy: str | None, org: str | None
) -> tuple[Plot, Plot]:
    """Per policy, over the tickets created in the period: acknowledgements against their window
    (ACK_COLUMNS) and first responses against their due time.

    One aggregate query counts both, placing every ticket whose acknowledgement window is
    in elapsed time, and every ticket acknowledged (or still waiting) within the lower
    bound of a business-time window; a second query fetches only the rest, acknowledged
    or waiting longer than that, whose due time needs the policy's calendar (in practice
    held tickets, acknowledged with an engineer's first answer).
    """
    t = Ticket
    policies = load_all()
    bucket = _bucket(session, now, policies).label("bucket")
    firsts = [func.sum(case((c, 1), else_=0)) for c in _first_response_cells(now)]
    in_period = t.created_at >= since
    grouped = _scoped(select(t.policy, bucket, func.count(), *firsts).where(in_period), policy, org)
    acks: dict[str, list[int]] = {}
    responses: dict[str, list[int]] = {}
    for name, place, n, *counts in session.execute(grouped.group_by(t.policy, bucket)).all():
        acks.setdefault(str(name), [0] * len(ACK_COLUMNS[1:]))
        if place != UNSURE:
            acks[str(name)][int(place) - 1] += int(n)
        totals = responses.setdefault(str(name), [0] * len(counts))
        for i, value in enumerate(counts):
            totals[i] += int(value or 0)
    rest = session.execute(
        _scoped(
            select(t.policy, t.plan, t.severity, t.created_at, t.acknowledged_at, Organisation.timezone)
            .outerjoin(Organisation, Organisation.id == t.org_id)
            .where(in_period, _bucket(session, now, policies) == UNSURE),
            policy,
            org,
        )
    ).all()
    for row in rest:
        acks[str(row[0])][_place(row, now) - 1] += 1
    return (
        Plot(
            "acknowledged",
            f"Acknowledgements within the policy's window (last {DAYS} days)",
            ACK_COLUMNS,
            [[name, *acks[name]] for name in sorted(acks)],
        ),
        Plot(
            "first_response",
            f"First responses within target (last {DAYS} days)",
            ["policy", "within target", "late", "unanswered past target"],
            [[name, *responses[name]] for name in sorted(responses)],
        ),
    )


def _targets(session: Session, now: datetime, policy: str | None, org: str | None) -> Plot:
    t = Ticket
    pending = and_(t.first_responded_at.is_(None), t.first_response_due.is_not(None))
    near_past = session.execute(
        _scoped(
            select(
                t.policy,
                func.sum(case((and_(pending, t.first_response_due < now), 1), else_=0)),
                func.sum(
                    case(
                        (and_(pending, t.first_response_due >= now, t.first_response_due < now + NEAR), 1),
                        else_=0,
                    )
                ),
                func.sum(case((t.resolution_due < now, 1), else_=0)),
            ).where(t.status.in_(OPEN_STATUSES)),
            policy,
            org,
        )
        .group_by(t.policy)
        .order_by(t.policy)
    ).all()
    return Plot(
        "targets",
        "Open tickets near or past a target",
        ["policy", "first response past", "first response within 4 h", "resolution past"],
        [[p, int(a or 0), int(b or 0), int(c or 0)] for p, a, b, c in near_past],
    )


def _volume(session: Session, since: datetime, policy: str | None, org: str | None) -> Plot:
    t = Ticket
    day = _day_of(session, t.created_at)
    volume_rows = session.execute(
        _scoped(select(day, t.channel, func.count()).where(t.created_at >= since), policy, org).group_by(
            day, t.channel
        )
    ).all()
    channels = sorted({c for _, c, _ in volume_rows}) or ["email"]
    per_day: dict[str, dict[str, int]] = {}
    for when, channel, n in volume_rows:
        per_day.setdefault(str(when), dict.fromkeys(channels, 0))[channel] += int(n)
    return Plot(
        "volume",
        f"New tickets per day by channel (last {DAYS} days)",
        ["day", *channels],
        [[d, *(per_day[d][c] for c in channels)] for d in sorted(per_day)],
    )


def _agreement(session: Session, since: datetime, policy: str | None, org: str | None) -> Plot:
    """Accepted against overridden reviews per ISO week: counted per day in SQL, folded into weeks."""
    r = Review
    day = _day_of(session, r.at)
    agreed = case((r.action == "accept", 1), else_=0)
    query = select(day, func.sum(agreed), func.count()).where(r.at >= since)
    if policy or org:
        query = _scoped(query.join(Ticket, Ticket.id == r.ticket_id), policy, org)
    weeks: dict[str, list[int]] = {}
    for when, accepted, n in session.execute(query.group_by(day)).all():
        counts = weeks.setdefault(_week(date.fromisoformat(str(when))), [0, 0])
        counts[0] += int(accepted or 0)
        counts[1] += int(n) - int(accepted or 0)
    return Plot(
        "agreement",
        "Managers agree with the bot, per week",
        ["week", "agreed", "overrode"],
        [[w, a, o] for w, (a, o) in sorted(weeks.items())],
    )


def _confusion(session: Session, since: datetime, policy: str | None, org: str | None) -> Plot:
    d = TriageDecision
    manager = func.coalesce(d.corrected_severity, d.canonical_severity)
    query = select(d.canonical_severity, manager, func.count()).where(
        d.reviewed_at >= since, d.canonical_severity.is_not(None)
    )
    if policy or org:
        query = _scoped(query.join(Ticket, Ticket.id == d.ticket_id), policy, org)
    pairs = session.execute(query.group_by(d.canonical_severity, manager)).all()
    grid = {(bot, man): int(n) for bot, man, n in pairs}
    return Plot(
        "confusion",
        f"Severity: bot (rows) against manager (columns), reviewed in the last {DAYS} days",
        ["bot \\ manager", *SEVERITIES],
        [[bot, *(grid.get((bot, m), 0) for m in SEVERITIES)] for bot in SEVERITIES],
        kind="matrix",
    )


def _closed(session: Session, since: datetime, policy: str | None, org: str | None) -> Plot:
    t = Ticket
    closed = session.execute(
        _scoped(
            select(t.close_reason, func.count()).where(t.closed_at >= since, t.close_reason.is_not(None)),
            policy,
            org,
        )
        .group_by(t.close_reason)
        .order_by(t.close_reason)
    ).all()
    return Plot(
        "closed",
        f"Closed by reason (last {DAYS} days)",
        ["reason", "tickets"],
        [[r, int(n)] for r, n in closed],
    )


def figures(session: Session, now: datetime, *, policy: str | None = None, org: str | None = None) -> Figures:
    since = now - timedelta(days=DAYS)
    acks, firsts = _period(session, now, since, policy, org)
    return Figures(
        [
            acks,
            firsts,
            _targets(session, now, policy, org),
            _closed(session, since, policy, org),
            _volume(session, since, policy, org),
            _agreement(session, since, policy, org),
            _confusion(session, since, policy, org),
        ]
    )


COLOURS = ("#23395d", "#d9822b", "#3a7d44", "#a23b72", "#6c757d", "#2e86ab")


def _bar_svg(plot: Plot, width: int = 640, height: int = 220) -> str:
    """Stacked bars, one per row; series are the columns after the first."""
    series = plot.columns[1:]
    left, bottom, top = 40, 50, 10
    totals = [sum(int(v) for v in row[1:]) for row in plot.rows]
    peak = max([*totals, 1])
    inner_w, inner_h = width - left - 10, height - bottom - top
    slot = inner_w / max(len(plot.rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(plot.title)}">',
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - 10}" y2="{top + inner_h}" stroke="#999"/>',
        f'<text x="4" y="{top + 10}" font-size="10">{peak}</text>',
        f'<text x="4" y="{top + inner_h}" font-size="10">0</text>',
    ]
    for i, row in enumerate(plot.rows):
        x = left + i * slot + slot * 0.1
        y = float(top + inner_h)
        for j, value in enumerate(row[1:]):
            h = inner_h * int(value) / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(str(row[0]))}: {escape(series[j])} {value}</title></rect>"
            )
        if len(plot.rows) <= 16 or i % max(len(plot.rows) // 8, 1) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{top + inner_h + 14}" font-size="9">{escape(str(row[0])[-10:])}</text>'
            )
    for j, name in enumerate(series):
        parts.append(
            f'<rect x="{left + j * 150}" y="{height - 18}" width="10" height="10" '
            f'fill="{COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{left + j * 150 + 14}" y="{height - 9}" font-size="11">{escape(name)}</text>'
        )
    if not plot.rows:
        parts.append(f'<text x="{left + 10}" y="{top + inner_h / 2}" font-size="12">no data yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def _matrix_svg(plot: Plot, cell: int = 60) -> str:
    labels = plot.columns[1:]
    size = cell * (len(labels) + 1) + 20
    peak = max([int(v) for row in plot.rows for v in row[1:]] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" aria-label="{escape(plot.title)}">'
    ]
    for j, name in enumerate(labels):
        parts.append(f'<text x="{cell * (j + 1) + 4}" y="14" font-size="11">{escape(name)}</text>')
    for i, row in enumerate(plot.rows):
        y = 20 + i * cell
        parts.append(f'<text x="2" y="{y + cell / 2}" font-size="11">{escape(str(row[0]))}</text>')
        for j, value in enumerate(row[1:]):
            shade = 255 - int(200 * int(value) / peak)
            parts.append(
                f'<rect x="{cell * (j + 1)}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="rgb({shade},{shade},255)"/><text x="{cell * (j + 1) + cell / 2 - 6}" '
                f'y="{y + cell / 2 + 4}" font-size="12">{int(value)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


class Recent:
    """The figures of the last `ttl` seconds per (policy, organisation): a dashboard need not be live.

    When they are due again, one request computes them and the others asking for the same
    figures meanwhile wait for that result, so managers refreshing together cost one
    computation, not one each (with `ttl` 0, as bench/bench_web.py's uncached rows set it,
    every request computes its own).

    Times come from `time.monotonic`, not the injected clock: this bounds work, not what is shown.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._kept: dict[tuple[str | None, str | None], tuple[float, Figures]] = {}
        self._lock = threading.Lock()
        self._computing: dict[tuple[str | None, str | None], threading.Lock] = {}

    def _fresh(self, key: tuple[str | None, str | None]) -> Figures | None:
        with self._lock:
            kept = self._kept.get(key)
        return kept[1] if kept is not None and time.monotonic() - kept[0] < self.ttl else None

    def get(self, session: Session, now: datetime, policy: str | None, org: str | None) -> Figures:
        key = (policy, org)
        if self.ttl <= 0:
            return figures(session, now, policy=policy, org=org)
        found = self._fresh(key)
        if found is not None:
            return found
        with self._lock:
            one = self._computing.setdefault(key, threading.Lock())
        with one:
            # whoever held the lock before may have just computed them
            found = self._fresh(key)
            if found is None:
                found = figures(session, now, policy=policy, org=org)
                with self._lock:
                    self._kept[key] = (time.monotonic(), found)
        return found


def register(app: FastAPI, web: Web) -> None:
    recent = Recent()
    app.state.dashboard = recent

    @app.get("/dashboard", include_in_schema=False)
    def dashboard(request: Request, policy: str = "", org: str = "") -> Response:
        who = web.user(request, manager=True)
        with web.db() as session:
            found = recent.get(session, web.now(), policy or None, org or None)
            orgs = list(session.scalars(select(Organisation.name).order_by(Organisation.name)))
        return web.render(
            request,
            "dashboard.html",
            who,
            plots=found.plots,
            policy=policy,
            org=org,
            policies=sorted(load_all()),
            orgs=orgs,
        )

    @app.get("/dashboard/{key}.csv", include_in_schema=False)
    def dashboard_csv(request: Request, key: str, policy: str = "", org: str = "") -> Response:
        web.user(request, manager=True)
        with web.db() as session:
            plot = recent.get(session, web.now(), policy or None, org or None).get(key)
        if plot is None:
            return Response("no such plot", status_code=404)
        return Response(
            plot.csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{key}.csv"'},
        )
