"""The dashboard: per policy and organisation, as server-side SVG plots, tables and CSV.

Figures are counted over the last `DAYS` days in a few aggregate queries (no row
per ticket leaves the database except the period's timestamps for the per-day
and per-week series); the plots are plain SVG built here, so nothing is fetched
from a network and the CSP needs no exception.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from intake.policies.loader import load_all
from intake.store.orm import Organisation, Review, Ticket, TriageDecision
from intake.web.app import Web
from intake.web.queries import OPEN_STATUSES

Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")
DAYS = 28
NEAR = timedelta(hours=4)
SEVERITIES = ("critical", "high", "medium", "low")


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


def _week(value: datetime) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def figures(session: Session, now: datetime, *, policy: str | None = None, org: str | None = None) -> Figures:
    since = now - timedelta(days=DAYS)
    t = Ticket
    in_period = t.created_at >= since

    ack_ok = func.sum(case((t.acknowledged_at.is_not(None), 1), else_=0))
    fr_ok = func.sum(
        case(
            (
                and_(
                    t.first_responded_at.is_not(None),
                    t.first_response_due.is_not(None),
                    t.first_responded_at <= t.first_response_due,
                ),
                1,
            ),
            else_=0,
        )
    )
    fr_late = func.sum(
        case(
            (
                and_(
                    t.first_responded_at.is_not(None),
                    t.first_response_due.is_not(None),
                    t.first_responded_at > t.first_response_due,
                ),
                1,
            ),
            else_=0,
        )
    )
    per_policy = session.execute(
        _scoped(select(t.policy, func.count(), ack_ok, fr_ok, fr_late).where(in_period), policy, org)
        .group_by(t.policy)
        .order_by(t.policy)
    ).all()
    acks = Plot(
        "acknowledged",
        f"Acknowledged (last {DAYS} days)",
        ["policy", "acknowledged", "not acknowledged"],
        [[p, int(a or 0), int(n) - int(a or 0)] for p, n, a, _, _ in per_policy],
    )
    firsts = Plot(
        "first_response",
        f"First responses within target (last {DAYS} days)",
        ["policy", "within target", "late"],
        [[p, int(ok or 0), int(late or 0)] for p, _, _, ok, late in per_policy],
    )

    pending = and_(
        t.status.in_(OPEN_STATUSES), t.first_responded_at.is_(None), t.first_response_due.is_not(None)
    )
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
                func.sum(case((and_(t.status.in_(OPEN_STATUSES), t.resolution_due < now), 1), else_=0)),
            ).where(t.status.in_(OPEN_STATUSES)),
            policy,
            org,
        )
        .group_by(t.policy)
        .order_by(t.policy)
    ).all()
    targets = Plot(
        "targets",
        "Open tickets near or past a target",
        ["policy", "first response past", "first response within 4 h", "resolution past"],
        [[p, int(a or 0), int(b or 0), int(c or 0)] for p, a, b, c in near_past],
    )

    closed = session.execute(
        _scoped(
            select(t.close_reason, func.count()).where(t.closed_at >= since, t.close_reason.is_not(None)),
            policy,
            org,
        )
        .group_by(t.close_reason)
        .order_by(t.close_reason)
    ).all()
    auto = Plot(
        "closed",
        f"Closed by reason (last {DAYS} days)",
        ["reason", "tickets"],
        [[r, int(n)] for r, n in closed],
    )

    day = _day_of(session, t.created_at)
    volume_rows = session.execute(
        _scoped(select(day, t.channel, func.count()).where(in_period), policy, org).group_by(day, t.channel)
    ).all()
    channels = sorted({c for _, c, _ in volume_rows}) or ["email"]
    per_day: dict[str, dict[str, int]] = {}
    for when, channel, n in volume_rows:
        per_day.setdefault(str(when), dict.fromkeys(channels, 0))[channel] += int(n)
    volume = Plot(
        "volume",
        f"New tickets per day by channel (last {DAYS} days)",
        ["day", *channels],
        [[d, *(per_day[d][c] for c in channels)] for d in sorted(per_day)],
    )

    review_rows = session.execute(
        _scoped(
            select(Review.at, Review.action).join(t, t.id == Review.ticket_id).where(Review.at >= since),
            policy,
            org,
        )
    ).all()
    weeks: dict[str, list[int]] = {}
    for at, action in review_rows:
        counts = weeks.setdefault(_week(at), [0, 0])
        counts[0 if action == "accept" else 1] += 1
    agreement = Plot(
        "agreement",
        "Managers agree with the bot, per week",
        ["week", "agreed", "overrode"],
        [[w, a, o] for w, (a, o) in sorted(weeks.items())],
    )

    d = TriageDecision
    pairs = session.execute(
        _scoped(
            select(
                d.canonical_severity, func.coalesce(d.corrected_severity, d.canonical_severity), func.count()
            )
            .join(t, t.id == d.ticket_id)
            .where(d.reviewed_at.is_not(None), d.canonical_severity.is_not(None)),
            policy,
            org,
        ).group_by(d.canonical_severity, func.coalesce(d.corrected_severity, d.canonical_severity))
    ).all()
    grid = {(bot, manager): int(n) for bot, manager, n in pairs}
    confusion = Plot(
        "confusion",
        "Severity: bot (rows) against manager (columns)",
        ["bot \\ manager", *SEVERITIES],
        [[bot, *(grid.get((bot, m), 0) for m in SEVERITIES)] for bot in SEVERITIES],
        kind="matrix",
    )
    return Figures([acks, firsts, targets, auto, volume, agreement, confusion])


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

    Times come from `time.monotonic`, not the injected clock: this bounds work, not what is shown.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._kept: dict[tuple[str | None, str | None], tuple[float, Figures]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, now: datetime, policy: str | None, org: str | None) -> Figures:
        key = (policy, org)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[0] < self.ttl:
            return kept[1]
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
