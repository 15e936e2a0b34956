"""`intake ingest` in flat memory (issue 15, point 1), on SQLite and PostgreSQL.

Dates first (a bounded read of each head), then batches in Date order: replies
thread across batch boundaries; an mbox, a Maildir and stdin are inputs; an
interrupted run is rerun and skips what it stored, and says how many.
"""

from __future__ import annotations

import io
import mailbox
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels import files
from channels.files import find_messages, ingest_paths
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.orm import Message, Quarantine, Ticket
from tests.conftest import MailBuilder

T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def acme(runtime: Runtime) -> Runtime:
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    return runtime


def conversation(make_mail: MailBuilder, threads: int = 4, replies: int = 2) -> list[tuple[str, bytes]]:
    """`threads` originals, each with `replies` replies (In-Reply-To the previous), one hour apart,
    named so that name order is the reverse of Date order."""
    mails: list[tuple[datetime, bytes]] = []
    for t in range(threads):
        previous = f"<t{t}-0@mail.acme.example>"
        mails.append((T0 + timedelta(hours=t), make_mail(subject=f"Issue {t}", message_id=previous,
                                                         date=T0 + timedelta(hours=t))))  # fmt: skip
        for r in range(1, replies + 1):
            when = T0 + timedelta(hours=t, minutes=10 * r)
            mid = f"<t{t}-{r}@mail.acme.example>"
            mails.append(
                (when, make_mail(subject=f"Re: Issue {t}", message_id=mid, date=when,
                                 headers={"In-Reply-To": previous, "References": previous}))
            )  # fmt: skip
            previous = mid
    mails.sort(key=lambda m: m[0], reverse=True)
    return [(f"m{i:03}.eml", raw) for i, (_, raw) in enumerate(mails)]


def write(folder: Path, mails: list[tuple[str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in mails:
        (folder / name).write_bytes(raw)
    return folder


def tickets_by_subject(runtime: Runtime) -> dict[str, set[str]]:
    """Each ticket's subject -> the Message-IDs of its messages."""
    with runtime.sessions() as session:
        found: dict[str, set[str]] = {}
        for ticket in session.scalars(select(Ticket)):
            found[ticket.subject] = {m.external_id for m in ticket.messages}
        return found


def expect_threads(runtime: Runtime, threads: int, replies: int) -> None:
    assert tickets_by_subject(runtime) == {
        f"Issue {t}": {f"t{t}-{r}@mail.acme.example" for r in range(replies + 1)} for t in range(threads)
    }


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_replies_thread_across_batches_in_date_order(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(files, "BATCH_SIZE", batch)
    folder = write(tmp_path / "inbox", conversation(make_mail))
    with acme.deps(classifier=False) as deps:
        summary = ingest_paths(str(folder), deps)
    assert summary.as_json() == {"files": 12, "tickets": 4, "followups": 8, "dropped": 0, "duplicates": 0,
                                 "quarantined": 0, "already_stored": 0}  # fmt: skip
    expect_threads(acme, 4, 2)


def test_a_batch_is_also_bounded_by_bytes(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "BATCH_BYTES", 1)  # every message its own batch
    seen: list[int] = []
    folder = write(tmp_path / "inbox", conversation(make_mail, 2, 1))
    with acme.deps(classifier=False) as deps:
        ingest_paths(str(folder), deps, progress=lambda phase, done, total: seen.append(done))
    assert seen == [1, 2, 3, 4]
    expect_threads(acme, 2, 1)


def test_the_date_pass_reads_only_the_header_block(tmp_path: Path, make_mail: MailBuilder) -> None:
    """Folded Date, CRLF, a Date in the body (not a header), no Date, a head larger than the bound."""
    late = make_mail(date=T0 + timedelta(days=3), message_id="<late@x>")
    folded = late.replace(b"Date: ", b"Date:\n ", 1).replace(b"<late@x>", b"<folded@x>")
    crlf = make_mail(date=T0 + timedelta(days=1), message_id="<crlf@x>").replace(b"\n", b"\r\n")
    no_date = b"From: dana@acme.example\nSubject: undated\n\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n"
    huge_head = b"X-Pad: " + b"a" * (files.HEAD_BYTES * 2) + b"\n" + make_mail(date=T0)
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    for name, raw in {"a": late, "b": folded, "c": crlf, "d": no_date, "e": huge_head}.items():
        (tmp_path / f"{name}.eml").write_bytes(raw)
    entries = sorted(find_messages(str(tmp_path)), key=files.Entry.order)
    order = [Path(e.source).stem for e in entries]
    assert order == ["c", "a", "b", "d", "e"]  # a and b have the same Date: by name; d and e undated, last
    assert entries[0].date == (T0 + timedelta(days=1)).timestamp()


def mbox_of(path: Path, mails: list[tuple[str, bytes]]) -> Path:
    box = mailbox.mbox(path)
    for _, raw in mails:
        box.add(raw)
    box.flush()
    box.close()
    return path


def test_an_mbox_is_split_and_from_lines_in_bodies_come_back_unquoted(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path
) -> None:
    """Read as mboxrd: one '>' comes off every '>...From ' line (mboxo writers quote only 'From ')."""
    mails = conversation(make_mail, 2, 1)
    path = mbox_of(tmp_path / "archive.mbox", mails)
    body = "Hello,\n\nFrom here on the export fails.\n>From the log: error 500\n"
    quoted = make_mail(body, subject="Quoted From", message_id="<quoted@x>", date=T0)
    quoted = quoted.replace(b"\n>From the log", b"\n>>From the log").replace(b"\nFrom here", b"\n>From here")
    with path.open("ab") as fh:  # an mboxrd writer's record, CRLF-free, after a blank line
        fh.write(b"From dana@acme.example Mon Nov 16 08:00:00 2026\n" + quoted + b"\n")
    with acme.deps(classifier=False) as deps:
        summary = ingest_paths(str(path), deps)
    assert (summary.files, summary.counts["tickets"], summary.counts["followups"]) == (5, 3, 2)
    assert summary.from_mbox
    with acme.sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == "quoted@x")).one()
        assert "\nFrom here on the export fails." in message.text
        assert b"\n>From the log" in message.raw and b"\n>>From" not in message.raw  # one level off
        assert not message.raw.startswith(b"From ")
        sources = set(session.scalars(select(Message.raw_ref)))
    assert sources == {f"{path}#{n}" for n in range(1, 6)}


def test_a_maildir_reads_cur_and_new_never_tmp_or_hidden(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for _, raw in conversation(make_mail, 2, 2):
        box.add(raw)
    (tmp_path / "Maildir" / "tmp" / "half-delivered").write_bytes(make_mail(subject="in tmp"))
    sub = box.add_folder("Sent")  # Maildir++: .Sent, a hidden folder
    sub.add(make_mail(subject="our own sent mail"))
    moved = next((tmp_path / "Maildir" / "new").iterdir())
    moved.rename(tmp_path / "Maildir" / "cur" / (moved.name + ":2,S"))
    with acme.deps(classifier=False) as deps:
        summary = ingest_paths(str(tmp_path / "Maildir"), deps)
    assert (summary.files, summary.counts["tickets"], summary.counts["followups"]) == (6, 2, 4)
    expect_threads(acme, 2, 2)


@pytest.mark.parametrize("shape", ["one message", "mbox"])
def test_stdin_is_spooled_then_read_like_a_file(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path, shape: str
) -> None:
    if shape == "mbox":
        data = mbox_of(tmp_path / "in.mbox", conversation(make_mail, 1, 2)).read_bytes()
    else:
        data = make_mail(subject="Issue 0", message_id="<t0-0@mail.acme.example>")
    with acme.deps(classifier=False) as deps:
        summary = ingest_paths("-", deps, stdin=io.BytesIO(data))
    assert summary.counts["tickets"] == 1
    assert summary.counts["followups"] == (2 if shape == "mbox" else 0)
    with acme.sessions() as session:
        refs = set(session.scalars(select(Message.raw_ref)))
    assert refs == ({"-#1", "-#2", "-#3"} if shape == "mbox" else {"-"})


class Interrupted(Exception):
    pass


def test_an_interrupted_ingest_is_rerun_and_skips_what_it_stored(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "BATCH_SIZE", 4)
    mails = conversation(make_mail, 4, 2)
    mails.append(("zz-garbage.eml", b"\x00\x01 not a mail"))
    mails.append(("zz-copy.eml", mails[0][1]))  # the same message twice in the folder
    folder = write(tmp_path / "inbox", mails)

    def stop_after_first_batch(phase: str, done: int, total: int | None) -> None:
        if phase == "messages" and done >= 4:
            raise Interrupted

    with acme.deps(classifier=False) as deps, pytest.raises(Interrupted):
        ingest_paths(str(folder), deps, progress=stop_after_first_batch)
    with acme.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 4  # one batch committed
    with acme.deps(classifier=False) as deps:
        summary = ingest_paths(str(folder), deps)
    doc = summary.as_json()
    # the copy comes in a later batch than its original, so it too is found stored
    assert doc["already_stored"] == 4 + 1 and doc["files"] == 14, doc
    assert (doc["tickets"], doc["followups"], doc["duplicates"], doc["quarantined"]) == (4 - 2, 8 - 2, 0, 1)
    assert sum(v for k, v in doc.items() if k != "files") == doc["files"]
    expect_threads(acme, 4, 2)
    with acme.deps(classifier=False) as deps:
        again = ingest_paths(str(folder), deps).as_json()
    assert again["already_stored"] == 14, again  # the quarantined file too: its bytes are held
    with acme.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 12
        assert session.scalar(select(func.count()).select_from(Quarantine)) == 1


def test_a_reused_message_id_with_other_content_is_not_taken_for_stored(
    acme: Runtime, make_mail: MailBuilder, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    first = make_mail("the export fails", message_id="<same@acme.example>", date=T0)
    other = make_mail("a different text entirely", message_id="<same@acme.example>", date=T0 + timedelta(1))
    (tmp_path / "a.eml").write_bytes(first)
    with acme.deps(classifier=False) as deps:
        ingest_paths(str(tmp_path), deps)
    (tmp_path / "b.eml").write_bytes(other)
    with acme.deps(classifier=False) as deps:
        doc = ingest_paths(str(tmp_path), deps).as_json()
    assert (doc["already_stored"], doc["tickets"]) == (1, 1)
    with acme.deps(classifier=False) as deps:
        doc = ingest_paths(str(tmp_path), deps).as_json()
    assert doc["already_stored"] == 2  # stored under its content-hash key, found there


def test_date_header_format_matches_the_parser(tmp_path: Path, make_mail: MailBuilder) -> None:
    """The cheap pass orders by the same instant the parser stores as sent_at (zones, obsolete forms)."""
    from channels.email_parse import parse

    stamps = ["Mon, 16 Nov 2026 09:00:00 +0100", "16 Nov 2026 07:30 -0000", "Mon, 16 Nov 2026 08:15:00 GMT",
              "Monday, 16-Nov-26 08:20:00 EST", "Mon, 16 Nov 2026 08:10:00 +0000 (UTC)"]  # fmt: skip
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    for i, stamp in enumerate(stamps):
        when = datetime(2026, 11, 16, 8, 0, i + 1, tzinfo=UTC)
        raw = make_mail(message_id=f"<d{i}@x>", date=when).replace(
            b"Date: " + format_datetime(when).encode(),
            b"Date: " + stamp.encode(),
        )
        (tmp_path / f"{i}.eml").write_bytes(raw)
    entries = list(find_messages(str(tmp_path)))
    for entry in entries:
        sent = parse(Path(entry.path).read_bytes()).sent_at
        assert entry.date == (sent.timestamp() if sent else float("inf")), entry.source
