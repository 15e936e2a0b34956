"""Settings: the documented example parses, the environment overrides, secrets come from files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from intake.config import Settings, load_settings
from intake.errors import BadInput

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "intake.example.toml"


def test_example_config_is_complete_and_valid() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.smtp_server is not None and settings.smtp_server.port == 2525
    documented = tomllib.loads(EXAMPLE.read_text())
    for section, model in Settings.model_fields.items():
        if section in ("imap",):
            continue
        assert section in documented, f"[{section}] is not documented in {EXAMPLE.name}"
        annotation = model.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        section_model = next(a for a in candidates if hasattr(a, "model_fields"))
        for key in section_model.model_fields:
            assert key in documented[section], f"{section}.{key} is not documented"


def test_environment_overrides_and_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "relay-password"
    secret.write_text("s3cret\n")
    config = tmp_path / "intake.toml"
    config.write_text(f'[relay]\nhost = "mx"\npassword_file = "{secret}"\n')
    settings = load_settings(
        config, environ={"INTAKE_DATABASE_URL": "sqlite:///x.db", "INTAKE_RELAY__PORT": "2525"}
    )
    assert settings.database.url == "sqlite:///x.db"
    assert (settings.relay.host, settings.relay.port) == ("mx", 2525)
    assert settings.relay.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text('[relay]\ntls = "maybe"\n')
    with pytest.raises(BadInput, match=r"relay\.tls"):
        load_settings(config, environ={})
    config.write_text("[relay\n")
    with pytest.raises(BadInput, match="not valid TOML"):
        load_settings(config, environ={})
