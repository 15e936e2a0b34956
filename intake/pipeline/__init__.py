"""The pipeline: one message (or a batch of them) from InboundMessage to committed ticket.

Reading STEPS teaches the bot. Each step is a module with `NAME` and
`run(ctx) -> Stop | None`; a step may also have `prepare(ctxs, deps)`, which
the pipeline calls once per batch before any message runs, to fetch in one
query what every message of the batch will look up.
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from intake.errors import Transient
from intake.models import InboundMessage
from intake.observe import metrics
from intake.outgoing import webhooks
from intake.pipeline import classify, contact, decide, dedup, guard, identity, persist, thread
from intake.pipeline.batch import Batch
from intake.pipeline.context import Context, Deps, Disposition, Hit, Stop
from intake.pipeline.rows import QuarantineRow
from intake.storable import line, text

log = logging.getLogger(__name__)

STEPS: tuple[ModuleType, ...] = (guard, identity, dedup, thread, contact, classify, decide, persist)


@dataclass(frozen=True)
class Outcome:
    """What became of one input: its disposition, its ticket and why."""

    disposition: Disposition
    ticket_id: int | None = None
    reason: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class Rejected:
    """Raw input that could not be parsed; it is quarantined with the reason."""

    raw: bytes
    reason: str
    source: str
    channel: str = "email"


Item = InboundMessage | Rejected


def quarantine_row(raw: bytes, reason: str, source: str, channel: str, deps: Deps) -> QuarantineRow:
    return QuarantineRow(
        created_at=deps.clock.now(),
        channel=channel,
        source=line(source),
        reason=text(reason),
        sha256=hashlib.sha256(raw).hexdigest(),
        raw=raw,
    )


def _run_steps(ctx: Context) -> Outcome:
    """Run every step over one message; the single place a step's crash is caught."""
    for step in STEPS:
        try:
            stop = step.run(ctx)
        except Exception as exc:
            reason = line(f"pipeline error in {step.NAME}: {type(exc).__name__}: {exc}")
            log.exception("%s quarantined: %s", ctx.inbound.external_id or "(no id)", reason)
            ctx.batch.quarantine(
                quarantine_row(
                    _raw_of(ctx.inbound),
                    reason + "\n" + traceback.format_exc(limit=3),
                    ctx.inbound.raw_ref,
                    ctx.inbound.channel,
                    ctx.deps,
                )
            )
            return Outcome("quarantined", reason=reason, external_id=ctx.inbound.external_id)
        if stop is not None:
            return _stopped(ctx, stop)
    ticket = ctx.ticket
    return Outcome(
        ctx.disposition or "ticket",
        ticket_id=ticket.id if ticket else None,
        reason=ctx.hits[-1].reason if ctx.hits else "",
        external_id=ctx.inbound.external_id,
    )


def _stopped(ctx: Context, stop: Stop) -> Outcome:
    ctx.hits.append(stop.hit)
    if stop.disposition == "dropped":
        duplicate = dedup.claim(ctx)
        if duplicate is not None:
            return Outcome("duplicate", reason=duplicate.hit.reason, external_id=ctx.inbound.external_id)
        persist.stage_stopped(ctx)
    elif stop.disposition == "quarantined":
        # Set aside, never dropped: the raw message is kept with the step's reason.
        reason = line(stop.hit.reason)
        msg = ctx.inbound
        ctx.batch.quarantine(quarantine_row(_raw_of(msg), reason, msg.raw_ref, msg.channel, ctx.deps))
    log.info("%s %s: %s", ctx.inbound.external_id or "(no id)", stop.disposition, stop.hit.reason)
    return Outcome(stop.disposition, reason=stop.hit.reason, external_id=ctx.inbound.external_id)


def _process(items: Sequence[Item], deps: Deps) -> tuple[Batch, list[Outcome | Context]]:
    batch = Batch(deps.session)
    now = deps.clock.now()  # one instant per batch: its messages were received together
    ctxs = [
        Context(inbound=i, deps=deps, batch=batch, now=now) for i in items if isinstance(i, InboundMessage)
    ]
    for step in STEPS:
        prepare: Callable[[Sequence[Context], Deps], None] | None = getattr(step, "prepare", None)
        if prepare is not None:
            prepare(ctxs, deps)
    results: list[Outcome | Context] = []
    pending = iter(ctxs)
    for item in items:
        if isinstance(item, Rejected):
            batch.quarantine(quarantine_row(item.raw, item.reason, item.source, item.channel, deps))
            results.append(Outcome("quarantined", reason=item.reason))
            continue
        ctx = next(pending)
        outcome = _run_steps(ctx)
        results.append(ctx if outcome.disposition in ("ticket", "followup") else outcome)
    return batch, results


def _finish(results: list[Outcome | Context]) -> list[Outcome]:
    """Ticket ids are known only after the write; read them off the contexts now."""
    done: list[Outcome] = []
    for result in results:
        if isinstance(result, Context):
            ticket = result.ticket
            done.append(
                Outcome(
                    result.disposition or "ticket",
                    ticket_id=ticket.id if ticket else None,
                    reason=result.hits[-1].reason if result.hits else "",
                    external_id=result.inbound.external_id,
                )
            )
        else:
            done.append(result)
    return done


def ingest(items: Sequence[Item], deps: Deps, *, _retried: bool = False) -> list[Outcome]:
    """Run a batch through the pipeline and commit it in one transaction.

    If the batch's write fails for any reason but an unavailable database (a
    conflict with another worker, a row the store refuses, a value a driver
    cannot encode), each message is retried on its own, and the one that still
    fails is quarantined with the reason: one bad message never holds back the
    rest, and the innocent messages of its batch commit. A database that is
    unavailable raises Transient: nothing was acknowledged, so the source keeps
    the messages.
    """
    session = deps.session
    started = time.perf_counter()
    try:
        batch, results = _process(items, deps)
        persist.write(batch, deps)
        webhooks.queue_batch(session, deps.settings, batch.staged, deps.clock.now())  # ops: ticket events
        session.commit()
        done = _finish(results)
        metrics.ingested(items, done, time.perf_counter() - started)  # ops: counted once committed
        return done
    except (OperationalError, InterfaceError) as exc:
        session.rollback()
        raise Transient(f"database unavailable: {exc.orig}") from exc
    except Transient:
        session.rollback()
        raise
    except Exception as exc:
        session.rollback()
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        if len(items) > 1:
            log.warning(
                "batch of %d failed (%s: %s); retrying one message at a time",
                len(items),
                type(exc).__name__,
                detail,
            )
            outcomes: list[Outcome] = []
            for item in items:
                outcomes.extend(ingest([item], deps))
            return outcomes
        if isinstance(exc, IntegrityError) and not _retried:
            return ingest(items, deps, _retried=True)
        item = items[0]
        if isinstance(item, Rejected):
            raise  # even the quarantine row could not be written: let the source keep the message
        reason = line(f"store refused the message: {type(exc).__name__}: {detail}")[:2000]
        log.error("%s quarantined: %s", item.external_id or "(no id)", reason)
        return ingest([Rejected(_raw_of(item), reason, item.raw_ref, item.channel)], deps)


def _raw_of(msg: InboundMessage) -> bytes:
    """The bytes to keep in quarantine: the raw message, or (Slack) the model as JSON."""
    if msg.raw:
        return msg.raw
    return msg.model_dump_json().encode("utf-8", "replace")


__all__ = ["STEPS", "Deps", "Hit", "Item", "Outcome", "Rejected", "Stop", "ingest"]
