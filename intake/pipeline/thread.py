"""Thread: attach a reply to its ticket, or mark the message as opening a new one.

Four hints, strongest first, and the first that names a ticket decides:
1. a Slack thread_ts of a ticket's thread;
2. In-Reply-To, then References newest first, matched against the Message-IDs of
   messages we stored and of the mail we sent ourselves;
3. a ticket reference in the subject, e.g. "[support-42]".

Every hint is something the sender chose: a Message-ID travels with every copy
of a thread (forwards, CCs, list archives), a subject reference is easy to copy.
So whichever hint found the ticket, the sender must also belong to it (issue 8,
defect 4): someone of the ticket's organisation, or, for a ticket without one,
the requester's own address (not "the same mail domain": freemail.example is
shared by strangers). Anyone else's message opens a new ticket that is held for
a person, with the reason recorded; nothing of it is lost. The designated-contact
checks for what a follow-up may *do* (reopen, escalate, authorise) are decide's,
which runs after the contact step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from intake.customers.directory import Directory, OrgView
from intake.pipeline.contact import failed_authentication
from intake.pipeline.context import Context, Deps, Stop, TicketView
from intake.store.orm import Ticket
from intake.tickets.refs import find_in_subject as find_ticket_ref

NAME = "thread"


def _hints(ctx: Context) -> list[str]:
    msg = ctx.inbound
    ids = [msg.in_reply_to] if msg.in_reply_to else []
    ids.extend(reversed(msg.references))
    return ids


def prepare(ctxs: Sequence[Context], deps: Deps) -> None:
    if not ctxs:
        return
    batch = ctxs[0].batch
    prefix = deps.settings.tickets.ref_prefix
    refs = [r for c in ctxs if (r := find_ticket_ref(c.inbound.subject, prefix)) is not None]
    batch.load_tickets(refs)
    batch.load_message_ids(h for c in ctxs for h in _hints(c))
    thread_ts = [c.inbound.thread_ts for c in ctxs if c.inbound.thread_ts]
    if thread_ts:
        rows = deps.session.execute(
            select(Ticket.id, Ticket.slack_thread_ts).where(Ticket.slack_thread_ts.in_(thread_ts))
        ).all()
        batch.load_tickets(r.id for r in rows)
        for row in rows:
            batch.ticket_by_message_id[f"slack-thread:{row.slack_thread_ts}"] = batch.tickets_by_id[row.id]


@dataclass(frozen=True)
class Candidate:
    """The ticket a message names, and which hint named it."""

    ticket: TicketView
    step: str
    via: str


def refusal(
    sender: str, sender_org: OrgView | None, ticket: TicketView, auth_failure: str | None
) -> str | None:
    """Why this sender may not add to this ticket, or None when she may.

    The one membership check for every way of joining a ticket (mail hints now,
    a Slack thread later: the Slack adapter passes the organisation of the channel
    and the Slack user id as sender). `auth_failure` is the reason the sender's
    identity failed authentication, if it did: a forged From belongs to no one.
    """
    if auth_failure:
        return f"From {sender} failed authentication ({auth_failure})"
    if ticket.org_id is None:
        if sender.casefold() == ticket.requester.casefold():
            return None
        return f"{sender} is not the requester of a ticket without an organisation"
    if sender_org is None:
        return f"{sender} belongs to no known organisation"
    if sender_org.id != ticket.org_id:
        return f"{sender} is of {sender_org.name}, not of the ticket's organisation"
    return None


def _sender_org(ctx: Context, directory: Directory) -> OrgView | None:
    msg = ctx.inbound
    if msg.channel == "slack" and msg.headers.get("slack-channel"):
        return directory.by_slack_channel.get(msg.headers["slack-channel"])
    return directory.org_for_address(msg.sender)


def _candidate(ctx: Context) -> Candidate | None:
    msg = ctx.inbound
    batch = ctx.batch
    if msg.thread_ts:
        found = batch.ticket_by_message_id.get(f"slack-thread:{msg.thread_ts}")
        if found is not None:
            return Candidate(found, "thread.slack-thread", f"thread_ts {msg.thread_ts}")
    in_reply_to = msg.in_reply_to
    for hint in _hints(ctx):
        found = batch.ticket_by_message_id.get(hint)
        if found is not None:
            header = "In-Reply-To" if hint == in_reply_to else "References"
            return Candidate(found, "thread.in-reply-to", f"{header} <{hint}>")
    ref = find_ticket_ref(msg.subject, ctx.deps.settings.tickets.ref_prefix)
    if ref is not None:
        ticket = batch.tickets_by_id.get(ref)
        if ticket is not None:
            return Candidate(ticket, "thread.subject-ref", f"subject names ticket {ref}")
        ctx.hit("thread.unknown-ref", f"subject names ticket {ref}, which does not exist")
    return None


def run(ctx: Context) -> Stop | None:
    found = _candidate(ctx)
    if found is None:
        return None
    msg = ctx.inbound
    failure = failed_authentication(ctx) if msg.channel == "email" else None
    why = refusal(msg.sender, _sender_org(ctx, ctx.deps.directory), found.ticket, failure)
    label = found.ticket.id or "opened in this batch"
    if why is None:
        ctx.ticket = found.ticket
        ctx.hit(found.step, f"{found.via} belongs to ticket {label}")
        return None
    reason = f"{found.via} names ticket {label}, but {why}: opened as a new held ticket"
    ctx.hit("thread.stranger", reason)
    ctx.held = reason
    return None
