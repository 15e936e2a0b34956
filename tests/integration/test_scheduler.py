"""The scheduler under several workers at once: every timer fires once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from intake.clock import FixedClock
from intake.ingest_files import parse_one
from intake.orgs import add_contact, add_org
from intake.pipeline import ingest
from intake.replies import reply
from intake.runtime import Runtime
from intake.scheduler import tick
from intake.store.orm import Outbox, Ticket, Timer
from tests.conftest import MailBuilder


def test_concurrent_ticks_fire_each_timer_once(runtime: Runtime, make_mail: MailBuilder) -> None:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example")
        session.commit()
    now = runtime.clock.now()
    items = [
        parse_one(make_mail(subject=f"Problem {n}", body=f"Report {n} fails."), f"m{n}", now)
        for n in range(30)
    ]
    with runtime.deps() as deps:
        outcomes = ingest(items, deps)
    assert {o.disposition for o in outcomes} == {"ticket"}
    with runtime.sessions() as session:
        for outcome in outcomes:
            reply(
                session,
                runtime.clock,
                runtime.settings,
                f"support-{outcome.ticket_id}",
                "Which version?",
                request_info=True,
            )

    later = FixedClock(now + timedelta(days=4))
    reports = []

    def worker() -> None:
        with runtime.sessions() as session:
            reports.append(tick(session, later, runtime.settings))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    fired: Counter[str] = Counter()
    for report in reports:
        fired.update(report.fired)
    assert len(reports) == 4 and fired == {"reminder": 30, "auto_close": 30}
    with runtime.sessions() as session:
        templates = Counter(session.scalars(select(Outbox.template)))
        assert templates["reminder"] == 30 and templates["closing"] == 30
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status == "closed")) == 30
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending")) == 0
    with runtime.sessions() as session:
        assert tick(session, later, runtime.settings).as_json()["total"] == 0
