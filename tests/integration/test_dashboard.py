"""The dashboard measures targets, not counts: acknowledgements against the policy's window, first
responses against `first_response_due`; the plot's table, its CSV and the API show the same figures.

Tickets are written directly, each with its creation and acknowledgement instants chosen
on either side of its window: Functionize's 15 calendar minutes, and Resource Optimizer's
"S1 - 8 Business Hours" / "S2 - 1 Business day" (its receipt is due within the initial
response time) on its coverage calendar (Monday-Friday 00:00-16:00 and 22:00-24:00 GMT).
The clock stands at Monday 2026-11-16 09:00 UTC.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from intake.policies.loader import load_all
from intake.runtime import Runtime
from intake.store.orm import Ticket
from intake.web.auth import add_user
from intake.web.dashboard import ACK_COLUMNS, figures
from tests.servers.web import MANAGER, Served, serve_web, with_web_settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


NOW = at("2026-11-16T09:00:00")
FRIDAY_LATE = at("2026-11-13T22:30:00")  # S1 from here is due Monday 06:30 (2 h Friday night + 6 h Monday)


def _ticket(
    policy: str,
    level: str,
    created: datetime,
    acknowledged: datetime | None,
    *,
    responded: datetime | None = None,
    due: datetime | None = None,
) -> Ticket:
    return Ticket(
        requester="someone@customer.example",
        subject=f"{policy} {level} {created.isoformat()}",
        status="acknowledged" if acknowledged else "new",
        severity=level,
        canonical_severity=load_all()[policy].canonical(level),
        policy=policy,
        contact_status="designated",
        channel="email",
        created_at=created,
        updated_at=created,
        acknowledged_at=acknowledged,
        first_responded_at=responded,
        first_response_due=due,
    )


def _tickets() -> list[Ticket]:
    fz = load_all()["functionize"].level_keys()[0]
    two_hours_ago = NOW - timedelta(hours=2)
    due = two_hours_ago + timedelta(hours=1)
    return [
        # Functionize: 15 calendar minutes
        _ticket(
            "functionize", fz, two_hours_ago, two_hours_ago + timedelta(minutes=14), responded=due, due=due
        ),
        _ticket(
            "functionize",
            fz,
            two_hours_ago,
            two_hours_ago + timedelta(minutes=16),
            responded=due + timedelta(minutes=1),
            due=due,
        ),
        _ticket("functionize", fz, NOW - timedelta(hours=1), None, due=NOW - timedelta(minutes=1)),
        _ticket("functionize", fz, NOW - timedelta(minutes=5), None, due=NOW + timedelta(hours=1)),
        # Resource Optimizer S1: 8 business hours; 55.5 wall hours from Friday 22:30 are still within
        _ticket("resource-optimizer", "s1", FRIDAY_LATE, at("2026-11-16T06:00:00")),
        _ticket("resource-optimizer", "s1", FRIDAY_LATE, at("2026-11-16T07:00:00")),
        _ticket("resource-optimizer", "s1", FRIDAY_LATE, FRIDAY_LATE),
        _ticket("resource-optimizer", "s1", FRIDAY_LATE, None),  # due 06:30, not acknowledged at 09:00
        _ticket("resource-optimizer", "s1", at("2026-11-16T08:00:00"), None),  # due 16:00 today
        # S2: one business day, Thursday 10:00 is due Friday 10:00, Friday 10:00 Monday 10:00
        _ticket("resource-optimizer", "s2", at("2026-11-12T10:00:00"), at("2026-11-13T09:30:00")),
        _ticket("resource-optimizer", "s2", at("2026-11-12T10:00:00"), at("2026-11-13T10:30:00")),
        _ticket("resource-optimizer", "s2", at("2026-11-13T10:00:00"), None),
        # S4: best effort, no window
        _ticket("resource-optimizer", "s4", NOW - timedelta(days=3), NOW - timedelta(days=1)),
        # before the period: not counted
        _ticket("functionize", fz, NOW - timedelta(days=40), NOW - timedelta(days=39)),
    ]


EXPECTED_ACKS = {
    #                    within, after, not acked & passed, not acked & open, no window
    "functionize": [1, 1, 1, 1, 0],
    "resource-optimizer": [3, 2, 1, 2, 1],
}


@pytest.fixture
def stored(runtime: Runtime) -> Runtime:
    assert runtime.clock.now() == NOW
    with runtime.sessions() as session:
        session.add_all(_tickets())
        add_user(session, MANAGER[0], "manager", MANAGER[1], NOW)
        session.commit()
    return runtime


@pytest.fixture
def served(stored: Runtime, tmp_path: Path) -> Iterator[Served]:
    with serve_web(with_web_settings(stored, str(tmp_path / "model"))) as web:
        yield web


def test_acknowledgements_are_measured_against_the_policys_window(stored: Runtime) -> None:
    with stored.sessions() as session:
        plot = figures(session, NOW).get("acknowledged")
    assert plot is not None and plot.columns == ACK_COLUMNS
    assert {row[0]: row[1:] for row in plot.rows} == EXPECTED_ACKS


def test_first_responses_are_measured_against_their_due_time(stored: Runtime) -> None:
    with stored.sessions() as session:
        plot = figures(session, NOW).get("first_response")
    assert plot is not None
    rows = {row[0]: row[1:] for row in plot.rows}
    # within target, late, unanswered past the due time (the one still within it is in none)
    assert rows["functionize"] == [1, 1, 1]
    assert rows["resource-optimizer"] == [0, 0, 0]


def test_one_policy_and_an_unknown_organisation(stored: Runtime) -> None:
    with stored.sessions() as session:
        plot = figures(session, NOW, policy="resource-optimizer").get("acknowledged")
        nobody = figures(session, NOW, org="No such org").get("acknowledged")
    assert plot is not None and nobody is not None
    assert {row[0]: row[1:] for row in plot.rows} == {
        "resource-optimizer": EXPECTED_ACKS["resource-optimizer"]
    }
    assert nobody.rows == []


def _table(page: str, key: str) -> list[list[str]]:
    figure = page[page.index(f'id="plot-{key}"') :]
    body = figure[figure.index("<tbody>") : figure.index("</tbody>")]
    return [
        [unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_the_table_the_csv_and_the_api_show_the_same_figures(served: Served) -> None:
    from intake.web.auth import add_token

    client = served.login()
    page = client.get("/dashboard").text
    with served.runtime.sessions() as session:
        token = add_token(session, "dashboard test", NOW)
    api = client.get("/api/metrics", headers={"Authorization": f"Bearer {token}"}).json()
    for key in ("acknowledged", "first_response"):
        table = _table(page, key)
        exported = list(csv.reader(io.StringIO(client.get(f"/dashboard/{key}.csv").text)))
        assert exported[1:] == table, key
        assert [[str(v) for v in row] for row in api[key]["rows"]] == table, key
    acks = {row[0]: [int(v) for v in row[1:]] for row in _table(page, "acknowledged")}
    assert acks == EXPECTED_ACKS
    header = next(csv.reader(io.StringIO(client.get("/dashboard/acknowledged.csv").text)))
    assert header == ACK_COLUMNS


def test_managers_asking_together_share_one_computation(
    stored: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request computes; one arriving meanwhile waits for that result instead of
    computing again (the second starts while the first is held inside the computation)."""
    import threading

    from intake.web import dashboard

    calls: list[int] = []
    inside, release = threading.Event(), threading.Event()
    real = dashboard.figures

    def held(session: Any, now: datetime, **scope: Any) -> dashboard.Figures:
        calls.append(1)
        inside.set()
        assert release.wait(30)
        return real(session, now, **scope)

    monkeypatch.setattr(dashboard, "figures", held)
    recent = dashboard.Recent(ttl=30.0)
    got: list[dashboard.Figures] = []

    def ask() -> None:
        with stored.sessions() as session:
            got.append(recent.get(session, NOW, None, None))

    first = threading.Thread(target=ask)
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=ask)
    second.start()
    second.join(0.2)  # the second is waiting for the first (it has not returned)
    assert second.is_alive()
    release.set()
    first.join(30)
    second.join(30)
    assert len(calls) == 1 and len(got) == 2 and got[0] is got[1]
