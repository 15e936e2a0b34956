"""The IMAP adapter against a real Dovecot, started and stopped by the suite (tests/servers/dovecot.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from channels.imap import poll_once, run_mailbox, watch_folder
from intake.clock import FixedClock
from intake.runtime import Runtime
from intake.store.orm import MailboxState, Message, Outbox, Quarantine, Ticket
from tests.conftest import MailBuilder
from tests.servers.dovecot import Dovecot, Mailbox, dovecot_fixture, mailbox_fixture  # noqa: F401
from tests.servers.postgres import SwitchableDatabase, switchable_pg_fixture  # noqa: F401
from tests.servers.smtp import LoopThread
from tests.servers.stack import add_customers, count, make_runtime, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
SEEN = rb"\Seen"


@pytest.fixture
def store_url(tmp_path: Path, clock: FixedClock) -> str:
    url = sqlite_url(tmp_path)
    rt = make_runtime(url, clock)
    add_customers(rt)
    rt.engine.dispose()
    return url


@pytest.fixture
def bot(store_url: str, clock: FixedClock) -> Iterator[Callable[..., Runtime]]:
    """bot(mailbox_settings, ...) -> a runtime whose [[imap]] list holds those mailboxes."""
    made: list[Runtime] = []

    def build(*mailboxes: dict[str, Any]) -> Runtime:
        rt = make_runtime(store_url, clock, imap=list(mailboxes))
        made.append(rt)
        return rt

    yield build
    for rt in made:
        rt.engine.dispose()


def state(rt: Runtime, folder: str = "INBOX") -> MailboxState:
    with rt.sessions() as session:
        found = session.scalars(select(MailboxState).where(MailboxState.folder == folder)).one()
        return found


def wait_for(check: Callable[[], bool], timeout: float = 15, what: str = "condition") -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def conversation(make_mail: MailBuilder, n: int, tag: str = "c") -> list[bytes]:
    """n messages: two new requests, then a reply to the first of them, and so on."""
    mails = []
    for i in range(n):
        if i % 3 == 2:
            parent = f"<{tag}{i - 2}@acme.example>"
            mails.append(
                make_mail(
                    subject=f"Re: Problem {i - 2}",
                    message_id=f"<{tag}{i}@acme.example>",
                    headers={"In-Reply-To": parent, "References": parent},
                )
            )
        else:
            mails.append(
                make_mail(
                    subject=f"Problem {i}",
                    message_id=f"<{tag}{i}@acme.example>",
                    sender="dana@acme.example" if i % 2 else f"user{i}@acme.example",
                )
            )
    return mails


def test_poll_over_tls_flags_seen_only_after_commit(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    server = mailbox.server
    rt = bot(mailbox.settings(port=server.tls_port, tls="ssl", tls_ca=str(server.cert.cert)))
    mailbox.append("INBOX", conversation(make_mail, 3))
    assert all(SEEN not in flags for flags in mailbox.flags("INBOX").values())

    summary = poll_once(rt.settings, rt).as_json()
    assert (summary["fetched"], summary["tickets"], summary["followups"], summary["errors"]) == (3, 2, 1, 0)
    assert all(SEEN in flags for flags in mailbox.flags("INBOX").values())
    row = state(rt)
    assert (row.last_uid, row.failures) == (3, 0) and row.uidvalidity > 0

    assert poll_once(rt.settings, rt).as_json()["fetched"] == 0  # nothing twice
    mailbox.append("INBOX", [make_mail(subject="Another one")])
    assert poll_once(rt.settings, rt).as_json()["tickets"] == 1
    assert count(rt, Message) == 4


@pytest.mark.postgres
def test_mail_stays_unseen_while_the_database_is_down(
    mailbox: Mailbox, switchable_pg: SwitchableDatabase, clock: FixedClock, make_mail: MailBuilder
) -> None:
    rt = make_runtime(switchable_pg.url, clock, imap=[mailbox.settings()])
    add_customers(rt)
    mailbox.append("INBOX", conversation(make_mail, 2))
    switchable_pg.down()
    summary = poll_once(rt.settings, rt)
    assert not summary.ok and "OperationalError" in (summary.folders[0].error or "")
    assert all(SEEN not in flags for flags in mailbox.flags("INBOX").values())  # not acknowledged
    switchable_pg.up()
    assert poll_once(rt.settings, rt).as_json()["tickets"] == 2
    assert all(SEEN in flags for flags in mailbox.flags("INBOX").values())
    assert count(rt, Message) == 2
    rt.engine.dispose()


def test_starttls_oauth2_several_folders_and_a_processed_folder(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    server = mailbox.server
    # XOAUTH2 (RFC 7628 style SASL); the test Dovecot takes the bearer token as the password
    rt = bot(
        mailbox.settings(
            tls="starttls",
            tls_ca=str(server.cert.cert),
            auth="oauth2",
            password="",
            oauth2_token=mailbox.password,
            folders=["Escalations"],
            processed_folder="Processed",
        )
    )
    mailbox.append("INBOX", conversation(make_mail, 2, tag="in"))
    mailbox.append("Escalations", conversation(make_mail, 1, tag="esc"))
    summary = poll_once(rt.settings, rt).as_json()
    assert [(f["folder"], f["tickets"]) for f in summary["folders"]] == [("INBOX", 2), ("Escalations", 1)]
    assert mailbox.flags("INBOX") == {} and mailbox.flags("Escalations") == {}
    moved = mailbox.flags("Processed")
    assert len(moved) == 3 and all(SEEN in flags for flags in moved.values())
    assert count(rt, Ticket) == 3


def test_intake_poll_reads_every_mailbox_and_reports_a_failing_one(
    tmp_path: Path,
    store_url: str,
    dovecot: Dovecot,
    make_mail: MailBuilder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from intake.cli import main

    first, second, broken = (Mailbox(dovecot, *dovecot.take_user()) for _ in range(3))
    first.append("INBOX", conversation(make_mail, 2, tag="one"))
    second.append("INBOX", conversation(make_mail, 1, tag="two"))
    tables = [
        first.settings(name="sales"),
        second.settings(name="support"),
        broken.settings(name="legacy", password="expired"),
    ]
    config = tmp_path / "intake.toml"
    config.write_text(
        "".join("[[imap]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in t.items()) for t in tables)
    )
    monkeypatch.setenv("INTAKE_CONFIG", str(config))
    monkeypatch.setenv("INTAKE_DATABASE_URL", store_url)
    with pytest.raises(SystemExit) as exited:
        main(["poll", "--json"])
    assert exited.value.code == 1  # one mailbox failed
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert [(f["mailbox"], f["tickets"], f["error"] is not None) for f in summary["folders"]] == [
        ("sales", 2, False),
        ("support", 1, False),
        ("legacy", 0, True),
    ]
    assert summary["errors"] == 1 and "1 mailbox folder(s) failed" in captured.err


def test_first_contact_reads_from_the_first_unseen_message(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    mailbox.append("INBOX", conversation(make_mail, 4, tag="old"))
    with mailbox.client() as client:
        client.select_folder("INBOX")
        client.add_flags([1, 2], [SEEN])  # read by a person before the bot was set up
    rt = bot(mailbox.settings())
    assert poll_once(rt.settings, rt).as_json()["fetched"] == 2
    with rt.sessions() as session:
        stored = sorted(session.scalars(select(Message.external_id)))
    assert stored == ["old2@acme.example", "old3@acme.example"]


def test_uidvalidity_change_rereads_without_loss_or_repeat(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    rt = bot(mailbox.settings(folder="Support", first_sync="all"))
    mails = conversation(make_mail, 4, tag="uv")
    mailbox.append("Support", mails[:3])
    assert poll_once(rt.settings, rt).as_json()["fetched"] == 3
    before = state(rt, "Support")
    # the folder is rebuilt (restored from a backup, migrated to another server): new UIDVALIDITY,
    # UIDs start at 1 again, below our stored last_uid, and one message is new
    with mailbox.client() as client:
        client.delete_folder("Support")
    mailbox.append("Support", mails)
    summary = poll_once(rt.settings, rt).as_json()
    [folder] = summary["folders"]
    assert folder["uidvalidity_changed"] is True
    assert (folder["fetched"], folder["duplicates"], folder["followups"] + folder["tickets"]) == (4, 3, 1)
    after = state(rt, "Support")
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 4
    assert count(rt, Message) == 4


def test_a_crash_between_commit_and_acknowledgement_rereads_harmlessly(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    """The one window a kill rarely hits: the batch is committed, the flags and last_uid are not."""
    rt = bot(mailbox.settings(first_sync="all", batch_size=2))
    mailbox.append("INBOX", conversation(make_mail, 5, tag="cr"))
    assert poll_once(rt.settings, rt).as_json()["fetched"] == 5
    # put the mailbox and the store back where a crash right after the last commit leaves them
    with mailbox.client() as client:
        client.select_folder("INBOX")
        client.remove_flags([5], [SEEN])
    with rt.sessions() as session:
        session.execute(update(MailboxState).values(last_uid=4))
        session.commit()
    summary = poll_once(rt.settings, rt).as_json()
    assert (summary["fetched"], summary["duplicates"]) == (1, 1)
    assert count(rt, Message) == 5 and SEEN in mailbox.flags("INBOX")[5]
    assert state(rt).last_uid == 5


def run_watcher(rt: Runtime, stop: threading.Event) -> tuple[LoopThread, Future[None]]:
    """`run_mailbox` as `intake serve` runs it: awaited on an event loop, working in threads."""
    loop = LoopThread()
    future = asyncio.run_coroutine_threadsafe(run_mailbox(rt.settings.imap[0], rt, stop), loop.loop)
    return loop, future


@pytest.mark.parametrize("push", [True, False], ids=["idle", "polling"])
def test_new_mail_arrives_while_watching(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder, push: bool
) -> None:
    # with IDLE the poll interval is far too long to matter: only the push can deliver in time
    rt = bot(mailbox.settings(idle=push, poll_interval=600 if push else 0.3, first_sync="all"))
    mailbox.append("INBOX", [make_mail(subject="Before we started")])
    stop = threading.Event()
    loop, future = run_watcher(rt, stop)
    try:
        wait_for(lambda: count(rt, Ticket) == 1, what="the backlog")
        time.sleep(0.3)  # let the watcher enter IDLE
        # imapclient blocks (idle_check waits up to a second): never on the event loop
        started = time.perf_counter()
        loop.run(asyncio.sleep(0))
        assert time.perf_counter() - started < 0.2
        mailbox.append("INBOX", [make_mail(subject="While we idled")])
        latency = wait_for(lambda: count(rt, Ticket) == 2, timeout=8, what="the new message")
        print(f"\nIMAP {'IDLE' if push else 'polling'}: new message ticketed {latency:.2f} s after APPEND")
        assert all(SEEN in flags for flags in mailbox.flags("INBOX").values())
    finally:
        stop.set()
        future.result(timeout=10)  # stops promptly: IDLE is re-checked every second
        loop.close()


def test_reconnects_after_the_server_drops_the_connection(
    bot: Callable[..., Runtime], mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    server: Dovecot = mailbox.server
    rt = bot(mailbox.settings(first_sync="all"))
    stop = threading.Event()
    loop, future = run_watcher(rt, stop)
    try:
        wait_for(lambda: count(rt, MailboxState) == 1, what="the first pass")
        time.sleep(0.3)
        kicked = subprocess.run(
            ["doveadm", "-c", str(server.root / "dovecot.conf"), "kick", mailbox.user],
            capture_output=True,
            text=True,
            check=False,
        )
        assert kicked.returncode == 0, kicked.stderr
        mailbox.append("INBOX", [make_mail(subject="After the reconnect")])
        wait_for(lambda: count(rt, Ticket) == 1, timeout=15, what="the message after the reconnect")
    finally:
        stop.set()
        future.result(timeout=10)
        loop.close()


def test_a_failing_mailbox_is_logged_and_recorded(
    bot: Callable[..., Runtime], mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    rt = bot(mailbox.settings(password="wrong", backoff_max=0.05, failure_alert=3))
    stop = threading.Event()
    worker = threading.Thread(target=watch_folder, args=(rt.settings.imap[0], "INBOX", rt, stop), daemon=True)
    with caplog.at_level(logging.WARNING, logger="channels.imap"):
        worker.start()
        try:
            wait_for(lambda: count(rt, MailboxState, MailboxState.failures >= 4) == 1, what="4 failures")
        finally:
            stop.set()
            worker.join(10)
    row = state(rt)
    assert "AUTHENTICATIONFAILED" in (row.last_error or "") and "wrong" not in (row.last_error or "")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].startswith("imap support/INBOX: failing (3 in a row)")
    assert all("wrong" not in r.getMessage() for r in caplog.records)  # never the password
    healthy = bot(mailbox.settings())
    assert poll_once(healthy.settings, healthy).ok
    row = state(rt)
    assert (row.failures, row.last_error) == (0, None)


def test_restart_in_the_middle_of_a_batch(
    tmp_path: Path, store_url: str, mailbox: Mailbox, make_mail: MailBuilder, clock: FixedClock
) -> None:
    """kill -9 the poller mid-backlog, run it again: every message exactly once, nothing lost."""
    total, batch = 1500, 100
    mails = conversation(make_mail, total, tag="bk")
    mailbox.append("INBOX", mails)
    config = tmp_path / "intake.toml"
    config.write_text(
        "[[imap]]\n"
        + "".join(
            f"{k} = {json.dumps(v)}\n"
            for k, v in mailbox.settings(batch_size=batch, first_sync="all").items()
        )
    )
    env = {
        **os.environ,
        "INTAKE_CONFIG": str(config),
        "INTAKE_DATABASE_URL": store_url,
        "PYTHONPATH": str(ROOT),
    }
    rt = make_runtime(store_url, clock)
    poller = subprocess.Popen(
        [sys.executable, "-m", "intake", "poll", "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: count(rt, Message) >= total // 3, timeout=60, what="a third of the backlog")
    finally:
        poller.send_signal(signal.SIGKILL)
        poller.communicate(timeout=10)
    stored_at_kill = count(rt, Message)
    assert stored_at_kill < total, "the poller finished before it could be killed"

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "intake", "poll", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    rest = total - stored_at_kill
    print(
        f"\nIMAP backlog: killed at {stored_at_kill}/{total}; the restart read {summary['fetched']} "
        f"({summary['duplicates']} already stored) in {elapsed:.1f} s, "
        f"{summary['fetched'] / elapsed:.0f} msg/s with process start"
    )
    # only the batch in flight at the kill is read again, and dedup absorbs it
    assert rest <= summary["fetched"] <= rest + batch and summary["duplicates"] == summary["fetched"] - rest

    with rt.sessions() as session:
        ids = session.scalars(select(Message.external_id)).all()
        assert len(ids) == len(set(ids)) == total  # every message exactly once
        dispositions = dict(
            session.execute(select(Message.disposition, func.count()).group_by(Message.disposition)).all()
        )
        assert dispositions == {"ticket": total - total // 3, "followup": total // 3}
        assert session.scalar(select(func.count()).select_from(Quarantine)) == 0
        # the pipeline's answers (acknowledgement, not-a-contact notice ...): none written twice,
        # and every message that opened a ticket got its acknowledgement
        answers = session.execute(
            select(Outbox.in_reply_to, Outbox.template, func.count())
            .where(Outbox.in_reply_to.is_not(None))
            .group_by(Outbox.in_reply_to, Outbox.template)
        ).all()
        assert all(n == 1 for *_, n in answers)
        openers = set(session.scalars(select(Message.external_id).where(Message.disposition == "ticket")))
        print(f"answers: {Counter(t for _, t, _ in answers)}")
        assert openers <= {in_reply_to for in_reply_to, _, _ in answers}
    assert all(SEEN in flags for flags in mailbox.flags("INBOX").values())
    assert state(rt).last_uid == total
    rt.engine.dispose()


@pytest.mark.postgres
def test_two_workers_on_postgresql_do_not_both_read_a_folder(
    postgres_url: str, tmp_path: Path, clock: FixedClock, mailbox: Mailbox, make_mail: MailBuilder
) -> None:
    """While one worker holds a folder's lease, another skips it; afterwards it reads as usual."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from channels.imap import folder_lease
    from intake.store.migrate import upgrade
    from intake.store.session import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    migrating = make_engine(url_text)
    upgrade(migrating)
    migrating.dispose()
    first = make_runtime(url_text, clock, imap=[mailbox.settings()])
    second = make_runtime(url_text, clock, imap=[mailbox.settings()])
    try:
        add_customers(first)
        mailbox.append("INBOX", conversation(make_mail, 3, tag="lease"))
        with folder_lease(first, "support", "INBOX") as held:
            assert held
            summary = poll_once(second.settings, second).as_json()
            assert summary["fetched"] == 0 and summary["folders"][0]["skipped"]
        assert poll_once(second.settings, second).as_json()["fetched"] == 3
        assert count(second, Message) == 3
    finally:
        first.engine.dispose()
        second.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
