"""A long fuzzing run of the parser and the whole pipeline (issue 15, point 5).

    python bench/fuzz_pipeline.py                        # 20,000 parser and 2,000 pipeline batches, SQLite
    python bench/fuzz_pipeline.py --examples 100000 --db postgresql://postgres@127.0.0.1/intake
    python bench/fuzz_pipeline.py --atheris              # coverage-guided parser fuzzing (atheris)

The strategies are those of the test command (tests/fuzzmail.py: random bytes,
mail-shaped messages, mutated ../shared/corpora/mail), run with random seeds
and many more examples. It prints how many inputs ended how, and exits 1 with
the falsifying input when anything raised or an input was not accounted for.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from channels.parse import parse_one  # noqa: E402
from intake.config import Settings  # noqa: E402
from intake.customers.orgs import add_contact, add_org  # noqa: E402
from intake.models import InboundMessage  # noqa: E402
from intake.pipeline import Rejected, ingest  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.store.migrate import upgrade  # noqa: E402
from tests.fuzzmail import any_mail, check_batch, corpus_seeds  # noqa: E402

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def run_atheris(seeds: tuple[bytes, ...]) -> None:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("atheris is not installed (pip install atheris); the hypothesis run needs nothing more")

    def one(data: bytes) -> None:
        item = parse_one(data, "atheris", NOW)
        assert isinstance(item, InboundMessage | Rejected)

    corpus = Path(tempfile.mkdtemp(prefix="intake-atheris-"))
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], str(corpus)], one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--examples", type=int, default=20_000, help="parser inputs (pipeline: a tenth, batched)"
    )
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--atheris", action="store_true")
    args = parser.parse_args()
    seeds = corpus_seeds()
    print(
        f"seeds: {len(seeds)} corpus messages"
        if seeds
        else "seeds: none (corpus absent): generated mail only"
    )
    if args.atheris:
        run_atheris(seeds)
        return
    tally: Counter[str] = Counter()
    fuzz = settings(max_examples=args.examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip

    @fuzz
    @given(any_mail(seeds))
    def parser_run(raw: bytes) -> None:
        item = parse_one(raw, "fuzz", NOW)
        assert isinstance(item, InboundMessage | Rejected)
        tally["parsed" if isinstance(item, InboundMessage) else "rejected"] += 1

    start = time.perf_counter()
    parser_run()
    print(f"parser: {sum(tally.values())} inputs in {time.perf_counter() - start:.0f} s: {dict(tally)}")

    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='intake-fuzz-')}/fuzz.db"
    runtime = Runtime.build(Settings.model_validate({"database": {"url": url}}))
    upgrade(runtime.engine)
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    outcomes: Counter[str] = Counter()

    @settings(fuzz, max_examples=max(1, args.examples // 10))
    @given(st.lists(any_mail(seeds), min_size=1, max_size=8))
    def pipeline_run(raws: list[bytes]) -> None:
        items = [parse_one(raw, f"fuzz-{i}", NOW) for i, raw in enumerate(raws)]
        with runtime.deps(classifier=False) as deps:
            done = ingest(items, deps)
            check_batch([i.raw if isinstance(i, Rejected) else (i.raw or b"") for i in items], list(done),
                        deps.session)  # fmt: skip
        outcomes.update(o.disposition for o in done)

    start = time.perf_counter()
    pipeline_run()
    print(f"pipeline ({url}): {sum(outcomes.values())} messages in {time.perf_counter() - start:.0f} s: "
          f"{dict(outcomes)}")  # fmt: skip


if __name__ == "__main__":
    main()
