"""Settings: the documented example parses, the environment overrides, secrets come from files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from intake.config import Settings, load_settings
from intake.errors import BadInput

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "intake.example.toml"


def test_example_config_is_complete_and_valid() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.smtp_server is not None and settings.smtp_server.port == 2525
    documented = tomllib.loads(EXAMPLE.read_text())
    for section, model in Settings.model_fields.items():
        if section in ("imap", "webhooks"):
            continue
        assert section in documented, f"[{section}] is not documented in {EXAMPLE.name}"
        annotation = model.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        section_model = next(a for a in candidates if hasattr(a, "model_fields"))
        for key in section_model.model_fields:
            assert key in documented[section], f"{section}.{key} is not documented"
    for key in Settings.model_fields["webhooks"].annotation.__args__[0].model_fields:  # type: ignore[union-attr]
        assert key in documented["webhooks"][0], f"webhooks.{key} is not documented"


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


def _scalar_key(model: type[BaseModel]) -> tuple[str, type]:
    """The first plain str/int/float key of a section, to override from the environment."""
    for key, field in model.model_fields.items():
        if field.annotation in (str, int, float):
            return key, field.annotation
    for key, field in model.model_fields.items():
        if field.annotation == list[str]:
            return key, list
    raise AssertionError(f"{model.__name__} has no scalar key")


def _section_model(section: str) -> type[BaseModel]:
    annotation = Settings.model_fields[section].annotation
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        inner = [candidate, *getattr(candidate, "__args__", ())]
        for option in inner:
            if isinstance(option, type) and issubclass(option, BaseModel):
                return option
    raise AssertionError(section)


@pytest.mark.parametrize("section", sorted(Settings.model_fields))
def test_environment_overrides_the_file_in_every_section(section: str, tmp_path: Path) -> None:
    model = _section_model(section)
    key, kind = _scalar_key(model)
    file_value, env_value = {
        str: ("fromfile", "fromenv"),
        int: (7, 9),
        float: (0.25, 0.5),
        list: (["a@file.example"], ["b@env.example"]),
    }[kind]
    config = tmp_path / "intake.toml"
    listed = section in ("imap", "webhooks")
    table = f"[[{section}]]" if listed else f"[{section}]"
    required = 'url = "https://hooks.example"\n' if section == "webhooks" else ""
    config.write_text(f"{table}\n{required}{key} = {file_value!r}\n".replace("'", '"'))
    variable = (
        f"INTAKE_{section.upper()}__0__{key.upper()}"
        if listed
        else (f"INTAKE_{section.upper()}__{key.upper()}")
    )
    from_file = load_settings(config, environ={})
    from_env = load_settings(
        config, environ={variable: json.dumps(env_value) if kind is list else str(env_value)}
    )
    read = (
        (lambda s: getattr(getattr(s, section)[0], key))
        if listed
        else (lambda s: getattr(getattr(s, section), key))
    )
    assert read(from_file) == file_value
    assert read(from_env) == env_value


def test_list_sections_and_list_values_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "intake.toml"
    config.write_text('[[imap]]\nname = "a"\nhost = "one"\n[[imap]]\nname = "b"\nhost = "two"\n')
    settings = load_settings(
        config,
        environ={
            "INTAKE_IMAP__1__PORT": "1143",
            "INTAKE_ESCALATION__NOTIFY": '["oncall@vendor.example", "lead@vendor.example"]',
        },
    )
    assert [(m.name, m.host, m.port) for m in settings.imap] == [("a", "one", 993), ("b", "two", 1143)]
    assert settings.escalation.notify == ["oncall@vendor.example", "lead@vendor.example"]
    whole = load_settings(None, environ={"INTAKE_IMAP": '[{"name": "env", "host": "imap.example"}]'})
    assert [(m.name, m.host) for m in whole.imap] == [("env", "imap.example")]


def test_a_bad_environment_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"relay\.port"):
        load_settings(None, environ={"INTAKE_RELAY__PORT": "not-a-port"})
