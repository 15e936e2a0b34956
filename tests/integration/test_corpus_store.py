"""The whole real mail corpus through the store (issue 8, requirement 6), not only through the parser.

Every file listed in corpora/mail/MESSAGES.txt is ingested as ONE folder by
`intake ingest --json` (the CLI, a subprocess) on SQLite and on PostgreSQL: the
command exits 0 without a traceback and its summary adds up to the file count.
The folder holds symbolic links, so nothing is copied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.store.orm import Message, Quarantine
from intake.store.session import make_engine, make_sessionmaker
from tests.conftest import SHARED

CORPUS = SHARED / "corpora" / "mail"
INTAKE = Path(sys.executable).parent / "intake"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.slow,
    pytest.mark.skipif(not (CORPUS / "MESSAGES.txt").is_file(), reason=f"mail corpus not found at {CORPUS}"),
]


def corpus_folder(target: Path) -> int:
    """Links to every listed message, the corpus's relative paths kept; returns how many."""
    names = [n for n in (CORPUS / "MESSAGES.txt").read_text().splitlines() if n.strip()]
    for name in names:
        link = target / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(CORPUS / name)
    return len(names)


def test_the_whole_corpus_is_ingested_as_one_folder(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    files = corpus_folder(folder)
    env = {**os.environ, "INTAKE_DATABASE_URL": db_url, "INTAKE_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    done = subprocess.run(
        [str(INTAKE), "ingest", str(folder), "--json", "--now", "2026-11-16T09:00:00+00:00"],
        capture_output=True, env=env, timeout=900, cwd=tmp_path, check=False,
    )  # fmt: skip
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["files"] == files
    kinds = ("tickets", "followups", "dropped", "duplicates", "quarantined", "already_stored")
    outcomes = {k: summary[k] for k in kinds}  # already_stored: a copy of what an earlier batch stored
    assert sum(outcomes.values()) == files, summary
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            stored = session.scalar(select(func.count()).select_from(Message)) or 0
            quarantined = session.scalar(select(func.count()).select_from(Quarantine)) or 0
            reasons = list(session.scalars(select(Quarantine.reason)))
    finally:
        engine.dispose()
    # Every message row is a ticket, a follow-up or a dropped one; identical quarantined files share a row.
    assert stored == outcomes["tickets"] + outcomes["followups"] + outcomes["dropped"]
    assert 0 < quarantined <= outcomes["quarantined"]
    assert not any(r.startswith("store refused") for r in reasons), "every parsed file is storable"
