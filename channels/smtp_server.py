"""The bot's own SMTP server (aiosmtpd): mail delivered straight to the bot, acknowledged after the commit.

Edge discipline as in Zulip's gateway and Mailman's LMTP runner: reject the cheap
cases early (RCPT to an address we do not serve: 550; too big: 552, enforced by
aiosmtpd's `data_size_limit`), then hand the bytes to the core. `handle_DATA`
awaits parse + `pipeline.ingest` in a worker thread (`asyncio.to_thread`), so the
event loop never blocks, and answers 250 only after the transaction committed.
When the database is unavailable it answers 451: the sending MTA keeps the
message and retries (RFC 5321 4.2.5), so nothing is lost and dedup absorbs a
retry that arrives after all.

STARTTLS is offered when `tls_cert`/`tls_key` are configured; AUTH (PLAIN,
LOGIN) when `auth_users` are, and only over TLS. A failed AUTH is logged with a
hash and the length of the login, never the login or password themselves.

Trust (intake/trust.py): a client outside `trusted_networks` could have written
any header, so every incoming Authentication-Results is removed and the server
prepends its own, with SPF, DKIM and DMARC verified by channels/mail_auth.py
under its own authserv-id, and marks the message as verified by it. A client in
`trusted_networks` (default loopback: a local MTA relaying to us) keeps its
headers, which count only if written by one of `guard.trusted_authserv_ids`.
Verification runs in a worker thread, bounded by `verify_timeout`; when it runs
out the message is still taken, with `temperror` results (so not designated).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from channels.mail_auth import DnsPythonResolver, Resolver, Verifier, strip_authentication_results
from channels.parse import parse_one
from channels.safe_values import accepts
from intake.config import Settings, SmtpServerSettings
from intake.errors import Transient
from intake.models import InboundMessage
from intake.pipeline import Outcome, ingest
from intake.runtime import Runtime
from intake.tickets.refs import format_ref, prefix_of

log = logging.getLogger(__name__)

# Replies, as in aiosmtpd's testing/statuscodes.py; enhanced codes per RFC 3463.
RCPT_OK = "250 2.1.5 Recipient OK"
ACCEPTED = "250 2.0.0 Message accepted"
ACCEPTED_AS = "250 2.0.0 Message accepted as {ref}"
RCPT_NOT_ACCEPTED = "550 5.1.1 <{address}>: recipient not accepted here"
TRY_AGAIN_LATER = "451 4.3.0 Temporary failure storing the message, try again later"
# Issued by aiosmtpd itself when data_size_limit is exceeded (checked in tests):
TOO_BIG = "552"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
# Messages verified at once (each mostly waits on DNS); more wait for a thread, within verify_timeout.
VERIFY_THREADS = 16


@dataclass(frozen=True)
class Delivery:
    """One message as the server took it: bytes as stored, where from, and who verified it (if we did)."""

    raw: bytes
    source: str
    authenticated_by: str = ""
    trace: bytes = b""


class GroupCommit:
    """Messages arriving on concurrent connections share one pipeline batch: one transaction.

    While a batch is being stored in a worker thread, new messages queue; the
    next batch takes them all (up to `limit`). A lone sender sees no delay; a
    busy server commits once per batch instead of once per message. A batch that
    fails (Transient) fails every message in it, none of which was committed.
    """

    def __init__(self, store: Callable[[list[Delivery]], list[Outcome]], limit: int = 200) -> None:
        self.store = store
        self.limit = limit
        self.queue: list[tuple[Delivery, asyncio.Future[Outcome]]] = []
        self.draining = False
        self._drainer: asyncio.Task[None] | None = None  # held: the loop keeps only a weak reference

    async def submit(self, delivery: Delivery) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.queue.append((delivery, future))
        if not self.draining:
            self.draining = True
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[: self.limit], self.queue[self.limit :]
                messages = [delivery for delivery, _ in batch]
                try:
                    outcomes = await asyncio.to_thread(self.store, messages)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # a client that hung up has cancelled its wait
                        future.set_result(outcome)
        finally:
            self.draining = False


class IntakeHandler:
    """aiosmtpd handler: the RCPT check, then parse + ingest off the event loop."""

    def __init__(
        self, settings: SmtpServerSettings, runtime: Runtime, resolver: Resolver | None = None
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.hostname = settings.hostname or "intake"
        self.authserv_id = settings.own_authserv_id()
        self.verifier = Verifier(
            self.authserv_id,
            resolver or DnsPythonResolver(lifetime=min(3.0, settings.verify_timeout)),
            settings.verify_timeout,
        )
        # Its own threads: slow DNS must not take the default pool the store's batches run in.
        self._verify_pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="smtp-verify")
        self.inflight = 0
        self.closing = False
        self.batches = GroupCommit(self._store)

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not accepts(self.settings.accept, address):
            log.info("smtp: %s from %s refused (not an accepted recipient)", address, session.peer[0])
            return RCPT_NOT_ACCEPTED.format(address=address)
        envelope.rcpt_tos.append(address)
        return RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.closing:
            return SHUTTING_DOWN
        original = bytes(envelope.original_content or b"")
        source = f"smtp:{session.peer[0]}:{envelope.mail_from or '<>'}"
        self.inflight += 1
        try:
            delivery = await self._authenticate(session, envelope, original, source)
            outcome = await self.batches.submit(delivery)
        except Transient as exc:
            log.warning("smtp: message from %s deferred with 451: %s", envelope.mail_from, exc)
            return TRY_AGAIN_LATER
        except Exception:
            # Anything else is ours too (the pipeline quarantines what it cannot handle itself):
            # let the sender retry rather than lose the message.
            log.exception("smtp: message from %s deferred with 451", envelope.mail_from)
            return TRY_AGAIN_LATER
        finally:
            self.inflight -= 1
        if outcome.ticket_id is not None:
            ref = format_ref(prefix_of(self.runtime.settings), outcome.ticket_id)
            log.info("%s %s as %s", outcome.external_id or "(no id)", outcome.disposition, ref)
            return ACCEPTED_AS.format(ref=ref)
        log.info("%s %s", outcome.external_id or "(no id)", outcome.disposition)
        return ACCEPTED

    def trusted_client(self, ip: str) -> bool:
        """Is the client in `trusted_networks` (a relay whose Authentication-Results we keep)?"""
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.settings.trusted_networks)

    async def _authenticate(self, session: Any, envelope: Any, original: bytes, source: str) -> Delivery:
        """The message as stored: trace fields, and our own verified Authentication-Results unless trusted."""
        trace = self._trace(session, envelope)
        ip = str(session.peer[0])
        if self.trusted_client(ip):
            return Delivery(original, source, trace=trace)
        helo = str(session.host_name or "")
        mail_from = str(envelope.mail_from or "")
        try:
            check = asyncio.get_running_loop().run_in_executor(
                self._verify_pool, self.verifier.authenticate, original, ip, mail_from, helo
            )
            header = await asyncio.wait_for(check, self.settings.verify_timeout)
        except TimeoutError:
            log.warning("smtp: verifying mail from %s at %s ran out of time: temperror", mail_from, ip)
            header = self.verifier.temperror()
        except Exception:
            log.exception("smtp: verifying mail from %s at %s failed: temperror", mail_from, ip)
            header = self.verifier.temperror()
        stamp = f"Authentication-Results: {header}\r\n".encode("ascii", "replace")
        return Delivery(strip_authentication_results(original), source, self.authserv_id, trace=trace + stamp)

    def _trace(self, session: Any, envelope: Any) -> bytes:
        """Return-Path and Received, as the final delivery server adds them (RFC 5321 4.4).

        The guard reads Return-Path: a null reverse path `<>` marks a notification (bounce).
        """
        now = format_datetime(self.runtime.clock.now())
        helo = (session.host_name or "unknown").replace("\r", "").replace("\n", "")[:200]
        protocol = "ESMTPS" if session.ssl else "ESMTP"
        if session.authenticated:
            protocol += "A"
        return (
            f"Return-Path: <{envelope.mail_from or ''}>\r\n"
            f"Received: from {helo} ([{session.peer[0]}])\r\n"
            f"\tby {self.hostname} with {protocol}; {now}\r\n"
        ).encode("utf-8", "surrogateescape")

    def _store(self, messages: list[Delivery]) -> list[Outcome]:
        """Runs in a worker thread: parse, ingest, commit. Raises Transient when the store is down."""
        now = self.runtime.clock.now()
        items = []
        for delivery in messages:
            item = parse_one(delivery.raw, delivery.source, now, trace=delivery.trace)
            if isinstance(item, InboundMessage):
                item.authenticated_by = delivery.authenticated_by
            items.append(item)
        with self.runtime.deps() as deps:
            return ingest(items, deps)


def server_tls_context(settings: SmtpServerSettings) -> ssl.SSLContext | None:
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


# Keyed per process: the same login tags alike within one run's log, but a tag cannot be
# reversed by hashing guesses (a password typed into the login field is low in entropy).
_LOG_KEY = secrets.token_bytes(16)


def login_tag(login: bytes) -> str:
    """What a log line says of an SMTP AUTH login: a keyed hash, never the text."""
    return "h:" + hmac.new(_LOG_KEY, login, hashlib.sha256).hexdigest()[:12]


def _authenticator(settings: SmtpServerSettings) -> Any:
    users = {name: secret.get_secret_value().encode() for name, secret in settings.auth_users.items()}

    def check(server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        expected = users.get(login)
        ok = expected is not None and hmac.compare_digest(expected, auth_data.password)
        if not ok:
            # The login field may hold a password typed in the wrong box, or an attacker's payload:
            # log only what tells attempts apart.
            log.warning(
                "smtp: AUTH %s failed for login %s (%d bytes, %s) from %s",
                mechanism,
                login_tag(auth_data.login),
                len(auth_data.login),
                "known" if expected is not None else "unknown",
                session.peer[0],
            )
        return AuthResult(success=ok, handled=False)

    return check


class SmtpServer:
    """The listening server on the running event loop; `start()`, then `stop()` on shutdown."""

    def __init__(self, settings: Settings, runtime: Runtime, resolver: Resolver | None = None) -> None:
        if settings.smtp_server is None:
            raise ValueError("no [smtp_server] section configured")
        self.config = settings.smtp_server
        self.handler = IntakeHandler(self.config, runtime, resolver)
        self.tls = server_tls_context(self.config)
        self._server: asyncio.AbstractServer | None = None
        if not self.config.accept:
            log.warning("smtp: [smtp_server] accept is empty: every recipient gets 550")
        if self.config.auth_users and self.tls is None:
            log.warning("smtp: auth_users set but no tls_cert/tls_key: AUTH needs TLS, so nobody can log in")

    def protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            data_size_limit=self.config.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.handler.hostname,
            ident="intake ESMTP",
            tls_context=self.tls,
            require_starttls=self.config.require_starttls and self.tls is not None,
            authenticator=_authenticator(self.config) if self.config.auth_users else None,
            auth_required=self.config.auth_required,
            auth_require_tls=True,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.protocol, self.config.host, self.config.port)
        log.info(
            "smtp: listening on %s:%d (STARTTLS %s, AUTH %s, max %d bytes); verifying as %s, "
            "trusting the headers of %s",
            self.config.host,
            self.port,
            "on" if self.tls else "off",
            "on" if self.config.auth_users else "off",
            self.config.max_size,
            self.handler.authserv_id,
            ", ".join(str(n) for n in self.config.trusted_networks) or "no client",
        )

    @property
    def port(self) -> int:
        if self._server is None:
            return self.config.port
        sockets = getattr(self._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self.config.port

    async def stop(self, grace: float = 20.0) -> None:
        """Stop listening, let messages in flight reach their commit (and their 250), then return."""
        if self._server is None:
            return
        self._server.close()
        self.handler.closing = True
        deadline = asyncio.get_running_loop().time() + grace
        while self.handler.inflight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await self._server.wait_closed()
        self.handler._verify_pool.shutdown(wait=False, cancel_futures=True)
        self._server = None
        log.info("smtp: stopped")
