"""IMAP adapter: read configured mailbox folders into the pipeline, acknowledging only after the commit.

Per folder the store keeps UIDVALIDITY and the last UID whose ticket is
committed (`MailboxState`). A pass searches `UID last+1:*`, fetches in chunks of
`batch_size` with BODY.PEEK[] (fetching never sets \\Seen), runs each chunk
through `pipeline.ingest` (one transaction), then flags the chunk \\Seen or moves
it to `processed_folder`, and only then advances `last_uid`. A crash between
commit and acknowledgement re-reads the chunk on the next pass, and dedup on
Message-ID absorbs it; nothing is ever acknowledged before its commit.

A changed UIDVALIDITY (RFC 3501 2.3.1.1: the old UIDs mean nothing any more)
resets `last_uid` to 0: the whole folder is read again and dedup absorbs what
was already ingested, so nothing is lost and nothing repeats.

`poll_once` reads every configured folder once (`intake poll`); `run_mailbox`
watches them for `intake serve`, one connection and one thread per folder:
IMAP IDLE where offered (RFC 2177, re-issued every `idle_timeout`), polling
every `poll_interval` otherwise, reconnecting with capped exponential backoff
and recording failures on the folder's `MailboxState` row. imapclient blocks,
so all of it runs in threads, never on an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from channels.parse import parse_one
from intake.config import ImapSettings, Settings
from intake.pipeline import Item, ingest
from intake.runtime import Runtime
from intake.store.orm import MailboxState
from intake.store.session import unavailable_is_transient

log = logging.getLogger(__name__)

SEEN = rb"\Seen"
# How long one idle_check waits before looking at the stop flag again.
IDLE_SLICE = 1.0
# At most this many bytes of mail per FETCH and transaction, however many messages that is.
FETCH_BYTES = 64 * 1024 * 1024
BACKOFF_BASE = 1.0
_KEYS = {
    "ticket": "tickets",
    "followup": "followups",
    "dropped": "dropped",
    "duplicate": "duplicates",
    "quarantined": "quarantined",
}


@dataclass
class FolderSummary:
    """What one pass over one folder did."""

    mailbox: str
    folder: str
    uidvalidity: int = 0
    fetched: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    uidvalidity_changed: bool = False
    error: str | None = None
    skipped: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "folder": self.folder,
            "uidvalidity": self.uidvalidity,
            "fetched": self.fetched,
            **{key: self.counts[key] for key in _KEYS.values()},
            "uidvalidity_changed": self.uidvalidity_changed,
            "error": self.error,
            "skipped": self.skipped,
        }


@dataclass
class PollSummary:
    folders: list[FolderSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.error is None for f in self.folders)

    def as_json(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        for f in self.folders:
            totals["fetched"] += f.fetched
            totals.update(f.counts)
        return {
            "folders": [f.as_json() for f in self.folders],
            "fetched": totals["fetched"],
            **{key: totals[key] for key in _KEYS.values()},
            "errors": sum(1 for f in self.folders if f.error is not None),
        }


# --- connection ---------------------------------------------------------------------------------
def tls_context(tls_ca: str) -> ssl.SSLContext:
    """Verify the server's certificate against the system's CAs, or those in `tls_ca`."""
    return ssl.create_default_context(cafile=tls_ca or None)


def connect(mailbox: ImapSettings) -> IMAPClient:
    """Open and log in: implicit TLS, STARTTLS or plain; password or OAuth2 (SASL XOAUTH2)."""
    if mailbox.tls == "ssl":
        client = IMAPClient(
            mailbox.host,
            mailbox.port,
            ssl=True,
            ssl_context=tls_context(mailbox.tls_ca),
            timeout=mailbox.timeout,
        )
    else:
        client = IMAPClient(mailbox.host, mailbox.port, ssl=False, timeout=mailbox.timeout)
    try:
        if mailbox.tls == "starttls":
            client.starttls(tls_context(mailbox.tls_ca))
        if mailbox.auth == "oauth2":
            client.oauth2_login(mailbox.username, mailbox.oauth2_token.get_secret_value())
        else:
            client.login(mailbox.username, mailbox.password.get_secret_value())
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):  # the connection is gone either way
            client.shutdown()


def _ensure_folder(client: IMAPClient, folder: str) -> None:
    if folder and not client.folder_exists(folder):
        client.create_folder(folder)


# --- folder state -------------------------------------------------------------------------------
def _state(session: Session, mailbox: str, folder: str) -> MailboxState | None:
    return session.scalar(
        select(MailboxState).where(MailboxState.mailbox == mailbox, MailboxState.folder == folder)
    )


def _start_point(
    client: IMAPClient,
    mailbox: ImapSettings,
    folder: str,
    *,
    uidvalidity: int,
    uidnext: int,
    runtime: Runtime,
    summary: FolderSummary,
) -> int:
    """The last UID already handled: stored, reset on a UIDVALIDITY change, or chosen on first contact."""
    name = mailbox.name
    with runtime.sessions() as session:
        row = _state(session, name, folder)
        now = runtime.clock.now()
        if row is not None and row.uidvalidity == uidvalidity:
            return int(row.last_uid)
        if row is not None and row.uidvalidity != 0:
            # RFC 3501 2.3.1.1: every UID of the folder may have changed. Read it all again;
            # dedup on Message-ID absorbs what is already stored.
            log.warning(
                "imap %s/%s: UIDVALIDITY changed from %d to %d: re-reading the whole folder",
                name,
                folder,
                row.uidvalidity,
                uidvalidity,
            )
            summary.uidvalidity_changed = True
            start = 0
        elif mailbox.first_sync == "unseen":
            unseen = client.search(["UNSEEN", "NOT", "DELETED"])
            start = min(unseen) - 1 if unseen else max(uidnext - 1, 0)
            log.info(
                "imap %s/%s: first contact, reading from UID %d (first_sync=unseen)", name, folder, start + 1
            )
        else:
            start = 0
        if row is None:
            row = MailboxState(
                mailbox=name,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=start,
                updated_at=now,
                failures=0,
            )
            session.add(row)
        else:
            row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, start, now
        session.commit()
        return start


def _advance(runtime: Runtime, mailbox: str, folder: str, uidvalidity: int, uid: int) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(MailboxState)
            .where(
                MailboxState.mailbox == mailbox,
                MailboxState.folder == folder,
                MailboxState.uidvalidity == uidvalidity,
                MailboxState.last_uid < uid,
            )
            .values(last_uid=uid, updated_at=runtime.clock.now())
        )
        session.commit()


def record_failure(runtime: Runtime, mailbox: str, folder: str, error: str) -> int:
    """Count one more consecutive failure on the folder's health row; returns the count (0 if unknown)."""
    try:
        with runtime.sessions() as session:
            row = _state(session, mailbox, folder)
            if row is None:
                # UIDVALIDITY 0 never occurs on a server (RFC 3501): it marks "never read".
                row = MailboxState(
                    mailbox=mailbox,
                    folder=folder,
                    uidvalidity=0,
                    last_uid=0,
                    updated_at=runtime.clock.now(),
                    failures=0,
                )
                session.add(row)
            row.failures = (row.failures or 0) + 1
            row.last_error = error[:2000]
            row.updated_at = runtime.clock.now()
            session.commit()
            return int(row.failures)
    except Exception as exc:
        log.error("imap %s/%s: cannot record the failure in the store either: %s", mailbox, folder, exc)
        return 0


def record_success(runtime: Runtime, mailbox: str, folder: str) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(MailboxState)
            .where(MailboxState.mailbox == mailbox, MailboxState.folder == folder, MailboxState.failures > 0)
            .values(failures=0, last_error=None)
        )
        session.commit()


# --- reading ------------------------------------------------------------------------------------
def _chunks(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield list(uids[start : start + size])


def pending_uids(client: IMAPClient, last_uid: int) -> list[int]:
    """UIDs above last_uid, ascending. `UID n:*` also matches the highest UID when n is above it
    (RFC 3501 6.4.8: n:* is read as *:n), so the result is filtered here."""
    found = client.search(["UID", f"{last_uid + 1}:*", "NOT", "DELETED"])
    return sorted(uid for uid in found if uid > last_uid)


def _acknowledge(client: IMAPClient, mailbox: ImapSettings, uids: list[int]) -> None:
    """Flag \\Seen, or move to processed_folder: the source learns the messages are kept."""
    client.add_flags(uids, [SEEN], silent=True)
    target = mailbox.processed_folder
    if not target:
        return
    if client.has_capability("MOVE"):
        client.move(uids, target)
        return
    client.copy(uids, target)
    client.delete_messages(uids, silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:  # RFC 3501 EXPUNGE removes every \Deleted message of the folder, not only ours
        client.expunge()


@contextmanager
def folder_lease(runtime: Runtime, mailbox: str, folder: str) -> Iterator[bool]:
    """Whether this worker may read the folder now.

    Several `intake serve` workers on one PostgreSQL store would otherwise all
    fetch the same messages (dedup keeps the result right, but the work is done
    several times). A session-level advisory lock, keyed on the mailbox and
    folder and held on a connection of its own for one pass, lets one worker read
    while the others skip that pass. SQLite serves one process: always True.
    """
    if runtime.engine.dialect.name != "postgresql":
        yield True
        return
    digest = hashlib.sha256(f"intake-imap:{mailbox}/{folder}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with runtime.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.rollback()


def sync_folder(
    client: IMAPClient,
    mailbox: ImapSettings,
    folder: str,
    runtime: Runtime,
    stop: threading.Event | None = None,
) -> FolderSummary:
    """One pass over one folder (unless another worker is reading it): every message above the stored UID.

    A store that cannot be reached raises `Transient`: nothing of the pass was acknowledged.
    """
    with unavailable_is_transient(), folder_lease(runtime, mailbox.name, folder) as mine:
        if not mine:
            summary = FolderSummary(mailbox.name, folder, skipped="another worker is reading this folder")
            log.info("imap %s/%s: skipped, another worker is reading it", mailbox.name, folder)
            return summary
        return _sync_folder(client, mailbox, folder, runtime, stop)


def _sync_folder(
    client: IMAPClient, mailbox: ImapSettings, folder: str, runtime: Runtime, stop: threading.Event | None
) -> FolderSummary:
    summary = FolderSummary(mailbox.name, folder)
    info = client.select_folder(folder)
    uidvalidity = int(info[b"UIDVALIDITY"])
    summary.uidvalidity = uidvalidity
    uidnext = int(info.get(b"UIDNEXT", 0))
    last_uid = _start_point(
        client, mailbox, folder, uidvalidity=uidvalidity, uidnext=uidnext, runtime=runtime, summary=summary
    )
    uids = pending_uids(client, last_uid)
    if uids:
        log.info("imap %s/%s: %d new message(s) from UID %d", mailbox.name, folder, len(uids), uids[0])
    for batch in _chunks(uids, mailbox.batch_size):
        for chunk in _by_size(client, batch):
            if stop is not None and stop.is_set():
                return summary
            _process_chunk(
                client,
                mailbox,
                folder,
                uidvalidity=uidvalidity,
                chunk=chunk,
                runtime=runtime,
                summary=summary,
            )
    return summary


def _by_size(client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
    """Split a batch so that one FETCH holds at most FETCH_BYTES (a few huge attachments)."""
    sizes = client.fetch(uids, [b"RFC822.SIZE"])
    chunk: list[int] = []
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        if chunk and total + size > FETCH_BYTES:
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += size
    if chunk:
        yield chunk


def _process_chunk(
    client: IMAPClient,
    mailbox: ImapSettings,
    folder: str,
    *,
    uidvalidity: int,
    chunk: list[int],
    runtime: Runtime,
    summary: FolderSummary,
) -> None:
    fetched = client.fetch(chunk, [b"BODY.PEEK[]"])
    now = runtime.clock.now()
    items: list[Item] = []
    present: list[int] = []
    for uid in chunk:
        raw = fetched.get(uid, {}).get(b"BODY[]")
        if raw is None:  # expunged by someone else since the search
            continue
        source = f"imap://{mailbox.name}/{folder};UIDVALIDITY={uidvalidity}/;UID={uid}"
        items.append(parse_one(bytes(raw), source, now))
        present.append(uid)
    if items:
        with runtime.deps() as deps:
            outcomes = ingest(items, deps)  # commits, or raises Transient: then nothing is acknowledged
        for outcome in outcomes:
            summary.counts[_KEYS[outcome.disposition]] += 1
        summary.fetched += len(items)
        _acknowledge(client, mailbox, present)
    _advance(runtime, mailbox.name, folder, uidvalidity, max(chunk))


# --- once ---------------------------------------------------------------------------------------
def poll_once(settings: Settings, runtime: Runtime) -> PollSummary:
    """Read every configured folder of every mailbox once; a failing mailbox does not stop the others."""
    result = PollSummary()
    for mailbox in settings.imap:
        folders = mailbox.all_folders()
        try:
            client = connect(mailbox)
        except Exception as exc:
            for folder in folders:
                result.folders.append(_failed(runtime, mailbox, folder, exc))
            continue
        try:
            _ensure_folder(client, mailbox.processed_folder)
            for folder in folders:
                try:
                    result.folders.append(sync_folder(client, mailbox, folder, runtime))
                    record_success(runtime, mailbox.name, folder)
                except Exception as exc:
                    result.folders.append(_failed(runtime, mailbox, folder, exc))
        finally:
            _close(client)
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _failed(runtime: Runtime, mailbox: ImapSettings, folder: str, exc: BaseException) -> FolderSummary:
    error = _describe(exc)
    failures = record_failure(runtime, mailbox.name, folder, error)
    log.error("imap %s/%s: pass failed (%d in a row): %s", mailbox.name, folder, failures, error)
    return FolderSummary(mailbox.name, folder, error=error)


# --- watching -----------------------------------------------------------------------------------
def backoff(failures: int, ceiling: float) -> float:
    """Capped exponential backoff with jitter: 1, 2, 4 ... seconds, at most `ceiling`."""
    delay: float = min(ceiling, BACKOFF_BASE * 2 ** min(failures - 1, 20))
    return delay * random.uniform(0.8, 1.0)


def _wait_for_mail(client: IMAPClient, mailbox: ImapSettings, stop: threading.Event) -> None:
    """Return when the folder may have new mail: IDLE push, else after poll_interval."""
    if not (mailbox.idle and client.has_capability("IDLE")):
        stop.wait(mailbox.poll_interval)
        return
    client.idle()
    deadline = time.monotonic() + mailbox.idle_timeout
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            responses = client.idle_check(timeout=IDLE_SLICE)
            if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                return
            if any(r and r[0] == b"BYE" for r in responses):
                raise ConnectionError("server closed the connection during IDLE")
    finally:
        client.idle_done()


def watch_folder(mailbox: ImapSettings, folder: str, runtime: Runtime, stop: threading.Event) -> None:
    """Keep one folder read until `stop` is set: connect, pass, wait for mail, pass again ...

    Any failure (network, login, database) drops the connection and retries
    after a backoff; after `failure_alert` failures in a row the log line turns
    into an error and the health row keeps the count and the last error.
    """
    failures = 0
    while not stop.is_set():
        client: IMAPClient | None = None
        try:
            client = connect(mailbox)
            _ensure_folder(client, mailbox.processed_folder)
            while not stop.is_set():
                sync_folder(client, mailbox, folder, runtime, stop)
                if failures:
                    log.info("imap %s/%s: working again after %d failure(s)", mailbox.name, folder, failures)
                    failures = 0
                record_success(runtime, mailbox.name, folder)
                _wait_for_mail(client, mailbox, stop)
        except Exception as exc:
            failures += 1
            error = _describe(exc)
            stored = record_failure(runtime, mailbox.name, folder, error)
            delay = backoff(failures, mailbox.backoff_max)
            level = logging.ERROR if max(failures, stored) >= mailbox.failure_alert else logging.WARNING
            log.log(
                level,
                "imap %s/%s: failing (%d in a row), retrying in %.0f s: %s",
                mailbox.name,
                folder,
                max(failures, stored),
                delay,
                error,
            )
            stop.wait(delay)
        finally:
            if client is not None:
                _close(client)


async def run_mailbox(mailbox: ImapSettings, runtime: Runtime, stop: threading.Event) -> None:
    """Watch every folder of one mailbox until `stop` is set, each in a thread of its own.

    The threads are not taken from the loop's default executor, which the SMTP
    server needs for its pipeline calls; they hold no event-loop resources.
    """
    folders = mailbox.all_folders()
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=len(folders), thread_name_prefix=f"imap-{mailbox.name}")
    try:
        await asyncio.gather(
            *(loop.run_in_executor(pool, watch_folder, mailbox, folder, runtime, stop) for folder in folders)
        )
    finally:
        pool.shutdown(wait=False)
