"""`intake demo`: the whole path on the embedded defaults, with sample traffic.

It works in a throw-away SQLite store under .intake/demo/, so it never touches
the deployment's own database. The bot's own SMTP server listens on a free
localhost port; the sample mails are sent to it with smtplib, as an MTA would;
the acknowledgements go out through the outbox to a local mail catcher standing
in for the relay, and are printed as they arrived.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import smtplib
import socket
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rich.console import Console

from channels.files import ingest_paths
from intake.clock import Clock, SystemClock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store import repo
from intake.store.migrate import upgrade
from intake.tickets.refs import prefix_of
from intake.tickets.views import ticket_json

SAMPLES = Path(__file__).parents[1] / "samples"
DEMO_DIR = Path(".intake/demo")
UNREADABLE = "05-garbage.eml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Catcher:
    """aiosmtpd handler that keeps what the relay would have forwarded."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"


class _BotServer:
    """The bot's SMTP server on an event loop in a background thread."""

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        from channels.smtp_server import SmtpServer

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-smtp", daemon=True)
        self.server = SmtpServer(settings, runtime)

    def __enter__(self) -> _BotServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(grace=5), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _confidence(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "none"


def _what_became_of(runtime: Runtime, raw: bytes) -> str:
    """The stored disposition of a sample, with the rule that decided it."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = str(parsed.get("Message-ID", "")).strip().strip("<>")
    with runtime.sessions() as session:
        message = repo.message_by_external_id(session, message_id)
        if message is None:
            return "-> not stored"
        decision = repo.decision_for_message(session, message.id)
        hits = [h for h in (decision.hits if decision else []) if isinstance(h, dict)]
    disposition = {"ticket": "new ticket", "followup": "follow-up"}.get(
        message.disposition, message.disposition
    )
    deciding = ("guard.", "thread.", "decide.pending")
    decisive = next((h for h in reversed(hits) if str(h.get("step", "")).startswith(deciding)), None)
    if decisive is None:
        return f"-> {disposition}"
    return f"-> {disposition}: {decisive.get('reason', '')} ({decisive.get('step', '')})"


def run_demo(out: Console, workdir: Path = DEMO_DIR, clock: Clock | None = None) -> dict[str, object]:
    """Run the demo on the real clock (so the promised dates are ahead), or on `clock`."""
    from intake.outgoing.outbox import deliver_due

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    smtp_port, relay_port = _free_port(), _free_port()
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{workdir / 'intake.db'}"},
            "smtp_server": {"host": "127.0.0.1", "port": smtp_port, "accept": ["support@vendor.example"]},
            "relay": {
                "host": "127.0.0.1",
                "port": relay_port,
                "tls": "none",
                "from_address": "support@vendor.example",
            },
        }
    )
    runtime = Runtime.build(settings, clock or SystemClock())
    revision = upgrade(runtime.engine)
    out.print(f"1. store SQLite at {workdir / 'intake.db'} (revision {revision})")

    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme Analytics", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme Analytics", "priya.raman@acme.example", "Priya Raman")
        session.commit()
    out.print(
        "2. customer Acme Analytics (acme.example) on the resource-optimizer policy; "
        "designated contact priya.raman@acme.example"
    )

    catcher = _Catcher()
    relay = Controller(catcher, hostname="127.0.0.1", port=relay_port)
    relay.start()
    try:
        with _BotServer(settings, runtime):
            out.print(f"3. SMTP the bot listens on 127.0.0.1:{smtp_port}; sending the sample mails:")
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                for path in sorted(SAMPLES.glob("*.eml")):
                    if path.name == UNREADABLE:
                        continue
                    raw = path.read_bytes()
                    client.ehlo("demo.localhost")
                    client.mail("sender@acme.example")
                    client.rcpt("support@vendor.example")
                    code, reply = client.data(raw)
                    out.print(f"   {path.name}: {code} {reply.decode(errors='replace')}")
                    out.print(f"      {_what_became_of(runtime, raw)}", markup=False)
        with runtime.deps() as deps:
            ingest_paths(str(SAMPLES / UNREADABLE), deps)
        out.print(f"   {UNREADABLE}: read from disk with `intake ingest` (not a mail message)")
        with runtime.sessions() as session:
            summary = deliver_due(session, runtime.clock, settings)
        out.print(
            f"4. outbox {summary.sent} sent to the local relay stand-in, "
            f"{summary.suppressed} suppressed, {summary.failed} failed"
        )
    finally:
        relay.stop()

    prefix = prefix_of(settings)
    with runtime.sessions() as session:
        tickets = [
            ticket_json(t, prefix, with_messages=True)
            for t in repo.tickets(session, newest_first=False, with_messages=True)
        ]
        quarantined = [(q.source, q.reason.splitlines()[0]) for q in repo.quarantined(session)]
    out.print("5. tickets")
    for t in tickets:
        out.print(
            f"   {t['ref']}  {t['status']}  severity {t['severity']} ({t['canonical_severity']}), "
            f"{t['category'] or '-'}, confidence {_confidence(t['confidence'])}  "
            f"{t['org'] or 'no organisation'} / {t['contact_status'].replace('_', ' ')}  "
            f'{len(t["messages"])} message(s)  "{t["subject"]}"',
            markup=False,
        )
    for source, reason in quarantined:
        out.print(f"6. quarantine {Path(source).name}: {reason}")
    out.print("7. mail that went out")
    for mail in catcher.received[:2]:
        out.print(f"\n   to {mail['To']}")
        for header in ("Subject", "Message-ID", "In-Reply-To", "Auto-Submitted", "X-Auto-Response-Suppress"):
            if mail[header]:
                out.print(f"   {header}: {str(mail[header]).strip()}")
        body = mail.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        out.print("   " + "\n   ".join(str(text).strip().splitlines()))
    out.print(
        "\nNext: `intake init`, then `intake org add`, `intake contact add` and `intake ingest` "
        "or `intake serve` on your own mail."
    )
    runtime.engine.dispose()
    return {"tickets": tickets, "sent": len(catcher.received), "quarantined": len(quarantined)}
