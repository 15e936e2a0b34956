"""The scheduler under several workers at once: every timer fires once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from channels.parse import parse_one
from intake.clock import FixedClock
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Outbox, Ticket, Timer
from intake.tickets.replies import reply
from intake.tickets.scheduler import tick
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

    def tick_with_four_workers(at: FixedClock) -> Counter[str]:
        reports = []

        def worker() -> None:
            with runtime.sessions() as session:
                reports.append(tick(session, at, runtime.settings))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(reports) == 4
        fired: Counter[str] = Counter()
        for report in reports:
            fired.update(report.fired)
        return fired

    assert tick_with_four_workers(FixedClock(now + timedelta(days=2))) == {"reminder": 30}
    later = FixedClock(now + timedelta(days=4))
    assert tick_with_four_workers(later) == {"auto_close": 30}
    with runtime.sessions() as session:
        templates = Counter(session.scalars(select(Outbox.template)))
        assert templates["reminder"] == 30 and templates["closing"] == 30
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status == "closed")) == 30
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.state == "pending")) == 0
    with runtime.sessions() as session:
        assert tick(session, later, runtime.settings).as_json()["total"] == 0


def test_catching_up_after_downtime_closes_without_a_stale_reminder(
    runtime: Runtime, make_mail: MailBuilder
) -> None:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example")
        session.commit()
    now = runtime.clock.now()
    with runtime.deps() as deps:
        [outcome] = ingest([parse_one(make_mail(), "m", now)], deps)
    with runtime.sessions() as session:
        reply(
            session,
            runtime.clock,
            runtime.settings,
            f"support-{outcome.ticket_id}",
            "Logs?",
            request_info=True,
        )
    with runtime.sessions() as session:
        report = tick(session, FixedClock(now + timedelta(days=10)), runtime.settings)
        assert (dict(report.fired), dict(report.skipped)) == ({"auto_close": 1}, {"reminder": 1})
        templates = list(session.scalars(select(Outbox.template).order_by(Outbox.id)))
        assert templates == ["ack", "info_request", "closing"]
