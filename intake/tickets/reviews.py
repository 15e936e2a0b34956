"""Managers' corrections of triage decisions, as training records for `intake train --with-reviews`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.store.orm import Message, TriageDecision


def review_records(session: Session) -> list[Any]:
    """One record per reviewed decision: the message's text with the manager's labels."""
    from classifiers.seed_corpus import Record

    rows = session.execute(
        select(TriageDecision, Message.subject, Message.text, Message.channel)
        .join(Message, Message.id == TriageDecision.message_id)
        .where(
            TriageDecision.reviewed_at.is_not(None),
            or_(
                TriageDecision.corrected_severity.is_not(None), TriageDecision.corrected_category.is_not(None)
            ),
        )
        .order_by(TriageDecision.id)
    ).all()
    return [
        Record(
            subject=subject or None,
            body=text,
            severity=decision.corrected_severity or decision.canonical_severity,
            category=decision.corrected_category or decision.category,
            channel="chat" if channel == "slack" else "email",
            env=None,
            source=f"review:{decision.id}",
        )
        for decision, subject, text, channel in rows
    ]
