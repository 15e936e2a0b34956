"""What every command module shares: consoles, common options, JSON output and the runtime."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from intake.clock import Clock, clock_for
from intake.config import load_settings
from intake.errors import BadInput
from intake.runtime import Runtime

# No console markup: subjects, addresses and reasons come from strangers, and "[support-3]"
# or "[/bold]" in them must print as written, never be read as styling.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Act as if it were this ISO 8601 time.")]


def emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def make_clock(now: str | None) -> Clock:
    try:
        return clock_for(now)
    except ValueError as exc:
        raise BadInput(f"--now is not an ISO 8601 time: {now!r}") from exc


OPEN: list[Runtime] = []


def runtime(now: str | None = None, *, schema: bool = True) -> Runtime:
    """Settings, engine and clock for one command; by default insists the schema is current.

    Its connections are closed when the command returns (see `close_all`).
    """
    built = Runtime.build(load_settings(), make_clock(now))
    OPEN.append(built)
    if schema:
        built.require_schema()
    return built


def close_all() -> None:
    while OPEN:
        OPEN.pop().engine.dispose()
