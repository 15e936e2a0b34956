"""Decide: turn the policy and the triage into a ticket's status and due times.

Pure: reads the context, writes the decision onto it; persist stores it.
"""

from __future__ import annotations

from intake.pipeline.classify import policy_name
from intake.pipeline.context import Context, Stop, TicketView

NAME = "decide"


def _open_ticket(ctx: Context) -> TicketView:
    msg = ctx.inbound
    triage = ctx.triage
    assert triage is not None
    now = ctx.deps.clock.now()
    org = ctx.org
    name = policy_name(ctx)
    plan = org.plan if org is not None else None
    row = {
        "org_id": org.id if org else None,
        "requester": msg.sender,
        "requester_name": msg.display_name[:200],
        "subject": msg.subject,
        "status": "new",
        "severity": triage.severity,
        "canonical_severity": triage.canonical,
        "category": triage.category,
        "confidence": triage.confidence,
        "needs_review": triage.needs_review,
        "policy": name,
        "plan": plan,
        "contact_status": ctx.contact_status,
        "channel": msg.channel,
        "environment": triage.environment,
        "created_at": now,
        "updated_at": now,
        "acknowledged_at": None,
        "first_responded_at": None,
        "first_response_due": None,
        "resolution_due": None,
        "waiting_since": None,
        "closed_at": None,
        "close_reason": None,
        "slack_channel": msg.headers.get("slack-channel"),
        "slack_thread_ts": msg.external_id.partition(":")[2] if msg.channel == "slack" else None,
    }
    return TicketView(
        id=None,
        org_id=org.id if org else None,
        requester=msg.sender,
        status="new",
        policy=name,
        plan=plan,
        severity=triage.severity,
        subject=msg.subject,
        row=row,
    )


def run(ctx: Context) -> Stop | None:
    if ctx.ticket is None:
        ctx.ticket = _open_ticket(ctx)
        ctx.batch.open_ticket(ctx.ticket)
        ctx.disposition = "ticket"
        ctx.hit("decide.new-ticket", f"status new, severity {ctx.ticket.severity}")
        return None
    ctx.disposition = "followup"
    now = ctx.deps.clock.now()
    if ctx.ticket.row is not None:
        ctx.ticket.row["updated_at"] = now
    else:
        ctx.ticket.changes["updated_at"] = now
    ctx.hit("decide.followup", f"appended to ticket {ctx.ticket.id or '(new in batch)'}")
    return None
