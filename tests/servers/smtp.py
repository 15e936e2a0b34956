"""SMTP servers for tests: the bot's own server on a background event loop, and a relay stand-in.

The relay stand-in is a real aiosmtpd server (aiosmtpd's own tests drive a
`Controller` the same way) that records what it receives and answers from a
script: `relay.script_rcpt(["451 ...", "550 ..."])` makes the next RCPT
commands fail that way, then it accepts again. Given a `responder`, it also
plays a mail robot that answers every message it accepts.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from channels.mail_auth import Resolver
from channels.smtp_server import SmtpServer
from intake.config import Settings
from intake.runtime import Runtime
from tests.servers.dns import FakeResolver
from tests.servers.net import Cert, free_port

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread, for running async servers under synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def intake_smtp(
    settings: Settings, runtime: Runtime, resolver: Resolver | None = None
) -> Iterator[SmtpServer]:
    """The bot's SMTP server, exactly as `intake serve` runs it, on a loop of its own.

    DNS never leaves the machine: SPF, DKIM and DMARC of clients outside `trusted_networks`
    are checked against `resolver` (tests/servers/dns.py), by default one with no records.
    """
    loop = LoopThread()
    server = SmtpServer(settings, runtime, resolver if resolver is not None else FakeResolver())
    loop.run(server.start())
    try:
        yield server
    finally:
        loop.run(server.stop())
        loop.close()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


Responder = Callable[[Received], Awaitable[None]]


@dataclass
class RelayHandler:
    received: list[Received] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    responder: Responder | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            reply = self.rcpt_replies.pop(0) if self.rcpt_replies else None
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        with self.lock:
            self.received.append(got)
        if self.responder is not None:
            await self.responder(got)
        return "250 2.0.0 OK"


class Relay:
    """A real SMTP server standing in for the relay; optional STARTTLS and AUTH."""

    def __init__(
        self, cert: Cert | None = None, users: dict[str, str] | None = None, implicit_tls: bool = False
    ) -> None:
        self.handler = RelayHandler()
        self.port = free_port()
        self.host = "127.0.0.1"
        kwargs: dict[str, Any] = {}
        if cert is not None and implicit_tls:
            kwargs["ssl_context"] = cert.server_context()  # TLS from the first byte (port 465 style)
        elif cert is not None:
            kwargs["tls_context"] = cert.server_context()
        if users:

            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and users.get(data.login.decode()) == data.password.decode()
                )
                return AuthResult(success=ok, handled=False)

            kwargs["authenticator"] = check
            kwargs["auth_required"] = True
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    def start(self) -> Relay:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def script_rcpt(self, replies: list[str]) -> None:
        with self.handler.lock:
            self.handler.rcpt_replies.extend(replies)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The [relay] section pointing at this server."""
        return {
            "host": self.host,
            "port": self.port,
            "tls": "none",
            "timeout": 10,
            "from_address": "support@vendor.example",
            **extra,
        }
