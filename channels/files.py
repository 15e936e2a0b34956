"""`intake ingest FILE|DIR|MBOX|MAILDIR|-`: feed stored mail through the pipeline, in flat memory.

Non-destructive and deterministic: files are read, never moved; messages are
taken in the order of their Date headers, then by source name (undated last),
so a replay threads exactly as the original traffic did.

Two passes keep memory flat whatever the size of the archive:

1. **dates**: every input is listed and only the head of each message is read
   (at most `HEAD_BYTES`, up to its first blank line) for its Date. What is kept
   per message is a small `Entry` (where the bytes are, and the Date as a number).
2. **batches**: in Date order, up to `BATCH_SIZE` messages (or `BATCH_BYTES` of raw
   mail) are read, parsed, run through the pipeline and committed, then released.

Inputs: an .eml file; a folder of them (searched recursively; names starting with
a dot and the `tmp/` of a Maildir are skipped, so a Maildir's `cur/` and `new/` are
read; each file found in a folder is one message, as an IMAP server or a mail
archive stores them); an mbox file given as the input (a file whose first line is
an mbox "From " envelope line: messages split at "From " lines that follow a blank
line, ">From " unquoted as in mboxrd); `-`, standard input, spooled to a temporary
file first (one message or an mbox).

A rerun skips what an earlier run stored: before a batch goes through the
pipeline its messages' dedup keys (and the hashes of quarantined input) are
looked up in one query each; those already in the store are counted as
`already_stored` and not processed again, so an interrupted ingest can simply be
run again.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from channels.mail_headers import parse_date, split_headers
from channels.parse import parse_one
from intake.errors import BadInput
from intake.models import InboundMessage
from intake.pipeline import Item, Outcome, Rejected, ingest
from intake.pipeline.context import Deps
from intake.pipeline.dedup import dedup_key, hash_key
from intake.store.orm import Message, Quarantine

BATCH_SIZE = 500
BATCH_BYTES = 64 * 1024 * 1024
HEAD_BYTES = 64 * 1024
SAMPLE = 12  # ticket refs and quarantined sources kept for the summary's human lines
_KEYS = ("tickets", "followups", "dropped", "duplicates", "quarantined", "already_stored")
_DISPOSITION_KEY = {
    "ticket": "tickets",
    "followup": "followups",
    "dropped": "dropped",
    "duplicate": "duplicates",
    "quarantined": "quarantined",
}
_MBOX_FROM = b"From "
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)

Progress = Callable[[str, int, int | None], None]
"""progress(phase, done, total): phase "dates" (total unknown) or "messages"."""


@dataclass(slots=True)
class Summary:
    """Counts that add up to the messages found, and a bounded sample for the human summary."""

    files: int = 0
    from_mbox: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KEYS, 0))
    new_tickets: list[int] = field(default_factory=list)
    followup_tickets: set[int] = field(default_factory=set)
    quarantined: list[tuple[str, str]] = field(default_factory=list)

    def add(self, source: str, outcome: Outcome) -> None:
        self.counts[_DISPOSITION_KEY[outcome.disposition]] += 1
        if outcome.disposition == "ticket" and outcome.ticket_id is not None:
            if len(self.new_tickets) < SAMPLE:
                self.new_tickets.append(outcome.ticket_id)
        elif outcome.disposition == "followup" and outcome.ticket_id is not None:
            self.followup_tickets.add(outcome.ticket_id)
        elif outcome.disposition == "quarantined" and len(self.quarantined) < SAMPLE:
            self.quarantined.append((source, outcome.reason))

    def as_json(self) -> dict[str, int]:
        return {"files": self.files, **self.counts}


@dataclass(frozen=True, slots=True)
class Entry:
    """One message found in pass 1: its file, its byte range (end -1: the whole file), its Date."""

    source: str
    path: str
    start: int = 0
    end: int = -1
    date: float = math.inf

    def order(self) -> tuple[float, str]:
        return (self.date, self.source)


# --- pass 1: find the messages and their dates --------------------------------------------------


def _head_date(head: bytes) -> float:
    cut = min((i for i in (head.find(b"\n\n"), head.find(b"\n\r\n")) if i >= 0), default=len(head))
    try:
        when = parse_date(split_headers(head[: cut + 1]).get("date"))
    except Exception:  # an unreadable head is ordered last; pass 2 parses or quarantines it
        return math.inf
    return when.timestamp() if when is not None else math.inf


def _is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(_MBOX_FROM)) == _MBOX_FROM
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc


def _file_entry(name: str) -> Entry:
    try:
        with open(name, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise BadInput(f"cannot read {name}: {exc.strerror}") from exc
    return Entry(name, name, date=_head_date(head))


def _mbox_entries(path: Path, label: str) -> Iterator[Entry]:
    """Messages of an mbox: split at "From " lines at the start or after a blank line."""
    name = os.fspath(path)
    with path.open("rb") as fh:
        number = 0
        start = -1
        head = bytearray()
        offset = 0
        blank = True
        for line in fh:
            if blank and line.startswith(_MBOX_FROM):
                if start >= 0:
                    number += 1
                    yield Entry(f"{label}#{number}", name, start, offset, _head_date(bytes(head)))
                start = offset + len(line)
                head.clear()
            elif start >= 0 and len(head) < HEAD_BYTES:
                head += line
            offset += len(line)
            blank = line in (b"\n", b"\r\n")
        if start >= 0:
            number += 1
            yield Entry(f"{label}#{number}", name, start, offset, _head_date(bytes(head)))


def _is_maildir(folder: str) -> bool:
    return os.path.isdir(os.path.join(folder, "cur")) and os.path.isdir(os.path.join(folder, "new"))


def _walk(root: str) -> Iterator[str]:
    """Every file below `root` as a path string (no Path objects: a million names stay small),
    skipping hidden names, and tmp/ (mail still being delivered) when `root` is itself a Maildir.

    A folder that merely contains Maildirs (an archive, a corpus) is taken whole: every file
    in it is a message someone asked to ingest, so none is left out of the count.
    """
    top_maildir = _is_maildir(root)
    for folder, dirs, names in os.walk(root):
        skip_tmp = top_maildir and folder == root
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (skip_tmp and d == "tmp"))
        for name in sorted(names):
            full = os.path.join(folder, name)
            if not name.startswith(".") and os.path.isfile(full):
                yield full


def find_messages(target: str, *, label: str | None = None) -> Iterator[Entry]:
    """Every message of a file, mbox or folder, with its Date (pass 1)."""
    path = Path(target)
    if path.is_dir():
        for child in _walk(target):
            yield _file_entry(child)
    elif path.is_file():
        yield from _entries_of(path, label or target)
    else:
        raise BadInput(f"no such file or folder: {target}")


def _entries_of(path: Path, label: str) -> Iterator[Entry]:
    if _is_mbox(path):
        yield from _mbox_entries(path, label)
    else:
        entry = _file_entry(os.fspath(path))
        yield entry if entry.source == label else Entry(label, entry.path, date=entry.date)


# --- pass 2: read, parse and ingest in batches --------------------------------------------------


class _Reader:
    """Reads an entry's bytes, keeping the last mbox open between reads."""

    def __init__(self) -> None:
        self._path = ""
        self._fh: BinaryIO | None = None

    def read(self, entry: Entry) -> bytes:
        try:
            if entry.end < 0:
                return Path(entry.path).read_bytes()
            if self._path != entry.path or self._fh is None:
                self.close()
                self._fh = open(entry.path, "rb")  # noqa: SIM115 - kept open across reads, closed in close()
                self._path = entry.path
            self._fh.seek(entry.start)
            raw = self._fh.read(entry.end - entry.start)
        except OSError as exc:
            raise BadInput(f"cannot read {entry.path}: {exc.strerror}") from exc
        if raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        elif raw.endswith(b"\n\n"):
            raw = raw[:-1]
        return _QUOTED_FROM.sub(rb"\1", raw)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _chunks(entries: list[Entry], reader: _Reader) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for entry in entries:
        raw = reader.read(entry)
        chunk.append((entry.source, raw))
        size += len(raw)
        if len(chunk) >= BATCH_SIZE or size >= BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _raw_hash(item: Item) -> str:
    raw = item.raw if isinstance(item, Rejected) else (item.raw or b"")
    return hashlib.sha256(raw).hexdigest()


def already_stored(items: list[Item], deps: Deps) -> list[bool]:
    """Which items an earlier run stored: a message under its dedup key with the same content,
    or under its content-hash key (a reused Message-ID), or the same bytes still in quarantine."""
    keys: dict[str, None] = {}
    for item in items:
        if isinstance(item, InboundMessage):
            keys[dedup_key(item)] = None
            keys[hash_key(item)] = None
    stored: dict[str, str | None] = {}
    if keys:
        query = select(Message.dedup_key, Message.content_hash).where(Message.dedup_key.in_(list(keys)))
        stored = {key: digest for key, digest in deps.session.execute(query)}
    hashes = [_raw_hash(item) for item in items]
    held = set(
        deps.session.scalars(
            select(Quarantine.sha256).where(Quarantine.sha256.in_(hashes), Quarantine.released_at.is_(None))
        )
    )
    found: list[bool] = []
    for item, digest in zip(items, hashes, strict=True):
        if isinstance(item, InboundMessage):
            key = dedup_key(item)
            hit = (key in stored and stored[key] in (None, item.content_hash)) or hash_key(item) in stored
            found.append(hit or digest in held)
        else:
            found.append(digest in held)
    return found


def ingest_entries(entries: list[Entry], deps: Deps, *, progress: Progress | None = None) -> Summary:
    """Pass 2 over entries already found: sort by Date, then parse, skip, ingest and commit by batch."""
    entries.sort(key=Entry.order)
    summary = Summary(files=len(entries), from_mbox=any(e.end >= 0 for e in entries))
    now = deps.clock.now()
    reader = _Reader()
    done = 0
    try:
        for chunk in _chunks(entries, reader):
            items = [parse_one(raw, source, now) for source, raw in chunk]
            sources = [source for source, _ in chunk]
            del chunk
            seen = already_stored(items, deps)
            deps.session.rollback()  # end the read transaction; the pipeline opens its own
            fresh = [(s, i) for s, i, old in zip(sources, items, seen, strict=True) if not old]
            summary.counts["already_stored"] += len(items) - len(fresh)
            del items
            if fresh:
                outcomes = ingest([item for _, item in fresh], deps)
                for (source, _), outcome in zip(fresh, outcomes, strict=True):
                    summary.add(source, outcome)
            done += len(sources)
            if progress is not None:
                progress("messages", done, len(entries))
    finally:
        reader.close()
    return summary


@contextmanager
def _spooled(stream: BinaryIO) -> Iterator[Path]:
    """Standard input copied to a temporary file, so both passes can read it (in bounded memory)."""
    folder = Path(tempfile.mkdtemp(prefix="intake-ingest-"))
    try:
        target = folder / "stdin"
        with target.open("wb") as fh:
            shutil.copyfileobj(stream, fh, 1024 * 1024)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingest_paths(
    target: str,
    deps: Deps,
    *,
    stdin: bytes | BinaryIO | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Ingest a file, folder, mbox or Maildir, or stdin; the counts add up to the messages found."""
    if stdin is not None:
        if isinstance(stdin, bytes | bytearray):
            import io

            stdin = io.BytesIO(stdin)
        with _spooled(stdin) as spool:
            return ingest_entries(list(_found(os.fspath(spool), "-", progress)), deps, progress=progress)
    return ingest_entries(list(_found(target, None, progress)), deps, progress=progress)


def _found(target: str, label: str | None, progress: Progress | None) -> Iterator[Entry]:
    for count, entry in enumerate(find_messages(target, label=label), 1):
        if progress is not None and count % 1000 == 0:
            progress("dates", count, None)
        yield entry
