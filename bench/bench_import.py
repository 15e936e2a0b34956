"""Bulk onboarding speed (issue 15, point 2): `intake org import` of 30 organisations and
`intake contact import` of their 350 designated contacts, each one whole process, on SQLite
(and PostgreSQL with --db). Aim: 350 contacts in under 5 s. The earlier way, one
`intake contact add` process per contact, took 0.7 s each (4 minutes).

    python bench/bench_import.py [--contacts 350] [--orgs 30] [--db URL]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INTAKE = Path(sys.executable).parent / "intake"


def run(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(INTAKE), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=350)
    parser.add_argument("--orgs", type=int, default=30)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="intake-import-"))
    url = args.db or f"sqlite:///{work / 'intake.db'}"
    env = {**os.environ, "INTAKE_DATABASE_URL": url, "INTAKE_CONFIG": ""}
    run(env, "init")
    orgs = work / "orgs.csv"
    with orgs.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "policy", "plan", "domains"])
        for i in range(args.orgs):
            writer.writerow([f"Customer {i}", "resource-optimizer", "", f"customer{i}.example"])
    contacts = work / "contacts.csv"
    with contacts.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["organisation", "email", "name"])
        for i in range(args.contacts):
            writer.writerow(
                [f"Customer {i % args.orgs}", f"person{i}@customer{i % args.orgs}.example", f"Person {i}"]
            )
    org_time = run(env, "org", "import", str(orgs))
    contact_time = run(env, "contact", "import", str(contacts))
    again = run(env, "contact", "import", str(contacts))
    baseline = run(env, "contact", "list")
    print(f"org import: {args.orgs} organisations in {org_time:.2f} s (whole process)")
    print(f"contact import: {args.contacts} contacts in {contact_time:.2f} s (whole process; aim under 5 s)")
    print(f"contact import again (all unchanged): {again:.2f} s")
    print(f"baseline, `intake contact list` (start-up, imports, schema check, listing): {baseline:.2f} s")


if __name__ == "__main__":
    main()
