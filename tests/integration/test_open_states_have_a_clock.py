"""Every open state has a clock (issue 12, must be true 3), as a property.

Random stories of one ticket under each policy (mail in, engineers' replies, info requests,
customer replies, resolution, replies after close, escalation mails, scheduler ticks at random
times) on a real store. After every step: an open ticket that still owes a target its policy
sets for its level has a pending timer for it, or that target's breach has fired at the
ticket's current due time; a ticket waiting on the customer has its dropped-rule timers; a
resolved one its auto-close where the policy has one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from channels.parse import parse_one
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.orgs import add_contact, add_org
from intake.errors import BadInput
from intake.pipeline import ingest
from intake.policies.loader import load_all
from intake.runtime import Runtime
from intake.store.migrate import upgrade
from intake.store.orm import Ticket, TicketEvent, Timer
from intake.store.session import make_engine, make_sessionmaker
from intake.tickets import lifecycle
from intake.tickets.replies import reply
from intake.tickets.scheduler import tick

POLICIES = ["resource-optimizer", "rezilion", "revalize", "functionize"]
BODIES = [
    "Severity 1: we cannot access the Software at all. Nobody can log in, production is down.",
    "The report filter ignores tags; we filter by hand for now.",
    "How do I export the audit log to CSV?",
    "Priority: High - selectors break on the new checkout page in production.",
]
STEP = st.one_of(
    st.tuples(st.just("tick"), st.integers(min_value=1, max_value=24 * 9)),
    st.tuples(st.sampled_from(["reply", "request_info", "resolve", "customer", "escalate"]), st.just(0)),
)


def _mail(n: int, at: datetime, subject: str, body: str, in_reply_to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Dana <dana@acme.example>"
    msg["To"] = "support@vendor.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<p{n}@mail.acme.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def _violations(rt: Runtime) -> list[str]:
    found = []
    with rt.sessions() as session:
        for ticket in session.scalars(select(Ticket)):
            timers = list(session.scalars(select(Timer).where(Timer.ticket_id == ticket.id)))
            # A breach that fired before the ticket was last reopened or resumed is the old clock's.
            restarted = session.scalar(
                select(TicketEvent.at)
                .where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.to_status.in_(("reopened", "in_progress"))
                )
                .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
                .limit(1)
            )
            pending = {t.kind for t in timers if t.state == "pending"}
            policy = load_all()[ticket.policy]
            where = f"support-{ticket.id} {ticket.policy} {ticket.severity} {ticket.status}"
            if not lifecycle.is_open(ticket.status) or ticket.status == "pending_authorisation":
                resolved = ticket.status == "resolved" and policy.closing.auto_close_resolved_after
                if resolved and "auto_close_resolved" not in pending:
                    found.append(f"{where}: resolved without its auto-close")
                continue
            if ticket.status == "waiting_on_customer":
                if policy.dropped.enabled and "auto_close" not in pending:
                    found.append(f"{where}: waiting without the dropped-rule close")
                continue
            targets = policy.targets(ticket.plan, ticket.severity)
            owed = []
            if ticket.first_responded_at is None and targets.first_response is not None:
                owed.append(("first_response", ticket.first_response_due))
            if targets.resolution is not None:
                owed.append(("resolution", ticket.resolution_due))
            for kind, due in owed:
                breach = f"{kind}_breach"
                fired_at_due = any(
                    t.kind == breach
                    and t.state == "fired"
                    and t.due_at == due
                    and (restarted is None or (t.fired_at is not None and t.fired_at >= restarted))
                    for t in timers
                )
                if breach not in pending and not fired_at_due:
                    found.append(f"{where}: owes {kind} (due {due}) and has no clock for it")
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection's close folds the WAL into the file we copy
    return path


@example(  # finding 4: a reopened ticket ran no clock
    policy="rezilion",
    body=BODIES[3],
    start_minutes=600,
    steps=[("reply", 0), ("resolve", 0), ("customer", 0)],
)
@example(  # an engineer's plain answer to a ticket waiting on the customer left its clock stopped
    policy="rezilion", body=BODIES[0], start_minutes=0, steps=[("request_info", 0), ("reply", 0)]
)
@example(policy="functionize", body=BODIES[3], start_minutes=600, steps=[("resolve", 0), ("customer", 0)])
@example(  # an engineer's plain answer to a ticket waiting on the customer ran no clock
    policy="rezilion", body=BODIES[0], start_minutes=0, steps=[("request_info", 0), ("reply", 0)]
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    policy=st.sampled_from(POLICIES),
    body=st.sampled_from(BODIES),
    start_minutes=st.integers(min_value=0, max_value=14 * 24 * 60),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_no_open_ticket_without_a_clock(
    store: Path, tmp_path: Path, policy: str, body: str, start_minutes: int, steps: list[tuple[str, int]]
) -> None:
    db = tmp_path / f"{uuid.uuid4().hex}.db"
    db.write_bytes(store.read_bytes())
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    clock = FixedClock(datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=start_minutes))
    rt = Runtime(
        Settings.model_validate(
            {"database": {"url": url}, "escalation": {"notify": ["leads@vendor.example"]}}
        ),
        engine,
        make_sessionmaker(engine),
        clock,
    )
    with rt.sessions() as session:
        add_org(session, clock, "Acme", policy, None, ["acme.example"])
        add_contact(session, clock, "Acme", "dana@acme.example")
        session.commit()
    n = 1

    def send(subject: str, text: str, parent: str | None = None) -> None:
        nonlocal n
        n += 1
        raw = _mail(n, clock.now(), subject, text, parent)
        with rt.deps() as deps:
            ingest([parse_one(raw, f"m{n}", clock.now())], deps)

    send("Problem", body)
    story = [f"{policy} at {clock.now().isoformat()}: {body[:30]}"]
    assert _violations(rt) == [], story
    for action, hours in steps:
        story.append(f"{action} {hours or ''} at {clock.now().isoformat()}")
        try:
            if action == "tick":
                clock.advance(hours=hours)
                with rt.sessions() as session:
                    tick(session, clock, rt.settings)
            elif action in ("reply", "request_info", "resolve"):
                with rt.sessions() as session:
                    reply(
                        session,
                        clock,
                        rt.settings,
                        "support-1",
                        "An answer.",
                        request_info=action == "request_info",
                        resolve=action == "resolve",
                    )
            elif action == "customer":
                send("Re: [support-1] Problem", "Here is more information.", "<p2@mail.acme.example>")
            else:
                send("Escalation of case support-1", "Please escalate this case, we are blocked.")
        except BadInput:
            continue  # e.g. a reply to a closed ticket: refused, nothing changed
        assert _violations(rt) == [], story
    engine.dispose()
