"""What the trust model costs: the SMTP server's own verification, the removal of incoming results, and
the contact step's reading of trusted headers; then the bot's SMTP server end to end, verifying or not.

    .venv/bin/python bench/bench_trust.py [-n 500]

DNS is served from a dict (tests/servers/dns.py), so the figures are CPU only: in production each
message adds its DNS round trips (cached by the resolver), bounded by smtp_server.verify_timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosmtplib

from channels.mail_auth import Verifier, strip_authentication_results
from intake.clock import FixedClock
from intake.trust import assess
from tests.servers.dns import DkimKey, FakeResolver
from tests.servers.smtp import intake_smtp
from tests.servers.stack import add_customers, make_runtime, sqlite_url

KEY = DkimKey("acme.example")


def resolver() -> FakeResolver:
    r = FakeResolver()
    r.add("acme.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    r.add("_dmarc.acme.example", "TXT", "v=DMARC1; p=reject")
    KEY.publish(r)
    return r


def mails(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        m = EmailMessage()
        m["From"] = "Dana <dana@acme.example>"
        m["To"] = "support@vendor.example"
        m["Subject"] = f"Problem {i}"
        m["Date"] = "Mon, 16 Nov 2026 08:00:00 +0000"
        m["Message-ID"] = f"<bench-{i}@mail.acme.example>"
        m["Authentication-Results"] = "mx.evil.example; dmarc=pass"
        m.set_content("The export fails with error 500 since this morning.\n" * 5)
        out.append(KEY.sign(m.as_bytes()))
    return out


def rate(label: str, n: int, fn: object, rounds: int = 3) -> None:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    best = min(times)
    each = best / n * 1e6
    print(f"{label:<52} {n / best:>9,.0f}/s  ({each:,.0f} us each, median {statistics.median(times):.2f} s)")


def smtp_rate(raws: list[bytes], verify: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        runtime = make_runtime(
            sqlite_url(Path(folder)),
            FixedClock(datetime(2026, 11, 16, 9, 0, tzinfo=UTC)),
            smtp_server={
                "host": "127.0.0.1",
                "port": 0,
                "accept": ["support@vendor.example"],
                "trusted_networks": [] if verify else ["127.0.0.0/8"],
            },
        )
        add_customers(runtime)
        with intake_smtp(runtime.settings, runtime, resolver()) as server:

            async def one(batch: list[bytes]) -> None:
                async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port) as client:
                    for raw in batch:
                        await client.sendmail("dana@acme.example", ["support@vendor.example"], raw)

            async def all_of() -> None:
                await asyncio.gather(*(one(raws[i::8]) for i in range(8)))

            started = time.perf_counter()
            asyncio.run(all_of())
            elapsed = time.perf_counter() - started
        runtime.engine.dispose()
    return len(raws) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    raws = mails(args.n)
    verifier = Verifier("intake", resolver())
    verifier.authenticate(raws[0], "203.0.113.9", "dana@acme.example", "mail.acme.example")  # loads the PSL
    rate(
        "SPF + DKIM + DMARC (signed, local DNS)",
        len(raws),
        lambda: [
            verifier.authenticate(r, "203.0.113.9", "dana@acme.example", "mail.acme.example") for r in raws
        ],
    )
    rate(
        "strip incoming Authentication-Results",
        len(raws),
        lambda: [strip_authentication_results(r) for r in raws],
    )
    headers = [
        "mx.vendor.example; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; "
        "dmarc=pass header.from=acme.example\nmx.evil.example; dmarc=pass"
    ] * (len(raws) * 10)
    trusted = frozenset({"mx.vendor.example"})
    rate(
        "contact step: assess trusted headers",
        len(headers),
        lambda: [assess(h, "dana@acme.example", trusted, "not-fail") for h in headers],
    )
    plain = smtp_rate(raws, verify=False)
    verified = smtp_rate(mails(args.n), verify=True)
    print(f"{'SMTP server, 8 connections, trusted client (no check)':<52} {plain:>9,.0f}/s")
    print(f"{'SMTP server, 8 connections, every message verified':<52} {verified:>9,.0f}/s")


if __name__ == "__main__":
    main()
