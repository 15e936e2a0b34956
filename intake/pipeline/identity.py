"""Identity: a message with no single sender is set aside, never turned into a ticket.

Whom a message is from is decided once, by channels/mail_identity.py, at the
parse edge: exactly one address in exactly one From field, no fallback to
Sender: or Reply-To:, no line-end tricks. When it refuses, `sender` is empty and
`identity_problem` says why; this step, right after the guard (a bounce or an
auto-reply is dropped as such first), quarantines the message with that reason.
Nothing is lost (the raw bytes are kept), no ticket gets a made-up requester or
an empty one, and no such message can pass for a designated contact.
"""

from __future__ import annotations

from intake.pipeline.context import Context, Stop

NAME = "identity"


def run(ctx: Context) -> Stop | None:
    problem = ctx.inbound.identity_problem
    if problem is not None:
        return Stop.quarantined(NAME, f"no sender identity: {problem}")
    return None
