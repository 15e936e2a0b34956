"""Shared fixtures: a migrated store on SQLite and on a real PostgreSQL, a fixed clock, a mail builder.

PostgreSQL tests skip with the reason when no server answers, and fail instead
under CI=true, where a server must be present.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from intake.clock import FixedClock
from intake.config import Settings
from intake.runtime import Runtime
from intake.store.session import make_engine, make_sessionmaker
from tests.servers.pg_pool import SchemaPool

# CI runs the property tests with a fixed seed, so a submission's result does not depend on the
# examples one run happens to draw; local runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    hypothesis_settings.load_profile("ci")

PG_URL = os.environ.get("INTAKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# ../shared beside the checkout (or INTAKE_SHARED): public corpora and data; tests skip without it
SHARED = Path(os.environ.get("INTAKE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def missing(reason: str) -> None:
    """Skip locally; under CI a missing server or tool is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return (
            f"no PostgreSQL at {make_url(PG_URL).render_as_string(hide_password=True)}: {type(exc).__name__}"
        )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    problem = _postgres_available()
    if problem:
        missing(problem)
    yield PG_URL


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> Iterator[None]:
    """argon2id at its smallest cost for the passwords tests set in this process.

    The production parameters take half a second per hash and per login, and the web tests
    add two users and log in for nearly every test; what they prove (who may log in, with
    which role) does not depend on the cost. Processes the tests start hash as in production.
    """
    from argon2 import PasswordHasher

    from intake.web import auth

    production = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    auth._hasher = production


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def pg_schemas(postgres_url: str) -> Iterator[SchemaPool]:
    """This test process's migrated PostgreSQL schemas, reused test after test (tests/servers/pg_pool.py)."""
    pool = SchemaPool(postgres_url, create_engine(postgres_url))
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: an SQLite file, or a schema on the PostgreSQL server."""
    if request.param == "sqlite":
        from tests.servers.stack import sqlite_url

        yield sqlite_url(tmp_path)
        return
    pool: SchemaPool = request.getfixturevalue("pg_schemas")
    url = pool.take()
    yield url
    pool.give_back(url)


@pytest.fixture
def runtime(db_url: str, clock: FixedClock) -> Iterator[Runtime]:
    settings = Settings.model_validate({"database": {"url": db_url}})
    engine = make_engine(db_url)
    yield Runtime(settings, engine, make_sessionmaker(engine), clock)
    engine.dispose()


MailBuilder = Callable[..., bytes]


@pytest.fixture
def make_mail() -> MailBuilder:
    """Build one RFC 5322 message; keyword arguments set headers, `body` the text, `html` an alternative."""

    counter = iter(range(1, 1_000_000))

    def build(
        body: str = "Hello, the export fails with error 500 since this morning.",
        *,
        sender: str = "Dana Smith <dana@acme.example>",
        to: str = "support@vendor.example",
        subject: str = "Export fails",
        date: datetime | None = None,
        message_id: str | None = None,
        html: str | None = None,
        headers: dict[str, str] | None = None,
        attachments: list[tuple[str, str, bytes]] | None = None,
    ) -> bytes:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        n = next(counter)
        msg["Date"] = format_datetime(date or datetime(2026, 11, 16, 8, 0, n % 60, tzinfo=UTC))
        if message_id != "":
            msg["Message-ID"] = message_id or make_msgid(idstring=f"t{n}", domain="mail.acme.example")
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        for filename, ctype, data in attachments or []:
            maintype, subtype = ctype.split("/", 1)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return msg.as_bytes()

    return build
