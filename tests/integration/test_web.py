"""The web app over plain HTTP, served by a real uvicorn: login, CSRF, headers, inert payloads, API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.runtime import Runtime
from intake.store.orm import Review, Ticket, TriageDecision
from intake.web.auth import add_token
from tests.conftest import MailBuilder
from tests.servers.web import ENGINEER, MANAGER, Served, csrf_of, seed, serve_web, with_web_settings

AR = "mx.vendor.example; dmarc=pass header.from=acme.example"
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "<svg onload=alert(3)>",
    "</textarea><script>alert(4)</script>",
    "javascript:alert(5)",
]


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path, make_mail: MailBuilder) -> Iterator[Served]:
    rt = with_web_settings(runtime, str(tmp_path / "model"))
    mails = [
        make_mail(subject="Production is down, all users blocked", headers={"Authentication-Results": AR}),
        make_mail(
            PAYLOADS[0] + " body " + PAYLOADS[3],
            subject=PAYLOADS[1] + " subject",
            sender=f'"{PAYLOADS[2]}" <dana@acme.example>',
            html="<p>hi</p><script>alert(6)</script><img src=x onerror=alert(7)>"
            "<a href='javascript:alert(8)'>x</a>",
            headers={"Authentication-Results": AR},
            attachments=[(PAYLOADS[1] + ".txt", "text/plain", b"x")],
        ),
    ]
    seed(rt, mails)
    with serve_web(rt) as web:
        yield web


def _decision_ids(served: Served) -> list[int]:
    with served.runtime.sessions() as session:
        return list(
            session.scalars(
                select(TriageDecision.id)
                .where(TriageDecision.ticket_id.is_not(None))
                .order_by(TriageDecision.id)
            )
        )


PAGES = [
    "/",
    "/tickets",
    "/tickets/1",
    "/review",
    "/review/1",
    "/dashboard",
    "/dashboard/volume.csv",
    "/models",
    "/models/jobs/1.json",
]
POSTS = [
    "/logout",
    "/tickets/1/take",
    "/tickets/1/reply",
    "/review/1",
    "/models/retrain",
    "/models/jobs/1",
    "/models/rollback",
]
API = [
    "/api/tickets",
    "/api/tickets/1",
    "/api/decisions",
    "/api/reviews",
    "/api/metrics",
    "/api/openapi.json",
]


def test_nothing_is_visible_without_a_session_or_token(served: Served) -> None:
    client = served.client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    for path in POSTS:
        assert client.post(path, data={"csrf": "x"}).status_code in (401, 403), path
    for path in API:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer itk_wrong"}).status_code == 401, path
    # a forged session cookie is no session
    client.cookies.set("intake_session", "forged.value")
    assert client.get("/review").status_code == 303


def test_engineers_do_not_see_the_managers_pages(served: Served) -> None:
    client = served.login(ENGINEER)
    assert client.get("/tickets").status_code == 200
    for path in ("/review", "/review/1", "/dashboard", "/models"):
        assert client.get(path).status_code == 403, path


def test_security_headers_on_every_response(served: Served) -> None:
    client = served.client()
    for path in ("/login", "/review", "/support/new", "/static/app.js", "/api/tickets"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
    page = served.login().get("/review").text
    assert "<script>" not in page.replace('<script src="/static/app.js" defer></script>', "")


def test_a_post_without_its_csrf_token_is_refused(served: Served) -> None:
    client = served.login()
    [first, *_] = _decision_ids(served)
    for data in ({}, {"csrf": ""}, {"csrf": "wrong"}):
        response = client.post(
            f"/review/{first}", data={**data, "action": "override", "severity": "low", "reason": "no"}
        )
        assert response.status_code == 403
    with served.runtime.sessions() as session:
        assert session.scalars(select(Review)).all() == []
    # the login form too: a cookie-less POST with a made-up token is refused
    fresh = served.client()
    assert (
        fresh.post(
            "/login", data={"csrf": "made-up", "email": MANAGER[0], "password": MANAGER[1]}
        ).status_code
        == 403
    )


def test_five_wrong_passwords_are_throttled(served: Served) -> None:
    client = served.client()
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        response = client.post("/login", data={"csrf": token, "email": MANAGER[0], "password": "wrong"})
        assert response.status_code == 401
    # the right password no longer helps for a while
    response = client.post("/login", data={"csrf": token, "email": MANAGER[0], "password": MANAGER[1]})
    assert response.status_code == 429
    assert "intake_session" not in response.cookies
    # other case of the address is the same account, and the same throttle
    response = client.post(
        "/login", data={"csrf": token, "email": MANAGER[0].upper(), "password": MANAGER[1]}
    )
    assert response.status_code == 429


def test_payloads_render_inert(served: Served) -> None:
    client = served.login()
    pages = [client.get("/tickets").text, client.get("/tickets/2").text, client.get("/review").text]
    pages += [client.get(f"/review/{d}").text for d in _decision_ids(served)]
    for page in pages:
        body = page.replace('<script src="/static/app.js" defer></script>', "")
        assert "<script" not in body.lower()
        assert not re.search(r"<[^>]+\son\w+\s*=", body, re.IGNORECASE), "an event handler attribute survived"
        assert "<svg onload" not in body.lower()
        assert 'href="javascript:' not in body.lower()
    # the payloads are shown as text
    assert unescape("&lt;script&gt;alert(1)&lt;/script&gt;") in unescape(pages[1])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]


def test_override_is_audited_recomputes_the_due_time_and_is_training_data(served: Served) -> None:
    client = served.login()
    [first, *_] = _decision_ids(served)
    with served.runtime.sessions() as session:
        decision = session.get(TriageDecision, first)
        assert decision is not None
        ticket = session.get(Ticket, decision.ticket_id)
        assert ticket is not None
        before_due, before_sev = ticket.first_response_due, ticket.canonical_severity
    target = "low" if before_sev != "low" else "critical"
    page = client.get(f"/review/{first}").text
    response = client.post(
        f"/review/{first}",
        data={
            "csrf": csrf_of(page),
            "action": "override",
            "severity": target,
            "category": "question",
            "contact_status": "designated",
            "reason": "customer confirmed it is a question",
        },
    )
    assert response.status_code == 303
    shown = client.get(response.headers["location"]).text
    assert "first response due" in shown and "customer confirmed it is a question" in shown
    with served.runtime.sessions() as session:
        [review] = session.scalars(select(Review)).all()
        assert review.who == MANAGER[0] and review.action == "override"
        assert (
            review.before["canonical_severity"] == before_sev and review.after["canonical_severity"] == target
        )
        ticket = session.get(Ticket, review.ticket_id)
        assert ticket is not None and ticket.canonical_severity == target
        assert ticket.first_response_due != before_due
        assert review.after["first_response_due"] == (
            ticket.first_response_due.isoformat() if ticket.first_response_due else None
        )
        from intake.tickets.reviews import review_records

        [record] = review_records(session)
        assert record.severity == target and record.category == "question"


def test_an_engineer_takes_and_answers_a_ticket(served: Served) -> None:
    client = served.login(ENGINEER)
    page = client.get("/tickets/1").text
    assert client.post("/tickets/1/take", data={"csrf": csrf_of(page)}).status_code == 303
    response = client.post(
        "/tickets/1/reply", data={"csrf": csrf_of(page), "text": "Looking at it now.", "action": "reply"}
    )
    assert response.status_code == 303
    with served.runtime.sessions() as session:
        ticket = session.get(Ticket, 1)
        assert ticket is not None
        assert ticket.assignee == ENGINEER[0]
        assert ticket.first_responded_at is not None and ticket.status == "in_progress"
    assert "Looking" not in client.get("/tickets?mine=1").text  # the list shows tickets, not replies
    assert "support-1" in client.get("/tickets?mine=1").text


def test_review_queue_filters_and_pages(served: Served) -> None:
    client = served.login()
    everything = client.get("/review").text
    assert everything.count('href="/review/') == 2
    assert client.get("/review?org=Nobody").text.count('href="/review/') == 0
    assert client.get("/review?org=Acme&channel=email&sort=confidence").text.count('href="/review/') == 2
    assert client.get("/review?since=2030-01-01").text.count('href="/review/') == 0
    assert client.get("/review?until=2020-01-01").text.count('href="/review/') == 0
    assert client.get("/review?since=bogus").status_code == 400


def test_json_api_with_a_token(served: Served) -> None:
    with served.runtime.sessions() as session:
        token = add_token(session, "reports", served.runtime.clock.now())
    client = served.client()
    auth = {"Authorization": f"Bearer {token}"}
    tickets = client.get("/api/tickets", headers=auth).json()["tickets"]
    assert {t["ref"] for t in tickets} == {"support-1", "support-2"}
    assert client.get("/api/decisions", headers=auth).json()["decisions"]
    doc = client.get("/api/openapi.json", headers=auth).json()
    assert "/api/decisions" in doc["paths"] and "/login" not in doc["paths"]
    metrics = client.get("/api/metrics", headers=auth).json()
    assert set(metrics) >= {
        "acknowledged",
        "first_response",
        "targets",
        "closed",
        "volume",
        "agreement",
        "confusion",
    }
    result = client.post(
        "/api/tickets/1/review", headers=auth, json={"category": "defect", "reason": "api"}
    ).json()
    assert result["ref"] == "support-1"


def test_dashboard_plots_tables_and_csv(served: Served) -> None:
    client = served.login()
    page = client.get("/dashboard").text
    assert page.count("<svg") == 7 and page.count("<table") >= 7
    csv = client.get("/dashboard/volume.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("day,")
    assert sum(int(v) for line in csv.text.splitlines()[1:] for v in line.split(",")[1:]) == 2


def _link(served: Served, email: str) -> str:
    from intake.store.orm import Outbox

    with served.runtime.sessions() as session:
        row = session.scalars(
            select(Outbox)
            .where(Outbox.recipient == email, Outbox.template == "support_confirm")
            .order_by(Outbox.id.desc())
        ).first()
        assert row is not None, "no confirmation mail queued"
        found = re.search(r"https?://\S+/support/confirm/\S+", row.body_text)
        assert found, row.body_text
        return found.group(0).removeprefix(served.base)


def _submit(client: Any, email: str, **extra: str) -> Any:
    token = csrf_of(client.get("/support/new").text)
    data = {
        "csrf": token,
        "name": "Dana Smith",
        "email": email,
        "organisation": "Acme",
        "stated_severity": "high",
        "environment": "production",
        "subject": "Sync stopped",
        "description": "Sync stopped on all agents since 08:00.",
        **extra,
    }
    return client.post(
        "/support/new", data=data, files=[("attachments", ("log <b>.txt", b"log line", "text/plain"))]
    )


def test_support_form_counts_only_after_the_email_is_confirmed(served: Served) -> None:
    client = served.client()
    with served.runtime.sessions() as session:
        before = len(session.scalars(select(Ticket.id)).all())
    assert _submit(client, "dana@acme.example").status_code == 200
    link = _link(served, "dana@acme.example")
    with served.runtime.sessions() as session:
        assert len(session.scalars(select(Ticket.id)).all()) == before, "no ticket before confirmation"
    # opening the link (a mail scanner does) shows a page; it does not confirm
    assert client.get(link).status_code == 200
    with served.runtime.sessions() as session:
        assert len(session.scalars(select(Ticket.id)).all()) == before
    confirmed = client.post(link, data={"csrf": csrf_of(client.get(link).text)})
    assert confirmed.status_code == 200 and "support-" in confirmed.text
    with served.runtime.sessions() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None
        assert ticket.channel == "portal" and ticket.requester == "dana@acme.example"
        assert ticket.contact_status == "designated"
        [message] = ticket.messages
        assert [a.filename for a in message.attachments] == ["log <b>.txt"]
        assert "Severity: high" in message.text
    # the attachment's name renders as text on the engineers' page
    page = served.login(ENGINEER).get(f"/tickets/{ticket.id}").text
    assert "log &lt;b&gt;.txt" in page
    # the link works once
    assert client.post(link, data={"csrf": csrf_of(client.get("/support/new").text)}).status_code == 404


def test_a_confirmed_form_is_no_way_around_the_designated_contact_check(served: Served) -> None:
    client = served.client()
    _submit(client, "mallory@acme.example")
    link = _link(served, "mallory@acme.example")
    client.post(link, data={"csrf": csrf_of(client.get(link).text)})
    with served.runtime.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.requester == "mallory@acme.example")).one()
        assert ticket.contact_status == "not_designated"


def test_support_form_is_rate_limited_and_needs_its_csrf_token(served: Served) -> None:
    client = served.client()
    assert (
        client.post("/support/new", data={"email": "dana@acme.example", "description": "x"}).status_code
        == 403
    )
    codes = [_submit(client, "someone@globex.example").status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    # the limit is per address: another one may still ask, until the client's own limit of 5
    assert _submit(client, "dana@acme.example").status_code == 200
    assert _submit(client, "lee@acme.example").status_code == 200
    assert _submit(client, "hank@globex.example").status_code == 429


def test_bad_form_values_are_refused_with_the_reason(served: Served) -> None:
    client = served.client()
    for extra, reason in (
        ({"email": "a@b.example, c@d.example"}, "one email"),
        ({"description": ""}, "Describe"),
        ({"stated_severity": "<script>"}, "from the lists"),
    ):
        response = _submit(client, extra.pop("email", "dana@acme.example"), **extra)
        assert response.status_code == 400 and reason in response.text


def test_the_form_is_the_supported_channel_where_a_policy_takes_no_email(served: Served) -> None:
    from intake.customers.orgs import add_contact, add_org

    rt = served.runtime
    with rt.sessions() as session:
        add_org(session, rt.clock, "Initech", "resilio-connect", None, ["initech.example"])
        add_contact(session, rt.clock, "Initech", "peter@initech.example", "Peter")
        session.commit()
    client = served.client()
    _submit(client, "peter@initech.example", organisation="Initech")
    link = _link(served, "peter@initech.example")
    client.post(link, data={"csrf": csrf_of(client.get(link).text)})
    with rt.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.requester == "peter@initech.example")).one()
        assert ticket.channel == "portal" and ticket.policy == "resilio-connect"
        assert ticket.contact_status == "designated"
        assert ticket.close_reason is None and ticket.status != "closed"
        assert ticket.first_response_due is not None
