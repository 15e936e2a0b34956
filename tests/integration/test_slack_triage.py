"""The engineers' side in Slack: the triage post and its actions, replies that reach the customer,
internal discussion that never does, CSAT buttons, and a crash between commit and post."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.sla.timers import FIRST_RESPONSE_KINDS
from intake.store.orm import Outbox, Ticket, TicketEvent, Timer, TriageDecision
from tests.integration.test_slack_http import CUSTOMER_CH, TRIAGE_CH, Bot, bot, customer

__all__ = ["bot"]


def interact(bot: Bot, payload: dict[str, Any]) -> tuple[int, str]:
    form = "payload=" + urllib.parse.quote(json.dumps(payload))
    return bot.post(form, form=True)


def button(bot: Bot, action: str, ref: str, user: str = "UENG") -> tuple[int, str]:
    return interact(
        bot,
        {
            "type": "block_actions",
            "team": {"id": "TVENDOR"},
            "user": {"id": user, "team_id": "TVENDOR"},
            "api_app_id": "A1",
            "trigger_id": "trig-1",
            "channel": {"id": TRIAGE_CH},
            "container": {"type": "message", "channel_id": TRIAGE_CH},
            "actions": [
                {"action_id": f"intake_{action}", "block_id": "intake_ticket", "value": ref, "type": "button"}
            ],
        },
    )


def submit(
    bot: Bot, callback: str, metadata: str, values: dict[str, str], user: str = "UENG"
) -> tuple[int, str]:
    state = {
        block: {"value": {"type": "plain_text_input", "value": value}} for block, value in values.items()
    }
    return interact(
        bot,
        {
            "type": "view_submission",
            "team": {"id": "TVENDOR"},
            "user": {"id": user, "team_id": "TVENDOR"},
            "api_app_id": "A1",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": callback,
                "private_metadata": metadata,
                "state": {"values": state},
            },
        },
    )


def posts(bot: Bot, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in bot.api.called("chat.postMessage") if c.args["channel"] == channel]


def open_ticket(bot: Bot, ts: str = "1800000100.000100") -> Ticket:
    bot.post(bot.event(customer("Export to CSV fails with error 500 since this morning", ts)))
    bot.deliver()
    [ticket] = bot.tickets()
    return ticket


def test_a_new_ticket_is_posted_to_triage_and_take_updates_it_in_place(bot: Bot) -> None:
    ticket = open_ticket(bot)
    ref = f"support-{ticket.id}"
    [post] = posts(bot, TRIAGE_CH)
    assert ref in post["text"] and "Assignee: nobody" in post["text"]
    actions = {e["action_id"] for b in post["blocks"] for e in b.get("elements", [])}
    assert {
        "intake_take",
        "intake_severity",
        "intake_reply",
        "intake_request_info",
        "intake_resolve",
        "intake_close",
    } <= actions
    [stored] = bot.tickets()
    assert stored.triage_ts is not None
    assert button(bot, "take", ref)[0] == 200
    bot.deliver()
    [update] = [c.args for c in bot.api.called("chat.update")]
    assert update["ts"] == stored.triage_ts and update["channel"] == TRIAGE_CH
    assert "Assignee: <@UENG>" in update["text"]
    assert len(posts(bot, TRIAGE_CH)) == 1  # updated in place, not reposted


def test_internal_discussion_never_reaches_the_customer_and_a_reply_does(bot: Bot) -> None:
    ticket = open_ticket(bot)
    ref = f"support-{ticket.id}"
    [stored] = bot.tickets()
    before_customer = len(posts(bot, CUSTOMER_CH))
    internal = bot.event(
        {
            "type": "message",
            "channel": TRIAGE_CH,
            "user": "UENG",
            "user_team": "TVENDOR",
            "text": "I think this is the S3 credentials bug again, don't tell them yet",
            "ts": "1800000100.000500",
            "thread_ts": stored.triage_ts,
        }
    )
    assert bot.post(internal)[0] == 200
    bot.deliver()
    with bot.runtime.sessions() as session:
        rows = list(session.scalars(select(Outbox)))
    assert not any("S3 credentials" in (r.body_text + r.subject) for r in rows)  # neither Slack nor mail
    assert len(posts(bot, CUSTOMER_CH)) == before_customer
    assert all("S3 credentials" not in json.dumps(c.args) for c in bot.api.calls if c.method != "auth.test")
    # The explicit action: /support reply goes out in the customer's thread and is mirrored to triage.
    text = (
        f"command=%2Fsupport&text=reply+{ref}+Fixed+in+4.2.1%2C+please+retry"
        f"&user_id=UENG&channel_id={TRIAGE_CH}"
    )
    status, body = bot.post(text + "&trigger_id=t2", form=True)
    assert status == 200 and "Sent to the customer" in body
    bot.deliver()
    answer = posts(bot, CUSTOMER_CH)[-1]
    assert answer["thread_ts"] == "1800000100.000100" and "Fixed in 4.2.1, please retry" in answer["text"]
    mirrored = [p for p in posts(bot, TRIAGE_CH) if p.get("thread_ts") == stored.triage_ts]
    assert any("Fixed in 4.2.1" in p["text"] for p in mirrored)
    [after] = bot.tickets()
    assert after.first_responded_at is not None


def test_the_reply_modal_answers_the_customer_and_customer_messages_are_mirrored(bot: Bot) -> None:
    ticket = open_ticket(bot)
    ref = f"support-{ticket.id}"
    assert submit(bot, "intake_reply", f"{ref}|request_info", {"text": "Which browser do you use?"})[0] == 200
    bot.deliver()
    assert "Which browser do you use?" in posts(bot, CUSTOMER_CH)[-1]["text"]
    [waiting] = bot.tickets()
    assert waiting.status == "waiting_on_customer"
    bot.post(
        bot.event(customer("Firefox 128 on Windows", "1800000100.000900", thread_ts="1800000100.000100"))
    )
    bot.deliver()
    [stored] = bot.tickets()
    mirrored = [p["text"] for p in posts(bot, TRIAGE_CH) if p.get("thread_ts") == stored.triage_ts]
    assert any("<@UDANA> Firefox 128 on Windows" in t for t in mirrored)


def test_change_severity_is_a_review_with_targets_recomputed(bot: Bot) -> None:
    ticket = open_ticket(bot)
    ref = f"support-{ticket.id}"
    due_before = ticket.resolution_due
    level = "critical" if ticket.severity != "critical" else "low"
    assert (
        submit(
            bot,
            "intake_override",
            ref,
            {"severity": level, "category": "configuration", "reason": "prod down"},
        )[0]
        == 200
    )
    [after] = bot.tickets()
    assert after.severity == level and after.category == "configuration"
    assert after.resolution_due != due_before
    with bot.runtime.sessions() as session:
        decision = session.scalar(select(TriageDecision).where(TriageDecision.ticket_id == ticket.id))
        assert decision is not None and decision.reviewed_by == "slack:UENG"
        assert decision.corrected_category == "configuration"
        events = [
            e.reason for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))
        ]
    assert any("override by slack:UENG" in e and "why: prod down" in e for e in events)
    bot.deliver()
    assert bot.api.called("chat.update")  # the triage post shows the new severity


def test_csat_buttons_on_close_record_the_answer(bot: Bot) -> None:
    ticket = open_ticket(bot)
    ref = f"support-{ticket.id}"
    with bot.runtime.sessions() as session:  # a policy with a survey (Revalize's) for this ticket
        stored = session.get(Ticket, ticket.id)
        assert stored is not None
        stored.policy, stored.plan, stored.severity = "revalize", None, "s3"
        session.commit()
    assert button(bot, "close", ref)[0] == 200
    bot.deliver()
    [survey] = [p for p in posts(bot, CUSTOMER_CH) if p.get("blocks")]
    buttons = [e["action_id"] for b in survey["blocks"] for e in b.get("elements", [])]
    assert buttons == [f"intake_csat_{n}" for n in range(1, 6)]
    interact(
        bot,
        {
            "type": "block_actions",
            "team": {"id": "TVENDOR"},
            "user": {"id": "UDANA"},
            "api_app_id": "A1",
            "actions": [{"action_id": "intake_csat_4", "value": f"{ref}:4", "type": "button"}],
        },
    )
    [closed] = bot.tickets()
    assert (closed.status, closed.csat) == ("closed", "4")


WORKER = """
import os, signal, sys
from datetime import UTC, datetime
from slack_sdk import WebClient
from channels.slack.outbox import deliver_due
from intake.clock import FixedClock
from intake.config import Settings
from intake.runtime import Runtime
from intake.store.session import make_engine, make_sessionmaker
url, api, when = sys.argv[1], sys.argv[2], sys.argv[3]
original = WebClient.chat_postMessage
def post_then_die(self, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)  # the attempt is counted, nothing reached Slack
    response = original(self, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # after Slack has the post, before the row is marked
    return response
WebClient.chat_postMessage = post_then_die
slack = {"bot_token": "xoxb-t", "api_base_url": api, "triage_channel": "CTRIAGE"}
settings = Settings.model_validate({"database": {"url": url}, "slack": slack})
engine = make_engine(url)
clock = FixedClock(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
runtime = Runtime(settings, engine, make_sessionmaker(engine), clock)
with runtime.sessions() as session:
    deliver_due(session, runtime.clock, settings, WebClient(token="xoxb-t", base_url=api))
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_9_between_commit_and_post_loses_nothing_and_doubles_nothing(
    bot: Bot, tmp_path: Path, when: str
) -> None:
    """Slack had its 200 (the ticket is committed); the worker posting its rows is killed -9,
    before its call reaches Slack or after Slack has the post but before the row is marked."""
    bot.post(bot.event(customer("Export to CSV fails with error 500", "1800000200.000100")))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    url = bot.runtime.settings.database.url
    done = subprocess.run(
        [sys.executable, str(script), url, bot.api.url, when],
        env=env,
        timeout=60,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert len(bot.api.called("chat.postMessage")) == (1 if when == "after" else 0)
    bot.runtime.clock.advance(seconds=bot.runtime.settings.outbox.claim_lease + 1)  # type: ignore[attr-defined]
    bot.deliver()  # the surviving worker looks for each counted attempt's post before posting
    bot.deliver()
    ids = [c.args["metadata"]["event_payload"]["outbox_id"] for c in bot.api.called("chat.postMessage")]
    with bot.runtime.sessions() as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.channel == "slack")))
    assert len(rows) == 2  # the acknowledgement and the triage post
    assert sorted(ids) == sorted(r.id for r in rows)  # every row posted exactly once
    assert all(r.state == "sent" and r.posted_ts for r in rows)
    acks = [c for c in bot.api.called("chat.postMessage") if c.args["channel"] == CUSTOMER_CH]
    assert len(acks) == 1 and "support-" in acks[0].args["text"]


def reaction(bot: Bot, name: str, ts: str, user: str, channel: str = CUSTOMER_CH) -> dict[str, Any]:
    return bot.event(
        {
            "type": "reaction_added",
            "user": user,
            "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
        }
    )


def test_a_designated_contacts_thumbs_up_on_the_notice_authorises_the_held_ticket(bot: Bot) -> None:
    bot.post(
        bot.event(customer("Our SSO login broke after the update", "1800000300.000100", user="USTRANGER"))
    )
    bot.deliver()
    [held] = bot.tickets()
    assert held.status == "pending_authorisation"
    [notice] = [p for p in posts(bot, CUSTOMER_CH) if p.get("thread_ts") == "1800000300.000100"]
    notice_ts = bot.api.messages[CUSTOMER_CH][-1]["ts"]
    assert "not registered" in notice["text"]
    bot.post(reaction(bot, "+1", notice_ts, "USTRANGER"))  # the stranger cannot authorise herself
    assert bot.tickets()[0].status == "pending_authorisation"
    bot.post(reaction(bot, "+1", notice_ts, "UDANA"))
    [ticket] = bot.tickets()
    assert ticket.status == "acknowledged"
    bot.deliver()
    ack = posts(bot, CUSTOMER_CH)[-1]
    assert ack["thread_ts"] == "1800000300.000100" and f"support-{ticket.id}" in ack["text"]


def test_manual_channels_open_a_ticket_only_on_the_ticket_reaction(bot: Bot) -> None:
    assert bot.runtime.settings.slack is not None
    bot.runtime.settings.slack.channel_modes[CUSTOMER_CH] = "manual"
    bot.post(bot.event(customer("Reports are empty for November", "1800000400.000100")))
    assert bot.tickets() == []
    bot.api.messages[CUSTOMER_CH] = [
        {
            "type": "message",
            "user": "UDANA",
            "user_team": "TACME",
            "text": "Reports are empty for November",
            "ts": "1800000400.000100",
        }
    ]
    event = reaction(bot, "ticket", "1800000400.000100", "UENG")  # an engineer's 🎫 counts too
    assert bot.post(event)[0] == 200
    assert bot.post(event)[0] == 200  # redelivered
    [ticket] = bot.tickets()
    assert ticket.requester == "UDANA" and ticket.slack_thread_ts == "1800000400.000100"


def test_warnings_and_escalations_go_to_the_triage_thread_and_the_assignee(bot: Bot) -> None:
    from intake.tickets.ops import TicketOps

    ticket = open_ticket(bot)
    button(bot, "take", f"support-{ticket.id}", user="UENG")
    with bot.runtime.sessions() as session:
        stored = session.get(Ticket, ticket.id)
        assert stored is not None
        ops = TicketOps(session, bot.runtime.settings, bot.runtime.clock.now())
        ops.notify_team(stored, "breach warning", "resolution", stored.resolution_due, "due in 2 hours")
        session.commit()
    bot.deliver()
    [stored_after] = bot.tickets()
    in_thread = [p for p in posts(bot, TRIAGE_CH) if p.get("thread_ts") == stored_after.triage_ts]
    assert any("breach warning" in p["text"] for p in in_thread)
    [dm] = posts(bot, "UENG")
    assert "breach warning" in dm["text"] and f"support-{ticket.id}" in dm["text"]


def test_support_opens_a_modal_whose_submission_opens_a_ticket(bot: Bot) -> None:
    form = f"command=%2Fsupport&text=&user_id=UDANA&channel_id={CUSTOMER_CH}&trigger_id=trig-9"
    assert bot.post(form, form=True)[0] == 200
    [opened] = [c.args for c in bot.api.called("views.open")]
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    assert view["callback_id"] == "intake_support" and view["private_metadata"] == CUSTOMER_CH
    assert {b["block_id"] for b in view["blocks"]} == {"description", "severity", "environment"}
    values = {
        "description": "Scans never finish on the prod cluster",
        "severity": "critical",
        "environment": "production",
    }
    assert submit(bot, "intake_support", CUSTOMER_CH, values, user="UDANA")[0] == 200
    assert submit(bot, "intake_support", CUSTOMER_CH, values, user="UDANA")[0] == 200  # same view: once
    [ticket] = bot.tickets()
    assert (ticket.requester, ticket.contact_status) == ("UDANA", "designated")
    with bot.runtime.sessions() as session:
        [message] = session.get(Ticket, ticket.id).messages  # type: ignore[union-attr]
        assert "Severity: critical" in message.text and "Environment: production" in message.text
    bot.deliver()
    [ack] = [p for p in posts(bot, CUSTOMER_CH)]
    assert "thread_ts" not in ack and f"support-{ticket.id}" in ack["text"]  # the ack starts the thread
    [after] = bot.tickets()
    assert after.slack_thread_ts == bot.api.messages[CUSTOMER_CH][0]["ts"]


def _answer_story(bot: Bot, ticket_id: int) -> tuple[Any, ...]:
    """What an answer changes on a ticket: first response, status, owner, the first-response timers."""
    with bot.runtime.sessions() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        timers = sorted(
            (t.kind, t.state)
            for t in session.scalars(select(Timer).where(Timer.ticket_id == ticket_id))
            if t.kind in FIRST_RESPONSE_KINDS
        )
        return ticket.first_responded_at, ticket.status, ticket.owner, ticket.acknowledged_at, timers


def test_an_engineers_answer_in_the_customers_thread_is_the_first_response_like_the_reply_action(
    bot: Bot,
) -> None:
    by_modal = open_ticket(bot, "1800000200.000100")
    bot.post(bot.event(customer("Scheduled reports arrive empty since Monday", "1800000201.000100")))
    bot.deliver()
    by_thread = next(t for t in bot.tickets() if t.id != by_modal.id)
    pending = [("first_response_breach", "pending"), ("first_response_warn", "pending")]
    assert _answer_story(bot, by_thread.id)[-1] == pending  # the clock runs before anyone answers
    customer_posts = len(posts(bot, CUSTOMER_CH))

    bot.runtime.clock.advance(seconds=600)  # type: ignore[attr-defined]
    modal_ref = f"support-{by_modal.id}|reply"
    assert submit(bot, "intake_reply", modal_ref, {"text": "Looking at it now"})[0] == 200
    answer = bot.event(
        {
            "type": "message",
            "user": "UENG",
            "user_team": "TVENDOR",
            "text": "Hi Dana, the report job lost its schedule in the upgrade; re-saving it fixes it",
            "ts": "1800000201.000300",
            "thread_ts": "1800000201.000100",
        }
    )
    assert bot.post(answer)[0] == 200
    assert bot.post(answer, headers={"X-Slack-Retry-Num": "1"})[0] == 200  # a retry changes nothing twice

    modal, thread = _answer_story(bot, by_modal.id), _answer_story(bot, by_thread.id)
    assert thread == modal  # exactly what the explicit action does
    assert thread[0] == bot.runtime.clock.now() and thread[1] == "in_progress"
    assert thread[-1] == [("first_response_breach", "cancelled"), ("first_response_warn", "cancelled")]
    assert len(bot.tickets()) == 2  # the engineer opened nothing
    with bot.runtime.sessions() as session:
        stored = session.get(Ticket, by_thread.id)
        assert stored is not None
        assert [m.sender for m in stored.messages] == ["UDANA"]  # not a customer message
        answered = [
            e.reason
            for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == by_thread.id))
            if "answered the customer" in e.reason
        ]
    assert answered == ["engineer slack:UENG answered the customer in the customer's Slack thread"]
    bot.deliver()
    # Nothing is re-sent to the customer (they saw the answer where it was typed); the modal's answer is.
    [sent] = posts(bot, CUSTOMER_CH)[customer_posts:]
    assert "Looking at it now" in sent["text"] and sent["thread_ts"] == "1800000200.000100"
    mirrored = [p["text"] for p in posts(bot, TRIAGE_CH) if p.get("thread_ts") == stored.triage_ts]
    assert any("the report job lost its schedule" in t for t in mirrored)


def test_an_engineer_in_a_thread_that_is_no_tickets_opens_nothing(bot: Bot) -> None:
    chatter = bot.event(
        {
            "type": "message",
            "user": "UENG",
            "user_team": "TVENDOR",
            "text": "Our maintenance window is Sunday 02:00 UTC, the export is down for ten minutes",
            "ts": "1800000202.000300",
            "thread_ts": "1800000202.000100",
        }
    )
    assert bot.post(chatter)[0] == 200
    assert bot.tickets() == []
