"""Load support policies from TOML: the bundled five by name, or any file by path.

A file that does not validate raises `PolicyError` naming the file, the field
path and the reason, one line per problem, e.g.
``resilio-connect.toml: plans.standard.targets.critical.first_response: unknown clock 'bizhours'``.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intake.errors import NotFound, PolicyError
from intake.policies.schema import Policy

_PACKAGE = "intake.policies"


def bundled_policy_names() -> list[str]:
    """Names of the policies shipped with the bot (the TOML files beside this module), sorted."""
    files = resources.files(_PACKAGE)
    return sorted(item.name.removesuffix(".toml") for item in files.iterdir() if item.name.endswith(".toml"))


def load_policy(name_or_path: str) -> Policy:
    """A bundled policy by name (cached), or a policy file by path.

    Raises `NotFound` for a name that is neither, `PolicyError` for a file that
    does not parse or validate.
    """
    if name_or_path in bundled_policy_names():
        return _load_bundled(name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise NotFound(f"{name_or_path}: cannot read policy file: {exc.strerror}") from None
        return parse_policy(text, path.name)
    raise NotFound(f"unknown policy {name_or_path!r} (bundled: {', '.join(bundled_policy_names())})")


@functools.cache
def _load_bundled(name: str) -> Policy:
    text = resources.files(_PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    policy = parse_policy(text, f"{name}.toml")
    if policy.name != name:
        raise PolicyError(f"{name}.toml: name: {policy.name!r} does not match the file name")
    return policy


@functools.cache
def load_all() -> dict[str, Policy]:
    """Every bundled policy by name (loaded once)."""
    return {name: _load_bundled(name) for name in bundled_policy_names()}


def parse_policy(text: str, filename: str = "<policy>") -> Policy:
    """Validate TOML text as a policy; `filename` only labels the errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{filename}: not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError("\n".join(f"{filename}: {line}" for line in _describe(exc))) from None


def _describe(exc: ValidationError) -> list[str]:
    """One ``path: why`` line per error, in plain words."""
    lines = []
    for error in exc.errors(include_url=False):
        parts = [str(part) for part in error["loc"]]
        why = _why(error)
        if why.startswith("@"):
            # A cross-field check names the field below the model it validated.
            sub, _, why = why[1:].partition(": ")
            parts.append(sub)
        lines.append(f"{'.'.join(parts) or '(top level)'}: {why}")
    return lines


def _why(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return str(error["msg"])
