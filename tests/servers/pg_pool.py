"""Migrated PostgreSQL schemas that tests take in turn, emptied between them.

Creating a schema and running the migrations into it costs tenths of a second of
the server's time (seconds when the machine is busy), for every PostgreSQL test.
A test process runs one test at a time, so it keeps its schemas: after a test the
schema's tables are emptied and their sequences restarted (ids begin at 1 again),
which leaves it as a fresh migration does (the migrations insert no rows; only
`alembic_version` is kept) in milliseconds. A schema that cannot be emptied (the
user may not skip the foreign-key triggers, or a leftover session holds a lock) is
dropped and the next test gets a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from intake.store.migrate import upgrade
from intake.store.session import make_engine


@dataclass
class SchemaPool:
    base: str
    admin: Engine
    free: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    def url(self, schema: str) -> str:
        return (
            make_url(self.base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )

    def take(self) -> str:
        """A migrated, empty schema's URL."""
        if self.free:
            return self.url(self.free.pop())
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.made.append(schema)
        engine = make_engine(self.url(schema))
        upgrade(engine)
        engine.dispose()
        return self.url(schema)

    def give_back(self, url: str) -> None:
        schema = str(make_url(url).query["options"]).removeprefix("-csearch_path=")
        try:
            self._empty(schema)
        except DBAPIError:
            self._drop(schema)
            return
        self.free.append(schema)

    def _empty(self, schema: str) -> None:
        with self.admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers: all go
            tables = conn.scalars(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
                ),
                {"s": schema},
            ).all()
            for table in tables:
                conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))
            sequences = conn.scalars(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = :s"), {"s": schema}
            ).all()
            for sequence in sequences:
                conn.execute(text("SELECT setval(:q, 1, false)"), {"q": f'"{schema}"."{sequence}"'})

    def _drop(self, schema: str) -> None:
        try:
            with self.admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        except DBAPIError:
            pass  # held by a session that outlived its test: left behind rather than waited for
        if schema in self.made:
            self.made.remove(schema)

    def close(self) -> None:
        for schema in list(self.made):
            self._drop(schema)
        self.admin.dispose()
