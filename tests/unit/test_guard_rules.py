"""The guard's rule table, one case per rule and header, each alone, with its near-misses.

Every case names the rule that must stop it (or None), so deleting a rule, or one
header from a rule, fails a case; `test_every_rule_has_a_case` fails when a rule is
added without one. Subjects: real auto-replies and bounces in several languages
are stopped only together with a sign that a machine answered; real requests that
mention those words are never stopped (issue 8, defect 8).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from channels.parse import parse_one
from intake.clock import FixedClock
from intake.config import Settings
from intake.customers.directory import Directory
from intake.models import InboundMessage
from intake.pipeline import guard
from intake.pipeline.batch import Batch
from intake.pipeline.context import Context, Deps
from intake.policies.loader import load_all
from intake.store.migrate import upgrade
from intake.store.session import make_engine, make_sessionmaker

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
REPORT_BODY = "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A real (empty, migrated) store: the bounce rule looks our Message-IDs up in it."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('guard')) / 'intake.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def mail(
    sender: str = "Dana Smith <dana@acme.example>",
    subject: str = "Export fails",
    headers: dict[str, str] | None = None,
    body: str = "Hello, the export fails with error 500.",
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: support@vendor.example",
        f"Subject: {subject}",
        "Date: Mon, 16 Nov 2026 08:00:00 +0000",
        f"Message-ID: <{abs(hash((sender, subject, str(headers))))}@mail.acme.example>",
    ]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    if not any(k.lower() == "content-type" for k in headers or {}):
        lines.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def context(raw: bytes, session: Session) -> Context:
    item = parse_one(raw, "test", NOW)
    assert isinstance(item, InboundMessage), item
    settings = Settings.model_validate({"guard": {"trusted_authserv_ids": ["mx.vendor.example"]}})
    deps = Deps(
        session=session,
        clock=FixedClock(NOW),
        settings=settings,
        directory=Directory.load(session),
        policies=load_all(),
    )
    return Context(inbound=item, deps=deps, batch=Batch(session), now=NOW)


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    rule: str | None  # the name of the rule function that must stop it, or None
    reason: str = ""


REPLY = {"In-Reply-To": "<ack-7.support-1@vendor.example>"}
REPORT = "multipart/report; report-type={}; boundary=b"

CASES = [
    # own mail -----------------------------------------------------------------------------
    Case("own-address", mail(sender="Support <support@vendor.example>"), "own_mail", "our own address"),
    Case("own-address-case", mail(sender="SUPPORT@Vendor.Example"), "own_mail", "our own address"),
    Case("own-subaddress", mail(sender="support+bounces@vendor.example"), "own_mail", "our own address"),
    Case("own-ticket-header", mail(headers={"X-Intake-Ticket": "support-1"}), "own_mail", "X-Intake-Ticket"),
    Case("own-x-loop", mail(headers={"X-Loop": "support@vendor.example"}), "own_mail", "X-Loop"),
    Case("near-x-loop-other", mail(headers={"X-Loop": "helpdesk@acme.example"}), None),
    Case("near-own-as-display-name", mail(sender='"support@vendor.example" <eve@freemail.example>'), None),
    Case("near-own-domain-colleague", mail(sender="sales@vendor.example"), None),
    # bounces --------------------------------------------------------------------------------
    Case(
        "report-delivery-status",
        mail(headers={"Content-Type": REPORT.format("delivery-status")}, body=REPORT_BODY),
        "bounce",
        "report-type=delivery-status",
    ),
    Case(
        "report-mdn",
        mail(headers={"Content-Type": REPORT.format("disposition-notification")}, body=REPORT_BODY),
        "bounce",
        "disposition-notification",
    ),
    Case(
        "report-arf",
        mail(headers={"Content-Type": REPORT.format('"feedback-report"')}, body=REPORT_BODY),
        "bounce",
        "feedback-report",
    ),
    Case("null-return-path", mail(headers={"Return-Path": "<>"}), "bounce", "null Return-Path"),
    Case("null-return-path-doubled", mail(headers={"Return-Path": "<<>>"}), "bounce", "null Return-Path"),
    Case("mailer-daemon", mail(sender="MAILER-DAEMON@mx.acme.example"), "bounce", "mailer-daemon"),
    Case("mailerdaemon", mail(sender="mailerdaemon@mx.acme.example"), "bounce", "mailerdaemon"),
    Case("bounce-address", mail(sender="bounce@mx.acme.example"), "bounce", "bounce@"),
    Case("mail-daemon", mail(sender="Mail Delivery <mail-daemon@mx.acme.example>"), "bounce", "mail-daemon"),
    Case("bounces-address", mail(sender="bounces@lists.acme.example"), "bounce", "bounces@"),
    Case(
        "postmaster-failed-recipients",
        mail(sender="postmaster@acme.example", headers={"X-Failed-Recipients": "x@acme.example"}),
        "bounce",
        "postmaster",
    ),
    Case(
        "postmaster-bounce-subject",
        mail(sender="postmaster@acme.example", subject="Undeliverable: Export fails"),
        "bounce",
        "postmaster",
    ),
    Case(
        "postmaster-auto-submitted",
        mail(sender="postmaster@acme.example", headers={"Auto-Submitted": "auto-replied"}),
        "bounce",
        "postmaster",
    ),
    Case(
        "failed-recipients-from-a-person",
        mail(headers={"X-Failed-Recipients": "lee@acme.example"}),
        "bounce",
        "not believed",
    ),
    Case(
        "near-report-other-type",
        mail(headers={"Content-Type": REPORT.format("x-other")}, body=REPORT_BODY),
        None,
    ),
    Case("near-mixed", mail(headers={"Content-Type": "multipart/mixed; boundary=b"}, body=REPORT_BODY), None),
    Case("near-return-path-person", mail(headers={"Return-Path": "<dana@acme.example>"}), None),
    Case(
        "near-null-return-path-not-topmost",
        mail(headers={"Return-Path": "<dana@acme.example>\r\nReturn-Path: <>"}),
        None,
    ),
    Case(
        "near-postmaster-person",
        mail(sender="postmaster@acme.example", subject="Undelivered mail piling up"),
        None,
    ),
    Case("near-daemon-lookalike", mail(sender="mailer-daemon-team@acme.example"), None),
    Case("near-bouncer", mail(sender="bouncer@acme.example"), None),
    # RFC 3834 Auto-Submitted ----------------------------------------------------------------
    Case("auto-replied", mail(headers={"Auto-Submitted": "auto-replied"}), "auto_submitted", "RFC 3834"),
    Case(
        "auto-generated",
        mail(headers={"Auto-Submitted": "auto-generated"}),
        "auto_submitted",
        "auto-generated",
    ),
    Case(
        "auto-notified", mail(headers={"Auto-Submitted": "auto-notified"}), "auto_submitted", "auto-notified"
    ),
    Case(
        "auto-upper",
        mail(headers={"Auto-Submitted": "Auto-Replied (vacation)"}),
        "auto_submitted",
        "vacation",
    ),
    Case("near-auto-no", mail(headers={"Auto-Submitted": "no"}), None),
    Case("near-auto-no-comment", mail(headers={"Auto-Submitted": "No (written by hand)"}), None),
    # auto-reply headers ---------------------------------------------------------------------
    Case("x-autoreply", mail(headers={"X-Autoreply": "yes"}), "auto_reply_headers", "x-autoreply"),
    Case(
        "x-autorespond",
        mail(headers={"X-Autorespond": "Export fails"}),
        "auto_reply_headers",
        "x-autorespond",
    ),
    Case(
        "x-autogenerated", mail(headers={"X-AutoGenerated": "Reply"}), "auto_reply_headers", "x-autogenerated"
    ),
    Case(
        "exchange-generated",
        mail(headers={"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"}),
        "auto_reply_headers",
        "Exchange",
    ),
    Case(
        "near-exchange-generated-empty", mail(headers={"X-MS-Exchange-Generated-Message-Source": " "}), None
    ),
    Case("near-auto-response-suppress-alone", mail(headers={"X-Auto-Response-Suppress": "All"}), None),
    # Precedence -----------------------------------------------------------------------------
    *(
        Case(f"precedence-{v}", mail(headers={"Precedence": v}), "precedence", f"precedence: {v}")
        for v in ("bulk", "list", "junk", "auto_reply", "auto-reply")
    ),
    Case("precedence-upper", mail(headers={"Precedence": " BULK "}), "precedence", "bulk"),
    Case("x-precedence", mail(headers={"X-Precedence": "bulk"}), "precedence", "x-precedence"),
    Case("near-precedence-normal", mail(headers={"Precedence": "normal"}), None),
    Case("near-precedence-first-class", mail(headers={"Precedence": "first-class"}), None),
    Case("near-priority-urgent", mail(headers={"Priority": "urgent", "Importance": "high"}), None),
    # mailing lists and bulk senders -------------------------------------------------------
    Case("list-id", mail(headers={"List-Id": "<announce.lists.acme.example>"}), "mailing_list", "list-id"),
    Case(
        "list-post",
        mail(headers={"List-Post": "<mailto:dev@lists.acme.example>"}),
        "mailing_list",
        "list-post",
    ),
    Case("near-list-help", mail(headers={"List-Help": "<mailto:help@lists.acme.example>"}), None),
    Case("near-list-archive", mail(headers={"List-Archive": "<https://lists.acme.example/>"}), None),
    Case(
        "list-unsubscribe",
        mail(headers={"List-Unsubscribe": "<mailto:u@acme.example>"}),
        "bulk_sender",
        "List",
    ),
    Case("feedback-id", mail(headers={"Feedback-ID": "1:campaign:acme"}), "bulk_sender", "Feedback-ID"),
    Case("near-x-mailer", mail(headers={"X-Mailer": "Microsoft Outlook 16.0"}), None),
    # subjects: a responder's exact form, with a sign that a machine answered ------------
    Case(
        "subject-with-in-reply-to",
        mail(subject="Automatic reply: Export fails", headers=REPLY),
        "automatic_subject",
    ),
    Case(
        "subject-with-references",
        mail(subject="Out of Office: Export fails", headers={"References": "<a@x.example>"}),
        "automatic_subject",
        "answers a message",
    ),
    Case(
        "subject-with-suppress",
        mail(subject="Abwesenheitsnotiz: Export", headers={"X-Auto-Response-Suppress": "All"}),
        "automatic_subject",
        "x-auto-response-suppress",
    ),
    Case(
        "subject-with-our-ref",
        mail(subject="Automatic reply: [support-1] Export fails"),
        "automatic_subject",
        "ticket reference",
    ),
    Case("near-subject-ref-request", mail(subject="[support-1] Out of office feature broken"), None),
    Case(
        "subject-from-noreply",
        mail(sender="noreply@acme.example", subject="Auto: Export"),
        "automatic_subject",
    ),
    Case(
        "subject-from-no-reply",
        mail(sender="no-reply@acme.example", subject="Autoreply: x"),
        "automatic_subject",
    ),
    *(
        Case(
            f"subject-from-{local}",
            mail(sender=f"{local}@acme.example", subject="Auto: Export"),
            "automatic_subject",
        )
        for local in ("donotreply", "do-not-reply", "autoreply", "auto-responder", "autoresponse", "vacation")
    ),
    Case("near-subject-alone", mail(subject="Automatic reply: Export fails"), None),
    Case("near-subject-reply-prefix", mail(subject="Re: Automatic reply: Export fails", headers=REPLY), None),
    Case("near-subject-no-colon", mail(subject="Out of office feature broken in 5.1", headers=REPLY), None),
    Case("near-noreply-lookalike", mail(sender="noreplyguy@acme.example", subject="Auto: Export"), None),
]


def check_case(case: Case, session: Session) -> None:
    ctx = context(case.raw, session)
    stop = guard.check(ctx)
    fired = [rule.__name__ for rule in guard.RULES if rule(ctx) is not None]
    if case.rule is None:
        assert stop is None, stop
        assert fired == []
        return
    assert stop is not None and stop.disposition == "dropped"
    assert fired[0] == case.rule
    assert case.reason.lower() in stop.hit.reason.lower(), stop.hit.reason
    assert stop.hit.step.startswith("guard.")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_guard_rule_table(case: Case, session: Session) -> None:
    check_case(case, session)


@pytest.mark.parametrize("name", [rule.__name__ for rule in guard.RULES])
def test_deleting_any_rule_fails_the_table(
    name: str, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table catches the loss of each rule on its own (issue 9, point 7)."""
    monkeypatch.setattr(guard, "RULES", tuple(r for r in guard.RULES if r.__name__ != name))
    failing = []
    for case in CASES:
        try:
            check_case(case, session)
        except AssertionError:
            failing.append(case.id)
    assert failing, f"no case fails without the rule {name}"
    assert all(c.rule != name or c.id in failing for c in CASES)


def test_every_rule_has_a_case() -> None:
    covered = {c.rule for c in CASES}
    assert [rule.__name__ for rule in guard.RULES if rule.__name__ not in covered] == []
    assert [rule.__name__ for rule in guard.RULES] == [
        "own_mail",
        "bounce",
        "auto_submitted",
        "auto_reply_headers",
        "precedence",
        "mailing_list",
        "bulk_sender",
        "automatic_subject",
    ]


AUTO_SUBJECTS = [
    "Automatic reply: Export fails",
    "Autoreply: Export fails",
    "Auto-Reply: Export fails",
    "Auto Response: Export fails",
    "Automatic Response: Export fails",
    "Out of Office: Export fails",
    "Out of Office AutoReply: Export fails",
    "Out of the office: Export fails",
    "AUTO: Dana Smith is out of the office (returning 23.11.2026)",
    "OOF: Export fails",
    "OOO: Export fails",
    "Abwesenheitsnotiz: Export fails",
    "Automatische Antwort: Export schlägt fehl",
    "Réponse automatique : Export fails",
    "Reponse automatique: Export fails",
    "Respuesta automática: La exportación falla",
    "Fuera de la oficina: Export fails",
    "Risposta automatica: Export fails",
    "Fuori sede: Export fails",
    "Resposta automática: Export fails",
    "Automatisch antwoord: Export fails",
    "Afwezig: Export fails",
    "Autosvar: Export fails",
    "Automatiskt svar: Export fails",
    "Automaattinen vastaus: Export fails",
    "Automatyczna odpowiedź: Export fails",
    "Automatická odpověď: Export fails",
    "Otomatik yanıt: Export fails",
    "Автоматический ответ: Export fails",
    "Автоответ: Export fails",
    "自動応答: Export fails",
    "自动回复：Export fails",
    "자동 회신: Export fails",
    "Undeliverable: Export fails",
    "Unzustellbar: Export fails",
    "Non remis : Export fails",
    "Onbestelbaar: Export fails",
    "Undelivered Mail Returned to Sender",
    "Delivery Status Notification (Failure)",
    "Delivery Status Notification (Delay)",
    "Mail delivery failed: returning message to sender",
    "failure notice",
    "Returned mail: see transcript for details",
]

REAL_REQUESTS = [
    "Out of office feature broken in 5.1",
    "Undelivered mail piling up in our queue",
    "Auto-reply rules no longer fire",
    "Automatic replies are sent twice to our customers",
    "Out-of-office replies show the wrong return date",
    "Our autoresponder loops with your system",
    "Undeliverable messages are not reported in the dashboard",
    "Mail delivery failed for every message since the upgrade",
    "Returned mail is not shown in the bounce report",
    "Delivery Status Notification settings are missing",
    "Failure notice emails arrive in German",
    "Abwesenheitsnotiz funktioniert nicht mehr",
    "Réponse automatique ne fonctionne plus",
    "La respuesta automática no funciona",
    "OOO calendar sync fails",
    "Auto reply template: how do I add our logo?",
    "Automatic reply: feature request for per-team templates",
    "Undeliverable: mails to our EU customers since Monday",
    "Out of Office: setting disappears after the update",
    "failure notice when exporting, error 500",
    "Question about X-Failed-Recipients handling",
    "Precedence: bulk mails from your platform",
]


@pytest.mark.parametrize("subject", AUTO_SUBJECTS)
def test_a_responders_subject_with_a_machine_sign_is_stopped(subject: str, session: Session) -> None:
    stop = guard.check(context(mail(sender="dana@acme.example", subject=subject, headers=REPLY), session))
    assert stop is not None and stop.hit.step == "guard.auto-reply", subject
    assert guard.automatic_form(subject)


@pytest.mark.parametrize("subject", AUTO_SUBJECTS)
def test_a_responders_subject_alone_decides_nothing(subject: str, session: Session) -> None:
    assert guard.check(context(mail(sender="dana@acme.example", subject=subject), session)) is None


@pytest.mark.parametrize("subject", REAL_REQUESTS)
def test_real_requests_that_mention_automatic_mail_pass(subject: str, session: Session) -> None:
    assert guard.check(context(mail(subject=subject), session)) is None
    assert guard.check(context(mail(subject=f"Re: {subject}", headers=REPLY), session)) is None
    assert guard.check(context(mail(subject=f"RE: Fwd: {subject}", headers=REPLY), session)) is None
