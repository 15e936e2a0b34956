"""Fuzzing (issue 15, point 5): the parser and the whole pipeline never raise on hostile mail.

Random bytes, mail-shaped messages with nasty header fields and MIME parts, and
mutated messages of ../shared/corpora/mail (skipped where the corpus is absent)
go through `channels.parse.parse_one` and then, in batches, through the whole
pipeline into a real store (SQLite and PostgreSQL): no exception escapes, and
every input ends ticketed, dropped (or a duplicate) with a reason, or quarantined
with its reason and its bytes. The test command runs a bounded number of
examples (INTAKE_FUZZ_EXAMPLES, default 150 for the parser, a fifth of that for
the pipeline); bench/fuzz_pipeline.py runs long.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.parse import parse_one
from intake.customers.orgs import add_contact, add_org
from intake.models import InboundMessage
from intake.pipeline import Rejected, ingest
from intake.runtime import Runtime
from tests.fuzzmail import any_mail, check_batch, corpus_seeds, mail_shaped, mutated

EXAMPLES = int(os.environ.get("INTAKE_FUZZ_EXAMPLES", "150"))
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SEEDS = corpus_seeds()
needs_corpus = pytest.mark.skipif(not SEEDS, reason="mail corpus not found (../shared/corpora/mail)")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("INTAKE_FUZZ_RANDOM") is None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)


def parses_or_rejects(raw: bytes) -> None:
    item = parse_one(raw, "fuzz", NOW)
    assert isinstance(item, InboundMessage | Rejected)
    if isinstance(item, Rejected):
        assert item.reason.strip() and "\n" not in item.reason and item.raw == raw


@FUZZ
@given(st.one_of(st.binary(max_size=2000), mail_shaped()))
def test_parser_takes_random_and_mail_shaped_bytes(raw: bytes) -> None:
    parses_or_rejects(raw)


@needs_corpus
@FUZZ
@given(st.data())
def test_parser_takes_mutated_corpus_mail(data: st.DataObject) -> None:
    parses_or_rejects(data.draw(mutated(SEEDS)))


@pytest.fixture
def world(runtime: Runtime) -> Runtime:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    return runtime


def test_the_pipeline_takes_every_kind_of_fuzzed_mail(world: Runtime) -> None:
    """Batches of up to 6 (so bad mail shares batches with good), into one store that fills up."""

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 5))
    @given(st.lists(any_mail(SEEDS), min_size=1, max_size=6))
    def run(raws: list[bytes]) -> None:
        items = [parse_one(raw, f"fuzz-{i}", NOW) for i, raw in enumerate(raws)]
        with world.deps(classifier=False) as deps:
            outcomes = ingest(items, deps)
            check_batch([i.raw if isinstance(i, Rejected) else (i.raw or b"") for i in items], list(outcomes),
                        deps.session)  # fmt: skip

    run()
