"""`intake doctor`: check the configuration and every configured connection, and say what to fix.

Each check returns a line: ok or the problem with what to do about it. Nothing
is changed: the database is only read, mailboxes are only logged into and
their folders selected read-only, the relay only greeted (and logged into).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from intake.config import Settings
from intake.runtime import Runtime, load_classifier


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but configured in a way that is probably not meant (printed WARN)


def _run(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}".splitlines()[0])


def _database(runtime: Runtime) -> str:
    runtime.require_schema()
    return runtime.engine.url.render_as_string(hide_password=True)


def _policies() -> str:
    from intake.policies.loader import load_all

    return ", ".join(sorted(load_all()))


def _model(settings: Settings) -> str:
    model = load_classifier(settings)
    if model is None:
        raise FileNotFoundError("no triage model: run `intake train`")
    return str(model.version)


def _relay(settings: Settings) -> str:
    from channels.smtp_send import Relay

    with Relay(settings.relay):
        pass
    return f"{settings.relay.host}:{settings.relay.port} ({settings.relay.tls})"


def _smtp_port(settings: Settings) -> str:
    config = settings.smtp_server
    assert config is not None
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((config.host, config.port))
    if not config.accept:
        raise ValueError("[smtp_server] accept is empty: every recipient would get 550")
    return f"{config.host}:{config.port} is free; accepts {', '.join(config.accept)}"


def _mailbox(index: int, settings: Settings) -> str:
    from channels.imap import connect

    mailbox = settings.imap[index]
    client = connect(mailbox)
    try:
        for folder in mailbox.all_folders():
            client.select_folder(folder, readonly=True)
    finally:
        client.logout()
    return f"{mailbox.username}@{mailbox.host}:{mailbox.port}, folders {', '.join(mailbox.all_folders())}"


def trust_warnings(settings: Settings) -> list[str]:
    """Where the trust model (intake/trust.py) is configured so that it cannot do its job."""
    guard, smtp = settings.guard, settings.smtp_server
    found: list[str] = []
    if settings.imap and not guard.trusted_authserv_ids:
        found.append(
            f"{len(settings.imap)} IMAP mailbox(es) read with no guard.trusted_authserv_ids: anyone writing "
            "a designated contact's address in From is believed; set it to your MX's authserv-id"
            if guard.require == "not-fail"
            else "IMAP mailboxes read with require = dmarc-pass and no guard.trusted_authserv_ids: "
            "nobody writing to them can be a designated contact"
        )
    if smtp is not None and smtp.trusted_networks and not guard.trusted_authserv_ids:
        found.append(
            f"mail relayed to the SMTP server from {', '.join(str(n) for n in smtp.trusted_networks)} is not "
            "verified and no guard.trusted_authserv_ids is set: its From is taken as written"
            if guard.require == "not-fail"
            else "mail relayed to the SMTP server from trusted_networks can never be designated "
            "(require = dmarc-pass, no guard.trusted_authserv_ids)"
        )
    if smtp is not None and smtp.own_authserv_id() in guard.trusted_authserv_ids:
        found.append(
            f"guard.trusted_authserv_ids names the SMTP server's own id {smtp.own_authserv_id()!r}: "
            "mail read from IMAP or files that claims it would be believed"
        )
    return found


def run_checks(runtime: Runtime) -> list[Check]:
    settings = runtime.settings
    checks = [
        _run("database", lambda: _database(runtime)),
        _run("policies", _policies),
        _run("triage model", lambda: _model(settings)),
        _run("relay", lambda: _relay(settings)),
    ]
    if settings.smtp_server is not None:
        checks.append(_run("smtp server", lambda: _smtp_port(settings)))
    for index, mailbox in enumerate(settings.imap):
        checks.append(_run(f"imap {mailbox.name}", lambda i=index: _mailbox(i, settings)))  # type: ignore[misc]
    warnings = trust_warnings(settings)
    if warnings:
        checks.append(Check("trust", True, "; ".join(warnings), warning=True))
    return checks
