"""Dedup: one ticket per message, and a redelivery is absorbed, never a different message.

The key is the Message-ID (the content hash when it is missing) or the Slack
channel and ts. A known Message-ID is a duplicate only when the stored message
has the same content hash (channels/email_parse.content_hash: the author's
fields and the body, not the relays' trace fields), so the same mail read over
IMAP and delivered over SMTP, or retried by another MX, is stored once. A
different message reusing an earlier Message-ID (another sender, another
text: a broken mailer or an attacker) is kept as its own message under its
content hash, with the reason recorded (issue 8, defect 6).
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
    return hash_key(msg)


def hash_key(msg: InboundMessage) -> str:
    return f"email-sha256:{msg.content_hash}"


def prepare(ctxs: Sequence[Context], deps: Deps) -> None:
    """Compute every key and fetch those already stored, in one query per 500 messages."""
    for ctx in ctxs:
        ctx.dedup_key = dedup_key(ctx.inbound)
    if ctxs:
        ctxs[0].batch.load_known_keys(ctx.dedup_key for ctx in ctxs)


def claim(ctx: Context) -> Stop | None:
    """Reserve the message's key, or say why it is a duplicate; a reused Message-ID gets its hash key."""
    batch = ctx.batch
    msg = ctx.inbound
    if batch.claim_key(ctx.dedup_key, msg.content_hash):
        return None
    stored = batch.key_hashes.get(ctx.dedup_key)
    if (
        msg.channel != "email"
        or not msg.external_id
        or not msg.content_hash
        or stored in (None, msg.content_hash)
    ):
        return Stop.duplicate(f"already have {ctx.dedup_key}")
    alt = hash_key(msg)
    batch.load_known_keys([alt])
    if not batch.claim_key(alt, msg.content_hash):
        return Stop.duplicate(f"already have {alt} (Message-ID {msg.external_id[:200]} reused)")
    ctx.dedup_key = alt
    ctx.hit(
        "dedup.reused-message-id",
        f"Message-ID {msg.external_id[:200]} already belongs to a different message; kept as its own",
    )
    return None


def run(ctx: Context) -> Stop | None:
    return claim(ctx)
