"""Many workers on PostgreSQL: a folder whose reader dies is taken over within a bounded time.

The holder is a real process: it reads the folder with `watch_folder` one message
per chunk and hangs in the middle of its second chunk, holding the folder's
advisory lease. It is then killed with SIGKILL; the worker that was skipping the
folder must read the rest of it within a few seconds, and nothing may be stored
twice or lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from channels.imap import lease_key, watch_folder
from intake.clock import FixedClock
from intake.runtime import Runtime
from intake.store.migrate import upgrade
from intake.store.orm import Message
from intake.store.session import make_engine
from tests.conftest import MailBuilder
from tests.servers.dovecot import Mailbox, dovecot_fixture, mailbox_fixture  # noqa: F401
from tests.servers.stack import add_customers, count, make_runtime

ROOT = Path(__file__).resolve().parents[2]
# What the test allows between the SIGKILL and the first message read by the other worker: the
# survivor's lease_retry (0.5 s here) plus one pass; PostgreSQL ends a killed client's session at once.
TAKEOVER_BOUND = 10.0

# The holder: a worker that commits its first chunk, then hangs in the second while holding the lease.
HOLDER = """
import json, sys, threading, time
import channels.imap as imap
from intake.clock import SystemClock
from tests.servers.stack import make_runtime

url, mailbox = sys.argv[1], json.loads(sys.argv[2])
rt = make_runtime(url, SystemClock(), imap=[mailbox])
real_ingest = imap.ingest
calls = []

def ingest(items, deps):
    calls.append(len(items))
    if len(calls) == 2:
        print("hanging", flush=True)
        time.sleep(3600)
    return real_ingest(items, deps)

imap.ingest = ingest
imap.watch_folder(rt.settings.imap[0], "INBOX", rt, threading.Event())
"""


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(postgres_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def lease_held(rt: Runtime, mailbox: str, folder: str) -> bool:
    """Whether some session holds the folder's advisory lock (pg_locks splits the key in two halves)."""
    key = lease_key(mailbox, folder) & 0xFFFFFFFFFFFFFFFF
    with rt.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid::bigint = :hi AND objid::bigint = :lo"
            ),
            {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
        ).scalar()
    return bool(found)


@pytest.mark.postgres
@pytest.mark.parametrize("backlog", [3, 7])
def test_a_killed_reader_s_folder_is_taken_over_within_seconds(
    pg_store: str, clock: FixedClock, mailbox: Mailbox, make_mail: MailBuilder, backlog: int
) -> None:
    settings = mailbox.settings(
        first_sync="all", batch_size=1, idle=False, poll_interval=600, lease_retry=0.5
    )
    survivor = make_runtime(pg_store, clock, imap=[settings])
    add_customers(survivor)
    mails = [
        make_mail(subject=f"Problem {i}", message_id=f"<lease-{backlog}-{i}@acme.example>")
        for i in range(backlog)
    ]
    mailbox.append("INBOX", mails)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_store, json.dumps(settings)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()
    watcher = threading.Thread(target=watch_folder, args=(survivor.settings.imap[0], "INBOX", survivor, stop))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "hanging", holder.stderr.read() if holder.stderr else ""
        assert count(survivor, Message) == 1  # the holder's first chunk is committed
        assert lease_held(survivor, "support", "INBOX")
        watcher.start()
        time.sleep(2.0)  # four tries of the survivor: the folder is the holder's
        assert count(survivor, Message) == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed = time.monotonic()
        wait_for(lambda: count(survivor, Message) > 1, TAKEOVER_BOUND, "the survivor to take the folder over")
        took_over = time.monotonic() - killed
        wait_for(lambda: count(survivor, Message) == backlog, 30, "the rest of the folder")
        print(f"\nIMAP lease: folder taken over {took_over:.2f} s after SIGKILL of its reader")
        with survivor.sessions() as session:
            ids = list(session.scalars(select(Message.external_id).order_by(Message.id)))
            assert sorted(ids) == sorted(f"lease-{backlog}-{i}@acme.example" for i in range(backlog))
            assert session.scalar(select(func.count(func.distinct(Message.ticket_id)))) == backlog
        assert all(rb"\Seen" in flags for flags in mailbox.flags("INBOX").values())
    finally:
        stop.set()
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)  # reaps it and closes its pipes
        if watcher.is_alive():
            watcher.join(timeout=15)
        survivor.engine.dispose()


@pytest.mark.postgres
def test_a_stopped_worker_that_finished_its_pass_holds_nothing(
    pg_store: str, clock: FixedClock, mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    """The lease is held for a pass only: between passes (waiting for mail) a worker holds no folder."""
    settings = mailbox.settings(first_sync="all", idle=True, lease_retry=0.5)
    rt = make_runtime(pg_store, clock, imap=[settings])
    add_customers(rt)
    mailbox.append("INBOX", [make_mail(subject="One")])
    stop = threading.Event()
    watcher = threading.Thread(target=watch_folder, args=(rt.settings.imap[0], "INBOX", rt, stop))
    watcher.start()
    try:
        wait_for(lambda: count(rt, Message) == 1, 15, "the first pass")
        time.sleep(0.5)
        assert not lease_held(rt, "support", "INBOX")
    finally:
        stop.set()
        watcher.join(timeout=15)
        rt.engine.dispose()
