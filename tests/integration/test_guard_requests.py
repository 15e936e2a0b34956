"""Real requests about auto-replies and bounces open tickets; real auto-replies do not (issue 8, defect 8).

Through the pipeline and the store, on SQLite and PostgreSQL, from a designated
contact: the request is acknowledged like any other, while an auto-reply to our
acknowledgement (its exact subject, In-Reply-To our mail, no RFC 3834 header) is
kept as a dropped message with the reason and opens nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select, update

from channels.parse import parse_one
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import Outcome, ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Outbox, Ticket
from tests.conftest import MailBuilder

AUTH = "mx.vendor.example; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; dmarc=pass"


def run(runtime: Runtime, raws: Sequence[bytes]) -> list[Outcome]:
    now = runtime.clock.now()
    items = [parse_one(raw, f"test-{i}", now) for i, raw in enumerate(raws)]
    with runtime.deps(classifier=False) as deps:
        return ingest(items, deps)


@pytest.fixture
def acme(runtime: Runtime) -> Runtime:
    runtime.settings.guard.trusted_authserv_ids = ["mx.vendor.example"]
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "designated")
        session.commit()
    return runtime


REQUESTS = [
    "Out of office feature broken in 5.1",
    "Undelivered mail piling up in our queue",
    "Auto-reply rules no longer fire",
    "Automatic reply: feature request for per-team templates",
    "Undeliverable: mails to our EU customers since Monday",
    "Mail delivery failed for every message since the upgrade",
]


def test_requests_about_automatic_mail_open_acknowledged_tickets(
    acme: Runtime, make_mail: MailBuilder
) -> None:
    raws = [make_mail(subject=s, headers={"Authentication-Results": AUTH}) for s in REQUESTS]
    outcomes = run(acme, raws)
    assert [o.disposition for o in outcomes] == ["ticket"] * len(REQUESTS), [o.reason for o in outcomes]
    with acme.sessions() as session:
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert [t.subject for t in tickets] == REQUESTS
        assert {t.status for t in tickets} == {"acknowledged"}
        assert {t.contact_status for t in tickets} == {"designated"}


@pytest.mark.parametrize(
    ("subject", "extra"),
    [
        ("Automatic reply: Export fails", {}),
        ("Abwesenheitsnotiz: Export fails", {"X-Auto-Response-Suppress": "All"}),
        ("Réponse automatique : Export fails", {}),
        ("自动回复：Export fails", {}),
    ],
)
def test_an_auto_reply_to_our_acknowledgement_is_kept_dropped(
    acme: Runtime, make_mail: MailBuilder, subject: str, extra: dict[str, str]
) -> None:
    [first] = run(acme, [make_mail(headers={"Authentication-Results": AUTH})])
    with acme.sessions() as session:
        ack = session.scalars(select(Outbox.message_id).where(Outbox.ticket_id == first.ticket_id)).one()
    auto = make_mail(
        subject=subject, headers={"In-Reply-To": f"<{ack}>", "Authentication-Results": AUTH, **extra}
    )
    [outcome] = run(acme, [auto])
    assert outcome.disposition == "dropped" and "responder" in outcome.reason
    with acme.sessions() as session:
        kept = session.scalars(select(Message).where(Message.disposition == "dropped")).one()
        assert kept.subject == subject and kept.ticket_id is None and kept.raw
        assert len(session.scalars(select(Ticket)).all()) == 1


def test_an_auto_reply_to_our_closing_notice_does_not_reopen(acme: Runtime, make_mail: MailBuilder) -> None:
    """No In-Reply-To, no RFC 3834 header: the responder's form quoting our reference is enough."""
    [first] = run(acme, [make_mail(headers={"Authentication-Results": AUTH})])
    with acme.sessions() as session:
        session.execute(
            update(Ticket).values(status="closed", closed_at=acme.clock.now(), close_reason="resolved")
        )
        session.commit()
    subject = f"Automatic reply: [support-{first.ticket_id}] Your request is closed"
    [outcome] = run(acme, [make_mail(subject=subject, headers={"Authentication-Results": AUTH})])
    assert outcome.disposition == "dropped" and "ticket reference" in outcome.reason
    with acme.sessions() as session:
        assert session.scalars(select(Ticket.status)).one() == "closed"
