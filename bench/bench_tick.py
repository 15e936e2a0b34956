"""Scheduler tick with 10k, 100k and 1M open tickets, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_tick.py [--sizes 10000 100000 1000000] [--due 200] [--no-postgres]

Each store is seeded with bulk inserts made inside the database (a recursive
CTE on SQLite, generate_series on PostgreSQL): N open tickets, each with two
pending timers in the future (first-response warning and breach), and `--due`
of them with a breach timer due now. The figure is the wall time of one
`intake.tickets.scheduler.tick` at that instant (it fires the due breaches:
escalation, team notice, webhook rows) and of an idle tick (nothing due), each
beside the aim: under 1 s at 1M open tickets. A missed aim prints the cProfile
top entries of the tick.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from intake.clock import FixedClock
from intake.config import Settings
from intake.store.migrate import upgrade
from intake.store.session import make_engine, make_sessionmaker
from intake.tickets.scheduler import tick

AIM = 1.0
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get("INTAKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _seed_sql(dialect: str, n: int, due: int) -> list[str]:
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    later = (NOW + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    past = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    if dialect == "sqlite":
        seq = f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) "
        src = "seq"
        ts = "'{}'"
    else:
        seq = ""
        src = f"generate_series(1, {n}) AS seq(n)"
        ts = "TIMESTAMPTZ '{}+00'"
    tickets = (
        f"{seq}INSERT INTO tickets (id, org_id, requester, requester_name, subject, status, severity, "
        "canonical_severity, category, confidence, needs_review, policy, plan, contact_status, channel, "
        "environment, created_at, updated_at, pauses) "
        "SELECT n, NULL, 'user' || n || '@acme.example', '', 'Problem ' || n, 'acknowledged', "
        "'medium', 'medium', "
        f"NULL, NULL, false, 'functionize', NULL, 'designated', 'email', 'unknown', {ts.format(now)}, "
        f"{ts.format(now)}, '[]' FROM {src}"
    )
    payload = '\'{"due": "' + (NOW + timedelta(days=3)).isoformat() + "\"}'"
    timers = (
        f"{seq}INSERT INTO timers (ticket_id, kind, due_at, state, created_at, payload) "
        f"SELECT n, 'first_response_warn', {ts.format(later)}, 'pending', {ts.format(now)}, {payload} "
        f"FROM {src}"
    )
    breach = (
        f"{seq}INSERT INTO timers (ticket_id, kind, due_at, state, created_at, payload) "
        f"SELECT n, 'first_response_breach', CASE WHEN n <= {due} THEN {ts.format(past)} "
        f"ELSE {ts.format(later)} END, 'pending', {ts.format(now)}, {payload} FROM {src}"
    )
    return [tickets, timers, breach]


def _store(kind: str, workdir: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'tick-{uuid.uuid4().hex[:6]}.db'}", None
    schema = f"bench_tick_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), (admin, schema)


def _drop(handle: object) -> None:
    if handle is None:
        return
    admin, schema = handle  # type: ignore[misc]
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run(kind: str, n: int, due: int, workdir: Path, profile_always: bool = False) -> tuple[float, float]:
    url, handle = _store(kind, workdir)
    try:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in _seed_sql(engine.dialect.name, n, due):
                conn.execute(text(statement))
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE tickets; ANALYZE timers"))
        seeded = time.perf_counter() - started
        settings = Settings.model_validate(
            {"database": {"url": url}, "escalation": {"notify": ["oncall@vendor.example"]}}
        )
        sessions = make_sessionmaker(engine)
        clock = FixedClock(NOW)
        with sessions() as session:
            started = time.perf_counter()
            report = tick(session, clock, settings)
            busy = time.perf_counter() - started
        assert report.fired["first_response_breach"] == due, report.as_json()
        with sessions() as session:
            started = time.perf_counter()
            idle_report = tick(session, clock, settings)
            idle = time.perf_counter() - started
        assert not idle_report.fired
        print(
            f"tick {kind:8} {n:>9,} open tickets: {busy * 1000:8.1f} ms firing {due} breaches, "
            f"{idle * 1000:7.1f} ms idle  (aim < {AIM * 1000:.0f} ms; seeded in {seeded:.1f} s)"
        )
        if (n >= 1_000_000 or profile_always) and max(busy, idle) > AIM:
            # where the time goes: the same tick again on a fresh copy of the due timers
            with engine.begin() as conn:
                conn.execute(
                    text(
                        f"UPDATE timers SET state = 'pending' WHERE kind = 'first_response_breach' "
                        f"AND ticket_id <= {due}"
                    )
                )
            profile = cProfile.Profile()
            with sessions() as session:
                profile.runcall(tick, session, clock, settings)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(15)
            print(out.getvalue())
        engine.dispose()
        return busy, idle
    finally:
        _drop(handle)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print the profile whenever the aim is missed")
    args = parser.parse_args()
    kinds = ["sqlite"] if args.no_postgres else ["sqlite", "postgres"]
    with tempfile.TemporaryDirectory(prefix="bench-tick-") as tmp:
        for kind in kinds:
            for n in args.sizes:
                try:
                    run(kind, n, args.due, Path(tmp), args.profile)
                except Exception as exc:  # PostgreSQL absent: say so, keep the SQLite figures
                    print(f"tick {kind}: skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    break


if __name__ == "__main__":
    main()
