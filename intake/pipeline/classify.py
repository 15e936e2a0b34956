"""Classify: severity and category for a message that opens a ticket.

The classifier proposes; the policy decides (see decide). Without a trained
model the policy's default severity is used and the decision is marked for
review: never a made-up prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

from intake.pipeline.context import Context, Deps, Stop, Triage
from intake.policies.loader import load_all

NAME = "classify"


def policy_name(ctx: Context) -> str:
    if ctx.org is not None:
        return ctx.org.policy
    return ctx.deps.settings.tickets.default_policy


def prepare(ctxs: Sequence[Context], deps: Deps) -> None:
    """Hook for batch prediction: a model scores the whole batch at once."""


def run(ctx: Context) -> Stop | None:
    if ctx.ticket is not None:
        return None
    policy = load_all()[policy_name(ctx)]
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
