"""Managers' corrections of triage decisions, as training records for `intake train --with-reviews`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.store import repo


def review_records(session: Session) -> list[Any]:
    """One record per reviewed decision: the message's text with the manager's labels."""
    from classifiers.seed_corpus import Record

    return [
        Record(
            subject=row.subject or None,
            body=row.text,
            severity=row.decision.corrected_severity or row.decision.canonical_severity,
            category=row.decision.corrected_category or row.decision.category,
            channel="chat" if row.channel == "slack" else "email",
            env=None,
            source=f"review:{row.decision.id}",
        )
        for row in repo.reviewed_decisions(session)
    ]
