"""Tickets, messages and quarantine rows as JSON documents (the `--json` contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intake.errors import NotFound
from intake.policies.loader import load_all
from intake.store.orm import Message, Outbox, Quarantine, Ticket
from intake.tickets.refs import format_ref


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_json(ticket: Ticket, prefix: str, *, with_messages: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ref": format_ref(prefix, ticket.id),
        "id": ticket.id,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "status": ticket.status,
        "severity": ticket.severity,
        "canonical_severity": ticket.canonical_severity,
        "category": ticket.category,
        "confidence": ticket.confidence,
        "needs_review": ticket.needs_review,
        "possible_critical": ticket.possible_critical,
        "language": ticket.language,
        "org": ticket.org.name if ticket.org is not None else None,
        "policy": ticket.policy,
        "plan": ticket.plan,
        "contact_status": ticket.contact_status,
        "channel": ticket.channel,
        "environment": ticket.environment,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "acknowledged_at": iso(ticket.acknowledged_at),
        "first_responded_at": iso(ticket.first_responded_at),
        "first_response_due": iso(ticket.first_response_due),
        "resolution_due": iso(ticket.resolution_due),
        "closed_at": iso(ticket.closed_at),
        "close_reason": ticket.close_reason,
        "owner": ticket.owner,
        **policy_labels(ticket.policy, ticket.status, ticket.category),
    }
    if with_messages:
        doc["messages"] = [message_json(m) for m in ticket.messages]
    return doc


def policy_labels(policy_name: str, status: str, category: str | None) -> dict[str, str | None]:
    """The ticket's status and category in its policy's own words ("On Hold", "Enhancement request")."""
    policy = load_all().get(policy_name)
    if policy is None:
        return {"status_label": None, "category_label": None}
    try:
        status_label = policy.status_label(status)
    except NotFound:
        status_label = status.replace("_", " ")
    label = policy.category_for_canonical(category).label if category else None
    return {"status_label": status_label, "category_label": label}


ENVIRONMENT_ORDER = {"production": 0, "unknown": 1, "test": 2}


def queue_key(ticket: Ticket) -> tuple[Any, ...]:
    """Where an open ticket stands in its policy's work queue (`ordering` in the policy file).

    Revalize: "If the issues are assigned the same severity level by the partner, Revalize
    Customer Support will address the issues based on the business impact, affected
    environment, and in the order in which they are received." Business impact is not a
    stored field: it is carried by the severity the partner gave, so ties fall to the
    environment (production first), then arrival.
    """
    policy = load_all().get(ticket.policy)
    ordering = policy.ordering if policy is not None else ["severity", "received_at"]
    key: list[Any] = []
    for part in ordering:
        if part == "severity":
            key.append(policy.rank(ticket.severity) if policy is not None else 0)
        elif part == "environment":
            key.append(ENVIRONMENT_ORDER.get(ticket.environment, 1))
        elif part == "received_at":
            key.append(ticket.created_at)
    key.append(ticket.id)
    return tuple(key)


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "external_id": message.external_id,
        "channel": message.channel,
        "disposition": message.disposition,
        "sender": message.sender,
        "display_name": message.display_name,
        "subject": message.subject,
        "text": message.text,
        "quoted": message.quoted,
        "sent_at": iso(message.sent_at),
        "received_at": iso(message.received_at),
        "in_reply_to": message.in_reply_to,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "kind": a.kind}
            for a in message.attachments
        ],
    }


def quarantine_json(row: Quarantine) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "channel": row.channel,
        "source": row.source,
        "reason": row.reason.splitlines()[0] if row.reason else "",
        "detail": row.reason,
        "sha256": row.sha256,
        "size": len(row.raw),
    }


# What each outgoing template is, in a support engineer's words (short enough for a table column).
MAIL_KINDS: dict[str, str] = {
    "ack": "acknowledgement",
    "reminder": "reminder",
    "reply": "engineer reply",
    "info_request": "info request",
    "closing": "closing mail",
    "csat_survey": "survey",
    "escalation": "team notice",
    "not_a_contact": "not-a-contact",
    "contacts_notice": "contacts notice",
    "portal_redirect": "portal redirect",
    "reopened": "reopen notice",
}


def mail_kind(template: str) -> str:
    return MAIL_KINDS.get(template, template.replace("_", " "))


def outbox_json(row: Outbox) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket_id": row.ticket_id,
        "template": row.template,
        "kind": mail_kind(row.template),
        "automatic": row.automatic,
        "channel": row.channel,
        "recipient": row.recipient,
        "subject": row.subject,
        "body": row.body_text,
        "message_id": row.message_id,
        "in_reply_to": row.in_reply_to,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }
