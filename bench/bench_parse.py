"""Messages per second for channels.email_parse.parse over the generated benchmark corpus.

    python3 bench/gen_corpus.py /tmp/bench-corpus -n 2000 --seed 1
    .venv/bin/python bench/bench_parse.py /tmp/bench-corpus [--rounds 5] [--baseline]

Prints the best and median of several rounds over all files (read into memory
first, so only parsing is timed), on one core, by wall clock and by CPU time. `--baseline` also times the
stdlib with policy.default + get_body() + get_content(), the figure DESIGN.md
quotes, and compat32 without body decoding.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from channels.email_parse import parse
from intake.errors import BadInput


def _ours(raw: bytes) -> None:
    with contextlib.suppress(BadInput):
        parse(raw)


def _stdlib_default(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        body.get_content()


def _stdlib_compat32(raw: bytes) -> None:
    email.message_from_bytes(raw)


def _rate(fn: Callable[[bytes], None], raws: list[bytes], rounds: int) -> tuple[float, float, float]:
    """(best wall-clock rate, median wall-clock rate, best CPU-time rate) over `rounds` passes.

    The CPU-time figure is what one core manages when other processes share the machine.
    """
    wall, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        for raw in raws:
            fn(raw)
        wall.append(len(raws) / (time.perf_counter() - start))
        cpu.append(len(raws) / max(time.process_time() - start_cpu, 1e-9))
    return max(wall), statistics.median(wall), max(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, nargs="?", default=Path("/tmp/bench-corpus"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--baseline", action="store_true", help="also time the stdlib parsers")
    args = ap.parse_args()
    files = sorted(args.corpus.glob("*.eml"))
    if not files:
        print(f"no .eml files in {args.corpus}; generate them with gen_corpus.py (see the docstring)")
        return 2
    raws = [f.read_bytes() for f in files]
    size = sum(map(len, raws))
    print(f"corpus: {len(raws)} messages, {size / 1e6:.1f} MB, {args.rounds} rounds")
    _ours(raws[0])  # imports and caches warm
    runs: list[tuple[str, Callable[[bytes], None]]] = [("channels.email_parse.parse", _ours)]
    if args.baseline:
        runs += [
            ("stdlib policy.default + get_body/get_content", _stdlib_default),
            ("stdlib compat32, no body decoding", _stdlib_compat32),
        ]
    for name, fn in runs:
        best, median, cpu = _rate(fn, raws, args.rounds)
        print(f"{name}: best {best:,.0f} msgs/s, median {median:,.0f} msgs/s (wall);", end=" ")
        print(f"best {cpu:,.0f} msgs/s (CPU time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
