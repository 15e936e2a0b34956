"""Operations (issue 15 point 7): webhooks through the outbox, metrics, health, JSON logs, doctor.

Real parts: a local HTTP receiver (http.server in a thread) that checks every
signature with its own HMAC code, the bot's SMTP server and a relay (aiosmtpd),
SQLite and PostgreSQL, and a FastAPI app built from `intake.web.ops.router`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import smtplib
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select

from channels.parse import parse_one
from intake.cli.doctor import webhook_checks
from intake.clock import FixedClock
from intake.config import Settings, WebhookSettings
from intake.customers.orgs import add_contact, add_org
from intake.observe.logs import JsonFormatter, secrets_of
from intake.outgoing.outbox import deliver_due
from intake.outgoing.webhooks import sign, verify
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.store.orm import Outbox, Ticket
from intake.tickets.ops import TicketOps
from intake.tickets.scheduler import tick
from intake.web.ops import router
from tests.conftest import MailBuilder
from tests.servers.smtp import Relay, intake_smtp
from tests.servers.stack import add_customers, make_runtime, sqlite_url

SECRET = "whsec-0123456789abcdef-very-secret"


class Receiver:
    """An on-call tool's endpoint: verifies the signature itself (not with our code) and records events."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        self.status = 200  # what it answers to a well-signed request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fields = dict(p.split("=", 1) for p in self.headers["X-Intake-Signature"].split(","))
                mac = hmac.new(receiver.secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256)
                if not hmac.compare_digest(mac.hexdigest(), fields["v1"]):
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if receiver.status == 200:
                    receiver.events.append(
                        {
                            "event": self.headers["X-Intake-Event"],
                            "delivery": self.headers["X-Intake-Delivery"],
                            "body": json.loads(body),
                        }
                    )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/intake"
        # shutdown() waits for the next poll: 0.05 s instead of the default 0.5 s per test
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay().start()
    yield server
    server.stop()


@pytest.fixture
def bot(db_url: str, clock: FixedClock, receiver: Receiver, relay: Relay) -> Iterator[Runtime]:
    rt = make_runtime(
        db_url,
        clock,
        relay=relay.settings(),
        escalation={"notify": ["oncall@vendor.example"]},
        webhooks=[{"name": "pager", "url": receiver.url, "secret": SECRET}],
    )
    add_customers(rt)
    with rt.sessions() as session:  # a policy whose breaches escalate, and no acknowledgement as response
        add_org(session, rt.clock, "Initech", "functionize", None, ["initech.example"])
        add_contact(session, rt.clock, "Initech", "peter@initech.example", "Peter")
        session.commit()
    yield rt
    rt.engine.dispose()


def take(rt: Runtime, *mails: bytes) -> list[Any]:
    items = [parse_one(raw, f"test:{i}", rt.clock.now()) for i, raw in enumerate(mails)]
    with rt.deps(classifier=False) as deps:
        return ingest(items, deps)


def deliver(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        return deliver_due(session, rt.clock, rt.settings).as_json()


def webhook_rows(rt: Runtime) -> list[Outbox]:
    with rt.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.channel == "webhook").order_by(Outbox.id)))


# --- webhooks -----------------------------------------------------------------------------------------
def test_created_breached_escalated_and_closed_reach_the_receiver_signed(
    bot: Runtime, receiver: Receiver, clock: FixedClock, make_mail: MailBuilder
) -> None:
    mail = make_mail(
        subject="Production is down", sender="peter@initech.example", message_id="<d1@initech.example>"
    )
    [outcome] = take(bot, mail)
    assert outcome.disposition == "ticket"
    # written with the ticket, in its transaction; nothing is sent before the outbox worker runs
    assert [r.template for r in webhook_rows(bot)] == ["ticket.created"]
    assert receiver.events == []
    deliver(bot)
    assert [e["event"] for e in receiver.events] == ["ticket.created"]
    created = receiver.events[0]["body"]
    assert created["ticket"]["ref"] == f"support-{outcome.ticket_id}"
    assert created["ticket"]["subject"] == "Production is down"
    assert "error 500" not in json.dumps(created)  # the body of the mail is not in the event

    clock.advance(days=30)  # every target of the ticket is long missed
    with bot.sessions() as session:
        tick(session, bot.clock, bot.settings)
        session.commit()
    deliver(bot)
    events = [e["event"] for e in receiver.events]
    assert "ticket.breached" in events and "ticket.escalated" in events, events

    with bot.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        TicketOps(session, bot.settings, bot.clock.now()).close(ticket, "resolved", "fixed", message=False)
        session.commit()
    deliver(bot)
    assert receiver.events[-1]["event"] == "ticket.closed"
    assert receiver.refused == 0
    assert len({e["delivery"] for e in receiver.events}) == len(receiver.events)
    assert all(r.state == "sent" for r in webhook_rows(bot))


def test_an_event_rolled_back_with_its_change_is_never_sent(
    bot: Runtime, receiver: Receiver, make_mail: MailBuilder
) -> None:
    [outcome] = take(bot, make_mail(subject="Help"))
    deliver(bot)
    with bot.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None
        TicketOps(session, bot.settings, bot.clock.now()).close(ticket, "resolved", "fixed", message=False)
        session.rollback()
    assert deliver(bot)["claimed"] == 0
    assert [e["event"] for e in receiver.events] == ["ticket.created"]


@pytest.mark.parametrize(
    ("answer", "state", "attempts", "reason"),
    [
        ("wrong-secret", "failed", 1, "is the secret the one it expects"),
        (503, "pending", 1, "answered 503"),
        (404, "failed", 1, "no such URL"),
        ("down", "pending", 1, "cannot connect"),
    ],
)
def test_a_receiver_that_refuses_or_fails(
    bot: Runtime,
    receiver: Receiver,
    make_mail: MailBuilder,
    answer: object,
    state: str,
    attempts: int,
    reason: str,
) -> None:
    if answer == "wrong-secret":
        receiver.secret = "another-secret-entirely"
    elif answer == "down":
        receiver.close()
    else:
        receiver.status = int(str(answer))
    take(bot, make_mail(subject="Help"))
    deliver(bot)
    [row] = webhook_rows(bot)
    assert (row.state, row.attempts) == (state, attempts)
    assert row.last_error is not None and reason in row.last_error
    if state == "pending":  # retried later with the mail rows' backoff
        assert row.next_attempt_at > bot.clock.now()


def test_signature_checks(clock: FixedClock) -> None:
    now = clock.now()
    body = b'{"event": "ticket.created"}'
    header = sign(SECRET, int(now.timestamp()), body)
    assert verify(SECRET, header, body, now)
    assert not verify(SECRET, header, body + b" ", now)
    assert not verify("other", header, body, now)
    assert not verify(SECRET, header, body, now + timedelta(minutes=10))  # a replay, too old
    assert not verify(SECRET, "v1=deadbeef", body, now)


def test_no_webhook_configured_writes_no_rows(db_url: str, clock: FixedClock, make_mail: MailBuilder) -> None:
    rt = make_runtime(db_url, clock)
    add_customers(rt)
    take(rt, make_mail(subject="Help"))
    assert webhook_rows(rt) == []
    rt.engine.dispose()


def test_doctor_says_what_is_wrong_with_a_webhook(
    receiver: Receiver, clock: FixedClock, tmp_path: Path
) -> None:
    rt = make_runtime(sqlite_url(tmp_path), clock)
    good = WebhookSettings(name="pager", url=receiver.url, secret=SECRET)  # type: ignore[arg-type]
    [check] = webhook_checks(rt, good)
    assert check.ok and not check.warning and "took a signed ping" in check.detail
    wrong = WebhookSettings(name="pager", url=receiver.url, secret="a-different-secret-value")  # type: ignore[arg-type]
    [check] = webhook_checks(rt, wrong)
    assert not check.ok and "is the secret the one it expects" in check.detail
    [check] = webhook_checks(rt, WebhookSettings(name="pager", url=receiver.url))
    assert not check.ok and "no secret" in check.detail
    short = WebhookSettings(name="pager", url="http://hooks.example.invalid/x", secret="short")  # type: ignore[arg-type]
    checks = webhook_checks(rt, short)
    assert not checks[0].ok and "cannot connect" in checks[0].detail
    assert any(c.warning and "only 5 characters" in c.detail for c in checks)
    assert any(c.warning and "plain http" in c.detail for c in checks)
    receiver.close()
    [check] = webhook_checks(rt, good)
    assert not check.ok and "cannot connect" in check.detail
    rt.engine.dispose()


# --- metrics and health ----------------------------------------------------------------------------------
class Served:
    """The ops router in a FastAPI app, served by uvicorn on a free port in a thread."""

    def __init__(self, rt: Runtime) -> None:
        app = FastAPI()
        app.state.runtime = rt
        app.include_router(router)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def close(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve_app() -> Iterator[Any]:
    made: list[Served] = []

    def build(rt: Runtime) -> Served:
        made.append(Served(rt))
        return made[-1]

    yield build
    for served in made:
        served.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_messages_tickets_acknowledgements_and_the_outbox(
    bot: Runtime, relay: Relay, make_mail: MailBuilder, serve_app: Any
) -> None:
    before = {
        "ticket": sample("intake_messages_total", channel="email", disposition="ticket"),
        "dropped": sample("intake_messages_total", channel="email", disposition="dropped"),
        "acks": sample("intake_acknowledgements_sent_total"),
        "batches": sample("intake_pipeline_batch_seconds_count"),
    }
    take(
        bot,
        make_mail(subject="One", message_id="<m1@acme.example>"),
        make_mail(subject="Two", message_id="<m2@acme.example>"),
        make_mail(subject="Out of office", headers={"Auto-Submitted": "auto-replied"}),
    )
    client = serve_app(bot)
    text = client.get("/metrics").text
    assert sample("intake_messages_total", channel="email", disposition="ticket") == before["ticket"] + 2
    assert sample("intake_messages_total", channel="email", disposition="dropped") == before["dropped"] + 1
    assert sample("intake_pipeline_batch_seconds_count") == before["batches"] + 1
    assert 'intake_outbox_depth{channel="email"} 2.0' in text  # two acknowledgements waiting
    assert 'intake_outbox_depth{channel="webhook"} 2.0' in text
    assert 'intake_outbox_oldest_seconds{channel="email"}' in text
    tickets = [line for line in text.splitlines() if line.startswith("intake_tickets{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in tickets) == 2
    assert "intake_pipeline_message_seconds_bucket" in text and "process_resident_memory_bytes" in text
    deliver(bot)
    assert len(relay.received) == 2
    assert sample("intake_acknowledgements_sent_total") == before["acks"] + 2
    assert 'intake_outbox_depth{channel="email"}' not in client.get("/metrics").text


def test_health_and_readiness(db_url: str, clock: FixedClock, tmp_path: Path, serve_app: Any) -> None:
    rt = make_runtime(db_url, clock)
    client = serve_app(rt)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    rt.engine.dispose()
    for url, reason in (
        (f"sqlite:///{tmp_path / 'empty.db'}", "no tables yet"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2", "refused the connection"),
    ):
        down = make_runtime(url, clock)
        served = serve_app(down)
        reply = served.get("/readyz")
        assert reply.status_code == 503
        assert reason in reply.json()["reason"] and "\n" not in reply.json()["reason"]
        assert served.get("/healthz").status_code == 200
        assert "intake_messages_total" in served.get("/metrics").text  # still served
        down.engine.dispose()


# --- structured logs -------------------------------------------------------------------------------------
def test_json_logs_carry_the_ref_and_message_id_never_bodies_or_secrets(
    tmp_path: Path, clock: FixedClock, relay: Relay, receiver: Receiver, make_mail: MailBuilder
) -> None:
    body = "SENTINEL-BODY the export fails with error 500"
    password = "relay-password-not-for-logs"
    rt = make_runtime(
        sqlite_url(tmp_path),
        clock,
        relay=relay.settings(password=password),
        smtp_server={"accept": ["support@vendor.example"], "port": 0},
        webhooks=[{"name": "pager", "url": receiver.url, "secret": SECRET}],
        logging={"format": "json"},
    )
    add_customers(rt)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(rt.settings.tickets.ref_prefix, secrets_of(rt.settings)))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with intake_smtp(rt.settings, rt) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
            client.sendmail(
                "dana@acme.example",
                ["support@vendor.example"],
                make_mail(body, message_id="<json-1@acme.example>"),
            )
        deliver(rt)
        logging.getLogger("intake.test").error("relay said: bad password %s", password)
        try:
            raise RuntimeError(f"webhook secret {SECRET} leaked into an exception")
        except RuntimeError:
            logging.getLogger("intake.test").exception("failed")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        rt.engine.dispose()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    inbound = [line for line in lines if line.get("message_id") == "json-1@acme.example"]
    assert inbound and inbound[0]["ticket"] == "support-1" and inbound[0]["channel"] == "email"
    outgoing = [
        line for line in lines if line["msg"].endswith(": sent") and line.get("ticket") == "support-1"
    ]
    assert outgoing and "@" in outgoing[0]["message_id"]
    text = stream.getvalue()
    assert "SENTINEL-BODY" not in text
    assert password not in text and SECRET not in text
    assert "[redacted]" in text
    assert not any("Traceback" in line.get("error", "") for line in lines)


def test_settings_reject_a_bad_logging_format() -> None:
    with pytest.raises(ValueError, match="format"):
        Settings.model_validate({"logging": {"format": "xml"}})
