"""`intake ingest FILE|DIR|-`: feed stored mail through the pipeline.

Non-destructive and deterministic: files are read, never moved; a folder is
taken in the order of the messages' Date headers, then by name (undated last),
so a replay threads exactly as the original traffic did. Each message is parsed
once; batches of BATCH_SIZE are committed in one transaction each.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from channels.parse import parse_one
from intake.errors import BadInput
from intake.models import InboundMessage
from intake.pipeline import Item, Outcome, ingest
from intake.pipeline.context import Deps

BATCH_SIZE = 500
_KEYS = ("tickets", "followups", "dropped", "duplicates", "quarantined")
_DISPOSITION_KEY = {
    "ticket": "tickets",
    "followup": "followups",
    "dropped": "dropped",
    "duplicate": "duplicates",
    "quarantined": "quarantined",
}


@dataclass
class Summary:
    files: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)

    def add(self, source: str, outcome: Outcome) -> None:
        self.counts[_DISPOSITION_KEY[outcome.disposition]] += 1
        self.outcomes.append((source, outcome))

    def as_json(self) -> dict[str, int]:
        return {"files": self.files, **{key: self.counts[key] for key in _KEYS}}


def list_inputs(target: str) -> list[Path]:
    path = Path(target)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return files
    if path.is_file():
        return [path]
    raise BadInput(f"no such file or folder: {target}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc


def parse_all(sources: Iterable[tuple[str, bytes]], received_at: datetime) -> list[tuple[str, Item]]:
    parsed = [(source, parse_one(raw, source, received_at)) for source, raw in sources]
    dated: list[tuple[datetime, str, Item]] = []
    undated: list[tuple[str, Item]] = []
    for source, item in parsed:
        if isinstance(item, InboundMessage) and item.sent_at is not None:
            dated.append((item.sent_at, source, item))
        else:
            undated.append((source, item))
    dated.sort(key=lambda d: (d[0], d[1]))
    undated.sort(key=lambda u: u[0])
    return [(source, item) for _, source, item in dated] + undated


def _batches(items: list[tuple[str, Item]], size: int) -> Iterator[list[tuple[str, Item]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ingest_paths(
    target: str,
    deps: Deps,
    *,
    stdin: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Ingest a file, a folder or stdin bytes; returns the counts that add up to the files."""
    now = deps.clock.now()
    if stdin is not None:
        sources: list[tuple[str, bytes]] = [("-", stdin)]
    else:
        sources = [(os.fspath(p), _read(p)) for p in list_inputs(target)]
    summary = Summary(files=len(sources))
    ordered = parse_all(sources, now)
    done = 0
    for chunk in _batches(ordered, BATCH_SIZE):
        outcomes = ingest([item for _, item in chunk], deps)
        for (source, _), outcome in zip(chunk, outcomes, strict=True):
            summary.add(source, outcome)
        done += len(chunk)
        if progress is not None:
            progress(done, len(ordered))
    return summary
