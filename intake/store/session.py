"""Engines and sessions: SQLite by default (WAL, foreign keys on), PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake.errors import IntakeError, Transient
from intake.store.problems import check_driver, parse_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Build the engine; an SQLite file's folder is created if missing."""
    parsed = parse_url(url)
    check_driver(parsed)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IntakeError(
                    f"cannot create the database folder {folder}: {exc.strerror}; check INTAKE_DATABASE_URL"
                ) from exc
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unavailable_is_transient() -> Iterator[None]:
    """Name a store that cannot be reached (refused, unreachable, locked) as `Transient`.

    Every first touch of the database on a message's path runs inside this, so the
    channels answer from their `Transient` branch (SMTP 451, IMAP leaves the mail unseen).
    """
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise Transient(f"database unavailable: {exc.orig}") from exc
