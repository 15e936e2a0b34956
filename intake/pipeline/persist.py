"""Persist: apply the decision to the batch, and stage the message, its attachments and the audit row.

Applying a Decision changes the batch's view of the ticket (so the next message
of the batch sees it), stages the ticket row or its changes, the status events,
the timers and the messages to compose. Those messages are rendered by
`compose_outgoing` once the batch's new tickets are inserted: a ticket opened in
this batch has its id, and so its reference, only then, and the store write
(`Batch.write`) only inserts rows. Everything is written in one transaction;
only after that commit does a channel acknowledge its source.
"""

from __future__ import annotations

from intake.outgoing.compose import OutboxRow, clean_subject, outbox_row, slack_row
from intake.pipeline.batch import Batch, Staged
from intake.pipeline.context import Context, Deps, Disposition, Stop, TicketView, Triage
from intake.pipeline.decide.decision import Decision, Outgoing, TriagePost
from intake.pipeline.rows import AttachmentRow, DecisionRow, MessageRow
from intake.tickets.refs import format_ref

NAME = "persist"


def _outputs(decision: Decision | None) -> dict[str, object]:
    triage = decision.triage if decision is not None else None
    outputs: dict[str, object] = {
        "probabilities": triage.probabilities if triage else {},
        "reasons": triage.reasons if triage else [],
        "environment": triage.environment if triage else None,
    }
    if decision is not None:
        outputs.update(decision.outputs())
    return outputs


def decision_row(ctx: Context, disposition: str) -> DecisionRow:
    """The audit row: the triage decide used (none for a follow-up), every hit, what went in."""
    msg = ctx.inbound
    triage: Triage | None = ctx.decision.triage if ctx.decision is not None else None
    # The decision may ask for review where the model alone did not (the customer's stated
    # severity disagrees, a reopen under review): the row records what the ticket got.
    review = (triage is not None and triage.needs_review) or (
        ctx.ticket is not None and ctx.ticket.pending_review()
    )
    return DecisionRow(
        created_at=ctx.now,
        disposition=disposition,
        severity=triage.severity if triage else None,
        canonical_severity=triage.canonical if triage else None,
        category=triage.category if triage else None,
        confidence=triage.confidence if triage else None,
        needs_review=review,
        model_version=triage.model_version if triage else None,
        language=triage.language if triage else None,
        possible_critical=triage.possible_critical if triage else False,
        inputs={
            "channel": msg.channel,
            "sender": msg.sender,
            "subject": msg.subject,
            "contact_status": ctx.contact_status,
            "org": ctx.org.name if ctx.org else None,
        },
        outputs=_outputs(ctx.decision),
        hits=[h.as_json() for h in ctx.hits],
    )


def apply(ctx: Context, decision: Decision) -> TicketView:
    """Make the decision the batch's state: the ticket it opens or changes, and its hits."""
    ctx.hits.extend(decision.hits)
    followed = ctx.ticket
    if decision.opens is not None:
        if followed is not None:
            followed.apply(decision.touched)
        ticket = TicketView.opened(decision.opens)
        ctx.batch.open_ticket(ticket)
        ctx.ticket = ticket
    else:
        assert followed is not None, "a follow-up decision without its ticket"
        ticket = followed
    ticket.apply(decision.changes)
    if decision.cancel_timers:
        ctx.batch.cancel_timers(ticket, decision.cancel_timers)
    disposition: Disposition = "ticket" if decision.disposition == "ticket" else "followup"
    ctx.disposition = disposition
    return ticket


def _attachments(ctx: Context) -> list[AttachmentRow]:
    return [
        AttachmentRow(a.filename[:500], a.content_type[:200], a.kind, a.size, a.content_id, a.data)
        for a in ctx.inbound.attachments
    ]


def run(ctx: Context) -> Stop | None:
    decision = ctx.decision
    if decision is not None:
        apply(ctx, decision)
    disposition = ctx.disposition or "ticket"
    msg = ctx.inbound
    staged = Staged(
        message=MessageRow.of(msg, ctx.dedup_key, disposition, ctx.now),
        ticket=ctx.ticket,
        attachments=_attachments(ctx),
        decision=decision_row(ctx, disposition),
        now=ctx.now,
    )
    if decision is not None:
        staged.timers = list(decision.timers)
        staged.outgoing = list(decision.outgoing)
        staged.events = list(decision.transitions)
    ctx.batch.stage(staged)
    if ctx.ticket is not None:
        ctx.batch.remember_message_id(msg.external_id, ctx.ticket)
    return None


def stage_stopped(ctx: Context) -> None:
    """Keep a message the guard stopped, with the reason, so nothing is silently lost."""
    ctx.batch.stage(
        Staged(
            message=MessageRow.of(ctx.inbound, ctx.dedup_key, "dropped", ctx.now),
            ticket=None,
            decision=decision_row(ctx, "dropped"),
            now=ctx.now,
        )
    )


def _compose(out: Outgoing | TriagePost, ticket_id: int, deps: Deps, staged: Staged) -> OutboxRow:
    settings = deps.settings
    ref = format_ref(settings.tickets.ref_prefix, ticket_id)
    if isinstance(out, TriagePost):
        return slack_row(settings, out.template, f"triage:{ticket_id}", staged.now, ref=ref, text=out.text)
    return outbox_row(
        settings,
        deps.policies[out.policy],
        out.template,
        ref=ref,
        recipient=out.recipient,
        variables={"subject": clean_subject(out.subject, ref), **out.variables},
        now=staged.now,
        in_reply_to=out.in_reply_to,
        references=list(out.references),
        language=out.language,
        slack_thread=out.slack_thread,
    )


def compose_outgoing(batch: Batch, deps: Deps) -> None:
    """Render every staged message to compose into its outbox row, now that refs are known."""
    batch.insert_tickets()
    for staged in batch.staged:
        ticket = staged.ticket
        if ticket is None or ticket.id is None or not staged.outgoing:
            continue
        staged.outbox = [_compose(out, ticket.id, deps, staged) for out in staged.outgoing]


def write(batch: Batch, deps: Deps) -> None:
    """Insert the new tickets, compose the outgoing messages, then write the rest."""
    compose_outgoing(batch, deps)
    batch.write()
