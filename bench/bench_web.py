"""Web benchmark: seeds 100,000 tickets and their decisions, then times each page; asserts nothing.

    python bench/bench_web.py                       # SQLite (a temporary file) and PostgreSQL
    python bench/bench_web.py --tickets 20000 --runs 20
    INTAKE_BENCH_PG_URL=postgresql+psycopg://... python bench/bench_web.py

The app runs under a real uvicorn on a free port; each page is fetched over HTTP
with a logged-in session (the API with a token): once (`first`: cold, and for the
dashboard the real computation, which is then kept for 30 s) and `--runs` times
more, for p50/p95. The `uncached` dashboard rows compute the figures on every
request (the 30 s cache switched off), which is what the 300 ms target is about;
the last two rows have four clients asking at once. The seeded tickets span a year
over 20 organisations and every bundled policy; 2 % of the decisions carry a
review; tickets of the last two weeks have any status, older ones are 97 %
resolved or closed; 6 % are acknowledged minutes to a day late, 3 % never.
PostgreSQL gets a fresh schema, dropped afterwards; it is skipped with a note when
no server answers.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from intake.clock import FixedClock  # noqa: E402
from intake.config import Settings  # noqa: E402
from intake.policies.loader import load_all  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.store.migrate import upgrade  # noqa: E402
from intake.store.orm import Organisation, Review, Ticket, TriageDecision  # noqa: E402
from intake.store.session import make_engine, make_sessionmaker  # noqa: E402
from intake.web.auth import add_token, add_user  # noqa: E402
from tests.servers.web import MANAGER, serve_web  # noqa: E402

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = ("question", "defect", "configuration", "account", "enhancement")
CHANNELS = ("email", "email", "email", "slack", "portal")
STATUSES = ("acknowledged", "in_progress", "waiting_on_customer", "resolved", "closed", "closed", "closed")


def seed(runtime: Runtime, tickets: int) -> None:
    rng = random.Random(0)
    policies = load_all()
    names = sorted(policies)
    with runtime.engine.begin() as conn:
        conn.execute(
            insert(Organisation),
            [
                {
                    "id": i + 1,
                    "name": f"Org {i + 1}",
                    "policy": names[i % len(names)],
                    "plan": None,
                    "created_at": NOW,
                }
                for i in range(20)
            ],
        )
        batch_t, batch_d, batch_r = [], [], []
        for n in range(1, tickets + 1):
            org = rng.randrange(20)
            policy = policies[names[org % len(names)]]
            level = rng.choice(policy.level_keys())
            created = NOW - timedelta(seconds=rng.randrange(365 * 86400))
            # Open tickets are recent ones: older than two weeks, 97 % are resolved or closed.
            recent = created > NOW - timedelta(days=14)
            status = (
                rng.choice(STATUSES) if recent or rng.random() < 0.03 else rng.choice(("resolved", "closed"))
            )
            confidence = round(rng.random(), 3)
            category = rng.choice(CATEGORIES)
            responded = created + timedelta(hours=rng.randrange(1, 48)) if rng.random() < 0.8 else None
            # Most receipts go out as the ticket opens; a held ticket's comes with the engineer's
            # first answer (minutes to a day later); a few are never acknowledged.
            late, never = rng.random() < 0.06, rng.random() < 0.03
            acknowledged = (
                None if never else created + timedelta(minutes=rng.randrange(1, 1800)) if late else created
            )
            batch_t.append(
                {
                    "id": n,
                    "org_id": org + 1,
                    "requester": f"user{n % 500}@org{org + 1}.example",
                    "requester_name": "",
                    "subject": f"Problem number {n}",
                    "status": status,
                    "severity": level,
                    "canonical_severity": policy.canonical(level),
                    "category": category,
                    "confidence": confidence,
                    "needs_review": confidence < 0.6,
                    "policy": policy.name,
                    "plan": None,
                    "contact_status": "designated",
                    "channel": rng.choice(CHANNELS),
                    "environment": "production",
                    "created_at": created,
                    "updated_at": created,
                    "acknowledged_at": acknowledged,
                    "first_responded_at": responded,
                    "first_response_due": created + timedelta(hours=8),
                    "resolution_due": created + timedelta(days=5),
                    "pauses": [],
                    "closed_at": created + timedelta(days=3) if status == "closed" else None,
                    "close_reason": rng.choice(("resolved", "no_reply", "duplicate"))
                    if status == "closed"
                    else None,
                }
            )
            reviewed = rng.random() < 0.02
            batch_d.append(
                {
                    "id": n,
                    "ticket_id": n,
                    "message_id": None,
                    "created_at": created,
                    "disposition": "ticket",
                    "severity": level,
                    "canonical_severity": policy.canonical(level),
                    "category": category,
                    "confidence": confidence,
                    "needs_review": confidence < 0.6 and not reviewed,
                    "model_version": "bench",
                    "inputs": {},
                    "outputs": {},
                    "hits": [],
                    "reviewed_by": MANAGER[0] if reviewed else None,
                    "reviewed_at": created + timedelta(hours=2) if reviewed else None,
                    "corrected_severity": rng.choice(SEVERITIES) if reviewed and rng.random() < 0.3 else None,
                }
            )
            if reviewed:
                batch_r.append(
                    {
                        "decision_id": n,
                        "ticket_id": n,
                        "who": MANAGER[0],
                        "at": created + timedelta(hours=2),
                        "action": "override" if batch_d[-1]["corrected_severity"] else "accept",
                        "before": {},
                        "after": {},
                        "moved": [],
                        "reason": "bench",
                    }
                )
            if len(batch_t) == 5000 or n == tickets:
                conn.execute(insert(Ticket), batch_t)
                conn.execute(insert(TriageDecision), batch_d)
                if batch_r:
                    conn.execute(insert(Review), batch_r)
                batch_t, batch_d, batch_r = [], [], []
    if runtime.engine.dialect.name == "postgresql":
        with runtime.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def measure(runtime: Runtime, runs: int) -> list[tuple[str, float, float, float]]:
    with runtime.sessions() as session:
        add_user(session, MANAGER[0], "manager", MANAGER[1], NOW)
        token = add_token(session, "bench", NOW)
    results = []
    with serve_web(runtime) as served:
        client = served.login()
        first = client.get("/review").text
        import re

        cursor = re.search(r'href="(/review\?[^"]*after=[^"]+)"', first)
        pages = {
            "review queue": "/review",
            "review: needs review": "/review?needs_review=1",
            "review: org + least confident": "/review?org=Org%207&sort=confidence",
            "review: critical, low band, channel": "/review?severity=critical&band=low&channel=slack",
            "review: date range": "/review?since=2026-06-01&until=2026-06-30",
            "review: page 2": (cursor.group(1).replace("&amp;", "&") if cursor else "/review"),
            "decision page": "/review/500",
            "tickets": "/tickets",
            "dashboard": "/dashboard",
            "dashboard: one policy": f"/dashboard?policy={sorted(load_all())[0]}",
            "dashboard: one org": "/dashboard?org=Org%203",
        }
        api = {"api decisions": "/api/decisions?needs_review=true", "api metrics": "/api/metrics"}
        uncached = {
            f"{name} (uncached)": path for name, path in pages.items() if name.startswith("dashboard")
        }
        for name, path in [*pages.items(), *api.items(), *uncached.items()]:
            served.app.state.dashboard.ttl = 0.0 if name.endswith("(uncached)") else 30.0
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            started = time.perf_counter()
            assert client.get(path, headers=headers).status_code == 200, path
            cold = (time.perf_counter() - started) * 1000
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, path
            times.sort()
            results.append((name, cold, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]))
        served.app.state.dashboard.ttl = 0.0
        for name, path in [("review queue", "/review"), ("dashboard (uncached)", "/dashboard")]:
            results.append(_concurrent(served, f"{name}, {CLIENTS} clients at once", path, runs))
    return results


CLIENTS = 4


def _concurrent(served: Any, name: str, path: str, runs: int) -> tuple[str, float, float, float]:
    """`CLIENTS` logged-in clients fetching `path` at the same time, `runs` times each."""
    clients = [served.login() for _ in range(CLIENTS)]
    times: list[float] = []
    lock = threading.Lock()

    def fetch(client: Any) -> None:
        for _ in range(runs):
            started = time.perf_counter()
            assert client.get(path).status_code == 200, path
            with lock:
                times.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=fetch, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    return name, float("nan"), statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def run(url: str, label: str, tickets: int, runs: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings.model_validate({"database": {"url": url}, "web": {"secret_key": "bench"}})
    runtime = Runtime(settings, engine, make_sessionmaker(engine), FixedClock(NOW))
    started = time.perf_counter()
    seed(runtime, tickets)
    print(f"\n{label}: seeded {tickets:,} tickets and decisions in {time.perf_counter() - started:.0f} s")
    print(f"  {'page':<40}{'first ms':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for name, cold, p50, p95 in measure(runtime, runs):
        print(f"  {name:<40}{cold:>9.1f}{p50:>9.1f}{p95:>9.1f}")
    engine.dispose()


def stores(*, sqlite: bool, postgres: bool) -> Iterator[tuple[str, str]]:
    """(URL, label) of a throw-away SQLite file, then of a throw-away schema on the PostgreSQL
    server (`INTAKE_BENCH_PG_URL`), dropped afterwards; skipped with the reason when none answers."""
    if sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db", "SQLite"
    if not postgres:
        return
    base = os.environ.get("INTAKE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        admin = create_engine(base, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        print(f"\nPostgreSQL: skipped ({type(exc).__name__}: no server at {make_url(base).host})")
        return
    try:
        yield (
            make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False),
            "PostgreSQL",
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    for url, label in stores(sqlite=not args.no_sqlite, postgres=not args.no_postgres):
        run(url, label, args.tickets, args.runs)


if __name__ == "__main__":
    main()
