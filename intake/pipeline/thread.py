"""Thread: attach a reply to its ticket, or mark the message as opening a new one.

Three hints, strongest first:
1. a Slack thread_ts of a ticket's thread;
2. In-Reply-To, then References newest first, matched against the Message-IDs of
   messages we stored and of the mail we sent ourselves;
3. a ticket reference in the subject, e.g. "[support-42]". A subject is easy to
   forge or to copy into an unrelated mail, so the reference is accepted only from
   someone of the ticket's organisation (or, for a ticket without one, from the
   requester's own mail domain), and never from a From that failed authentication.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import select

from intake.pipeline.contact import failed_authentication
from intake.pipeline.context import Context, Deps, Stop, TicketView
from intake.store.orm import Ticket

NAME = "thread"


@lru_cache(maxsize=8)
def ref_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[{re.escape(prefix)}-(\d{{1,12}})\]", re.I)


def find_ticket_ref(subject: str, prefix: str) -> int | None:
    found = ref_pattern(prefix).search(subject)
    return int(found.group(1)) if found else None


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


def _same_organisation(ctx: Context, ticket: TicketView) -> bool:
    sender = ctx.inbound.sender
    directory = ctx.deps.directory
    if failed_authentication(ctx):
        return False
    if ticket.org_id is not None:
        org = directory.org_for_address(sender)
        return org is not None and org.id == ticket.org_id
    return sender == ticket.requester or sender.rpartition("@")[2] == ticket.requester_domain()


def run(ctx: Context) -> Stop | None:
    msg = ctx.inbound
    batch = ctx.batch
    if msg.thread_ts:
        found = batch.ticket_by_message_id.get(f"slack-thread:{msg.thread_ts}")
        if found is not None:
            ctx.ticket = found
            ctx.hit("thread.slack-thread", f"thread_ts {msg.thread_ts}")
            return None
    for hint in _hints(ctx):
        found = batch.ticket_by_message_id.get(hint)
        if found is not None:
            ctx.ticket = found
            ctx.hit("thread.in-reply-to", f"<{hint}> belongs to ticket {found.id or 'opened in this batch'}")
            return None
    ref = find_ticket_ref(msg.subject, ctx.deps.settings.tickets.ref_prefix)
    if ref is not None:
        ticket = batch.tickets_by_id.get(ref)
        if ticket is None:
            ctx.hit("thread.unknown-ref", f"subject names ticket {ref}, which does not exist")
        elif _same_organisation(ctx, ticket):
            ctx.ticket = ticket
            ctx.hit("thread.subject-ref", f"subject names ticket {ref}")
            return None
        else:
            ctx.hit("thread.ref-rejected", f"{msg.sender} is not of ticket {ref}'s organisation")
    return None
