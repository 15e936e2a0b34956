"""The bot's side of the mail tests: a runtime with the sections a test needs, store helpers, a DSN."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from intake.clock import Clock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.runtime import Runtime
from intake.store.migrate import upgrade
from intake.store.orm import Outbox, Ticket
from intake.store.session import make_engine, make_sessionmaker


@cache
def _migrated_sqlite() -> bytes:
    """One SQLite file migrated to HEAD per test process; every store copies its bytes.

    Alembic takes a quarter of a second per store; a copy of the migrated file is the
    same schema (tests/integration/test_store.py runs the migrations themselves).
    """
    folder = Path(tempfile.mkdtemp(prefix="intake-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection's close folds the WAL into the file
    return path.read_bytes()


def migrated_sqlite(path: Path) -> str:
    """The URL of a fresh SQLite store at `path`, migrated to HEAD."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_migrated_sqlite())
    return f"sqlite:///{path}"


def sqlite_url(folder: Path) -> str:
    return migrated_sqlite(folder / "intake.db")


def make_runtime(url: str, clock: Clock, **sections: Any) -> Runtime:
    settings = Settings.model_validate({"database": {"url": url}, **sections})
    engine = make_engine(url)
    return Runtime(settings, engine, make_sessionmaker(engine), clock)


def add_customers(runtime: Runtime) -> None:
    """Acme (acme.example, contact dana@) and Robots (robot.example), as the pipeline tests use them."""
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith")
        add_org(session, runtime.clock, "Robots", "resource-optimizer", None, ["robot.example"])
        add_contact(session, runtime.clock, "Robots", "bot@robot.example", "Robot")
        session.commit()


def count(runtime: Runtime, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def make_ticket(runtime: Runtime, requester: str = "dana@acme.example", subject: str = "Export fails") -> int:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        ticket = Ticket(
            requester=requester,
            subject=subject,
            status="new",
            severity="S3",
            canonical_severity="S3",
            policy="resource-optimizer",
            contact_status="designated",
            channel="email",
            created_at=now,
            updated_at=now,
        )
        session.add(ticket)
        session.commit()
        return ticket.id


def add_outbox(runtime: Runtime, ticket_id: int | None, n: int = 1, **values: Any) -> list[int]:
    now = runtime.clock.now()
    ids = []
    with runtime.sessions() as session:
        for _ in range(n):
            number = session.scalar(select(func.count()).select_from(Outbox)) or 0
            row = Outbox(
                ticket_id=ticket_id,
                template="ack",
                channel="email",
                recipient=values.get("recipient", "dana@acme.example"),
                subject=values.get("subject", f"[support-{ticket_id}] Re: Export fails"),
                body_text=values.get("body_text", "We have your request."),
                body_html=values.get("body_html", ""),
                message_id=values.get("message_id") or f"out-{number + 1}-{ticket_id}@vendor.example",
                in_reply_to=values.get("in_reply_to", "cust-1@acme.example"),
                references=values.get("references", []),
                automatic=values.get("automatic", True),
                next_attempt_at=values.get("next_attempt_at", now),
                created_at=now,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        session.commit()
    return ids


def dsn(
    original_id: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    headers_only: bool = True,
    ticket: str = "support-1",
) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes it."""
    ctype = "text/rfc822-headers" if headers_only else "message/rfc822"
    body = "" if headers_only else "\nWe have your request.\n"
    text = f"""From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)
To: support@vendor.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@mx.acme.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected

--B1
Content-Type: {ctype}

From: support@vendor.example
To: {recipient}
Subject: [support-1] Re: Export fails
Message-ID: <{original_id}>
X-Intake-Ticket: {ticket}
{body}
--B1--
"""
    return text.replace("\n", "\r\n").encode()
