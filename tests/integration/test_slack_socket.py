"""Slack in Socket Mode: the app's own SocketModeHandler (slack_bolt's built-in slack_sdk client)
connects to a local stand-in of Slack's WebSocket (tests/servers/slack_socket.py), found through
apps.connections.open on the stand-in Web API; envelopes go over the socket as Slack sends them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.slack.app import web_client
from channels.slack.outbox import deliver_due
from channels.slack.socket import start
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.orm import Outbox, SlackEvent, Ticket
from intake.store.session import make_engine, make_sessionmaker
from tests.servers.slack_api import SlackApi, SlackApiServer, event_callback
from tests.servers.slack_socket import SocketModeServer

CUSTOMER_CH = "CACME"
APP_TOKEN = "xapp-1-A1-standin"


@dataclass
class Socket:
    runtime: Runtime
    api: SlackApi
    slack: SocketModeServer
    seq: int = 0

    def event(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        self.seq += 1
        return event_callback(event, CUSTOMER_CH, event_id or f"EvSock{self.seq:06d}")

    def tickets(self) -> list[Ticket]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))

    def customer_posts(self) -> list[dict[str, Any]]:
        return [c.args for c in self.api.called("chat.postMessage") if c.args.get("channel") == CUSTOMER_CH]


def customer(text: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "user": "UDANA", "user_team": "TACME", "text": text, "ts": ts, **extra}


def _runtime(db_url: str, api: SlackApi) -> Runtime:
    settings = Settings.model_validate(
        {
            "database": {"url": db_url},
            "outbox": {"poll_interval": 0.2},
            "web": {"enabled": False},
            "slack": {
                "mode": "socket",
                "bot_token": "xoxb-test",
                "app_token": APP_TOKEN,
                "api_base_url": api.url,
                "intake_channels": {CUSTOMER_CH: "Acme"},
            },
        }
    )
    engine = make_engine(db_url)
    runtime = Runtime(
        settings, engine, make_sessionmaker(engine), FixedClock(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
    )
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "rezilion", "standard", ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Scully", None, "UDANA")
        session.commit()
    return runtime


@pytest.fixture
def socket_env(db_url: str) -> Iterator[tuple[Runtime, SlackApi, SocketModeServer]]:
    """The stand-in Web API and Socket Mode server, and a runtime in socket mode pointing at them.
    Each acknowledgement records how many tickets the store held when it arrived."""
    with SlackApiServer() as api:
        runtime = _runtime(db_url, api)

        def stored_tickets(_envelope_id: str) -> int:
            with runtime.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)

        with SocketModeServer(on_ack=stored_tickets) as slack:
            api.socket_url = slack.url
            yield runtime, api, slack
        runtime.engine.dispose()


@pytest.fixture
def sock(socket_env: tuple[Runtime, SlackApi, SocketModeServer]) -> Iterator[Socket]:
    runtime, api, slack = socket_env
    handler = start(runtime)
    try:
        yield Socket(runtime, api, slack)
    finally:
        handler.close()


def test_connects_with_the_app_token_through_apps_connections_open(sock: Socket) -> None:
    assert sock.slack.connected.wait(10), "the app never opened the Socket Mode connection"
    [opened] = sock.api.called("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token, not the bot's
    assert sock.slack.connections == 1


def test_an_envelope_is_acknowledged_only_after_its_ticket_is_committed(sock: Socket) -> None:
    body = sock.event(customer("Export to CSV fails with error 500 since this morning", "1800000301.000100"))
    first = sock.slack.envelope("events_api", body)
    sock.slack.send(first)
    ack = sock.slack.ack()
    assert ack.envelope_id == first["envelope_id"]
    assert ack.observed == 1  # the ticket was in the store when Slack got the ack
    [ticket] = sock.tickets()
    assert (ticket.slack_channel, ticket.slack_thread_ts) == (CUSTOMER_CH, "1800000301.000100")

    # Slack redelivers what it thinks was not acknowledged: the same envelope, the same event as a
    # retry in a new envelope, and the same message under a new event_id. Each is acked, none doubles.
    retry = sock.slack.envelope("events_api", body, retry_attempt=1, retry_reason="timeout")
    again = sock.event(customer("Export to CSV fails with error 500 since this morning", "1800000301.000100"))
    for envelope in (first, retry, sock.slack.envelope("events_api", again)):
        sock.slack.send(envelope)
        redelivered = sock.slack.ack()
        assert redelivered.envelope_id == envelope["envelope_id"] and redelivered.observed == 1
    assert len(sock.tickets()) == 1
    with sock.runtime.sessions() as session:
        taken = session.scalars(select(SlackEvent.event_id).where(SlackEvent.kind == "message")).all()
    assert sorted(taken) == sorted({body["event_id"], again["event_id"]})

    # The acknowledgement reaches the stand-in Web API in the customer's thread, once.
    with sock.runtime.sessions() as session:
        deliver_due(session, sock.runtime.clock, sock.runtime.settings, web_client(sock.runtime))
        deliver_due(session, sock.runtime.clock, sock.runtime.settings, web_client(sock.runtime))
    [post] = sock.customer_posts()
    assert post["thread_ts"] == "1800000301.000100" and f"support-{ticket.id}" in post["text"]
    with sock.runtime.sessions() as session:
        row = session.scalar(select(Outbox).where(Outbox.channel == "slack", Outbox.template == "ack"))
        assert row is not None and row.state == "sent" and row.posted_ts is not None


def test_small_talk_over_the_socket_is_acknowledged_and_opens_nothing(sock: Socket) -> None:
    thanks = sock.event(customer("thanks, that fixed it 🙏", "1800000302.000100"))
    envelope = sock.slack.envelope("events_api", thanks)
    sock.slack.send(envelope)
    assert sock.slack.ack().envelope_id == envelope["envelope_id"]
    assert sock.tickets() == []


def test_a_slash_command_is_answered_in_the_acknowledgement_payload(sock: Socket) -> None:
    sock.slack.send(
        sock.slack.envelope(
            "events_api", sock.event(customer("Our SSO login broke after the update", "1800000303.000100"))
        )
    )
    sock.slack.ack()
    [ticket] = sock.tickets()
    command = sock.slack.envelope(
        "slash_commands",
        {
            "command": "/support",
            "text": f"status support-{ticket.id}",
            "user_id": "UDANA",
            "channel_id": CUSTOMER_CH,
            "team_id": "TACME",
            "trigger_id": "trig-socket",
        },
    )
    sock.slack.send(command)
    ack = sock.slack.ack()
    assert ack.envelope_id == command["envelope_id"]
    assert ack.payload is not None and f"support-{ticket.id}" in ack.payload["text"]
    assert sock.customer_posts() == []  # answered privately, nothing posted


def test_serve_in_socket_mode_takes_envelopes_and_its_outbox_worker_posts_the_acknowledgement(
    socket_env: tuple[Runtime, SlackApi, SocketModeServer],
) -> None:
    """`intake serve` with [slack] mode = "socket": connects, commits, acks, and its worker posts."""
    from intake.service import serve

    runtime, api, slack = socket_env
    state = Socket(runtime, api, slack)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(runtime, stop, signals=False))
        try:
            envelope = slack.envelope(
                "events_api", state.event(customer("Agents on RHEL 9 won't register", "1800000304.000100"))
            )
            await asyncio.to_thread(slack.send, envelope)
            ack = await asyncio.to_thread(slack.ack)
            assert ack.envelope_id == envelope["envelope_id"] and ack.observed == 1
            deadline = time.monotonic() + 30  # a wait for the worker, not a measure of its speed
            while not state.customer_posts() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(main())
    [ticket] = state.tickets()
    [post] = state.customer_posts()
    assert post["thread_ts"] == "1800000304.000100" and f"support-{ticket.id}" in post["text"]
