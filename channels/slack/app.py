"""The slack-bolt App: listeners for events, reactions, /support, its modal and the buttons.

process_before_response=True: a listener's work (the commit) is done before
Bolt answers Slack, in HTTP mode and in Socket Mode alike. Request verification
(the signing secret, the 5-minute timestamp window) is Bolt's own
(slack_bolt.middleware.request_verification; it answers 401). Slack's retries
(X-Slack-Retry-Num) are processed like first deliveries: intake.py makes that
harmless, and a first attempt that failed before its commit is then not lost.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from channels.slack import render
from channels.slack.events import SlackMessage, inbound
from channels.slack.intake import Handler, _commit_remember, seen, slack_settings
from intake.errors import IntakeError
from intake.policies.schema import CANONICAL_CATEGORIES
from intake.runtime import Runtime
from intake.storable import line
from intake.store.orm import Outbox, Ticket, TicketEvent
from intake.tickets.ops import TicketOps
from intake.tickets.replies import find_ticket, reply
from intake.tickets.reviews import override

log = logging.getLogger(__name__)

SUPPORT_VIEW = "intake_support"
OVERRIDE_VIEW = "intake_override"
REPLY_VIEW = "intake_reply"


def web_client(runtime: Runtime) -> WebClient:
    """The Web API client; `[slack] api_base_url` points it at a stand-in (tests, the demo)."""
    cfg = slack_settings(runtime)
    kwargs: dict[str, Any] = {"token": cfg.bot_token.get_secret_value(), "timeout": 10}
    if cfg.api_base_url:
        kwargs["base_url"] = cfg.api_base_url.rstrip("/") + "/"
    return WebClient(**kwargs)


def _lookup_email(client: WebClient) -> Any:
    def lookup(user: str) -> str | None:
        try:
            response = client.users_info(user=user)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.get("error") == "user_not_found":
                return None  # e.g. a Slack Connect user our token cannot see: matched by slack_user only
            raise
        profile = (response.get("user") or {}).get("profile") or {}
        email = profile.get("email")
        return str(email).lower() if email else None

    return lookup


def build_app(runtime: Runtime, client: WebClient | None = None) -> tuple[App, Handler]:
    cfg = slack_settings(runtime)
    client = client or web_client(runtime)
    app = App(
        signing_secret=cfg.signing_secret.get_secret_value() or None,
        client=client,
        process_before_response=True,
        token_verification_enabled=False,
        request_verification_enabled=bool(cfg.signing_secret.get_secret_value()),
    )
    handler = Handler(runtime, lookup_email=_lookup_email(client))
    prefix = runtime.settings.tickets.ref_prefix

    @app.event("message")
    def on_message(body: dict[str, Any], context: BoltContext) -> None:
        handler.bot_user = context.bot_user_id or handler.bot_user
        result = handler.message_event(body)
        log.info("slack %s: %s", body.get("event_id"), result.what)

    @app.event("reaction_added")
    def on_reaction(body: dict[str, Any], context: BoltContext) -> None:
        handler.bot_user = context.bot_user_id or handler.bot_user
        log.info("slack %s: %s", body.get("event_id"), reaction(handler, client, body))

    @app.command("/support")
    def on_support(ack: Ack, body: dict[str, Any]) -> None:
        words = str(body.get("text") or "").split(maxsplit=2)
        if words and words[0] == "status" and len(words) >= 2:
            ack(text=_status(runtime, words[1]))  # a slash command's ack text is seen only by its user
            return
        if words and words[0] == "reply" and len(words) == 3:
            ack(text=_reply(runtime, words[1], words[2], str(body.get("user_id") or "")))
            return
        ack()
        client.views_open(
            trigger_id=body["trigger_id"], view=_support_view(str(body.get("channel_id") or ""))
        )

    @app.view(SUPPORT_VIEW)
    def on_support_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        values = view.get("state", {}).get("values", {})

        def value(block: str) -> str:
            found = values.get(block, {}).get("value", {})
            return str(found.get("value") or (found.get("selected_option") or {}).get("value") or "")

        channel = str(view.get("private_metadata") or "")
        stated = value("severity")
        env = value("environment")
        body_text = value("description")
        if stated:
            body_text += f"\n\nSeverity: {stated}"
        if env:
            body_text += f"\nEnvironment: {env}"
        msg = SlackMessage(
            channel=channel, user=str(body["user"]["id"]), text=body_text, ts=f"modal-{view['id']}"
        )
        item = inbound(msg, email=handler.email_of(msg.user))
        with runtime.sessions() as session:
            handler.ingest_message(session, f"view:{view['id']}", item)

    @app.action("intake_take")
    def on_take(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        take(runtime, str(body["actions"][0]["value"]), str(body["user"]["id"]))

    @app.action("intake_severity")
    def on_severity(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ref = str(body["actions"][0]["value"])
        client.views_open(trigger_id=body["trigger_id"], view=_override_view(runtime, ref))

    @app.action(re.compile(r"^intake_(reply|request_info|resolve)$"))
    def on_reply_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = body["actions"][0]
        intent = str(action["action_id"]).removeprefix("intake_")
        client.views_open(trigger_id=body["trigger_id"], view=_reply_view(str(action["value"]), intent))

    @app.action("intake_close")
    def on_close(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        close(runtime, str(body["actions"][0]["value"]), str(body["user"]["id"]))

    @app.view(OVERRIDE_VIEW)
    def on_override(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = _values(view)
        try:
            with runtime.sessions() as session:
                who = f"slack:{body['user']['id']}"
                override(
                    session,
                    runtime.clock,
                    runtime.settings,
                    str(view["private_metadata"]),
                    who,
                    severity=values.get("severity") or None,
                    category=values.get("category") or None,
                    reason=values.get("reason") or "changed in the triage channel",
                )
        except IntakeError as exc:
            ack(response_action="errors", errors={"reason": str(exc)})
            return
        ack()

    @app.view(REPLY_VIEW)
    def on_reply_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = _values(view)
        ref, _, intent = str(view["private_metadata"]).partition("|")
        try:
            with runtime.sessions() as session:
                reply(
                    session,
                    runtime.clock,
                    runtime.settings,
                    ref,
                    values.get("text", ""),
                    request_info=intent == "request_info",
                    resolve=intent == "resolve",
                    actor=f"slack:{body['user']['id']}",
                )
        except IntakeError as exc:
            ack(response_action="errors", errors={"text": str(exc)})
            return
        ack()

    @app.action(re.compile(r"^intake_csat_[1-5]$"))
    def on_csat(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ref, _, score = str(body["actions"][0]["value"]).rpartition(":")
        user = body.get("user") or {}
        with runtime.sessions() as session:
            ticket = find_ticket(session, ref, prefix)
            vendor = bool(user.get("team_id")) and user.get("team_id") == (body.get("team") or {}).get("id")
            if vendor and user.get("id") != ticket.requester:
                log.info("slack: CSAT of %s by the vendor's own %s ignored", ref, user.get("id"))
                return
            ticket.csat = line(score)[:20]
            session.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    at=runtime.clock.now(),
                    from_status=ticket.status,
                    to_status=ticket.status,
                    reason=f"CSAT {score} of 5 from {user.get('id', 'someone')} in Slack",
                    actor=line(str(user.get("id") or "slack")),
                )
            )
            session.commit()

    return app, handler


def _values(view: dict[str, Any]) -> dict[str, str]:
    """block_id -> the value typed or chosen in a submitted modal."""
    found: dict[str, str] = {}
    for block, actions in (view.get("state", {}).get("values", {}) or {}).items():
        for action in actions.values():
            value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
            found[block] = str(value)
    return found


def _options(values: list[str]) -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]


def _override_view(runtime: Runtime, ref: str) -> dict[str, Any]:
    from intake.policies.loader import load_all

    with runtime.sessions() as session:
        ticket = find_ticket(session, ref, runtime.settings.tickets.ref_prefix)
        levels = load_all()[ticket.policy].level_keys()
    categories = list(CANONICAL_CATEGORIES)  # what the classifier and the review page know

    def select_block(block: str, label: str, choices: list[str]) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block,
            "optional": True,
            "label": {"type": "plain_text", "text": label},
            "element": {"type": "static_select", "action_id": "value", "options": _options(choices)},
        }

    return {
        "type": "modal",
        "callback_id": OVERRIDE_VIEW,
        "private_metadata": ref,
        "title": {"type": "plain_text", "text": f"Review {ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            select_block("severity", "Severity", levels),
            select_block("category", "Category", categories),
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
        ],
    }


def _reply_view(ref: str, intent: str) -> dict[str, Any]:
    titles = {"reply": "Reply to customer", "request_info": "Request info", "resolve": "Resolve"}
    return {
        "type": "modal",
        "callback_id": REPLY_VIEW,
        "private_metadata": f"{ref}|{intent}",
        "title": {"type": "plain_text", "text": titles.get(intent, "Reply to customer")},
        "submit": {"type": "plain_text", "text": "Send to customer"},
        "blocks": [
            {
                "type": "input",
                "block_id": "text",
                "label": {
                    "type": "plain_text",
                    "text": f"Answer to the customer of {ref} (they will see it)",
                },
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            }
        ],
    }


def _support_view(channel: str) -> dict[str, Any]:
    def text_input(block: str, label: str, multiline: bool = False) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block,
            "label": {"type": "plain_text", "text": label},
            "optional": block != "description",
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": multiline},
        }

    return {
        "type": "modal",
        "callback_id": SUPPORT_VIEW,
        "private_metadata": channel,
        "title": {"type": "plain_text", "text": "Open a support ticket"},
        "submit": {"type": "plain_text", "text": "Open"},
        "blocks": [
            text_input("description", "What happened?", multiline=True),
            text_input("severity", "How severe is it for you? (e.g. S1, urgent)"),
            text_input("environment", "Environment (production, staging ...)"),
        ],
    }


def _status(runtime: Runtime, ref: str) -> str:
    with runtime.sessions() as session:
        try:
            ticket = find_ticket(session, ref, runtime.settings.tickets.ref_prefix)
        except IntakeError as exc:
            return str(exc)
        return render.status(runtime.settings.tickets.ref_prefix, ticket)


def _reply(runtime: Runtime, ref: str, text: str, user: str) -> str:
    with runtime.sessions() as session:
        try:
            done = reply(session, runtime.clock, runtime.settings, ref, text, actor=f"slack:{user}")
        except IntakeError as exc:
            return str(exc)
    return f"Sent to the customer of {done['ref']} (status {done['status']})."


def take(runtime: Runtime, ref: str, user: str) -> None:
    """Assign the ticket to the engineer who pressed Take; the triage post is updated in place."""
    with runtime.sessions() as session:
        ticket = find_ticket(session, ref, runtime.settings.tickets.ref_prefix)
        ticket.assignee = line(user)
        ticket.updated_at = runtime.clock.now()
        TicketOps(session, runtime.settings, runtime.clock.now(), actor=f"slack:{user}").triage(
            ticket, "triage_update"
        )
        session.commit()


def close(runtime: Runtime, ref: str, user: str) -> None:
    """Close from the triage channel: the customer is told, the policy's survey (CSAT) goes out."""
    with runtime.sessions() as session:
        ticket = find_ticket(session, ref, runtime.settings.tickets.ref_prefix)
        if ticket.status != "closed":
            TicketOps(session, runtime.settings, runtime.clock.now(), actor=f"slack:{user}").close(
                ticket, "resolved", "closed from the triage channel"
            )
        session.commit()


def reaction(handler: Handler, client: WebClient, body: dict[str, Any]) -> str:
    """The ticket reaction opens a ticket from the message (manual channels); 👍 by a contact authorises."""
    event = body.get("event") or {}
    item = event.get("item") or {}
    event_id = str(body.get("event_id") or "")
    channel, ts, user = str(item.get("channel", "")), str(item.get("ts", "")), str(event.get("user", ""))
    cfg = handler.cfg
    name = str(event.get("reaction", ""))
    runtime = handler.runtime
    with runtime.sessions() as session:
        now = runtime.clock.now()
        if seen(session, event_id):
            return f"duplicate event {event_id}"
        if name == cfg.ticket_reaction:
            found = client.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
            )
            messages = found.get("messages") or []
            if not messages:
                _commit_remember(session, event_id, "reaction", f"{channel}:{ts} not found", now)
                return "ticket reaction on a message Slack no longer has"
            msg = SlackMessage.model_validate({**messages[0], "channel": channel})
            return handler.ingest_message(
                session, event_id, inbound(msg, email=handler.email_of(msg.user))
            ).what
        if name in (cfg.authorise_reaction, "thumbsup", "+1"):
            notice = session.scalar(
                select(Outbox).where(
                    Outbox.channel == "slack", Outbox.posted_ts == ts, Outbox.ticket_id.is_not(None)
                )
            )
            ticket = session.get(Ticket, notice.ticket_id) if notice and notice.ticket_id else None
            if ticket is None or ticket.status != "pending_authorisation" or not ticket.slack_thread_ts:
                _commit_remember(session, event_id, "reaction", f":{name}: on {channel}:{ts}", now)
                return "reaction noted"
            # The authorisation is a message of the contact in the ticket's thread: the pipeline's own rules
            # (thread sender check, designated contact, decide's authorisation) apply unchanged.
            msg = SlackMessage(
                channel=channel,
                user=user,
                text=f":{name}: (authorised by reaction)",
                ts=f"{ts}-{user}-{name}",
            )
            return handler.ingest_message(
                session,
                event_id,
                inbound(msg, email=handler.email_of(user), thread_ts=ticket.slack_thread_ts),
            ).what
        _commit_remember(session, event_id, "reaction", f":{name}: on {channel}:{ts}", now)
        return "reaction noted"
