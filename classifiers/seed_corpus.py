"""Seed corpus: read the hand-labelled records in ``classifiers/seed/part*.txt``.

The format is described in ``classifiers/seed/LABELLING.md``. Every record starts
with a header line ``### severity=.. category=.. channel=.. env=..``; an email
record has a ``Subject:`` line and a blank line before its body, a chat record
starts its body straight after the header. The reader is strict: a header that
does not parse, an unknown label, a record without a body or text before the
first header raises :class:`CorpusError` naming the file and line, because a
silently skipped record would bias training without anyone noticing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
CATEGORIES: tuple[str, ...] = ("question", "defect", "configuration", "account", "enhancement")
CHANNELS: tuple[str, ...] = ("email", "chat")
ENVIRONMENTS: tuple[str, ...] = ("production", "test", "unknown")

SEED_DIR = Path(__file__).resolve().parent / "seed"

_ALLOWED: dict[str, tuple[str, ...]] = {
    "severity": SEVERITIES,
    "category": CATEGORIES,
    "channel": CHANNELS,
    "env": ENVIRONMENTS,
}
# part1.txt, part2.txt, ... (English voices) and part-de.txt, part-de2.txt, ... (other languages).
_PART = re.compile(r"part(?:(\d+)|-([a-z]{2})(\d*))\.txt\Z")


class CorpusError(ValueError):
    """A seed file does not follow LABELLING.md; the message names file and line."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One labelled message. ``severity``/``category`` are None only for partly labelled eval rows."""

    subject: str | None
    body: str
    severity: str | None
    category: str | None
    channel: str = "email"
    env: str | None = "unknown"  # None: not labelled (data files without an env column)
    source: str = ""
    group: str = ""  # the CV group (writer, customer, repository); default: the part of `source`
    when: str = ""  # a sortable time (ISO 8601) for time-ordered CV of helpdesk exports
    id: str = ""  # the row's own id in an export (shown by `intake eval --json`); default: source

    def key(self) -> dict[str, str | None]:
        """The fields that define the record's content (not where it came from)."""
        return {
            "subject": self.subject,
            "body": self.body,
            "severity": self.severity,
            "category": self.category,
            "channel": self.channel,
            "env": self.env,
        }


def parse_header(line: str, source: str, lineno: int) -> dict[str, str]:
    """Parse ``### key=value ...``; every key exactly once, every value one of the allowed ones."""
    tokens = line[3:].split()
    if not line.startswith("### ") or not tokens:
        raise CorpusError(source, lineno, f"malformed header {line.strip()!r}")
    fields: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not value:
            raise CorpusError(source, lineno, f"header token {token!r} is not key=value")
        if key not in _ALLOWED:
            raise CorpusError(source, lineno, f"unknown header key {key!r}")
        if key in fields:
            raise CorpusError(source, lineno, f"header key {key!r} given twice")
        if value not in _ALLOWED[key]:
            allowed = "|".join(_ALLOWED[key])
            raise CorpusError(source, lineno, f"{key}={value!r} is not one of {allowed}")
        fields[key] = value
    missing = [key for key in _ALLOWED if key not in fields]
    if missing:
        raise CorpusError(source, lineno, f"header lacks {', '.join(missing)}")
    return fields


def parse_seed_text(text: str, source: str) -> list[Record]:
    """Parse one seed file's text; ``source`` (a file name) is used in errors and on each record."""
    lines = text.splitlines()
    records: list[Record] = []
    i = 0
    # Only blank lines may precede the first header.
    while i < len(lines) and not lines[i].startswith("###"):
        if lines[i].strip():
            raise CorpusError(source, i + 1, "text before the first '### ' header")
        i += 1
    while i < len(lines):
        header_no = i + 1
        fields = parse_header(lines[i], source, header_no)
        i += 1
        start = i
        while i < len(lines) and not lines[i].startswith("###"):
            i += 1
        records.append(_record(lines[start:i], fields, source, header_no))
    return records


def _record(block: list[str], fields: dict[str, str], source: str, header_no: int) -> Record:
    subject: str | None = None
    body_lines = block
    if block and block[0].startswith("Subject:"):
        subject = block[0][len("Subject:") :].strip()
        if len(block) > 1 and block[1].strip():
            raise CorpusError(source, header_no + 2, "the Subject: line must be followed by a blank line")
        body_lines = block[2:]
    body = "\n".join(body_lines).strip()
    if not body:
        raise CorpusError(source, header_no, "record has no body")
    return Record(
        subject=subject,
        body=body,
        severity=fields["severity"],
        category=fields["category"],
        channel=fields["channel"],
        env=fields["env"],
        source=f"{source}:{header_no}",
    )


def _order(path: Path) -> tuple[int, str, int]:
    match = _PART.search(path.name)
    assert match is not None
    number, language, more = match.groups()
    return (int(number), "", 0) if number else (10**6, language, int(more or 1))


def seed_files(directory: Path = SEED_DIR) -> list[Path]:
    """``part1.txt``, ``part2.txt``, ... in numeric order, then ``part-de.txt``, ``part-de2.txt``, ..."""
    return sorted((p for p in directory.glob("part*.txt") if _PART.search(p.name)), key=_order)


def group_of(record: Record) -> str:
    """The corpus part (seed file, one writer or set of writers) a record comes from: the CV group."""
    return record.group or record.source.rpartition(":")[0] or record.source


def language_of_part(group: str) -> str | None:
    """The language a part was written in when its name says so (``part-de2.txt``: de), else None."""
    match = _PART.search(group)
    return match.group(2) if match else None


def load_seed(directory: Path = SEED_DIR) -> list[Record]:
    """All seed records, in file order. Raises CorpusError on the first malformed record."""
    files = seed_files(directory)
    if not files:
        raise FileNotFoundError(f"no seed files part*.txt in {directory}")
    records: list[Record] = []
    for path in files:
        records.extend(parse_seed_text(path.read_text(encoding="utf-8"), path.name))
    return records


def data_sha256(records: Iterable[Record], weights: Sequence[float] | None = None) -> str:
    """A digest of the training data's content (labels and text, plus weights), not of its files."""
    digest = hashlib.sha256()
    for n, record in enumerate(records):
        item: dict[str, object] = dict(record.key())
        if weights is not None:
            item["weight"] = float(weights[n])
        digest.update(json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
