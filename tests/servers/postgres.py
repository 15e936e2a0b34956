"""A PostgreSQL store that a test can take away and give back: the database refusing us, for real.

The store lives in a schema owned by a role of its own; `down()` forbids the
role to log in and ends its sessions, so the next statement fails exactly as
it does when the server is unreachable (psycopg OperationalError); `up()` lets
it in again. Other tests on the same server are not affected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from intake.store.migrate import upgrade
from intake.store.session import make_engine


@dataclass
class SwitchableDatabase:
    url: str
    role: str
    admin: Engine

    def down(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'ALTER ROLE "{self.role}" NOLOGIN'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                {"r": self.role},
            )

    def up(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'ALTER ROLE "{self.role}" LOGIN'))


@pytest.fixture(name="switchable_pg")
def switchable_pg_fixture(postgres_url: str) -> Iterator[SwitchableDatabase]:
    role = f"intake_t_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'CREATE SCHEMA "{role}" AUTHORIZATION "{role}"'))
    url = (
        make_url(postgres_url)
        .set(username=role, password=password)
        .update_query_dict({"options": f"-csearch_path={role}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    db = SwitchableDatabase(url, role, admin)
    try:
        yield db
    finally:
        db.up()
        with admin.begin() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role}
            )
            conn.execute(text(f'DROP SCHEMA "{role}" CASCADE'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()
