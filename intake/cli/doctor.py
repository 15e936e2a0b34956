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
    # A warning does not fail doctor: the bot runs, but does less than the policy promises.
    warning: bool = False


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


def _policies_in_use(runtime: Runtime) -> dict[str, list[str]]:
    """Policy name -> organisations under it (the default policy too); empty if the store is unreadable."""
    from intake.store import repo

    used: dict[str, list[str]] = {runtime.settings.tickets.default_policy: []}
    try:
        with runtime.sessions() as session:
            for name, policy in repo.org_policies(session):
                used.setdefault(policy, []).append(name)
    except Exception:  # the database check reports why; warnings use what is known
        return used
    return used


def _org_names(runtime: Runtime) -> set[str] | None:
    from intake.store import repo

    try:
        with runtime.sessions() as session:
            return set(repo.org_names(session))
    except Exception:
        return None


def configuration_warnings(runtime: Runtime) -> list[Check]:
    """Configuration that makes the bot silently do less than the policy promises."""
    from intake.policies.loader import load_all

    settings = runtime.settings
    found: list[Check] = []

    def warn(name: str, detail: str) -> None:
        found.append(Check(name, True, detail, warning=True))

    if not settings.escalation.notify:
        warn(
            "escalation recipients",
            "[escalation] notify is empty: SLA warnings, breaches and escalations tell nobody; "
            'set notify = ["leads@your-company.example"]',
        )
    if "relay" not in settings.model_fields_set:
        warn(
            "relay configured",
            "no [relay] section: acknowledgements and replies go to "
            f"{settings.relay.host}:{settings.relay.port} by default; set [relay] host and port",
        )
    slack_triage = settings.slack is not None and bool(settings.slack.triage_channel)
    if not slack_triage and not settings.escalation.notify:
        policies = load_all()
        for name, orgs in sorted(_policies_in_use(runtime).items()):
            policy = policies.get(name)
            if policy is None:
                continue
            promised = [
                f"{key} {targets.first_response.describe()}"
                for plan in policy.plans.values()
                for key, targets in plan.targets.items()
                if targets.first_response is not None
            ]
            if promised:
                who = f" (used by {', '.join(orgs)})" if orgs else " (the default policy)"
                warn(
                    f"engineer channel for {name}",
                    f"{name}{who} promises a first response ({promised[0]}, ...) but no engineer is told "
                    "of new tickets: set [slack] triage_channel or [escalation] notify",
                )
    if settings.slack is not None and settings.slack.intake_channels:
        known = _org_names(runtime)
        if known is not None:
            for channel, org in sorted(settings.slack.intake_channels.items()):
                if org not in known:
                    warn(
                        f"slack channel {channel}",
                        f"[slack] intake_channels maps {channel} to {org!r}, which is no organisation: "
                        "its messages would be held; fix the name or `intake org add` it",
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
    checks.extend(configuration_warnings(runtime))
    return checks
