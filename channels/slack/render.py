"""What the bot says in Slack: a ticket's acknowledgement, its triage post, status answers.

Rendered when the outbox row is delivered, from the ticket as it is then, so the
acknowledgement shows the severity, category and confidence the ticket has.
Slack text is mrkdwn: `&`, `<` and `>` of anything a customer wrote are escaped.
"""

from __future__ import annotations

from typing import Any

from intake.outgoing.compose import format_due
from intake.policies.loader import load_all
from intake.store.orm import Ticket


def esc(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ref_of(prefix: str, ticket: Ticket) -> str:
    return f"{prefix}-{ticket.id}"


def _severity(ticket: Ticket) -> str:
    policy = load_all()[ticket.policy]
    try:
        label = policy.level(ticket.severity).label
    except (KeyError, ValueError):
        label = ticket.severity
    return f"{label} ({ticket.canonical_severity})"


def _category(ticket: Ticket) -> str:
    if ticket.category is None:
        return "unclassified"
    confidence = f", model confidence {ticket.confidence:.0%}" if ticket.confidence is not None else ""
    review = "; an engineer will check it" if ticket.needs_review else ""
    return f"{ticket.category}{confidence}{review}"


def next_target(ticket: Ticket) -> str:
    """The next target in the customer's calendar terms ('first response by Mon 16 Nov 2026 13:00 GMT')."""
    policy = load_all()[ticket.policy]
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        return "first response by " + format_due(policy, ticket.plan, ticket.first_response_due)
    if ticket.resolution_due is not None:
        return "resolution by " + format_due(policy, ticket.plan, ticket.resolution_due)
    return "best effort (no target under the policy)"


def acknowledgement(prefix: str, ticket: Ticket) -> str:
    return (
        f"Thanks <@{esc(ticket.requester)}>, this is *{ref_of(prefix, ticket)}*.\n"
        f"• Severity: *{_severity(ticket)}*\n"
        f"• Category: *{_category(ticket)}*\n"
        f"• Next target: {next_target(ticket)}"
    )


def status(prefix: str, ticket: Ticket) -> str:
    policy = load_all()[ticket.policy]
    return (
        f"*{ref_of(prefix, ticket)}* {esc(ticket.subject)}\n"
        f"• Status: {policy.status_label(ticket.status)}\n"
        f"• Severity: {_severity(ticket)}\n"
        f"• Next target: {next_target(ticket)}"
    )


ACTIONS = (
    ("take", "Take"),
    ("severity", "Change severity/category"),
    ("reply", "Reply to customer"),
    ("request_info", "Request info"),
    ("resolve", "Resolve"),
    ("close", "Close"),
)


def triage_post(prefix: str, ticket: Ticket) -> tuple[str, list[dict[str, Any]]]:
    """The ticket's post in the engineers' triage channel, with its actions; updated in place."""
    org = ticket.org.name if ticket.org else "no organisation"
    where = f"<#{ticket.slack_channel}>" if ticket.slack_channel else ticket.channel
    assignee = f"<@{ticket.assignee}>" if ticket.assignee else "nobody"
    summary = (
        f"*{ref_of(prefix, ticket)}* {esc(ticket.subject)}\n"
        f"{esc(org)} · {where} · status *{ticket.status}* · contact {ticket.contact_status}\n"
        f"Severity *{_severity(ticket)}* · category *{_category(ticket)}*\n"
        f"Assignee: {assignee} · next target: {next_target(ticket)}"
    )
    buttons = [
        {
            "type": "button",
            "action_id": f"intake_{action}",
            "text": {"type": "plain_text", "text": label},
            "value": ref_of(prefix, ticket),
        }
        for action, label in ACTIONS
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        {"type": "actions", "block_id": "intake_ticket", "elements": buttons},
    ]
    return summary, blocks


def csat_blocks(prefix: str, ticket: Ticket, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": esc(text)}},
        {
            "type": "actions",
            "block_id": "intake_csat",
            "elements": [
                {
                    "type": "button",
                    "action_id": f"intake_csat_{score}",
                    "text": {"type": "plain_text", "text": str(score)},
                    "value": f"{ref_of(prefix, ticket)}:{score}",
                }
                for score in range(1, 6)
            ],
        },
    ]
