"""The store itself: migrations, pragmas and the revision check, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.store.migrate import HEAD, current_revision, head_revision, upgrade
from intake.store.orm import Base, Ticket
from intake.store.session import make_engine


def test_head_constant_matches_alembic(runtime: Runtime) -> None:
    assert head_revision(runtime.engine) == HEAD
    assert current_revision(runtime.engine) == HEAD


def test_migrations_create_every_table_and_index(runtime: Runtime) -> None:
    inspector = inspect(runtime.engine)
    assert set(Base.metadata.tables) <= set(inspector.get_table_names())
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("messages")}
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("messages")}
    assert ("dedup_key",) in indexed | uniques and ("external_id",) in indexed
    assert ("state", "due_at") in {tuple(ix["column_names"]) for ix in inspector.get_indexes("timers")}


def test_upgrade_is_idempotent(runtime: Runtime) -> None:
    assert upgrade(runtime.engine) == HEAD


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/x.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_empty_database_asks_for_init(tmp_path: object, clock: object) -> None:
    from intake.config import Settings

    settings = Settings.model_validate({"database": {"url": f"sqlite:///{tmp_path}/empty.db"}})
    with pytest.raises(IntakeError, match="intake init"):
        Runtime.build(settings).require_schema()


def test_naive_datetimes_are_refused(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        session.add(
            Ticket(
                requester="a@b.example",
                status="new",
                severity="s3",
                canonical_severity="medium",
                policy="revalize",
                contact_status="unknown",
                channel="email",
                created_at=datetime(2026, 1, 1),
                updated_at=datetime(2026, 1, 1),
            )
        )
        with pytest.raises(Exception, match="naive datetime"):
            session.flush()


def test_migrations_match_the_orm(runtime: Runtime) -> None:
    """Every change to orm.py comes with its migration (Alembic finds nothing to add)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with runtime.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
