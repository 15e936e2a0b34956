"""The bot's SMTP server, fed by smtplib and aiosmtplib over real sockets, storing into a real database."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

from channels.smtp_server import RCPT_NOT_ACCEPTED, TRY_AGAIN_LATER, SmtpServer
from intake.clock import FixedClock
from intake.config import SmtpServerSettings
from intake.runtime import Runtime
from intake.store.orm import Message, Quarantine, Ticket
from tests.conftest import MailBuilder
from tests.servers.net import Cert, make_cert
from tests.servers.postgres import SwitchableDatabase, switchable_pg_fixture  # noqa: F401
from tests.servers.smtp import intake_smtp
from tests.servers.stack import add_customers, count, make_runtime, sqlite_url

ACCEPT = ["support@vendor.example", "help.example"]


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    made = make_cert(tmp_path / "tls")
    if made is None:
        pytest.skip("openssl is not installed")
    return made


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> Iterator[Runtime]:
    rt = make_runtime(sqlite_url(tmp_path), clock)
    add_customers(rt)
    yield rt
    rt.engine.dispose()


@contextmanager
def server_for(store: Runtime, **smtp: Any) -> Iterator[SmtpServer]:
    """The bot's SMTP server on a free port, with these [smtp_server] settings."""
    section = SmtpServerSettings.model_validate({"host": "127.0.0.1", "port": 0, "accept": ACCEPT, **smtp})
    settings = store.settings.model_copy(update={"smtp_server": section})
    runtime = Runtime(settings, store.engine, store.sessions, store.clock)
    with intake_smtp(settings, runtime) as server:
        yield server


@pytest.fixture
def smtp(store: Runtime) -> Iterator[SmtpServer]:
    with server_for(store, max_size=20_000) as server:
        yield server


def test_only_configured_addresses_and_domains_are_accepted(smtp: SmtpServer, make_mail: MailBuilder) -> None:
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        client.ehlo("acme.example")
        client.mail("dana@acme.example")
        assert client.rcpt("support@vendor.example")[0] == 250
        assert client.rcpt("Support+urgent@Vendor.example")[0] == 250  # case and +tag do not matter
        assert client.rcpt("anyone@help.example")[0] == 250  # a whole domain
        code, text = client.rcpt("sales@vendor.example")
        assert (code, text.decode()) == (550, RCPT_NOT_ACCEPTED.format(address="sales@vendor.example")[4:])
        assert client.rcpt("someone@elsewhere.example")[0] == 550
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("dana@acme.example", ["root@localhost"], make_mail())


def test_250_comes_after_the_commit(smtp: SmtpServer, store: Runtime, make_mail: MailBuilder) -> None:
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        client.ehlo("acme.example")
        client.mail("dana@acme.example")
        client.rcpt("support@vendor.example")
        code, text = client.data(make_mail(subject="Nobody can log in", message_id="<login-1@acme.example>"))
        assert code == 250
        # the moment 250 arrives the ticket is committed: another connection sees it
        with store.sessions() as session:
            message = session.scalars(select(Message)).one()
            ticket = session.get(Ticket, message.ticket_id)
            assert ticket is not None and ticket.subject == "Nobody can log in"
        assert text.decode().endswith(f"support-{ticket.id}")
        assert message.raw.startswith(b"Return-Path: <dana@acme.example>\r\nReceived: from acme.example")


def test_size_limit_552(smtp: SmtpServer, store: Runtime, make_mail: MailBuilder) -> None:
    big = make_mail(body="All the logs attached below.\n" * 1_000).replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        # declared in MAIL FROM (SIZE=, RFC 1870)
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            client.sendmail("dana@acme.example", ["support@vendor.example"], big)
        assert declared.value.smtp_code == 552
        # undeclared: refused at the end of DATA
        client.rset()
        client.mail("dana@acme.example")
        client.rcpt("support@vendor.example")
        code, _ = client.data(big)
        assert code == 552
    assert count(store, Message) == 0


def test_starttls_and_auth(store: Runtime, cert: Cert, make_mail: MailBuilder) -> None:
    with server_for(
        store,
        tls_cert=str(cert.cert),
        tls_key=str(cert.key),
        auth_users={"mta": "s3cret"},
        auth_required=True,
    ) as server:
        with smtplib.SMTP("127.0.0.1", server.port) as client:
            client.ehlo()
            assert client.has_extn("starttls") and not client.has_extn("auth")  # AUTH only over TLS
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.sendmail("dana@acme.example", ["support@vendor.example"], make_mail())
            assert refused.value.smtp_code == 530  # authentication required
            client.starttls(context=cert.client_context())
            client.ehlo()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("mta", "wrong")
            client.login("mta", "s3cret")
            assert client.sendmail("dana@acme.example", ["support@vendor.example"], make_mail()) == {}
        with store.sessions() as session:
            assert b"with ESMTPSA;" in session.scalars(select(Message.raw)).one()


def test_aiosmtplib_and_a_pipeline_that_never_runs_on_the_loop(
    smtp: SmtpServer, store: Runtime, make_mail: MailBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bounce = make_mail(sender="MAILER-DAEMON@mx.acme.example", subject="Undelivered Mail Returned to Sender")

    async def send_all() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp.port) as client:
            # a null reverse path: the server adds Return-Path: <>, the guard drops it as a bounce
            await client.mail("")
            await client.rcpt("support@vendor.example")
            await client.data(bounce)
            await client.sendmail("dana@acme.example", ["support@vendor.example"], make_mail())

    asyncio.run(send_all())
    with store.sessions() as session:
        assert sorted(session.scalars(select(Message.disposition))) == ["dropped", "ticket"]
    pipeline = [r for r in caplog.records if r.name.startswith("intake.pipeline")]
    assert pipeline and all(r.threadName != "test-loop" for r in pipeline)


def test_throughput(smtp: SmtpServer, store: Runtime, make_mail: MailBuilder) -> None:
    """Sequential and concurrent clients; the figures go to the report (pytest -s shows them)."""
    mails = [make_mail(subject=f"Problem {i}", sender=f"user{i}@acme.example") for i in range(400)]

    async def one_connection(batch: list[bytes]) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp.port) as client:
            for raw in batch:
                await client.sendmail("dana@acme.example", ["support@vendor.example"], raw)

    started = time.perf_counter()
    asyncio.run(one_connection(mails[:200]))
    sequential = 200 / (time.perf_counter() - started)

    async def parallel() -> None:
        await asyncio.gather(*(one_connection(mails[200 + i :: 8][:25]) for i in range(8)))

    started = time.perf_counter()
    asyncio.run(parallel())
    concurrent = 200 / (time.perf_counter() - started)
    print(f"\nSMTP server: {sequential:.0f} msg/s on one connection, {concurrent:.0f} msg/s on 8")
    assert count(store, Message) == 400 and count(store, Quarantine) == 0


@pytest.mark.postgres
def test_451_while_the_database_is_down_then_once_on_the_retry(
    switchable_pg: SwitchableDatabase, clock: FixedClock, make_mail: MailBuilder
) -> None:
    rt = make_runtime(
        switchable_pg.url, clock, smtp_server={"host": "127.0.0.1", "port": 0, "accept": ACCEPT}
    )
    add_customers(rt)
    raw = make_mail(message_id=make_msgid(domain="acme.example"))
    with intake_smtp(rt.settings, rt) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        switchable_pg.down()
        client.mail("dana@acme.example")
        client.rcpt("support@vendor.example")
        code, text = client.data(raw)
        assert (code, text.decode()) == (451, TRY_AGAIN_LATER[4:])
        switchable_pg.up()
        # the sending MTA retries the same message later, maybe twice: it is stored once
        for _ in range(2):
            assert client.sendmail("dana@acme.example", ["support@vendor.example"], raw) == {}
    assert count(rt, Message) == 1 and count(rt, Ticket) == 1
    rt.engine.dispose()
