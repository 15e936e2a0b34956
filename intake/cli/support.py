"""What every command module shares: consoles, common options, JSON output and the runtime."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL

from intake.clock import Clock, clock_for
from intake.config import load_settings
from intake.errors import BadInput
from intake.runtime import Runtime
from intake.store.problems import check_sqlite_writable

# No console markup: subjects, addresses and reasons come from strangers, and "[support-3]"
# or "[/bold]" in them must print as written, never be read as styling.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Act as if it were this ISO 8601 time.")]


def emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")


def make_clock(now: str | None) -> Clock:
    if now is not None and not now.strip():
        raise BadInput("--now is empty: give an ISO 8601 time such as 2026-11-16T09:00:00Z, or leave it out")
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
    check_sqlite_writable(built.engine.url)
    if schema:
        built.require_schema()
    return built


def close_all() -> None:
    """Dispose of every engine opened by this command; the last URL stays for error messages."""
    while OPEN:
        runtime_ = OPEN.pop()
        LAST_URL[:] = [runtime_.engine.url]
        runtime_.engine.dispose()


LAST_URL: list[URL] = []


def database_problem(exc: BaseException) -> str:
    """A database error that escaped a command, in one line (which problem, what to do)."""
    from intake.store.problems import describe

    if LAST_URL:
        return describe(exc, LAST_URL[0])
    return describe(exc, load_settings().database.url)


def choice(option: str, value: str, valid: list[str] | tuple[str, ...]) -> str:
    """`value` if it is one of `valid`, else `BadInput` naming the valid values (exit 2)."""
    if value not in valid:
        raise BadInput(f"{option} {value!r} is not valid; expected one of: {', '.join(valid)}")
    return value


def plural(count: int, word: str, words: str | None = None) -> str:
    """Counts in words: "1 ticket", "3 tickets", "no tickets"."""
    many = words or f"{word}s"
    if count == 0:
        return f"no {many}"
    return f"{count:,} {word if count == 1 else many}"


def local_time(value: datetime | None) -> str:
    """An instant in the viewer's time zone (TZ), with its UTC offset."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M %z")


def span(delta: timedelta) -> str:
    """A duration in the two largest units: "3d 4h", "2h 5m", "40m"."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def until(value: datetime | None, now: datetime) -> str:
    """How long until a due time, or how long it is overdue."""
    if value is None:
        return "-"
    return f"in {span(value - now)}" if value >= now else f"{span(now - value)} overdue"


def cut_notice(shown: int, limit: int, more: bool, what: str) -> None:
    """Say on stderr when a listing stopped at its --limit."""
    if more:
        err.print(f"showing the newest {shown:,} {what}; there are more (raise --limit)")


def table(
    headers: list[str],
    rows: list[list[str]],
    *,
    flexible: tuple[str, ...] = (),
    caps: dict[str, int] | None = None,
) -> Table:
    """A table that fits the terminal: fixed columns keep their width, `flexible` ones share the rest.

    The room left is handed to the flexible columns in the order given, each up to
    its widest cell (or its cap, while later ones still want room); a cell that does
    not fit ends in an ellipsis instead of wrapping over several lines. On a wide
    terminal nothing is cut.
    """
    caps = caps or {}
    flexible = tuple(h for h in flexible if h in headers)
    widths = {h: max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)}
    fixed = sum(w for h, w in widths.items() if h not in flexible)
    room = out.width - fixed - 3 * (len(headers) - 1)  # a gap is two of padding and a divider
    given = {h: min(widths[h], 8) for h in flexible}
    room -= sum(given.values())
    for capped in (True, False):
        for header in flexible:
            limit = min(widths[header], caps.get(header, widths[header])) if capped else widths[header]
            extra = max(0, min(room, limit - given[header]))
            given[header] += extra
            room -= extra
    built = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header in headers:
        if header in flexible:
            built.add_column(header, no_wrap=True, overflow="ellipsis", width=given[header])
        else:
            built.add_column(header, no_wrap=True, min_width=widths[header])
    for row in rows:
        built.add_row(*row)
    return built


def print_table(built: Table) -> None:
    out.print(built, soft_wrap=False, crop=True)
