"""Classify: severity and category for a message that opens a ticket.

The classifier proposes; the policy decides (see decide). The whole batch is
scored in `prepare` (one matrix product instead of one per message), skipping
messages that the prefetch already knows to be replies. The canonical severity
is mapped to the policy's own level; below `classifier.review_threshold` the
decision is marked for review. Without a model the policy's default severity is
used and the decision is marked for review: never a made-up prediction.

A follow-up to a closed or resolved ticket is triaged too: decide may find it a
new request (a reopen refused, a reopen window past), and decide never calls the
classifier itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from intake.pipeline.context import Context, Deps, Stop, Triage
from intake.tickets import lifecycle

if TYPE_CHECKING:
    from classifiers.features import TriageInput

NAME = "classify"


def policy_name(ctx: Context) -> str:
    if ctx.org is not None:
        return ctx.org.policy
    return ctx.deps.settings.tickets.default_policy


def _input(ctx: Context) -> TriageInput:
    from classifiers.features import TriageInput

    msg = ctx.inbound
    return TriageInput(subject=msg.subject, body=msg.text, channel=msg.channel)


def _known_reply(ctx: Context) -> bool:
    batch = ctx.batch
    msg = ctx.inbound
    if ctx.dedup_key in batch.known_keys:
        return True
    hints = [msg.in_reply_to, *msg.references]
    return any(h in batch.ticket_by_message_id for h in hints if h)


def prepare(ctxs: Sequence[Context], deps: Deps) -> None:
    """Score every message of the batch that may open a ticket, in one call."""
    model = deps.classifier
    if model is None:
        return
    todo = [c for c in ctxs if not _known_reply(c)]
    for ctx, prediction in zip(todo, model.predict([_input(c) for c in todo]), strict=True):
        ctx.prediction = prediction


def may_open(ctx: Context) -> bool:
    """Could this message open a ticket? A new one, or a follow-up to a ticket no longer open."""
    return ctx.ticket is None or not lifecycle.is_open(ctx.ticket.status)


def run(ctx: Context) -> Stop | None:
    if not may_open(ctx):
        return None
    policy = ctx.deps.policies[policy_name(ctx)]
    model = ctx.deps.classifier
    if model is None:
        level = policy.default_level
        ctx.triage = Triage(
            severity=level.key,
            canonical=level.canonical,
            category=None,
            confidence=None,
            needs_review=True,
        )
        ctx.hit("classify.no-model", f"no classifier: policy default {level.key}, marked for review")
        return None
    prediction = ctx.prediction
    if prediction is None:
        [prediction] = model.predict([_input(ctx)])
    level = policy.level_for_canonical(prediction.severity)
    threshold = ctx.deps.settings.classifier.review_threshold
    review = bool(model.needs_review(prediction, threshold))
    possible = prediction.possible_critical
    ctx.triage = Triage(
        severity=level.key,
        canonical=prediction.severity,
        category=prediction.category,
        confidence=round(float(prediction.confidence), 4),
        needs_review=review or possible,
        model_version=model.version,
        probabilities={
            "severity": {k: round(v, 4) for k, v in prediction.severity_proba.items()},
            "category": {k: round(v, 4) for k, v in prediction.category_proba.items()},
        },
        reasons=list(prediction.reasons),
        environment=prediction.environment,
        language=prediction.language,
        possible_critical=possible,
    )
    ctx.hit(
        "classify.model",
        f"{prediction.severity} -> {level.key}, {prediction.category}, "
        f"confidence {prediction.confidence:.2f}; because: {', '.join(prediction.reasons[:5])}",
    )
    if review:
        ctx.hit("classify.low-confidence", f"confidence {prediction.confidence:.2f} below {threshold}")
    if possible:
        ctx.hit(
            "classify.possible-critical",
            f"P(critical) {prediction.severity_proba.get('critical', 0.0):.2f} is past the recall-first "
            f"threshold {model.possible_critical_threshold:.3f}; labelled {prediction.severity}",
        )
    return None
