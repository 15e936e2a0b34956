"""Dedup: one ticket per message.

The key is the Message-ID (a content hash when it is missing) or the Slack channel and ts.
"""

from __future__ import annotations

from collections.abc import Sequence

from intake.models import InboundMessage
from intake.pipeline.context import Context, Deps, Stop

NAME = "dedup"


def dedup_key(msg: InboundMessage) -> str:
    if msg.channel == "slack":
        return f"slack:{msg.external_id}"
    if msg.external_id:
        return f"email:{msg.external_id}"[:600]
    return f"email-sha256:{msg.content_hash}"


def prepare(ctxs: Sequence[Context], deps: Deps) -> None:
    """Compute every key and fetch those already stored, in one query per 500 messages."""
    for ctx in ctxs:
        ctx.dedup_key = dedup_key(ctx.inbound)
    if ctxs:
        ctxs[0].batch.load_known_keys(ctx.dedup_key for ctx in ctxs)


def run(ctx: Context) -> Stop | None:
    if not ctx.batch.claim_key(ctx.dedup_key):
        return Stop.duplicate(f"already have {ctx.dedup_key}")
    return None
