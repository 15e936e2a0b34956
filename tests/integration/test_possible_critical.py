"""possible_critical and the message's language through the pipeline, on SQLite and PostgreSQL (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from classifiers.model import load_model
from intake.customers.orgs import add_contact, add_org
from intake.policies.loader import load_all
from intake.policies.schema import TriageRules
from intake.runtime import Runtime
from intake.sla.timers import due_times
from intake.store.orm import Outbox, Ticket, TriageDecision
from intake.store.session import make_engine, make_sessionmaker
from tests.conftest import FixedClock, MailBuilder
from tests.integration.test_pipeline import run

ONCALL = "oncall@vendor.example"
CALM = (
    "Subject: Export of the monthly report is slow\n"
    "Hello, since Tuesday the CSV export of the monthly report takes about two minutes for a few users. "
    "Small reports are fine and we can wait for now. Thanks, Dana"
)


@pytest.fixture
def world(db_url: str, clock: FixedClock) -> Iterator[Runtime]:
    from intake.config import Settings

    settings = Settings.model_validate({"database": {"url": db_url}, "escalation": {"notify": [ONCALL]}})
    engine = make_engine(db_url)
    runtime = Runtime(settings, engine, make_sessionmaker(engine), clock)
    with runtime.sessions() as session:
        add_org(session, runtime.clock, "Acme", "functionize", None, ["acme.example"])
        add_contact(session, runtime.clock, "Acme", "dana@acme.example", "Dana Smith", "primary")
        session.commit()
    yield runtime
    engine.dispose()


def _mail(make_mail: MailBuilder, text: str) -> bytes:
    subject, _, body = text.partition("\n")
    return make_mail(subject=subject.removeprefix("Subject: "), body=body)


def _flag_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message below critical is past a threshold of 0: the flag's path, whatever the model."""
    monkeypatch.setattr(load_model(), "possible_critical_threshold", 0.0)


def test_a_possible_critical_is_flagged_announced_and_clocked_at_the_critical_target(
    world: Runtime, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _flag_everything(monkeypatch)
    [outcome] = run(world, [_mail(make_mail, CALM)])
    policy = load_all()["functionize"]
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.canonical_severity != "critical"
        assert ticket.possible_critical is True and ticket.needs_review is True and ticket.language == "en"
        decision = session.scalars(select(TriageDecision)).one()
        assert decision.possible_critical is True and decision.language == "en"
        steps = [h["step"] for h in decision.hits]
        assert "classify.possible-critical" in steps and "decide.possible-critical-clock" in steps
        critical = policy.level_for_canonical("critical").key
        now = world.clock.now()
        assert ticket.first_response_due == due_times(policy, ticket.plan, critical, now)[0]
        assert ticket.first_response_due != due_times(policy, ticket.plan, ticket.severity, now)[0]
        assert ticket.resolution_due == due_times(policy, ticket.plan, ticket.severity, now)[1]
        from intake.store.orm import Timer

        breach = session.scalars(
            select(Timer).where(Timer.ticket_id == ticket.id, Timer.kind == "first_response_breach")
        ).one()
        assert breach.due_at == ticket.first_response_due
        notices = session.scalars(select(Outbox).where(Outbox.recipient == ONCALL)).all()
        assert len(notices) == 1 and notices[0].template == "escalation"
        assert "Possible critical" in notices[0].subject and "P(critical)" in notices[0].body_text


def test_the_policy_can_keep_the_clock_and_stay_quiet(
    world: Runtime, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    _flag_everything(monkeypatch)
    policies = dict(load_all())
    quiet = TriageRules(possible_critical_clock=False, announce_possible_critical=False)
    policies["functionize"] = policies["functionize"].model_copy(update={"triage": quiet})
    world.policies = policies
    [outcome] = run(world, [_mail(make_mail, CALM)])
    policy = policies["functionize"]
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.possible_critical is True and ticket.needs_review is True
        now = world.clock.now()
        assert ticket.first_response_due == due_times(policy, ticket.plan, ticket.severity, now)[0]
        assert not session.scalars(select(Outbox).where(Outbox.recipient == ONCALL)).all()


def test_below_the_threshold_nothing_is_flagged(
    world: Runtime, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_model(), "possible_critical_threshold", 1.01)
    [outcome] = run(world, [_mail(make_mail, CALM)])
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.possible_critical is False
        assert session.scalars(select(TriageDecision)).one().possible_critical is False
        assert not session.scalars(select(Outbox).where(Outbox.recipient == ONCALL)).all()


ACKS = {
    "de": (
        "Subject: Export langsam\nHallo, der Export der Monatsberichte dauert seit Dienstag zwei Minuten.",
        "vielen Dank",
    ),
    "fr": (
        "Subject: Export lent\nBonjour, l'export des rapports mensuels prend deux minutes depuis mardi.",
        "merci d'avoir",
    ),
    "es": (
        "Subject: Exportación lenta\nHola, la exportación de los informes mensuales"
        " tarda dos minutos desde el martes.",
        "gracias por",
    ),
    "nl": (
        "Subject: Foutmelding bij export\nHallo, sinds de update van dinsdag geeft de export van"
        " de maandrapporten een foutmelding (error 500) en komt er geen bestand.",
        "bedankt voor",
    ),
    "pt": (
        "Subject: Exportação lenta\nOlá, a exportação dos relatórios mensais"
        " demora dois minutos desde terça-feira.",
        "obrigado por",
    ),
}


@pytest.mark.parametrize("lang", list(ACKS))
def test_the_acknowledgement_is_in_the_customers_language(
    world: Runtime, make_mail: MailBuilder, lang: str
) -> None:
    text, phrase = ACKS[lang]
    [outcome] = run(world, [_mail(make_mail, text)])
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.language == lang
        ack = session.scalars(select(Outbox).where(Outbox.template == "ack")).one()
        assert phrase in ack.body_text and f"support-{ticket.id}" in ack.body_text
        assert "thank you for contacting" not in ack.body_text
        assert phrase.split()[0] in ack.body_html  # the HTML is the translated text, not the English twin


def test_a_language_without_a_template_gets_the_english_acknowledgement(
    world: Runtime, make_mail: MailBuilder
) -> None:
    text = (
        "Subject: Esportazione lenta\nBuongiorno, l'esportazione dei report mensili"
        " richiede due minuti da martedì."
    )
    [outcome] = run(world, [_mail(make_mail, text)])
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.language == "it"
        ack = session.scalars(select(Outbox).where(Outbox.template == "ack")).one()
        assert "thank you for contacting" in ack.body_text


@pytest.mark.parametrize("confirm", ["same level", "lowered"])
def test_a_person_confirming_or_lowering_ends_the_critical_clock(
    world: Runtime, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch, confirm: str
) -> None:
    from intake.store.orm import Timer
    from intake.tickets.ops import TicketOps

    _flag_everything(monkeypatch)
    [outcome] = run(world, [_mail(make_mail, CALM)])
    policy = load_all()["functionize"]
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and ticket.possible_critical
        critical_due = ticket.first_response_due
        level = ticket.severity if confirm == "same level" else policy.levels[-1].key
        TicketOps(session, world.settings, world.clock.now(), actor="mia@vendor.example").set_severity(
            ticket, level
        )
        session.commit()
    with world.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None and not ticket.possible_critical and not ticket.needs_review
        assert ticket.severity == level
        own = due_times(policy, ticket.plan, level, ticket.created_at)
        if ticket.first_responded_at is None:
            assert ticket.first_response_due == own[0] != critical_due
        assert ticket.resolution_due == own[1]
        pending = session.scalars(
            select(Timer).where(Timer.ticket_id == ticket.id, Timer.state == "pending")
        ).all()
        breaches = [t for t in pending if t.kind.endswith("_breach")]
        assert breaches and all(t.due_at in (own[0], own[1]) for t in breaches)
