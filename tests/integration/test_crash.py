"""Crash tests (issue 15, point 4): `intake serve` workers killed with SIGKILL while mail pours in.

Mail goes in over SMTP (smtplib, several senders, retrying like an MTA until it
gets a 250, so a kill between commit and 250 makes a redelivery) and through a
real Dovecot INBOX; `intake serve` workers (2 on PostgreSQL, each with its own
SMTP port and the same mailbox, 1 on SQLite) are killed with SIGKILL at random
moments and restarted. Afterwards, against what was sent:

- every message is stored exactly once: a ticket or, for a reply, a follow-up on
  its original's ticket; nothing quarantined; every IMAP message \\Seen;
- every ticket has exactly one acknowledgement row (or, for a request the policy closes at
  once, one closing mail), and the relay received every
  acknowledgement at least once; a repeat (a kill between send and mark) carries
  the same Message-ID and is counted, at most one per kill.

The test command runs CRASH_SMALL (600 messages, 6 kills); the full run (5,000
messages, 24 kills) is marked slow, or set INTAKE_CRASH_MESSAGES / INTAKE_CRASH_KILLS.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import func, select

from intake.clock import FixedClock
from intake.store.orm import Message, Outbox, Quarantine, Ticket
from tests.servers.dovecot import Dovecot, Mailbox, dovecot_fixture, mailbox_fixture  # noqa: F401
from tests.servers.net import free_port
from tests.servers.smtp import Relay
from tests.servers.stack import make_runtime

ROOT = Path(__file__).resolve().parents[2]
SENDERS = 4
# The first automatic mail of a new ticket: the acknowledgement, or the closing mail of a request the
# policy closes at once (the model may read one of these texts as an enhancement request).
FIRST_MAIL = Outbox.template.in_(("ack", "closing"))


@dataclass
class Plan:
    smtp: list[tuple[str, bytes, str | None]]  # (Message-ID, raw, the original it replies to)
    imap: list[tuple[str, bytes]]

    @property
    def originals(self) -> int:
        return len(self.imap) + sum(1 for _, _, parent in self.smtp if parent is None)


def mail(n: int, channel: str, parent: str | None) -> tuple[str, bytes]:
    msg = EmailMessage()
    mid = make_msgid(idstring=f"crash{n}", domain="mail.acme.example")
    msg["From"] = "Dana Smith <dana@acme.example>"
    msg["To"] = "support@vendor.example"
    msg["Subject"] = f"Re: Problem {parent}" if parent else f"Problem {n} via {channel}"
    msg["Date"] = format_datetime(_when(n))
    msg["Message-ID"] = mid
    if parent:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    msg.set_content(f"Message {n}: the export fails with error {500 + n % 7}.\n")
    return mid, msg.as_bytes()


def _when(n: int) -> datetime:
    return datetime(2026, 11, 16, 8, 0, tzinfo=UTC) + timedelta(seconds=n)


def make_plan(total: int, seed: int) -> Plan:
    """Half over SMTP (a fifth of them replies to an earlier SMTP original of the same sender), half IMAP."""
    rng = random.Random(seed)
    smtp: list[tuple[str, bytes, str | None]] = []
    imap: list[tuple[str, bytes]] = []
    originals: dict[int, list[str]] = {s: [] for s in range(SENDERS)}
    for n in range(total):
        if n % 2:
            imap.append(mail(n, "imap", None))
            continue
        sender = (n // 2) % SENDERS
        parent = rng.choice(originals[sender]) if originals[sender] and rng.random() < 0.2 else None
        mid, raw = mail(n, "smtp", parent)
        if parent is None:
            originals[sender].append(mid)
        smtp.append((mid, raw, parent))
    return Plan(smtp, imap)


@dataclass
class Worker:
    config: Path
    smtp_port: int
    env: dict[str, str]
    log: IO[bytes]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intake", "serve", "--log-level", "warning"],
            env=self.env, cwd=self.config.parent, stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Sender:
    ports: list[int]
    redeliveries: Counter[str] = field(default_factory=Counter)

    def send_all(self, mails: list[tuple[str, bytes, str | None]]) -> None:
        """Like an MTA: retry each message (on any worker) until a 250 comes back."""
        client: smtplib.SMTP | None = None
        for mid, raw, _ in mails:
            tries = 0
            while True:
                try:
                    if client is None:
                        client = smtplib.SMTP("127.0.0.1", random.choice(self.ports), timeout=30)
                    client.sendmail("dana@acme.example", ["support@vendor.example"], raw)
                    break
                except (OSError, smtplib.SMTPException):
                    tries += 1
                    if client is not None:
                        with contextlib.suppress(OSError):
                            client.close()
                    client = None
                    self.redeliveries[mid] += 1
                    if tries > 600:
                        raise
                    time.sleep(0.1)
        if client is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                client.quit()


def config_for(tmp: Path, name: str, smtp_port: int, relay: Relay, mailbox: Mailbox) -> Path:
    imap = mailbox.settings(idle=False, poll_interval=0.3, batch_size=50, timeout=20)
    imap_lines = "\n".join(f"{k} = {_toml(v)}" for k, v in imap.items())
    path = tmp / f"{name}.toml"
    path.write_text(
        f'[smtp_server]\nhost = "127.0.0.1"\nport = {smtp_port}\naccept = ["support@vendor.example"]\n'
        f'[relay]\nhost = "127.0.0.1"\nport = {relay.port}\ntls = "none"\ntimeout = 10\n'
        # A killed worker's claimed rows come due again after claim_lease (600 s by default, longer
        # than this test waits): a short lease over small batches, which a live worker sends well within it.
        "[outbox]\npoll_interval = 0.2\nbatch_size = 10\nclaim_lease = 30\n"
        "max_auto_per_recipient = 1000000\nmax_auto_per_domain = 1000000\nmax_auto_per_ticket = 1000\n"
        "[service]\ntick_interval = 2\nshutdown_grace = 5\n"
        "[web]\nenabled = false\n"
        f"[[imap]]\n{imap_lines}\n"
    )
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def wait_until(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def crash_run(db_url: str, tmp_path: Path, mailbox: Mailbox, total: int, kills: int) -> dict[str, int]:
    from intake.customers.orgs import add_contact, add_org

    workers_n = 2 if db_url.startswith("postgresql") else 1
    clock = FixedClock(_when(0))
    rt = make_runtime(db_url, clock)
    with rt.sessions() as session:
        add_org(session, clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, clock, "Acme", "dana@acme.example", "Dana Smith")
        session.commit()
    plan = make_plan(total, seed=total * 31 + kills)
    relay = Relay().start()
    log = (tmp_path / "workers.log").open("ab")
    workers = []
    for i in range(workers_n):
        port = free_port()
        config = config_for(tmp_path, f"worker{i}", port, relay, mailbox)
        env = {
            **os.environ,
            "INTAKE_CONFIG": str(config),
            "INTAKE_DATABASE_URL": db_url,
            "PYTHONPATH": str(ROOT),
        }
        workers.append(Worker(config, port, env, log))
    rng = random.Random(kills)
    done_killing = threading.Event()
    killed = 0
    try:
        for worker in workers:
            worker.start()
        # IMAP mail lands in the mailbox in chunks while the workers run
        imap_chunks = [plan.imap[i : i + 100] for i in range(0, len(plan.imap), 100)]
        senders = [Sender([w.smtp_port for w in workers]) for _ in range(SENDERS)]
        # a reply follows its original in the same sender's order (make_plan keeps them per sender)
        slices = _per_sender(plan.smtp)
        threads = [
            threading.Thread(target=s.send_all, args=(sl,), daemon=True)
            for s, sl in zip(senders, slices, strict=True)
        ]
        for thread in threads:
            thread.start()

        def killer() -> None:
            nonlocal killed
            while killed < kills:
                time.sleep(rng.uniform(0.3, 2.5))
                victim = rng.choice(workers)
                victim.kill()
                killed += 1
                time.sleep(rng.uniform(0.0, 0.8))
                victim.start()
            done_killing.set()

        killing = threading.Thread(target=killer, daemon=True)
        killing.start()
        for chunk in imap_chunks:
            mailbox.append("INBOX", [raw for _, raw in chunk])
            time.sleep(rng.uniform(0.0, 0.5))
        timeout = 120 + total * 0.25
        for thread in threads:
            thread.join(timeout=timeout)
            assert not thread.is_alive(), "an SMTP sender did not get its mail in"
        killing.join(timeout=timeout)
        assert done_killing.is_set()

        expected_ids = {mid.strip("<>") for mid, _, _ in plan.smtp} | {
            mid.strip("<>") for mid, _ in plan.imap
        }

        def stored() -> int:
            with rt.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(Message)) or 0)

        wait_until(lambda: stored() >= total, timeout, f"{total} messages stored")

        def all_sent() -> bool:
            with rt.sessions() as session:
                pending = session.scalar(
                    select(func.count()).select_from(Outbox).where(Outbox.state != "sent")
                )
                tickets = session.scalar(select(func.count()).select_from(Ticket))
                acks = session.scalar(select(func.count()).select_from(Outbox).where(FIRST_MAIL))
                return pending == 0 and tickets == acks

        try:
            wait_until(all_sent, timeout, "every acknowledgement sent")
        except AssertionError:
            with rt.sessions() as session:
                states = Counter(session.execute(select(Outbox.template, Outbox.state, Outbox.last_error)))
                tickets_now = session.scalar(select(func.count()).select_from(Ticket))
            raise AssertionError(f"outbox {dict(states)}, {tickets_now} tickets") from None
    finally:
        for worker in workers:
            worker.stop()
        relay.stop()
        log.close()

    with rt.sessions() as session:
        per_id = Counter(session.scalars(select(Message.external_id)))
        dispositions = Counter(session.scalars(select(Message.disposition)))
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        quarantined = session.scalar(select(func.count()).select_from(Quarantine))
        acks = list(session.execute(select(Outbox.ticket_id, Outbox.message_id, Outbox.state)
                                    .where(FIRST_MAIL)))  # fmt: skip
        followup_tickets = {
            m.external_id: m.ticket_id
            for m in session.scalars(select(Message).where(Message.disposition == "followup"))
        }
        first_of = {m.external_id: m.ticket_id for m in session.scalars(select(Message))}
    rt.engine.dispose()
    assert set(per_id) == expected_ids and max(per_id.values()) == 1, "a message stored twice or missing"
    replies = sum(1 for _, _, parent in plan.smtp if parent)
    assert dispositions == Counter({"ticket": plan.originals, "followup": replies}), dispositions
    assert tickets == plan.originals and quarantined == 0
    for mid, _, parent in plan.smtp:
        if parent:
            assert followup_tickets[mid.strip("<>")] == first_of[parent.strip("<>")], (
                "reply on the wrong ticket"
            )
    assert Counter(t for t, _, _ in acks) == Counter({t: 1 for t in {t for t, _, _ in acks}})
    assert len(acks) == tickets and {s for _, _, s in acks} == {"sent"}
    delivered = Counter(r.message["Message-ID"].strip("<>") for r in relay.received)
    ack_ids = {m for _, m, _ in acks}
    assert set(delivered) == ack_ids, "an acknowledgement never reached the relay, or a stranger did"
    repeats = sum(n - 1 for n in delivered.values())
    assert repeats <= killed, f"{repeats} repeated acknowledgements after {killed} kills"
    flags = mailbox.flags("INBOX")
    assert len(flags) == len(plan.imap) and all(b"\\Seen" in f for f in flags.values())
    redelivered = sum(1 for s in senders for n in s.redeliveries.values() if n)
    figures = {"messages": total, "kills": killed, "workers": workers_n, "tickets": tickets,
               "followups": replies, "acks": len(acks), "ack_repeats": repeats,
               "smtp_retried": redelivered}  # fmt: skip
    print(f"crash run: {figures}")
    return figures


def _per_sender(smtp: list[tuple[str, bytes, str | None]]) -> list[list[tuple[str, bytes, str | None]]]:
    """The SMTP mail in make_plan's sender slices (n // 2 % SENDERS), each in its own order."""
    slices: list[list[tuple[str, bytes, str | None]]] = [[] for _ in range(SENDERS)]
    for j, item in enumerate(smtp):
        slices[j % SENDERS].append(item)
    return slices


def test_crash_small(db_url: str, tmp_path: Path, mailbox: Mailbox) -> None:
    crash_run(db_url, tmp_path, mailbox, int(os.environ.get("INTAKE_CRASH_SMALL", "600")), 6)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("INTAKE_CRASH_FULL") is None, reason="the full crash run: INTAKE_CRASH_FULL=1"
)
def test_crash_full(db_url: str, tmp_path: Path, mailbox: Mailbox) -> None:
    total = int(os.environ.get("INTAKE_CRASH_MESSAGES", "5000"))
    kills = int(os.environ.get("INTAKE_CRASH_KILLS", "24"))
    crash_run(db_url, tmp_path, mailbox, total, kills)
