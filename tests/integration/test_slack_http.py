"""Slack over real HTTP: signed requests to the app served by uvicorn on localhost, the Web API a stand-in.

Every post the bot makes is read back from the stand-in server
(tests/servers/slack_api.py), so the tests assert on what really went to Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from channels.slack.app import web_client
from channels.slack.http import mount
from channels.slack.outbox import deliver_due
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.orm import Outbox, Ticket, TicketEvent
from intake.store.session import make_engine, make_sessionmaker
from tests.servers.net import free_port
from tests.servers.slack_api import SlackApi, SlackApiServer, event_callback

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CUSTOMER_CH = "CACME"
TRIAGE_CH = "CTRIAGE"


def _free_port() -> int:
    return free_port()  # tests/servers/net.py: outside the ephemeral range, per worker


@dataclass
class Bot:
    url: str
    runtime: Runtime
    api: SlackApi
    seq: int = 0

    def post(
        self,
        payload: dict[str, Any] | str,
        *,
        ts: int | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
        form: bool = False,
    ) -> tuple[int, str]:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        stamp = str(ts if ts is not None else int(time.time()))
        signature = (
            "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
        )
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature,
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        self.seq += 1
        return event_callback(event, CUSTOMER_CH, event_id or f"Ev{self.seq:08d}")

    def tickets(self) -> list[Ticket]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))

    def deliver(self) -> None:
        with self.runtime.sessions() as session:
            deliver_due(session, self.runtime.clock, self.runtime.settings, web_client(self.runtime))


def customer(text: str, ts: str, user: str = "UDANA", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "user": user, "user_team": "TACME", "text": text, "ts": ts, **extra}


@pytest.fixture
def bot(db_url: str) -> Iterator[Bot]:
    with SlackApiServer() as api:
        settings = Settings.model_validate(
            {
                "database": {"url": db_url},
                "slack": {
                    "signing_secret": SECRET,
                    "bot_token": "xoxb-test",
                    "api_base_url": api.url,
                    "triage_channel": TRIAGE_CH,
                    "intake_channels": {CUSTOMER_CH: "Acme"},
                },
            }
        )
        engine = make_engine(db_url)
        runtime = Runtime(
            settings,
            engine,
            make_sessionmaker(engine),
            FixedClock(
                __import__("datetime").datetime(2026, 11, 16, 9, 0, tzinfo=__import__("datetime").UTC)
            ),
        )
        with runtime.sessions() as session:
            add_org(session, runtime.clock, "Acme", "rezilion", "standard", ["acme.example"])
            add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Scully", None, "UDANA")
            add_contact(session, runtime.clock, "Acme", "lee@acme.example", "Lee Adama", None, None)
            session.commit()
        api.users["ULEE"] = {"id": "ULEE", "profile": {"email": "Lee@acme.example"}}
        api.users["USTRANGER"] = {"id": "USTRANGER", "profile": {"email": "sam@acme.example"}}
        app = FastAPI()
        mount(app, runtime)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        yield Bot(f"http://127.0.0.1:{port}/slack/events", runtime, api)
        server.should_exit = True
        thread.join(5)
        engine.dispose()


def test_a_signed_message_opens_a_ticket_and_the_acknowledgement_goes_to_its_thread(bot: Bot) -> None:
    status, _ = bot.post(
        bot.event(customer("Export to CSV fails with error 500 since this morning", "1800000001.000100"))
    )
    assert status == 200
    [ticket] = bot.tickets()
    assert (ticket.channel, ticket.slack_channel, ticket.slack_thread_ts) == (
        "slack",
        CUSTOMER_CH,
        "1800000001.000100",
    )
    assert ticket.contact_status == "designated"
    assert ticket.status == "acknowledged"
    bot.deliver()
    [post] = [c for c in bot.api.called("chat.postMessage") if c.args["channel"] == CUSTOMER_CH]
    assert post.args["thread_ts"] == "1800000001.000100"
    text = post.args["text"]
    assert f"support-{ticket.id}" in text
    assert "Severity:" in text and "model confidence" in text
    assert (
        "Next target: first response by Mon 16 Nov 2026 17:00 CST" in text
    )  # in the customer's calendar terms
    with bot.runtime.sessions() as session:
        row = session.scalar(select(Outbox).where(Outbox.channel == "slack", Outbox.template == "ack"))
        assert row is not None and row.state == "sent" and row.posted_ts is not None
    bot.deliver()  # nothing is posted twice
    assert len([c for c in bot.api.called("chat.postMessage") if c.args["channel"] == CUSTOMER_CH]) == 1


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("bad signature", {"secret": "not-the-secret"}),
        # Offsets from the moment of the request: a timestamp fixed at collection drifts into the
        # window (or out of it) while a long suite runs.
        ("stale timestamp", {"ts": -6 * 60}),
        ("future timestamp", {"ts": 6 * 60}),
    ],
)
def test_unverified_requests_are_refused_and_open_nothing(bot: Bot, why: str, kwargs: dict[str, Any]) -> None:
    if "ts" in kwargs:
        kwargs = {**kwargs, "ts": int(time.time()) + kwargs["ts"]}
    status, _ = bot.post(bot.event(customer("Our dashboard is down", "1800000002.000100")), **kwargs)
    assert status == 401, why
    assert bot.tickets() == []


def test_a_tampered_body_is_refused(bot: Bot) -> None:
    body = json.dumps(bot.event(customer("Our dashboard is down", "1800000002.000200")))
    stamp = int(time.time())
    good = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        bot.url,
        data=body.replace("dashboard", "invoice").encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": good,
        },
    )
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(request, timeout=10)
    assert bot.tickets() == []


def test_replays_retries_and_redeliveries_never_double_a_ticket(bot: Bot) -> None:
    payload = bot.event(customer("Login page returns 502 for all our users", "1800000003.000100"))
    assert bot.post(payload)[0] == 200
    assert bot.post(payload)[0] == 200  # the same signed request replayed
    assert (
        bot.post(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})[0]
        == 200
    )
    redelivered = bot.event(customer("Login page returns 502 for all our users", "1800000003.000100"))
    assert (
        bot.post(redelivered, headers={"X-Slack-Retry-Num": "2"})[0] == 200
    )  # new event_id, same channel+ts
    assert len(bot.tickets()) == 1
    bot.deliver()
    assert len([c for c in bot.api.called("chat.postMessage") if c.args["channel"] == CUSTOMER_CH]) == 1


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "bot_id": "BOTHER", "text": "Build failed on main", "ts": "1800000004.000100"},
        {
            "type": "message",
            "subtype": "bot_message",
            "text": "Deploy alert: error",
            "ts": "1800000004.000200",
        },
        {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "support-1 opened",
            "ts": "1800000004.000300",
        },
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "UDANA",
            "text": "joined",
            "ts": "1800000004.000400",
        },
        {
            "type": "message",
            "user": "UENGINEER",
            "user_team": "TVENDOR",
            "text": "Looking at exports now, error found",
            "ts": "1800000004.000500",
        },
    ],
    ids=["other-bot", "bot-message", "own-bot", "join", "vendor-engineer"],
)
def test_bots_joins_and_the_vendors_own_people_open_nothing(bot: Bot, event: dict[str, Any]) -> None:
    assert bot.post(bot.event(event))[0] == 200
    assert bot.tickets() == []


@pytest.mark.parametrize("text", ["thanks!", "ok will try", ":+1:", "🙏", "merci beaucoup !", "Danke, passt"])
def test_small_talk_opens_no_ticket(bot: Bot, text: str) -> None:
    assert bot.post(bot.event(customer(text, "1800000005.000100")))[0] == 200
    assert bot.tickets() == []


def test_a_pleasantry_after_the_bots_reply_attaches_to_that_ticket(bot: Bot) -> None:
    bot.post(
        bot.event(customer("Scheduler jobs are stuck in pending since the upgrade", "1800000006.000100"))
    )
    bot.deliver()
    bot.post(bot.event(customer("thanks!", "1800000006.000900")))
    [ticket] = bot.tickets()
    with bot.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        texts = [m.text for m in session.get(Ticket, ticket.id).messages]  # type: ignore[union-attr]
    assert texts == ["Scheduler jobs are stuck in pending since the upgrade", "thanks!"]


def test_thread_replies_are_followups_and_edits_and_deletions_are_recorded(bot: Bot) -> None:
    bot.post(bot.event(customer("Reports are empty for November", "1800000007.000100")))
    bot.post(
        bot.event(
            customer(
                "Here is a screenshot",
                "1800000007.000200",
                thread_ts="1800000007.000100",
                subtype="file_share",
                files=[{"id": "F1", "name": "shot.png", "mimetype": "image/png", "size": 2048}],
            )
        )
    )
    bot.post(
        bot.event(
            {
                "type": "message",
                "subtype": "message_changed",
                "ts": "1800000007.000300",
                "message": customer("Reports are empty for November and October", "1800000007.000100"),
            }
        )
    )
    bot.post(
        bot.event(
            {
                "type": "message",
                "subtype": "message_deleted",
                "ts": "1800000007.000400",
                "deleted_ts": "1800000007.000200",
            }
        )
    )
    [ticket] = bot.tickets()
    with bot.runtime.sessions() as session:
        stored = session.get(Ticket, ticket.id)
        assert stored is not None
        assert [m.disposition for m in stored.messages] == ["ticket", "followup"]
        assert [(a.filename, a.content_type, a.size) for a in stored.messages[1].attachments] == [
            ("shot.png", "image/png", 2048)
        ]
        reasons = [
            e.reason for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
        ]
    assert any("edited by UDANA: Reports are empty for November and October" in r for r in reasons)
    assert any("1800000007.000200 deleted in Slack" in r for r in reasons)


def test_a_stranger_in_a_ticket_thread_opens_a_held_ticket(bot: Bot) -> None:
    bot.post(bot.event(customer("Reports are empty for November", "1800000008.000100")))
    bot.post(
        bot.event(
            customer(
                "I have the same problem with exports",
                "1800000008.000200",
                user="UOTHER",
                user_team="TOTHER",
                thread_ts="1800000008.000100",
                channel="CELSEWHERE",
            )
        )
    )
    assert len(bot.tickets()) == 1  # another channel is no intake channel


def test_a_contact_found_by_users_info_email_is_designated_and_a_stranger_is_held(bot: Bot) -> None:
    bot.post(
        bot.event(customer("Licence server refuses new seats, error 403", "1800000009.000100", user="ULEE"))
    )
    bot.post(
        bot.event(customer("Our SSO login broke after the update", "1800000009.000200", user="USTRANGER"))
    )
    lee, stranger = bot.tickets()
    assert lee.contact_status == "designated"
    assert stranger.contact_status == "not_designated"
    assert stranger.status == "pending_authorisation"
    bot.deliver()
    notice = [c for c in bot.api.called("chat.postMessage") if c.args.get("thread_ts") == "1800000009.000200"]
    assert len(notice) == 1
    assert "Dana Scully (designated)" in notice[0].args["text"]
    assert "@acme.example" not in notice[0].args["text"]  # names and roles, never addresses


def test_status_command_answers_privately(bot: Bot) -> None:
    bot.post(bot.event(customer("Export to CSV fails with error 500", "1800000010.000100")))
    [ticket] = bot.tickets()
    form = (
        f"command=%2Fsupport&text=status+support-{ticket.id}&user_id=UDANA"
        f"&channel_id={CUSTOMER_CH}&trigger_id=t1"
    )
    status, body = bot.post(form, form=True)
    assert status == 200
    assert f"support-{ticket.id}" in body and "Severity" in body
    assert bot.api.called("chat.postMessage") == []  # nothing public


def test_429_retry_after_is_honoured(bot: Bot) -> None:
    bot.post(bot.event(customer("Export to CSV fails with error 500", "1800000011.000100")))
    bot.api.rate_limit("chat.postMessage", 1, 30)
    bot.deliver()
    with bot.runtime.sessions() as session:
        [row] = session.scalars(
            select(Outbox).where(Outbox.channel == "slack", Outbox.state == "pending")
        ).all()
        throttled = row.id
        assert row.last_error == "429 rate limited"
        wait = (row.next_attempt_at - bot.runtime.clock.now()).total_seconds()
    assert 29 <= wait <= 31
    calls = len(bot.api.called("chat.postMessage"))
    bot.deliver()  # not due yet
    assert len(bot.api.called("chat.postMessage")) == calls
    bot.runtime.clock.advance(seconds=31)  # type: ignore[attr-defined]
    bot.deliver()
    posts = [
        c
        for c in bot.api.called("chat.postMessage")
        if c.args["metadata"]["event_payload"]["outbox_id"] == throttled
    ]
    assert len(posts) == 2  # the refused call and the one after Retry-After
    with bot.runtime.sessions() as session:
        assert {r.state for r in session.scalars(select(Outbox).where(Outbox.channel == "slack"))} == {"sent"}


def test_serve_answers_slack_on_the_web_port_in_http_mode(bot: Bot) -> None:
    """`intake serve` with [slack] mode = "http" serves POST /slack/events itself (and stops cleanly)."""
    import asyncio

    from intake.service import serve

    port = _free_port()
    settings = bot.runtime.settings.model_copy(
        update={"web": bot.runtime.settings.web.model_copy(update={"host": "127.0.0.1", "port": port})}
    )
    runtime = Runtime(settings, bot.runtime.engine, bot.runtime.sessions, bot.runtime.clock)
    served = Bot(f"http://127.0.0.1:{port}/slack/events", runtime, bot.api)

    async def main() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(runtime, stop, signals=False))
        for _ in range(200):
            await asyncio.sleep(0.05)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                continue
        payload = served.event(customer("Export to CSV fails with error 500", "1800000012.000100"))
        status, _ = await asyncio.to_thread(served.post, payload)
        stop.set()
        await asyncio.wait_for(task, 30)
        return status

    assert asyncio.run(main()) == 200
    assert len(bot.tickets()) == 1


def test_under_a_policy_without_slack_the_redirect_is_posted_in_the_thread_not_mailed(bot: Bot) -> None:
    """Resilio Connect takes tickets through its Contact Support forms only ("Direct email support
    is not available"): a Slack message gets the redirect in its own thread, and is closed; nothing
    is queued as mail to a Slack user ID."""
    from intake.store.orm import Organisation

    with bot.runtime.sessions() as session:
        org = session.scalars(select(Organisation).where(Organisation.name == "Acme")).one()
        org.policy, org.plan = "resilio-connect", None
        session.commit()
    assert bot.post(bot.event(customer("Sync stopped on all agents", "1800000700.000100")))[0] == 200
    [ticket] = bot.tickets()
    assert (ticket.status, ticket.close_reason) == ("closed", "unsupported_channel")
    with bot.runtime.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id)).all()
        redirect = [r for r in rows if r.template == "portal_redirect"]
        assert [(r.channel, r.recipient) for r in redirect] == [("slack", f"{CUSTOMER_CH}:1800000700.000100")]
        assert not [r for r in rows if r.channel == "email"]
    bot.deliver()
    [post] = [c for c in bot.api.called("chat.postMessage") if c.args["channel"] == CUSTOMER_CH]
    assert post.args["thread_ts"] == "1800000700.000100"
    assert "Contact Support form" in post.args["text"] and "by email" not in post.args["text"]
