"""One settings object, built once from the TOML file and the environment.

Every key is documented in deploy/intake.example.toml. Any key can be
overridden by `INTAKE_<SECTION>__<KEY>` (e.g. `INTAKE_SMTP_SERVER__PORT=2526`);
`INTAKE_DATABASE_URL` is the documented short form of `INTAKE_DATABASE__URL`.
Secrets may be given as `<key>_file`, read at start-up and never logged.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from intake.errors import BadInput

TlsMode = Literal["none", "starttls", "ssl"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _read_secret_files(data: dict[str, Any]) -> dict[str, Any]:
    for key in [k for k in data if k.endswith("_file")]:
        path = data.pop(key)
        if path:
            try:
                data[key.removesuffix("_file")] = Path(path).read_text().strip()
            except OSError as exc:
                raise BadInput(f"cannot read {key} {path}: {exc.strerror}") from exc
    return data


class DatabaseSettings(_Section):
    url: str = "sqlite:///.intake/intake.db"


class TicketSettings(_Section):
    ref_prefix: str = Field(default="support", pattern=r"^[A-Za-z][A-Za-z0-9]{0,15}$")
    default_policy: str = "resource-optimizer"


class SmtpServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 2525
    accept: list[str] = Field(default_factory=list)
    max_size: int = 26_214_400

    _secrets = model_validator(mode="before")(_read_secret_files)

    # STARTTLS: offered when both are set (PEM files).
    tls_cert: str = ""
    tls_key: str = ""
    require_starttls: bool = False
    # AUTH (PLAIN/LOGIN, only after STARTTLS): user name -> password. Optional unless auth_required.
    auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    auth_required: bool = False
    hostname: str = ""


class RelaySettings(_Section):
    host: str = "127.0.0.1"
    port: int = 25
    tls: TlsMode = "none"
    username: str = ""
    password: SecretStr = SecretStr("")
    from_address: str = "support@vendor.example"

    _secrets = model_validator(mode="before")(_read_secret_files)

    # PEM bundle of CAs trusted for the relay's certificate; empty: the system's.
    tls_ca: str = ""
    timeout: float = Field(default=30.0, gt=0)


class ImapSettings(_Section):
    name: str = "support"
    host: str = "127.0.0.1"
    port: int = 993
    tls: TlsMode = "ssl"
    username: str = ""
    password: SecretStr = SecretStr("")
    folder: str = "INBOX"
    processed_folder: str = ""
    idle: bool = True

    _secrets = model_validator(mode="before")(_read_secret_files)

    auth: Literal["password", "oauth2"] = "password"
    oauth2_token: SecretStr = SecretStr("")
    folders: list[str] = Field(default_factory=list)
    first_sync: Literal["unseen", "all"] = "unseen"
    tls_ca: str = ""
    batch_size: int = Field(default=200, ge=1, le=5000)
    poll_interval: float = Field(default=60.0, gt=0)
    idle_timeout: float = Field(default=600.0, gt=0, le=1740)
    timeout: float = Field(default=60.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    failure_alert: int = Field(default=5, ge=1)

    def all_folders(self) -> list[str]:
        """`folder` first, then the extra `folders`, each once."""
        return list(dict.fromkeys([self.folder, *self.folders]))


class SlackSettings(_Section):
    mode: Literal["http", "socket"] = "http"
    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    app_token: SecretStr = SecretStr("")
    api_base_url: str = ""
    triage_channel: str = ""
    intake_channels: dict[str, str] = Field(default_factory=dict)

    _secrets = model_validator(mode="before")(_read_secret_files)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: SecretStr = SecretStr("")

    _secrets = model_validator(mode="before")(_read_secret_files)


class ClassifierSettings(_Section):
    review_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    model_dir: str = Field(
        default=".intake/model", description="where `intake train` saves; used instead of the shipped model"
    )


class GuardSettings(_Section):
    own_addresses: list[str] = Field(
        default_factory=list, description="our own addresses; mail from them never opens a ticket"
    )
    trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="Authentication-Results from these hosts are believed; empty: the first header",
    )


class OutboxSettings(_Section):
    batch_size: int = Field(default=50, ge=1)
    poll_interval: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    retry_base: float = Field(default=60.0, gt=0)
    retry_max: float = Field(default=3600.0, gt=0)
    claim_lease: float = Field(default=600.0, gt=0)
    max_auto_per_recipient: int = Field(default=5, ge=0)
    recipient_window: float = Field(default=3600.0, gt=0)
    max_auto_per_domain: int = Field(default=20, ge=0)
    domain_window: float = Field(default=3600.0, gt=0)
    uncapped_domains: list[str] = Field(
        default_factory=list,
        description="domains many unrelated customers share (freemail): no per-domain cap there",
    )
    max_auto_per_ticket: int = Field(default=10, ge=0)
    ticket_window: float = Field(default=86400.0, gt=0)
    bounce_suppress: float = Field(default=7 * 86400.0, ge=0)


class ServiceSettings(_Section):
    tick_interval: float = Field(default=5.0, gt=0)
    shutdown_grace: float = Field(default=20.0, gt=0)


class TemplateSettings(_Section):
    dir: str = Field(default="", description="a folder whose templates override the bundled ones")
    portal_url: str = Field(default="", description="where the portal redirect sends customers")


class EscalationSettings(_Section):
    notify: list[str] = Field(
        default_factory=list, description="addresses told of SLA warnings, breaches and escalations"
    )


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    smtp_server: SmtpServerSettings | None = None
    relay: RelaySettings = Field(default_factory=RelaySettings)
    imap: list[ImapSettings] = Field(default_factory=list)
    slack: SlackSettings | None = None
    web: WebSettings = Field(default_factory=WebSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    def own_addresses(self) -> set[str]:
        found = {a.lower() for a in self.guard.own_addresses}
        found.add(self.relay.from_address.lower())
        return found


def _coerce(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    if "INTAKE_DATABASE_URL" in environ:
        data.setdefault("database", {})["url"] = environ["INTAKE_DATABASE_URL"]
    for name, value in environ.items():
        if not name.startswith("INTAKE_") or "__" not in name:
            continue
        section, _, key = name.removeprefix("INTAKE_").lower().partition("__")
        target = data.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = _coerce(value)
    return data


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (INTAKE_CONFIG, else ./intake.toml if present) and apply the environment."""
    env = dict(os.environ if environ is None else environ)
    chosen = Path(path) if path else Path(env["INTAKE_CONFIG"]) if env.get("INTAKE_CONFIG") else None
    data: dict[str, Any] = {}
    if chosen is None and Path("intake.toml").is_file():
        chosen = Path("intake.toml")
    if chosen is not None:
        try:
            data = tomllib.loads(chosen.read_text())
        except OSError as exc:
            raise BadInput(f"cannot read config {chosen}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"config {chosen} is not valid TOML: {exc}") from exc
    data = _apply_env(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"config {chosen or '(environment)'}: {where}: {first['msg']}") from exc
