"""`intake doctor` checks the configuration and each configured connection, against real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import MailBuilder
from tests.e2e.test_policies_e2e import Cli
from tests.servers.net import free_port


def _free_port() -> int:
    return free_port()  # tests/servers/net.py: outside the ephemeral range, per worker


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def relay_port() -> Iterator[int]:
    port = _free_port()
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_doctor_reports_each_check_and_fails_on_a_dead_relay(
    tmp_path: Path, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch, relay_port: int
) -> None:
    config = tmp_path / "intake.toml"
    config.write_text(
        f'[relay]\nhost = "127.0.0.1"\nport = {relay_port}\n\n'
        f'[smtp_server]\nhost = "127.0.0.1"\nport = {_free_port()}\naccept = ["support@vendor.example"]\n'
    )
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'intake.db'}")
    monkeypatch.setenv("INTAKE_CONFIG", str(config))
    cli = Cli(tmp_path, make_mail)
    failing = cli("doctor", code=1)
    assert "FAIL database" in failing and "intake init" in failing
    cli("init")
    checks = {c["check"]: c for c in cli.json("doctor")}
    plain = {name for name, c in checks.items() if not c["warning"]}
    assert plain == {"database", "policies", "triage model", "relay", "smtp server"}
    assert all(c["ok"] for c in checks.values()), checks
    # loopback relays to the SMTP server, and no trusted authserv-id: their From is taken as written
    assert checks["trust"]["warning"] and "trusted_authserv_ids" in checks["trust"]["detail"]
    monkeypatch.setenv("INTAKE_RELAY__PORT", str(_free_port()))
    dead = cli("doctor", code=1)
    assert "FAIL relay" in dead and "ok   database" in dead
