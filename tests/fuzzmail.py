"""Hypothesis strategies for hostile mail: random bytes, mail-shaped messages, mutated corpus files.

Shared by tests/integration/test_fuzz.py (a bounded run in the test command) and
bench/fuzz_pipeline.py (a long run). The mutated mail starts from real messages
of ../shared/corpora/mail (the small ones: a seed set, not the whole corpus).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

SHARED = Path(os.environ.get("INTAKE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPUS = SHARED / "corpora" / "mail"
SEED_LIMIT = 48 * 1024  # bytes: bigger files are the parser's own slow cases, tested elsewhere
SEEDS = 400


@cache
def corpus_seeds() -> tuple[bytes, ...]:
    """Up to SEEDS small corpus messages, spread evenly over MESSAGES.txt (deterministic)."""
    listing = CORPUS / "MESSAGES.txt"
    if not listing.is_file():
        return ()
    names = [n for n in listing.read_text().splitlines() if n.strip()]
    small = [
        CORPUS / n for n in names if (CORPUS / n).is_file() and (CORPUS / n).stat().st_size <= SEED_LIMIT
    ]
    step = max(1, len(small) // SEEDS)
    return tuple(p.read_bytes() for p in small[::step][:SEEDS])


HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Sender",
    "Return-Path",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
    "Content-Disposition",
    "Auto-Submitted",
    "Precedence",
    "X-Autoreply",
    "List-Id",
    "Authentication-Results",
    "Received",
    "X-Priority",
    "Importance",
    "Thread-Topic",
]
NASTY = [
    "",
    " ",
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "=?utf-8?b?Cg==?=",
    "=?utf-8?q?a=0D=0Ab?=",
    "=?x-unknown?q?z?=",
    "dana@acme.example",
    "Dana <dana@acme.example>",
    "<a@b>, <c@d>",
    '"a@b" <x@y>',
    "undisclosed-recipients:;",
    "<acme-1@mail.acme.example>",
    "[support-1] Re: Export fails",
    "Mon, 16 Nov 2026 09:00:00 +0000",
    "31 Feb 99 25:61 +9999",
    "multipart/mixed; boundary=b",
    'multipart/alternative; boundary="b"',
    "text/plain; charset=utf-7",
    "text/html; charset=x-nonsense",
    "base64",
    "quoted-printable",
    "x-uuencode",
    "auto-replied",
    "bulk",
    "mx.vendor.example; dmarc=pass header.from=acme.example",
    "\u202e\u200b",
    "a" * 2000,
    "=?utf-8?b?" + "QUFB" * 300 + "?=",
    "message/rfc822",
    "multipart/report; report-type=delivery-status",
]

header_value = st.one_of(
    st.sampled_from(NASTY), st.text(max_size=80), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
)
header = st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.text(min_size=1, max_size=12)), header_value)
EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def mail_shaped(draw: st.DrawFn) -> bytes:
    """A message with random header fields (names and values from the nasty lists or random), a random
    line ending, and a body that may be MIME parts with the boundary `b`."""
    eol = draw(EOLS)
    fields = draw(st.lists(header, max_size=14))
    if draw(st.booleans()):
        fields.insert(
            0,
            (
                "From",
                draw(st.sampled_from(["dana@acme.example", "x@unknown.example", "Dana <dana@acme.example>"])),
            ),
        )
    head = eol.join(f"{name}: {value}".encode("utf-8", "surrogateescape") for name, value in fields)
    if draw(st.booleans()):
        parts = draw(st.lists(st.tuples(st.lists(header, max_size=3), st.binary(max_size=200)), max_size=4))
        chunks = [
            b"--b"
            + eol
            + eol.join(f"{n}: {v}".encode("utf-8", "surrogateescape") for n, v in hs)
            + eol
            + eol
            + body
            for hs, body in parts
        ]
        body = eol.join(chunks) + eol + draw(st.sampled_from([b"--b--", b"", b"--b"]))
    else:
        body = draw(st.binary(max_size=400))
    return head + eol + eol + body


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A corpus message with a few random edits: flip, insert, delete, truncate, splice, repeat a line."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "repeat", "eol"]))
        at = draw(st.integers(0, max(0, len(data) - 1))) if data else 0
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(
                st.one_of(
                    st.binary(max_size=16),
                    st.sampled_from(
                        [
                            b"\r",
                            b"\n",
                            b"\x00",
                            b"=?",
                            b"?=",
                            b"--",
                            b"\n\n",
                            b"Content-Type: multipart/mixed\n",
                            b"\xff",
                        ]
                    ),
                )
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            data[at:] = other[draw(st.integers(0, max(0, len(other) - 1))) :]
        elif kind == "repeat":
            end = data.find(b"\n", at)
            line = bytes(data[at : end + 1 if end >= 0 else len(data)])
            data[at:at] = line * draw(st.integers(1, 50))
        elif kind == "eol":
            data = bytearray(bytes(data).replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r", b"\n\r"]))))
    return bytes(data)


def any_mail(seeds: tuple[bytes, ...]) -> st.SearchStrategy[bytes]:
    options = [st.binary(max_size=600), mail_shaped()]
    if seeds:
        options += [mutated(seeds), st.sampled_from(seeds)]
    return st.one_of(options)


def check_batch(raws: list[bytes], outcomes: list[object], session: object) -> None:
    """Every input ended ticketed (with its ticket), a follow-up, dropped or a duplicate with a reason,
    or quarantined with a reason and its bytes kept."""
    import hashlib

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from intake.pipeline import Outcome
    from intake.store.orm import Message, Quarantine

    assert isinstance(session, Session)
    assert len(outcomes) == len(raws)
    for raw, outcome in zip(raws, outcomes, strict=True):
        assert isinstance(outcome, Outcome)
        if outcome.disposition in ("ticket", "followup"):
            assert outcome.ticket_id is not None, outcome
        elif outcome.disposition in ("dropped", "duplicate"):
            assert outcome.reason.strip(), outcome
        else:
            assert outcome.disposition == "quarantined", outcome
            assert outcome.reason.strip(), outcome
            digest = hashlib.sha256(raw).hexdigest()
            held = session.scalar(select(Quarantine.id).where(Quarantine.sha256 == digest))
            stored = session.scalar(select(Message.id).where(Message.raw == raw).limit(1))
            assert held is not None or stored is not None, f"quarantined but not kept: {outcome.reason}"
