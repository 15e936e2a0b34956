"""The objects a command needs, built once from the settings and handed down."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from intake.clock import Clock, SystemClock
from intake.config import Settings, load_settings
from intake.customers.directory import Directory
from intake.errors import IntakeError
from intake.pipeline.context import Deps
from intake.policies.loader import load_all
from intake.policies.schema import Policy
from intake.store.migrate import HEAD, current_revision
from intake.store.problems import describe
from intake.store.session import make_engine, make_sessionmaker, unavailable_is_transient

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    # The policies tickets are decided under (the bundled ones; a test may hand in others).
    policies: Mapping[str, Policy] = field(default_factory=load_all)

    @classmethod
    def build(cls, settings: Settings | None = None, clock: Clock | None = None) -> Runtime:
        settings = settings or load_settings()
        engine = make_engine(settings.database.url)
        return cls(settings, engine, make_sessionmaker(engine), clock or SystemClock())

    def require_schema(self) -> None:
        """Fail with what to do when `intake init` has not been run on this database."""
        try:
            current = current_revision(self.engine)
        except DBAPIError as exc:
            raise IntakeError(describe(exc, self.engine.url)) from exc
        if current is None:
            raise IntakeError("the database has no tables yet: run `intake init` first")
        if current != HEAD:
            if current.isdigit() and HEAD.isdigit() and int(current) > int(HEAD):
                raise IntakeError(
                    f"the database is at revision {current}, newer than this intake ({HEAD}): upgrade intake"
                )
            raise IntakeError(
                f"the database is at revision {current}, older than this intake ({HEAD}): "
                "run `intake init` to migrate it"
            )

    @contextmanager
    def deps(self, *, classifier: bool = True) -> Iterator[Deps]:
        """What the pipeline needs; a database that cannot be reached raises `Transient` here."""
        with self.sessions() as session:
            with unavailable_is_transient():
                directory = Directory.load(session)
            yield Deps(
                session=session,
                clock=self.clock,
                settings=self.settings,
                directory=directory,
                classifier=load_classifier(self.settings) if classifier else None,
                policies=self.policies,
            )


_SEEN: dict[str, int | None] = {}


def load_classifier(settings: Settings) -> Any:
    """The retrained model in `classifier.model_dir` if there is one, else the shipped one; loaded once."""
    from pathlib import Path

    from classifiers.model import clear_model_cache, load_model
    from classifiers.store import SIDECAR_FILE, ModelFileError

    local = Path(settings.classifier.model_dir)
    sidecar = local / SIDECAR_FILE
    # A model promoted by another process (the web page's retrain) is picked up without a restart.
    stamp = sidecar.stat().st_mtime_ns if sidecar.is_file() else None
    if _SEEN.setdefault(str(local), stamp) != stamp:
        _SEEN[str(local)] = stamp
        clear_model_cache()
    try:
        return load_model(local if stamp is not None else None)
    except FileNotFoundError as exc:
        log.warning("no triage model, severities fall back to policy defaults: %s", exc)
        return None
    except ModelFileError as exc:
        # caught between two files of a promotion: read again on the next call
        _SEEN.pop(str(local), None)
        log.warning("triage model files do not match yet, retrying: %s", exc)
        time.sleep(0.05)
        return load_model(local)
