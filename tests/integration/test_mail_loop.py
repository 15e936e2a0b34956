"""Two bots in a mail loop, and `intake serve` as a whole: real SMTP servers on both sides.

Our outbox sends through a relay stand-in that plays a customer's mail robot:
it answers every message it receives, and its answers come back in through
our own SMTP server, where the pipeline acknowledges them again. Loop
protection must end it: RFC 3834 headers at once when the robot honours them,
the per-recipient cap when it does not.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from channels.smtp_server import SmtpServer
from intake.clock import FixedClock
from intake.outbox import deliver_due
from intake.runtime import Runtime
from intake.store.orm import Message, Outbox, Suppression
from tests.conftest import MailBuilder
from tests.servers.net import free_port
from tests.servers.smtp import Received, Relay, intake_smtp
from tests.servers.stack import add_customers, dsn, make_runtime, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
ROBOT = "bot@robot.example"


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay().start()
    yield server
    server.stop()


@pytest.fixture
def bot(tmp_path: Path, clock: FixedClock, relay: Relay) -> Iterator[tuple[Runtime, SmtpServer]]:
    """Our side: store, SMTP server and outbox settings (cap: 5 automatic mails per hour)."""
    rt = make_runtime(
        sqlite_url(tmp_path),
        clock,
        relay=relay.settings(),
        smtp_server={"host": "127.0.0.1", "port": 0, "accept": ["support@vendor.example"]},
        outbox={"max_auto_per_recipient": 5, "recipient_window": 3600},
    )
    add_customers(rt)
    with intake_smtp(rt.settings, rt) as server:
        yield rt, server
    rt.engine.dispose()


def robot(relay: Relay, port: int, *, honours_rfc3834: bool) -> None:
    """Make the relay answer every mail, like a customer's ticket robot or vacation responder."""
    counter = iter(range(1, 1000))

    async def answer(got: Received) -> None:
        original = got.message
        reply = EmailMessage()
        reply["From"] = ROBOT
        reply["To"] = "support@vendor.example"
        n = next(counter)
        reply["Message-ID"] = make_msgid(idstring=f"robot{n}", domain="robot.example")
        if honours_rfc3834:
            reply["Subject"] = f"Auto: {original['Subject']}"
            reply["In-Reply-To"] = original["Message-ID"]
            reply["Auto-Submitted"] = "auto-replied"
        else:
            # the worst kind: a fresh message each time, nothing that marks it as automatic
            reply["Subject"] = f"Robots Inc. ticket #{n} opened"
        reply.set_content(f"Thank you for your message. We opened ticket #{n} for you.")
        await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)

    relay.handler.responder = answer


def run_outbox(rt: Runtime, rounds: int = 30) -> int:
    """Deliver until nothing is due; returns the rounds it took."""
    for n in range(rounds):
        with rt.sessions() as session:
            if deliver_due(session, rt.clock, rt.settings).claimed == 0:
                return n
    raise AssertionError(f"the mail loop still runs after {rounds} rounds")


def open_loop(rt: Runtime, server: SmtpServer, make_mail: MailBuilder) -> None:
    """The robot writes in first; the pipeline opens a ticket and queues its acknowledgement."""
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail(
            ROBOT,
            ["support@vendor.example"],
            make_mail(sender=ROBOT, subject="Our monitoring reports an outage"),
        )
    with rt.sessions() as session:
        assert session.scalars(select(Outbox.recipient)).all() == [ROBOT], "the pipeline wrote no answer"


def test_a_robot_ignoring_rfc3834_is_stopped_by_the_per_recipient_cap(
    bot: tuple[Runtime, SmtpServer], relay: Relay, make_mail: MailBuilder
) -> None:
    rt, server = bot
    robot(relay, server.port, honours_rfc3834=False)
    open_loop(rt, server, make_mail)
    run_outbox(rt)
    to_robot = [r for r in relay.received if r.rcpt_tos == [ROBOT]]
    assert len(to_robot) == 5  # the cap, and not one more
    with rt.sessions() as session:
        held = session.scalars(select(Outbox).where(Outbox.state == "suppressed")).all()
        assert len(held) == 1 and "per-recipient cap" in (held[0].last_error or "")
        assert session.scalars(select(Outbox).where(Outbox.state == "pending")).all() == []
        inbound = session.scalars(select(Message.disposition).where(Message.sender == ROBOT)).all()
        assert len(inbound) == 6  # the first message and five robot answers
    for got in to_robot:
        assert got.message["Auto-Submitted"] == "auto-replied"
        assert got.message["X-Auto-Response-Suppress"] == "All"


def test_a_robot_honouring_rfc3834_ends_the_loop_at_once(
    bot: tuple[Runtime, SmtpServer], relay: Relay, make_mail: MailBuilder
) -> None:
    rt, server = bot
    robot(relay, server.port, honours_rfc3834=True)
    open_loop(rt, server, make_mail)
    assert run_outbox(rt) == 1
    assert len(relay.received) == 1
    with rt.sessions() as session:
        answers = session.scalars(select(Message).where(Message.sender == ROBOT).order_by(Message.id)).all()
        assert [m.disposition for m in answers] == ["ticket", "dropped"]  # the guard stopped the reply


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_serve_runs_every_part_and_stops_cleanly_on_sigterm(
    tmp_path: Path, relay: Relay, clock: FixedClock, make_mail: MailBuilder
) -> None:
    url = sqlite_url(tmp_path)
    add_customers(make_runtime(url, clock))
    port = free_port()
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[smtp_server]\nhost = "127.0.0.1"\nport = {port}\naccept = ["support@vendor.example"]\n'
        f'[relay]\nhost = "127.0.0.1"\nport = {relay.port}\n'
        "[outbox]\npoll_interval = 0.2\n[service]\ntick_interval = 0.5\n"
    )
    env = {**os.environ, "INTAKE_CONFIG": str(config), "INTAKE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "intake", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_port(port)
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail(
                "dana@acme.example",
                ["support@vendor.example"],
                make_mail(subject="Exports fail", message_id="<serve-1@acme.example>"),
            )
        deadline = time.monotonic() + 30
        while not relay.received and time.monotonic() < deadline:
            time.sleep(0.1)
        [ack] = relay.received
        assert ack.rcpt_tos == ["dana@acme.example"]
        assert ack.message["In-Reply-To"] == "<serve-1@acme.example>"
        assert ack.message["X-Intake-Ticket"] == "support-1"
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
        assert serve.returncode == 0, stderr
        assert time.monotonic() - started < 10
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
    print(stderr)
    assert "serve: stopped" in stderr and "smtp: stopped" in stderr
    rt = make_runtime(url, clock)
    with rt.sessions() as session:
        assert session.scalars(select(Outbox.state)).all() == ["sent"]
    rt.engine.dispose()


def test_a_bounce_coming_in_suppresses_the_next_acknowledgement(
    bot: tuple[Runtime, SmtpServer], relay: Relay, make_mail: MailBuilder
) -> None:
    rt, server = bot
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.sendmail(
            "dana@acme.example",
            ["support@vendor.example"],
            make_mail(subject="Exports fail", message_id="<first@acme.example>"),
        )
        run_outbox(rt)
        [ack] = relay.received
        # the customer's server bounces our acknowledgement back: a DSN with a null sender
        bounce = dsn(ack.message["Message-ID"].strip("<>"), "dana@acme.example")
        client.sendmail("", ["support@vendor.example"], bounce)
        client.sendmail(
            "dana@acme.example",
            ["support@vendor.example"],
            make_mail(subject="Imports fail too", message_id="<second@acme.example>"),
        )
    run_outbox(rt)
    assert len(relay.received) == 1
    with rt.sessions() as session:
        assert session.scalars(select(Suppression.address)).all() == ["dana@acme.example"]
        states = session.scalars(select(Outbox.state).order_by(Outbox.id)).all()
        assert states[0] == "failed" and "suppressed" in states[1:]
