"""Peak memory of `intake ingest DIR` (issue 15, point 1): flat whatever the folder size.

    python bench/bench_ingest_memory.py                      # 2,000 and 200,000 mails
    python bench/bench_ingest_memory.py --counts 2000 20000  # any sizes
    python bench/bench_ingest_memory.py --mbox               # the same corpus as one mbox file
    python bench/bench_ingest_memory.py --generate           # gen_corpus.py at every size (slow at 200k)

For each size: the corpus is the 2,000-mail corpus of bench/gen_corpus.py (seed 1)
replicated as often as needed (each copy with its own Message-IDs, its subject
references moved to its own tickets, its dates after the copy before it: the same
threads again, so the threading check still holds), or with --generate the
generator's own corpus of that size (about 35 mails/s on a loaded machine). Corpora
are kept in --workdir and reused. A fresh SQLite store gets one organisation per company
domain (as bench_ingest.py does), then one `intake ingest DIR --json` process runs
and its peak resident set size is read from the kernel (wait4's ru_maxrss, the
high-water mark of the whole process). The threading is checked against the
corpus manifest; a figure with wrong threading is not printed. The aim is under
250 MB at every size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTAKE = Path(sys.executable).parent / "intake"
AIM_MB = 250


def _bench_ingest():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "bench_ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ID = re.compile(rb"<([0-9a-f]+\.[0-9a-f]+)@")
_REF = re.compile(rb"\[support-(\d+)\]")
_DATE = re.compile(rb"^Date: ([^\r\n]*)", re.MULTILINE)


def replicated(base: Path, base_manifest: Path, workdir: Path, n: int, tickets: int) -> tuple[Path, Path]:
    """`n` mails: copies of the base corpus, copy k with Message-IDs `...rk@`, `[support-N]` moved by
    k * `tickets` (the tickets one copy opens) and dates moved past the copy before it."""
    corpus, manifest = workdir / "corpus", workdir / "corpus.manifest.jsonl"
    if manifest.is_file():
        return corpus, manifest
    rows = [json.loads(line) for line in base_manifest.read_text().splitlines() if line.strip()]
    dates = [parsedate_to_datetime(r["date"]) for r in rows]
    span = max(dates) - min(dates) + timedelta(days=1)
    corpus.mkdir(parents=True, exist_ok=True)
    out_rows = []
    for k in range(-(-n // len(rows))):
        tag = f".r{k}@".encode()
        for i, row in enumerate(rows):
            seq = k * len(rows) + i
            if seq >= n:
                break
            raw = (base / row["file"]).read_bytes()
            if k:
                raw = _ID.sub(lambda m, tag=tag: b"<" + m.group(1) + tag, raw)
                shift = k * tickets
                raw = _REF.sub(lambda m, shift=shift: b"[support-%d]" % (int(m.group(1)) + shift), raw)
                when = parsedate_to_datetime(_DATE.search(raw).group(1).decode())  # type: ignore[union-attr]
                raw = _DATE.sub(b"Date: " + format_datetime(when + k * span).encode(), raw, count=1)
            name = f"msg-{seq + 1:06}.eml"
            (corpus / name).write_bytes(raw)

            def moved(value: str | None, k: int = k) -> str | None:
                return value.replace("@", f".r{k}@", 1) if value and k else value

            out_rows.append({**row, "file": name, "seq": seq + 1, "message_id": moved(row["message_id"]),
                             "in_reply_to": moved(row["in_reply_to"]),
                             "references": [moved(r) for r in row["references"] or []] or None,
                             "thread": row["thread"] + k * 100_000})  # fmt: skip
    with manifest.open("w") as fh:
        for row in out_rows:
            fh.write(json.dumps(row) + "\n")
    return corpus, manifest


def as_mbox(corpus: Path, target: Path) -> Path:
    """The corpus as one mboxrd file (From_ line, '>'-quoted From lines), written once."""
    if target.exists():
        return target
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for path in sorted(corpus.iterdir()):
            raw = path.read_bytes().replace(b"\r\n", b"\n")
            lines = [
                b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in raw.split(b"\n")
            ]
            out.write(
                b"From bench@example Thu Jan  1 00:00:00 2026\n" + b"\n".join(lines).rstrip(b"\n") + b"\n\n"
            )
    partial.rename(target)
    return target


def measure(target: Path, db: Path) -> tuple[float, float, dict[str, int]]:
    """(peak RSS in MB, seconds, the ingest's JSON summary) of one `intake ingest` process."""
    env = {**os.environ, "INTAKE_DATABASE_URL": f"sqlite:///{db}", "INTAKE_CONFIG": ""}
    start = time.perf_counter()
    with open(db.with_suffix(".json"), "wb") as out:
        proc = subprocess.Popen([str(INTAKE), "ingest", str(target), "--json"], env=env, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"intake ingest {target} exited {proc.returncode}")
    summary = json.loads(db.with_suffix(".json").read_text())
    return usage.ru_maxrss / 1024, elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 200_000], help="corpus sizes")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "memory")
    parser.add_argument("--mbox", action="store_true", help="ingest the corpus as one mbox file")
    parser.add_argument("--generate", action="store_true", help="gen_corpus.py at each size, not copies")
    parser.add_argument("--base-tickets", type=int, default=1613, help="tickets one copy of the base opens")
    args = parser.parse_args()
    bench = _bench_ingest()
    results = []
    for n in args.counts:
        workdir = args.workdir / str(n)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if args.generate or n <= 2000:
            corpus, manifest = bench.make_corpus(workdir, n)
        else:
            base, base_manifest = bench.make_corpus(args.workdir / "2000", 2000)
            corpus, manifest = replicated(base, base_manifest, workdir, n, args.base_tickets)
        print(f"{n} mails: corpus ready in {workdir} ({time.perf_counter() - started:.0f} s)", flush=True)
        domains = bench.company_domains(manifest)
        template = bench.make_template(workdir, domains)
        db = workdir / "run.db"
        for stale in workdir.glob("run.db*"):
            stale.unlink()
        db.write_bytes(template.read_bytes())
        target = as_mbox(corpus, workdir / "corpus.mbox") if args.mbox else corpus
        peak, elapsed, summary = measure(target, db)
        check = bench.verify(db, manifest, set(domains))
        if not check["tickets"] == check["expected_tickets"] == check["tickets_right"]:
            sys.exit(f"{n} mails: threading wrong, no figure: {check}")
        verdict = "under" if peak < AIM_MB else "OVER"
        print(
            f"{n} mails{' (mbox)' if args.mbox else ''}: peak RSS {peak:.0f} MB "
            f"({verdict} the {AIM_MB} MB aim), "
            f"{elapsed:.1f} s, {n / elapsed:.0f} msg/s; {summary}; threading {check}",
            flush=True,
        )
        results.append((n, peak))
    print("peak RSS: " + ", ".join(f"{n:,} mails {peak:.0f} MB" for n, peak in results))


if __name__ == "__main__":
    main()
