"""Apply the Alembic migrations shipped inside the package.

Alembic is imported only by `intake init`: every other command merely checks
that the database is at HEAD, with one query, so a short command such as
`intake ingest` does not pay Alembic's import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision; tests/integration/test_store.py checks it against Alembic's own view.
HEAD = "0010"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, target: str = "head") -> str:
    """Bring the schema to the newest revision (or `target`); returns the newest revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(engine)
    command.upgrade(config, target)
    return ScriptDirectory.from_config(config).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database.

    A database that cannot be reached raises (a `DBAPIError`): it is not empty,
    and must not be reported as such.
    """
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision(engine: Engine) -> str:
    """Alembic's own view of the newest revision (imports Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head() or ""
