"""Typed state (issue 9, point 2): the rows that move through the pipeline, the scheduler and the
lifecycle are dataclasses, so mypy --strict checks them; no untyped dict rides along."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPED = sorted(
    [
        *(ROOT / "intake" / "pipeline").rglob("*.py"),
        ROOT / "intake" / "tickets" / "scheduler.py",
        ROOT / "intake" / "tickets" / "lifecycle.py",
        ROOT / "intake" / "sla" / "timers.py",
    ]
)
UNTYPED = re.compile(r"dict\[str,\s*Any\]|\bctx\.extra\b|import_module|__import__\(")


@pytest.mark.parametrize("path", TYPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_untyped_rows(path: Path) -> None:
    found = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNTYPED.search(line)
    ]
    assert found == [], f"{path.relative_to(ROOT)} carries untyped state: {found}"


def test_the_decide_rules_never_touch_the_store_or_the_classifier() -> None:
    """decide is pure: none of its modules imports the session, the batch or the model."""
    forbidden = re.compile(
        r"^\s*(from|import) (sqlalchemy|classifiers|intake\.pipeline\.batch|intake\.store)\b"
    )
    for path in (ROOT / "intake" / "pipeline" / "decide").glob("*.py"):
        if path.name == "recompute.py":
            continue  # reads a stored Ticket into a TicketState (ticket_state), nothing else
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if forbidden.match(line)]
        assert lines == [], f"{path.name}: {lines}"
