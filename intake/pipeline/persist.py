"""Persist: stage the message, its attachments and the decision's audit row.

Staged rows of a whole batch are written by `Batch.write` in one transaction;
only after that commit does a channel acknowledge its source.
"""

from __future__ import annotations

from typing import Any

from intake.pipeline.batch import Staged
from intake.pipeline.context import Context, Stop

NAME = "persist"


def message_row(ctx: Context, disposition: str) -> dict[str, Any]:
    msg = ctx.inbound
    now = ctx.now
    return {
        "disposition": disposition,
        "dedup_key": ctx.dedup_key,
        "content_hash": msg.content_hash or None,
        "channel": msg.channel,
        "external_id": msg.external_id[:500],
        "sender": msg.sender[:320],
        "display_name": msg.display_name[:200],
        "subject": msg.subject,
        "text": msg.text,
        "quoted": msg.quoted,
        "html": msg.html,
        "in_reply_to": msg.in_reply_to[:500] if msg.in_reply_to else None,
        "references": msg.references,
        "sent_at": msg.sent_at,
        "received_at": msg.received_at or now,
        "raw": msg.raw,
        "raw_ref": msg.raw_ref,
    }


def decision_row(ctx: Context, disposition: str) -> dict[str, Any]:
    msg = ctx.inbound
    triage = ctx.triage
    # The decision may ask for review where the model alone did not (the customer's stated
    # severity disagrees, a reopen under review): the row records what the ticket got.
    review = triage.needs_review if triage else False
    if ctx.ticket is not None:
        review = review or bool((ctx.ticket.row or {}).get("needs_review"))
        review = review or bool(ctx.ticket.changes.get("needs_review"))
    return {
        "created_at": ctx.now,
        "disposition": disposition,
        "severity": triage.severity if triage else None,
        "canonical_severity": triage.canonical if triage else None,
        "category": triage.category if triage else None,
        "confidence": triage.confidence if triage else None,
        "needs_review": review,
        "model_version": triage.model_version if triage else None,
        "language": triage.language if triage else None,
        "possible_critical": triage.possible_critical if triage else False,
        "inputs": {
            "channel": msg.channel,
            "sender": msg.sender,
            "subject": msg.subject,
            "contact_status": ctx.contact_status,
            "org": ctx.org.name if ctx.org else None,
        },
        "outputs": {
            "probabilities": triage.probabilities if triage else {},
            "reasons": triage.reasons if triage else [],
            "environment": triage.environment if triage else None,
            **ctx.extra.get("outputs", {}),
        },
        "hits": [h.as_json() for h in ctx.hits],
    }


def run(ctx: Context) -> Stop | None:
    disposition = ctx.disposition or "ticket"
    msg = ctx.inbound
    staged = Staged(
        message=message_row(ctx, disposition),
        ticket=ctx.ticket,
        attachments=[
            {
                "filename": a.filename[:500],
                "content_type": a.content_type[:200],
                "kind": a.kind,
                "size": a.size,
                "content_id": a.content_id,
                "data": a.data,
            }
            for a in msg.attachments
        ],
        decision=decision_row(ctx, disposition),
        timers=ctx.extra.get("timers", []),
        outbox=ctx.extra.get("outbox", []),
        events=ctx.extra.get("events", []),
    )
    ctx.batch.stage(staged)
    if ctx.ticket is not None:
        ctx.batch.remember_message_id(msg.external_id, ctx.ticket)
    return None


def stage_stopped(ctx: Context) -> None:
    """Keep a message the guard stopped, with the reason, so nothing is silently lost."""
    ctx.batch.stage(
        Staged(
            message=message_row(ctx, "dropped"),
            ticket=None,
            decision=decision_row(ctx, "dropped"),
        )
    )
