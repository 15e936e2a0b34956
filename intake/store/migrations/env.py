"""Alembic environment: runs against the engine handed over by intake.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from intake.store.orm import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
