"""Time-zone-aware storage (issue 12, finding 12): an instant written with any UTC offset is the
same instant when read back, on SQLite (which has no time zone type) and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from intake.store.orm import Organisation
from intake.store.session import make_engine, make_sessionmaker

OFFSETS = [
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-9, minutes=-30)),
]


@pytest.mark.parametrize("zone", OFFSETS, ids=str)
def test_an_instant_with_an_offset_reads_back_as_the_same_instant(db_url: str, zone: timezone) -> None:
    written = datetime(2026, 3, 30, 10, 0, tzinfo=zone)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        session.add(Organisation(name="Globex", policy="rezilion", plan=None, created_at=written))
        session.commit()
    with sessions() as session:
        read = session.scalar(select(Organisation.created_at))
        assert read is not None and read.utcoffset() is not None
        assert read == written, (read, written)
        assert read.astimezone(UTC) == written.astimezone(UTC)
        # Comparisons in SQL compare instants: one second before is not after it, one after is.
        before = written.astimezone(UTC) - timedelta(seconds=1)
        after = written + timedelta(seconds=1)
        assert session.scalar(select(Organisation.id).where(Organisation.created_at <= before)) is None
        assert session.scalar(select(Organisation.id).where(Organisation.created_at <= after)) is not None
    engine.dispose()


def test_a_naive_datetime_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session, pytest.raises(Exception, match="naive datetime"):
        session.add(
            Organisation(name="Globex", policy="rezilion", plan=None, created_at=datetime(2026, 3, 30))
        )
        session.commit()
    engine.dispose()
