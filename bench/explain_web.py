"""The dashboard's and the review queue's queries, each timed and EXPLAINed, on SQLite and PostgreSQL.

    python bench/explain_web.py                     # 100,000 tickets, both databases
    python bench/explain_web.py --tickets 20000 --no-postgres

Seeds the data as bench/bench_web.py does, runs the dashboard's figures (all, one
policy, one organisation) and review-queue pages with every statement captured,
and prints each statement's time and its plan (SQLite: EXPLAIN QUERY PLAN;
PostgreSQL: EXPLAIN (ANALYZE, BUFFERS)). It asserts nothing: it is for reading.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.bench_web import NOW, seed, stores  # noqa: E402
from intake.clock import FixedClock  # noqa: E402
from intake.config import Settings  # noqa: E402
from intake.policies.loader import load_all  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.store.migrate import upgrade  # noqa: E402
from intake.store.session import make_engine, make_sessionmaker  # noqa: E402
from intake.web.dashboard import figures  # noqa: E402
from intake.web.queries import QueueFilter, queue_page  # noqa: E402


def explain(runtime: Runtime, label: str, work: Callable[[Any], object]) -> None:
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        captured.append((statement, params))

    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        with runtime.sessions() as session:
            started = time.perf_counter()
            work(session)
            total = (time.perf_counter() - started) * 1000
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)
    print(f"\n== {label}: {len(captured)} statements, {total:.1f} ms in all")
    postgres = runtime.engine.dialect.name == "postgresql"
    with runtime.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for statement, params in captured:
            cursor = raw.cursor()
            started = time.perf_counter()
            cursor.execute(statement, params)
            cursor.fetchall()
            ms = (time.perf_counter() - started) * 1000
            first = " ".join(statement.split())[:150]
            print(f"\n  {ms:7.1f} ms  {first}")
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            cursor.execute(prefix + statement, params)
            for row in cursor.fetchall():
                print("      " + " | ".join(str(v) for v in row if v is not None and v != 0))
            cursor.close()


def run(url: str, label: str, tickets: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings.model_validate({"database": {"url": url}, "web": {"secret_key": "bench"}})
    runtime = Runtime(settings, engine, make_sessionmaker(engine), FixedClock(NOW))
    seed(runtime, tickets)  # ANALYZE on PostgreSQL (as autovacuum would), none on SQLite (as in use)
    print(f"\n######## {label}: {tickets:,} tickets")
    policy = sorted(load_all())[0]
    explain(runtime, "dashboard", lambda s: figures(s, NOW))
    explain(runtime, f"dashboard: policy {policy}", lambda s: figures(s, NOW, policy=policy))
    explain(runtime, "dashboard: org Org 3", lambda s: figures(s, NOW, org="Org 3"))
    explain(runtime, "review queue", lambda s: queue_page(s, QueueFilter()))
    explain(
        runtime,
        "review: org + least confident",
        lambda s: queue_page(s, QueueFilter(org="Org 7", sort="confidence")),
    )
    explain(
        runtime,
        "review: critical, low band, slack",
        lambda s: queue_page(s, QueueFilter(severity="critical", band="low", channel="slack")),
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    for url, label in stores(sqlite=not args.no_sqlite, postgres=not args.no_postgres):
        run(url, label, args.tickets)


if __name__ == "__main__":
    main()
