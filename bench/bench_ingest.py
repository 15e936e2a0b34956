"""Ingest benchmark: `intake ingest DIR` on the generated 2,000-mail corpus, beside django-helpdesk.

    python bench/bench_ingest.py                    # our ingest alone, 5 runs, threading checked
    python bench/bench_ingest.py --peer WORKDIR     # alternated with django-helpdesk 2.6.1 (run_peer.sh)

Each run starts from an empty, migrated store (a copy of a template database,
as the peer starts from its template), times the whole `intake ingest` process
from start to exit, and then checks the result against the corpus manifest:
every message in the ticket the threading rule puts it in. The template has one
organisation per company domain of the corpus, as a deployment would; a reply
joins its thread's ticket when its sender is of the ticket's organisation or,
on a free-mail domain (no organisation), is the ticket's requester herself; any
other reply opens a new held ticket (issue 8: the same mail domain is not the
same person). A figure with wrong threading is not printed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "bench" / "gen_corpus.py"  # the project's own generator
# The django-helpdesk peer recipe is not part of this repository: it lives in the team's shared
# folder (INTAKE_SHARED, default ../shared beside the checkout). `--peer` needs it; without it the
# benchmark of our own ingest still runs.
SHARED = Path(os.environ.get("INTAKE_SHARED", ROOT.parent / "shared"))
PEER = SHARED / "bench" / "peer" / "run_peer.sh"
DEFAULT_SHA = "92153f5f6e5536f42e6a429c581a134933ad16f7df48374df3cc5de024a16b1f"
INTAKE = Path(sys.executable).parent / "intake"


def corpus_sha(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def make_corpus(workdir: Path, n: int) -> tuple[Path, Path]:
    corpus = workdir / "corpus"
    manifest = workdir / "corpus.manifest.jsonl"
    if not corpus.is_dir():
        subprocess.run(
            [sys.executable, str(GEN), str(corpus), "-n", str(n), "--seed", "1"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return corpus, manifest


def company_domains(manifest: Path) -> list[str]:
    """The corpus's sender domains that are not free-mail: each is one customer organisation."""
    spec = importlib.util.spec_from_file_location("gen_corpus", GEN)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return sorted({r["from"].lower().rpartition("@")[2] for r in rows} - set(gen.FREEMAIL))


_ADD_ORGS = """
import sys
from intake.customers.orgs import add_org
from intake.runtime import Runtime
rt = Runtime.build()
with rt.sessions() as session:
    for domain in sys.argv[1:]:
        add_org(session, rt.clock, domain, "resource-optimizer", None, [domain])
    session.commit()
"""


def make_template(workdir: Path, domains: list[str]) -> Path:
    template = workdir / "template.db"
    if template.exists():
        template.unlink()
    env = {**os.environ, "INTAKE_DATABASE_URL": f"sqlite:///{template}"}
    subprocess.run([str(INTAKE), "init"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", _ADD_ORGS, *domains], check=True, env=env)
    return template


def own_command(template: Path) -> str:
    return (
        f'cp {template} "$BENCH_RUN_DIR/intake.db" && '
        f'INTAKE_DATABASE_URL="sqlite:///$BENCH_RUN_DIR/intake.db" {INTAKE} ingest "$BENCH_CORPUS" --json'
        ' > "$BENCH_RUN_DIR/summary.json"'
    )


def expected_tickets(rows: list[dict[str, Any]], orgs: set[str]) -> dict[str, int]:
    """Message-ID -> expected ticket number, by the rule the thread step applies (see the docstring)."""
    ticket_of: dict[str, int] = {}
    tickets: list[tuple[str | None, str]] = []  # (organisation, requester)
    for r in rows:
        sender = r["from"].lower()
        domain = sender.rpartition("@")[2]
        org = domain if domain in orgs else None
        hints = ([r["in_reply_to"]] if r["in_reply_to"] else []) + list(reversed(r["references"] or []))
        found = next((ticket_of[h.strip("<>")] for h in hints if h and h.strip("<>") in ticket_of), None)
        if found is not None:
            t_org, requester = tickets[found]
            if (org == t_org) if t_org is not None else sender == requester:
                ticket_of[r["message_id"].strip("<>")] = found
                continue
        tickets.append((org, sender))
        ticket_of[r["message_id"].strip("<>")] = len(tickets) - 1
    return ticket_of


def verify(db: Path, manifest: Path, orgs: set[str]) -> dict[str, int]:
    """Check the store against the manifest: every message in the ticket the threading rule gives it."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    conn = sqlite3.connect(db)
    ticket_of = dict(conn.execute("select external_id, ticket_id from messages"))
    tickets = conn.execute("select count(*) from tickets").fetchone()[0]
    held = conn.execute("select count(*) from tickets where status = 'pending_authorisation'").fetchone()[0]
    conn.close()
    expected = expected_tickets(rows, orgs)
    groups: dict[int, set[str]] = {}
    for message_id, number in expected.items():
        groups.setdefault(number, set()).add(message_id)
    stored: dict[object, set[str]] = {}
    for message_id in expected:
        stored.setdefault(ticket_of.get(message_id), set()).add(message_id)
    right = sum(1 for g in groups.values() if g in stored.values())
    replies = sum(1 for r in rows if r["is_reply"])
    first = {r["thread"]: ticket_of.get(r["message_id"].strip("<>")) for r in rows if not r["is_reply"]}
    in_thread = sum(
        1
        for r in rows
        if r["is_reply"] and ticket_of.get(r["message_id"].strip("<>")) == first.get(r["thread"])
    )
    return {
        "tickets": tickets,
        "expected_tickets": len(groups),
        "tickets_right": right,
        "replies": replies,
        "replies_in_thread": in_thread,
        "held": held,
    }


def run_own(
    corpus: Path, manifest: Path, template: Path, workdir: Path, runs: int, orgs: set[str]
) -> list[float]:
    times = []
    for i in range(1, runs + 1):
        run_dir = workdir / "runs" / f"own-{i}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        env = {**os.environ, "BENCH_RUN_DIR": str(run_dir), "BENCH_CORPUS": str(corpus)}
        subprocess.run(["sync"], check=False)
        start = time.perf_counter()
        subprocess.run(["sh", "-c", own_command(template)], check=True, env=env)
        elapsed = time.perf_counter() - start
        check = verify(run_dir / "intake.db", manifest, orgs)
        if not check["tickets"] == check["expected_tickets"] == check["tickets_right"]:
            sys.exit(f"run {i}: threading wrong, no figure: {check}")
        times.append(elapsed)
        print(f"own run {i}: {elapsed:.2f} s, {len(list(corpus.iterdir())) / elapsed:.0f} msg/s, {check}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="messages in the corpus (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "ingest")
    parser.add_argument(
        "--peer",
        type=Path,
        metavar="WORKDIR",
        help="also run django-helpdesk via run_peer.sh in this (new or reused) folder",
    )
    args = parser.parse_args()
    if args.peer is not None and not PEER.is_file():
        print(f"skipped: --peer needs the django-helpdesk recipe at {PEER} (set INTAKE_SHARED)")
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus, manifest = make_corpus(args.workdir, args.n)
    sha = corpus_sha(corpus)
    print(f"corpus: {args.n} msgs, sha256 {sha}" + (" (the default corpus)" if sha == DEFAULT_SHA else ""))
    domains = company_domains(manifest)
    template = make_template(args.workdir, domains)

    if args.peer is None:
        times = run_own(corpus, manifest, template, args.workdir, args.runs, set(domains))
        median = statistics.median(times)
        print(
            f"own: {args.n} msgs, median {median:.2f} s, {args.n / median:.0f} msg/s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)})"
        )
        return
    env = {**os.environ, "OWN_CMD": own_command(template)}
    result = subprocess.run(
        ["bash", str(PEER), str(args.peer), str(args.n), str(args.runs)],
        env=env,
        check=False,
    )
    own_runs = sorted((args.peer / "runs").glob("own-*"))
    for run_dir in own_runs:
        check = verify(run_dir / "intake.db", args.peer / "corpus.manifest.jsonl", set(domains))
        print(f"{run_dir.name}: {check}")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
