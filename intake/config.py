"""One settings object, built once from the TOML file and the environment.

Every key is documented in deploy/intake.example.toml. Any key can be (through pydantic-settings)
overridden by `INTAKE_<SECTION>__<KEY>` (e.g. `INTAKE_SMTP_SERVER__PORT=2526`);
`INTAKE_DATABASE_URL` is the documented short form of `INTAKE_DATABASE__URL`.
Secrets may be given as `<key>_file`, read at start-up and never logged.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

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

    # url_file: a URL with a password, kept out of the environment (docker secrets, systemd credentials)
    _secrets = model_validator(mode="before")(_read_secret_files)


class TicketSettings(_Section):
    ref_prefix: str = Field(default="support", pattern=r"^[A-Za-z][A-Za-z0-9]{0,15}$")
    default_policy: str = "resource-optimizer"
    form_senders: list[str] = Field(
        default_factory=list,
        description="addresses the vendor's web support forms mail from; such mail is a portal "
        "ticket for the requester its Name:/Email: fields name, and replies go to that requester",
    )


def _loopback() -> list[IPv4Network | IPv6Network]:
    return [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]


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
    # The trust model (intake/trust.py): the server writes its own Authentication-Results.
    authserv_id: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$", description="our Authentication-Results id; empty: hostname"
    )
    trusted_networks: list[IPvAnyNetwork] = Field(
        default_factory=_loopback,
        description="clients whose Authentication-Results are kept and who are not verified",
    )
    verify_timeout: float = Field(default=10.0, gt=0, description="seconds for SPF+DKIM+DMARC per message")

    def own_authserv_id(self) -> str:
        return self.authserv_id or self.hostname or "intake"


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
    lease_retry: float = Field(
        default=5.0, gt=0, description="seconds between tries at a folder another worker is reading"
    )

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
    intake_channels: dict[str, str] = Field(
        default_factory=dict, description="customer channel id (Slack Connect included) -> organisation name"
    )
    channel_mode: Literal["auto", "manual"] = Field(
        default="auto",
        description="auto: every top-level customer message opens a ticket; manual: only the ticket reaction",
    )
    channel_modes: dict[str, Literal["auto", "manual"]] = Field(
        default_factory=dict, description="per-channel override of channel_mode"
    )
    ticket_reaction: str = Field(
        default="ticket", description="reaction name that turns a message into a ticket"
    )
    authorise_reaction: str = Field(
        default="+1", description="a designated contact's reaction that authorises"
    )
    vendor_teams: list[str] = Field(
        default_factory=list,
        description="team ids of the vendor's own workspace(s); their people in a channel open no ticket "
        "(the workspace the event was delivered to always counts)",
    )
    smalltalk_window: float = Field(
        default=86400.0,
        gt=0,
        description="seconds after a bot or engineer reply in which a pleasantry attaches",
    )

    def mode_of(self, channel: str) -> Literal["auto", "manual"]:
        return self.channel_modes.get(channel, self.channel_mode)

    _secrets = model_validator(mode="before")(_read_secret_files)


class WebSettings(_Section):
    enabled: bool = Field(default=True, description="`intake serve` also serves the web page")
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="signs session cookies; empty: generated into .intake/web_secret_key",
    )

    _secrets = model_validator(mode="before")(_read_secret_files)


class ClassifierSettings(_Section):
    review_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    model_dir: str = Field(
        default=".intake/model", description="where `intake train` saves; used instead of the shipped model"
    )
    retrain_folds: int = Field(
        default=5,
        ge=2,
        le=10,
        description="grouped cross-validation folds of a retrain started on the web page",
    )


class GuardSettings(_Section):
    own_addresses: list[str] = Field(
        default_factory=list, description="our own addresses; mail from them never opens a ticket"
    )
    trusted_authserv_ids: list[str] = Field(
        default_factory=list,
        description="authserv-ids whose Authentication-Results are believed, matched exactly",
    )
    require: Literal["not-fail", "dmarc-pass"] = Field(
        default="not-fail", description="what the trusted results must say for a designated contact"
    )


class OutboxSettings(_Section):
    batch_size: int = Field(default=50, ge=1)
    poll_interval: float = Field(default=1.0, gt=0)
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


class LoggingSettings(_Section):
    level: str = Field(default="info", description="debug, info, warning or error; checked by `intake serve`")
    format: Literal["text", "json"] = Field(
        default="text", description="json: one object a line with the ticket ref and Message-ID"
    )


WebhookEvent = Literal["created", "escalated", "breached", "closed"]
_ALL_EVENTS: tuple[WebhookEvent, ...] = ("created", "escalated", "breached", "closed")


class WebhookSettings(_Section):
    """An outgoing webhook for ticket events (intake/outgoing/webhooks.py)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr = SecretStr("")
    events: list[WebhookEvent] = Field(default_factory=lambda: list(_ALL_EVENTS))
    timeout: float = Field(default=10.0, gt=0)

    _secrets = model_validator(mode="before")(_read_secret_files)


class RetentionSettings(_Section):
    raw_days: int = Field(
        default=0, ge=0, description="remove raw mail bodies older than this many days (0: keep them)"
    )
    interval: float = Field(default=3600.0, gt=0, description="seconds between retention passes in serve")


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
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    def own_addresses(self) -> set[str]:
        found = {a.lower() for a in self.guard.own_addresses}
        found.add(self.relay.from_address.lower())
        return found


class _Shape(Settings, BaseSettings):
    """Settings as pydantic-settings sees them: only used to read the environment's share."""

    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", env_nested_delimiter="__", case_sensitive=False, extra="forbid"
    )


class _Environment(EnvSettingsSource):
    """`INTAKE_<SECTION>__<KEY>` from a given mapping (the process environment by default).

    pydantic-settings explodes the nested names and decodes JSON for lists and tables;
    `INTAKE_DATABASE_URL` is the documented short form of `INTAKE_DATABASE__URL`.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._given = dict(environ)
        if "INTAKE_DATABASE_URL" in self._given:
            self._given.setdefault("INTAKE_DATABASE__URL", self._given["INTAKE_DATABASE_URL"])
        super().__init__(_Shape)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items() if k.upper() != "INTAKE_DATABASE_URL"}


def _indexed(table: Any) -> bool:
    return isinstance(table, dict) and bool(table) and all(k.isdigit() for k in table)


def _merge(base: Any, override: Any) -> Any:
    """Environment over file, table by table; `INTAKE_IMAP__0__PORT` reaches the first mailbox.

    pydantic-settings hands a list section's indexed variables over as a table with
    digit keys, and replaces lists whole; this puts each index on the file's entry.
    """
    if _indexed(override) and isinstance(base, list | None):
        return _merge_entries(list(base or []), override)
    if isinstance(override, dict) and isinstance(base, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _merge_entries(entries: list[Any], override: dict[str, Any]) -> list[Any]:
    for index in sorted(override, key=int):
        position = int(index)
        entries.extend({} for _ in range(position + 1 - len(entries)))
        entries[position] = _merge(entries[position], override[index])
    return entries


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (INTAKE_CONFIG, else ./intake.toml if present) and apply the environment."""
    env = dict(os.environ if environ is None else environ)
    chosen = Path(path) if path else Path(env["INTAKE_CONFIG"]) if env.get("INTAKE_CONFIG") else None
    if chosen is None and Path("intake.toml").is_file():
        chosen = Path("intake.toml")
    data: dict[str, Any] = {}
    if chosen is not None:
        try:
            data = tomllib.loads(chosen.read_text())
        except OSError as exc:
            raise BadInput(f"cannot read config {chosen}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"config {chosen} is not valid TOML: {exc}") from exc
    try:
        data = _merge(data, _Environment(env)())
        return Settings.model_validate(data)
    except (ValidationError, SettingsError) as exc:
        raise BadInput(f"config {chosen or '(environment)'}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError | SettingsError) -> str:
    if isinstance(exc, SettingsError):
        return str(exc)
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + f": {first['msg']}"
