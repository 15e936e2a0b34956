"""Database trouble, said in one line with what to do about it.

Every command opens the store the same way; what goes wrong there (a scheme we
do not speak, a missing driver, a server that refuses or does not answer, a
login refused, a schema never created or older than this program, an SQLite
folder we cannot write) is turned into an `IntakeError` or `BadInput` whose
message a support engineer can act on, instead of a driver traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from intake.errors import BadInput, IntakeError

SUPPORTED = ("sqlite", "postgresql")
INSTALL_PG = "pip install 'support-intake[postgres]'"


def parse_url(url: str) -> URL:
    """The URL, or `BadInput` naming what is wrong with it (exit 2: a configuration mistake)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise BadInput(
            f"database url {url!r} is not valid: expected sqlite:///PATH or postgresql://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise BadInput(
            f"database url scheme {parsed.drivername}:// is not supported: "
            "use sqlite:///PATH or postgresql://user@host/db"
        )
    if backend == "postgresql" and parsed.drivername not in ("postgresql", "postgresql+psycopg"):
        raise BadInput(f"database driver {parsed.drivername} is not supported: use postgresql:// (psycopg 3)")
    return parsed


def check_driver(parsed: URL) -> None:
    if parsed.get_backend_name() != "postgresql":
        return
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise IntakeError(f"the PostgreSQL driver (psycopg) is not installed: {INSTALL_PG}") from exc


def check_sqlite_writable(parsed: URL) -> None:
    """SQLite in WAL mode writes `NAME-wal` and `NAME-shm` beside the file and maps the latter.

    An `-shm` it cannot write kills the process with SIGBUS, with no log line,
    so each command checks the folder and those files first.
    """
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise IntakeError(f"the database folder {folder} does not exist and cannot be created")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise IntakeError(
            f"the database folder {folder} is not writable by this user: SQLite needs to create "
            f"{path.name}-wal and {path.name}-shm there (fix its owner or mode)"
        )
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.is_dir():
            raise IntakeError(f"{candidate} is a folder, not an SQLite database file")
        if candidate.exists() and not os.access(candidate, os.R_OK | os.W_OK):
            raise IntakeError(
                f"{candidate} is not writable by this user: fix its owner or mode (SQLite needs it)"
            )


def _where(parsed: URL) -> str:
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}"


def describe(exc: BaseException, url: URL | str) -> str:
    """One line saying which database problem this is and what to do."""
    parsed = url if isinstance(url, URL) else make_url(url)
    where = _where(parsed)
    text = " ".join(str(getattr(exc, "orig", None) or exc).split())
    low = text.lower()
    if "connection refused" in low:
        return f"{where} refused the connection: is the server running and listening there?"
    if "could not translate host name" in low or "failed to resolve host" in low or "name or service" in low:
        return f"cannot resolve the database host {parsed.host!r}: check INTAKE_DATABASE_URL"
    if "timeout" in low or "timed out" in low:
        return f"{where} did not answer in time: check the host, port and firewall"
    login = ("password authentication failed", "no password supplied", "authentication failed")
    if any(word in low for word in login) or ("role" in low and "does not exist" in low):
        return f"{where} refused the login for user {parsed.username!r}: check the URL's user and password"
    if "database" in low and "does not exist" in low:
        return f"{where} has no database {parsed.database!r}: create it (createdb {parsed.database})"
    if "unable to open database file" in low or "readonly database" in low or "disk i/o error" in low:
        return f"cannot open the {where} for writing: check the folder exists and is writable"
    if "no such table" in low or ("relation" in low and "does not exist" in low):
        return f"the {where} is missing tables: run `intake init`"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"database error on {where}: {first[:200]}"
