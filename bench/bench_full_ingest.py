"""Ingest on the full path: the corpus's organisations and every sender of them registered as a contact.

    .venv/bin/python bench/bench_full_ingest.py [--runs 3] [--workers 1 2 4] [--no-peer] [--no-postgres]

With contacts registered, most mail opens an acknowledged ticket (acknowledgement
and timers written), replies join their tickets, and free-mail senders are held:
the path a deployment runs. Printed, one line each, in one run:

- `intake ingest DIR` on SQLite in one process (whole process timed, start to exit, `--runs` runs);
- PostgreSQL with 1, 2 and 4 `intake ingest` processes at once, the corpus split by thread
  (every message of a thread in the same worker's folder, each folder in date order), timed
  from the first start to the last exit;
- django-helpdesk 2.6.1 on the same corpus, alternated run by run with our SQLite ingest
  (../shared/bench/peer/run_peer.sh with OWN_CMD; skipped with the reason when the shared
  folder is absent), and the ratio beside the aim (50x);

each beside the aim (2,000 msg/s on SQLite in one process) and the figure measured on
main before this work (issue 15: 804 msg/s). A missed aim prints the cProfile top
entries of one in-process ingest of the corpus.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_ingest import GEN, INTAKE, PEER, company_domains, corpus_sha, make_corpus, verify

ROOT = Path(__file__).resolve().parents[1]
AIM_RATE = 2000.0
AIM_RATIO = 50.0
MAIN_BEFORE = 804.0  # msg/s, full path, issue 15's table (20,000 mails)
PG_URL = os.environ.get("INTAKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_ADD_WORLD = """
import json, sys
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
world = json.loads(open(sys.argv[1]).read())
rt = Runtime.build()
with rt.sessions() as session:
    for domain, senders in world.items():
        add_org(session, rt.clock, domain, "resource-optimizer", None, [domain])
        for sender in senders:
            add_contact(session, rt.clock, domain, sender, "")
    session.commit()
"""


def world_of(manifest: Path) -> dict[str, list[str]]:
    """Company domain -> its senders (every one registered as a designated contact)."""
    domains = set(company_domains(manifest))
    world: dict[str, set[str]] = {d: set() for d in domains}
    for line in manifest.read_text().splitlines():
        if line.strip():
            sender = json.loads(line)["from"].lower()
            domain = sender.rpartition("@")[2]
            if domain in world:
                world[domain].add(sender)
    return {d: sorted(s) for d, s in sorted(world.items())}


def prepare(url: str, world_file: Path) -> None:
    env = {**os.environ, "INTAKE_DATABASE_URL": url}
    subprocess.run([str(INTAKE), "init"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-c", _ADD_WORLD, str(world_file)], check=True, env=env)


def own_command(template: Path) -> str:
    return (
        f'cp {template} "$BENCH_RUN_DIR/intake.db" && '
        f'INTAKE_DATABASE_URL="sqlite:///$BENCH_RUN_DIR/intake.db" {INTAKE} ingest "$BENCH_CORPUS" --json'
        ' > "$BENCH_RUN_DIR/summary.json"'
    )


def sqlite_runs(
    corpus: Path, manifest: Path, template: Path, workdir: Path, runs: int, orgs: set[str]
) -> float:
    n = len(list(corpus.iterdir()))
    times, cpus = [], []
    for i in range(1, runs + 1):
        run_dir = workdir / "runs" / f"full-sqlite-{i}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        env = {**os.environ, "BENCH_RUN_DIR": str(run_dir), "BENCH_CORPUS": str(corpus)}
        subprocess.run(["sync"], check=False)
        started, cpu = time.perf_counter(), _children_cpu()
        subprocess.run(["sh", "-c", own_command(template)], check=True, env=env)
        times.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
        check = verify(run_dir / "intake.db", manifest, orgs)
        if not check["tickets"] == check["expected_tickets"] == check["tickets_right"]:
            sys.exit(f"sqlite run {i}: threading wrong, no figure: {check}")
    median = statistics.median(times)
    print(
        f"ingest sqlite   1 process : {n / median:7.0f} msg/s  median {median:.2f} s of "
        f"{', '.join(f'{t:.2f}' for t in times)}, {n / statistics.median(cpus):.0f} msg per CPU-second  "
        f"(aim {AIM_RATE:.0f}; main before: {MAIN_BEFORE:.0f}; load average {os.getloadavg()[0]:.1f})"
    )
    return n / median


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished children: a figure the machine's load moves less."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shard(corpus: Path, manifest: Path, workers: int, workdir: Path) -> list[Path]:
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    folders = [workdir / f"shard-{workers}-{k}" for k in range(workers)]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for row in rows:
        target = folders[(row["thread"] - 1) % workers] / row["file"]
        shutil.copyfile(corpus / row["file"], target)
    return folders


def pg_runs(corpus: Path, manifest: Path, world_file: Path, workdir: Path, workers: list[int]) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    n = len(list(corpus.iterdir()))
    try:
        admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        print(f"ingest postgres: skipped: no PostgreSQL at {PG_URL}: {type(exc).__name__}")
        return
    for count in workers:
        schema = f"bench_full_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        try:
            prepare(url_text, world_file)
            folders = shard(corpus, manifest, count, workdir)
            env = {**os.environ, "INTAKE_DATABASE_URL": url_text}
            subprocess.run(["sync"], check=False)
            started, cpu = time.perf_counter(), _children_cpu()
            procs = [
                subprocess.Popen([str(INTAKE), "ingest", str(f), "--json"], env=env, stdout=subprocess.PIPE)
                for f in folders
            ]
            outputs = [p.communicate()[0] for p in procs]
            elapsed = time.perf_counter() - started
            used = _children_cpu() - cpu
            if any(p.returncode for p in procs):
                print(f"ingest postgres {count} workers: a worker failed, no figure")
                continue
            tickets = sum(json.loads(o).get("tickets", 0) for o in outputs)
            print(
                f"ingest postgres {count} worker{'s' if count > 1 else ' '}: {n / elapsed:7.0f} msg/s  "
                f"{elapsed:.2f} s, {n / used:.0f} msg per CPU-second of the workers, "
                f"{tickets} tickets opened  "
                f"(load average {os.getloadavg()[0]:.1f}; PostgreSQL's own CPU not counted)"
            )
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def peer_runs(template: Path, workdir: Path, n: int, runs: int) -> float | None:
    if not PEER.is_file():
        print(f"peer django-helpdesk 2.6.1: skipped: its recipe is not at {PEER} (set INTAKE_SHARED)")
        return None
    peer_dir = workdir / "peer"
    env = {**os.environ, "OWN_CMD": own_command(template)}
    result = subprocess.run(
        ["bash", str(PEER), str(peer_dir), str(n), str(runs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    pairs(peer_dir / "runs", n)
    own = re.search(r"^own: .*?([\d.]+) msg/s", result.stdout, re.M)
    peer = re.search(r"^peer: .*?([\d.]+) msg/s", result.stdout, re.M)
    if result.returncode != 0 or own is None or peer is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        print(f"peer django-helpdesk 2.6.1: no figure (exit {result.returncode}): {' | '.join(tail)}")
        return None
    ours, theirs = float(own.group(1)), float(peer.group(1))
    print(
        f"peer django-helpdesk 2.6.1: {theirs:7.0f} msg/s; ours alternated with it: {ours:.0f} msg/s = "
        f"{ours / theirs:.1f}x  (aim {AIM_RATIO:.0f}x; main before: 12.1x)"
    )
    return ours / theirs


def pairs(runs: Path, n: int) -> None:
    """Each alternated pair's wall and CPU figures (from its time.json): even one pair says something."""
    for i in range(1, 100):
        peer, own = runs / f"disk-{i}" / "time.json", runs / f"own-{i}" / "time.json"
        if not (peer.is_file() and own.is_file()):
            return
        a, b = json.loads(peer.read_text()), json.loads(own.read_text())
        cpu_a, cpu_b = a["user_s"] + a["sys_s"], b["user_s"] + b["sys_s"]
        print(
            f"pair {i}: django-helpdesk {n / a['wall_s']:.1f} msg/s ({cpu_a:.1f} CPU s), ours "
            f"{n / b['wall_s']:.0f} msg/s ({cpu_b:.1f} CPU s): {a['wall_s'] / b['wall_s']:.1f}x by wall, "
            f"{cpu_a / cpu_b:.1f}x by CPU  (aim {AIM_RATIO:.0f}x)"
        )


def profile(corpus: Path, template: Path, workdir: Path) -> None:
    """Where the time of one in-process ingest goes (cProfile, top entries by cumulative time)."""
    db = workdir / "profile.db"
    shutil.copyfile(template, db)
    os.environ["INTAKE_DATABASE_URL"] = f"sqlite:///{db}"
    from channels.files import ingest_paths
    from intake.runtime import Runtime

    rt = Runtime.build()
    profiler = cProfile.Profile()
    with rt.deps() as deps:
        profiler.runcall(ingest_paths, str(corpus), deps)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(12)
    print("where the time goes (one in-process ingest of the corpus, cProfile):")
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "full")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--peer-runs", type=int, default=3, help="alternated pairs with django-helpdesk")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print the profile even when the aim is met")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    assert GEN.is_file()
    corpus, manifest = make_corpus(args.workdir, args.n)
    print(f"corpus: {args.n} msgs, sha256 {corpus_sha(corpus)[:16]}...")
    world = world_of(manifest)
    world_file = args.workdir / "world.json"
    world_file.write_text(json.dumps(world))
    print(f"world: {len(world)} organisations, {sum(len(s) for s in world.values())} contacts")
    template = args.workdir / "template.db"
    template.unlink(missing_ok=True)
    prepare(f"sqlite:///{template}", world_file)
    rate = sqlite_runs(corpus, manifest, template, args.workdir, args.runs, set(world))
    if not args.no_postgres:
        pg_runs(corpus, manifest, world_file, args.workdir, args.workers)
    ratio = None if args.no_peer else peer_runs(template, args.workdir, args.n, args.peer_runs)
    if args.profile or rate < AIM_RATE or (ratio is not None and ratio < AIM_RATIO):
        profile(corpus, template, args.workdir)


if __name__ == "__main__":
    main()
