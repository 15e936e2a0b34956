"""`intake demo`, the Slack part: a customer's message in a shared channel becomes a ticket and an
engineer's answer reaches the customer's thread, without a Slack workspace.

The bot's real Slack endpoint is served on localhost (uvicorn, POST /slack/events)
and gets requests signed as Slack signs them; the Web API is the local stand-in
(channels/slack/standin.py), whose recorded posts are printed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import uvicorn
from fastapi import FastAPI
from rich.console import Console

from channels.slack.app import web_client
from channels.slack.http import mount
from channels.slack.outbox import deliver_due
from channels.slack.standin import SlackApiServer
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime

SECRET = "demo-signing-secret"  # noqa: S105 (the demo signs its own requests)
CHANNEL, TRIAGE = "CGLOBEX", "CTRIAGE"


def _post(url: str, body: str, form: bool = False) -> str:
    stamp = str(int(time.time()))  # noqa: TID251 (Slack's signature covers the wall-clock time)
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    request = urllib.request.Request(  # noqa: S310 (a localhost URL built here)
        url,
        data=body.encode(),
        headers={"Content-Type": kind, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return f"{response.status} {response.read().decode()[:200]}".strip()


def run_slack_demo(out: Console, settings: Settings, runtime: Runtime) -> list[dict[str, Any]]:
    with SlackApiServer() as api:
        slack = {
            "signing_secret": SECRET,
            "bot_token": "xoxb-demo",
            "api_base_url": api.url,
            "triage_channel": TRIAGE,
            "intake_channels": {CHANNEL: "Globex"},
        }
        local = settings.model_copy(update={"slack": Settings.model_validate({"slack": slack}).slack})
        rt = Runtime(local, runtime.engine, runtime.sessions, runtime.clock)
        with rt.sessions() as session:
            add_org(session, rt.clock, "Globex", "rezilion", "standard", ["globex.example"])
            add_contact(session, rt.clock, "Globex", "hank@globex.example", "Hank Scorpio", None, "UHANK")
            session.commit()
        app = FastAPI()
        mount(app, rt)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}/slack/events"
        out.print(f"8. Slack: the bot's endpoint on {url}; Globex (rezilion) in shared channel {CHANNEL}")
        event = {
            "type": "event_callback",
            "team_id": "TVENDOR",
            "event_id": "EvDEMO1",
            "event": {
                "type": "message",
                "channel": CHANNEL,
                "user": "UHANK",
                "user_team": "TGLOBEX",
                "text": "Our scanner dashboard shows no results since last night's update",
                "ts": "1800000000.000100",
            },
        }
        out.print(f"   customer <@UHANK> writes in {CHANNEL}: {_post(url, json.dumps(event))}")
        with rt.sessions() as session:
            deliver_due(session, rt.clock, local, web_client(rt))
        command = {
            "command": "/support",
            "text": "reply support-",
            "user_id": "UENGINEER",
            "channel_id": TRIAGE,
        }
        with rt.sessions() as session:
            from sqlalchemy import select

            from intake.store.orm import Ticket

            ticket_id = session.scalar(select(Ticket.id).where(Ticket.slack_channel == CHANNEL))
        command["text"] = f"reply support-{ticket_id} Fixed by the 2.4.1 feed update, please reload."
        out.print(
            f"   engineer: /support {command['text']}: {_post(url, urllib.parse.urlencode(command), True)}"
        )
        with rt.sessions() as session:
            deliver_due(session, rt.clock, local, web_client(rt))
        server.should_exit = True
        thread.join(5)
        posted = [c.args for c in api.called("chat.postMessage")]
    out.print("9. what the bot posted to Slack (recorded by the Web API stand-in)")
    for args in posted:
        where = f"{args['channel']}" + (f" thread {args['thread_ts']}" if args.get("thread_ts") else "")
        out.print(f"\n   {where}:")
        out.print("   " + "\n   ".join(str(args.get("text", "")).splitlines()), markup=False)
    return posted
