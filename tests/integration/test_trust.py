"""The trust model end to end, on SQLite and PostgreSQL: through ingest (mail read behind an MX) and over
real SMTP to the bot's own server, which verifies SPF, DKIM and DMARC itself against local DNS records.

Every forged-contact variant of issue 8 is here: no header, dmarc=none, permerror, temperror, a forged
pass above or below a trusted fail, look-alike authserv-ids, ARC results only, results in the body or
an attached message, DKIM by another domain than From, an SPF pass for another domain; and the held
ticket a forged contact must not authorise.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.mail_auth import DnsTempError
from channels.mail_headers import split_headers
from channels.parse import parse_one
from channels.smtp_server import SmtpServer
from intake.clock import FixedClock
from intake.config import Settings, SmtpServerSettings
from intake.customers.orgs import add_contact, add_org
from intake.pipeline import Outcome, ingest
from intake.runtime import Runtime
from intake.store.orm import Message, Ticket, TriageDecision
from intake.store.session import make_engine, make_sessionmaker
from tests.conftest import MailBuilder
from tests.servers.dns import DkimKey, FakeResolver
from tests.servers.net import Cert, make_cert
from tests.servers.smtp import intake_smtp

MX = "mx.vendor.example"
ACME = DkimKey("acme.example")
EVIL = DkimKey("evil.example")


def world(db_url: str, clock: FixedClock, **sections: Any) -> Runtime:
    sections.setdefault("guard", {"trusted_authserv_ids": [MX]})
    settings = Settings.model_validate({"database": {"url": db_url}, **sections})
    engine = make_engine(db_url)
    runtime = Runtime(settings, engine, make_sessionmaker(engine), clock)
    with runtime.sessions() as session:
        add_org(session, clock, "Acme", "resource-optimizer", None, ["acme.example"])
        add_contact(session, clock, "Acme", "dana@acme.example", "Dana", "designated")
        add_contact(session, clock, "Acme", "lee@acme.example", "Lee", "designated")
        add_org(session, clock, "Globex", "resource-optimizer", None, ["globex.example"])
        add_contact(session, clock, "Globex", "hank@globex.example", "Hank", "designated")
        session.commit()
    return runtime


@pytest.fixture
def behind_mx(db_url: str, clock: FixedClock) -> Iterator[Runtime]:
    runtime = world(db_url, clock)
    yield runtime
    runtime.engine.dispose()


def with_require(runtime: Runtime, require: str) -> Runtime:
    guard = runtime.settings.guard.model_copy(update={"require": require})
    settings = runtime.settings.model_copy(update={"guard": guard})
    return Runtime(settings, runtime.engine, runtime.sessions, runtime.clock)


def run(runtime: Runtime, raws: list[bytes]) -> list[Outcome]:
    now = runtime.clock.now()
    items = [parse_one(raw, f"trust-{i}", now) for i, raw in enumerate(raws)]
    with runtime.deps() as deps:
        return ingest(items, deps)


def status_of(runtime: Runtime, outcome: Outcome) -> str:
    with runtime.sessions() as session:
        ticket = session.get(Ticket, outcome.ticket_id)
        assert ticket is not None, outcome
        return ticket.contact_status


def mail(make_mail: MailBuilder, *auth: str, sender: str = "Dana <dana@acme.example>", **kw: Any) -> bytes:
    """A message with these Authentication-Results headers, topmost first (as a server prepends them)."""
    raw = make_mail(sender=sender, **kw)
    fields = b"".join(f"Authentication-Results: {a}\r\n".encode() for a in auth)
    return fields + raw


# ---------------------------------------------------------------- mail read behind a trusted MX (ingest)

PASS = (
    f"{MX}; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; "
    "dmarc=pass header.from=acme.example"
)
FAIL = f"{MX}; spf=fail smtp.mailfrom=acme.example; dkim=none; dmarc=fail header.from=acme.example"

# (case, Authentication-Results topmost first, status under not-fail, status under dmarc-pass)
INGEST_CASES = [
    ("trusted dmarc=pass", [PASS], "designated", "designated"),
    ("no header at all", [], "unverified", "unverified"),
    (
        "dmarc=none",
        [f"{MX}; spf=none; dkim=none; dmarc=none header.from=acme.example"],
        "unverified",
        "unverified",
    ),
    (
        "dmarc=none, aligned DKIM pass",
        [f"{MX}; dkim=pass header.d=acme.example; dmarc=none"],
        "designated",
        "unverified",
    ),
    ("permerror", [f"{MX}; dmarc=permerror header.from=acme.example"], "unverified", "unverified"),
    ("temperror", [f"{MX}; spf=temperror; dkim=temperror; dmarc=temperror"], "unverified", "unverified"),
    ("trusted dmarc=fail", [FAIL], "not_designated", "not_designated"),
    ("forged pass on top of a trusted fail", [PASS, FAIL], "not_designated", "not_designated"),
    ("forged pass below a trusted fail", [FAIL, PASS], "not_designated", "not_designated"),
    ("forged pass below a trusted none", [f"{MX}; dmarc=none", PASS], "unverified", "unverified"),
    (
        "forged pass from an untrusted server",
        ["mx.evil.example; dmarc=pass header.from=acme.example"],
        "unverified",
        "unverified",
    ),
    (
        "untrusted pass on top of trusted fail",
        ["mx.evil.example; dmarc=pass", FAIL],
        "not_designated",
        "not_designated",
    ),
    ("look-alike: suffix", [f"{MX}.evil; dmarc=pass"], "unverified", "unverified"),
    ("look-alike: case", ["MX.Vendor.Example; dmarc=pass"], "unverified", "unverified"),
    ("look-alike: comment", [f"{MX} (forged); dmarc=pass"], "unverified", "unverified"),
    ("look-alike: comment first", [f"(x) {MX}; dmarc=pass"], "unverified", "unverified"),
    ("look-alike: digit for letter", ["mx.vendor.examp1e; dmarc=pass"], "unverified", "unverified"),
    (
        "DKIM by another domain",
        [f"{MX}; spf=none; dkim=pass header.d=evil.example; dmarc=fail header.from=acme.example"],
        "not_designated",
        "not_designated",
    ),
    (
        "DKIM by another domain, no DMARC",
        [f"{MX}; spf=none; dkim=pass header.d=evil.example; dmarc=none"],
        "unverified",
        "unverified",
    ),
    (
        "SPF pass for another domain",
        [f"{MX}; spf=pass smtp.mailfrom=evil.example; dkim=none; dmarc=none"],
        "unverified",
        "unverified",
    ),
]


@pytest.mark.parametrize(
    ("case", "headers", "not_fail", "dmarc_pass"), INGEST_CASES, ids=[c[0] for c in INGEST_CASES]
)
def test_behind_an_mx_only_its_results_count(
    behind_mx: Runtime, make_mail: MailBuilder, case: str, headers: list[str], not_fail: str, dmarc_pass: str
) -> None:
    got = []
    for require in ("not-fail", "dmarc-pass"):
        runtime = with_require(behind_mx, require)
        [outcome] = run(runtime, [mail(make_mail, *headers, subject=f"{case} {require}")])
        assert outcome.disposition == "ticket"
        got.append(status_of(runtime, outcome))
    assert got == [not_fail, dmarc_pass], case


def test_arc_results_and_results_in_the_body_never_count(behind_mx: Runtime, make_mail: MailBuilder) -> None:
    arc = make_mail(
        subject="ARC only",
        headers={"ARC-Authentication-Results": f"i=1; {PASS}", "X-Original-Authentication-Results": PASS},
    )
    in_body = make_mail(subject="In the body", body=f"Authentication-Results: {PASS}\n\nplease help")
    attached = EmailMessage()
    attached["From"] = "dana@acme.example"
    attached["Subject"] = "inner"
    attached["Authentication-Results"] = PASS
    attached.set_content("inner")
    outer = EmailMessage()
    outer["From"] = "Dana <dana@acme.example>"
    outer["To"] = "support@vendor.example"
    outer["Subject"] = "Attached message"
    outer["Message-ID"] = "<outer-1@mail.acme.example>"
    outer.set_content("see attached")
    outer.add_attachment(attached)
    # An encoded word hiding a newline and a trusted-looking entry inside an untrusted header.
    smuggled = mail(make_mail, f"evil.example; none =?utf-8?q?=0A{MX}=3B_dmarc=3Dpass?=", subject="Smuggled")
    outcomes = run(behind_mx, [arc, in_body, outer.as_bytes(), smuggled])
    assert [status_of(behind_mx, o) for o in outcomes] == ["unverified"] * 4


def test_a_stranger_and_an_unknown_org_keep_their_statuses(
    behind_mx: Runtime, make_mail: MailBuilder
) -> None:
    outcomes = run(
        behind_mx,
        [
            mail(make_mail, PASS, sender="kim@acme.example", subject="not a contact"),
            mail(make_mail, sender="kim@acme.example", subject="not a contact, unverified"),
            mail(make_mail, PASS, sender="x@nowhere.example", subject="unknown org"),
        ],
    )
    assert [status_of(behind_mx, o) for o in outcomes] == ["not_designated", "not_designated", "unknown"]


def test_the_hit_says_why(behind_mx: Runtime, make_mail: MailBuilder) -> None:
    [outcome] = run(behind_mx, [mail(make_mail, f"{MX}; dmarc=none header.from=acme.example")])
    with behind_mx.sessions() as session:
        decision = session.scalars(
            select(TriageDecision).where(TriageDecision.ticket_id == outcome.ticket_id)
        ).one()
    [hit] = [h for h in decision.hits if h["step"].startswith("contact.")]
    assert hit["step"] == "contact.unverified" and "dmarc=none" in hit["reason"] and MX in hit["reason"]


@pytest.mark.parametrize(
    "forged",
    [
        [],
        ["mx.evil.example; dmarc=pass header.from=acme.example"],
        [f"{MX}.evil; dmarc=pass"],
        [f"{MX}; dmarc=none", PASS],
        [PASS, FAIL],
    ],
    ids=["no header", "untrusted pass", "look-alike", "pass below none", "pass above fail"],
)
def test_a_forged_contact_never_authorises_a_held_ticket(
    behind_mx: Runtime, make_mail: MailBuilder, forged: list[str]
) -> None:
    [held] = run(
        behind_mx,
        [
            mail(
                make_mail,
                PASS,
                sender="kim@acme.example",
                subject="Please reset my access",
                message_id="<held-1@mail.acme.example>",
            )
        ],
    )
    with behind_mx.sessions() as session:
        ticket = session.get(Ticket, held.ticket_id)
        assert ticket is not None and ticket.status == "pending_authorisation"
    reply = mail(
        make_mail,
        *forged,
        subject="Re: Please reset my access",
        body="Approved, go ahead.",
        headers={"In-Reply-To": "<held-1@mail.acme.example>"},
    )
    [answer] = run(behind_mx, [reply])
    with behind_mx.sessions() as session:
        ticket = session.get(Ticket, held.ticket_id)
        assert ticket is not None and ticket.status == "pending_authorisation"
        if answer.ticket_id == held.ticket_id:
            decision = session.scalars(
                select(TriageDecision)
                .where(TriageDecision.ticket_id == held.ticket_id)
                .order_by(TriageDecision.id.desc())
            ).first()
            assert decision is not None and not any(h["step"] == "decide.authorised" for h in decision.hits)
    # the real designated contact, vouched for by the MX, does authorise it
    genuine = mail(
        make_mail,
        PASS,
        subject="Re: Please reset my access",
        body="Approved.",
        headers={"In-Reply-To": "<held-1@mail.acme.example>"},
    )
    [ok] = run(behind_mx, [genuine])
    assert ok.ticket_id == held.ticket_id
    with behind_mx.sessions() as session:
        ticket = session.get(Ticket, held.ticket_id)
        assert ticket is not None and ticket.status != "pending_authorisation"


# ------------------------------------------------------------------ the bot's own SMTP server verifies


def dns() -> FakeResolver:
    resolver = FakeResolver()
    resolver.add("acme.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    resolver.add("_dmarc.acme.example", "TXT", "v=DMARC1; p=reject; rua=mailto:d@acme.example")
    resolver.add("globex.example", "TXT", "v=spf1 ip4:127.0.0.1 -all")  # no DMARC record
    resolver.add("evil.example", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    resolver.add("_dmarc.evil.example", "TXT", "v=DMARC1; p=none")
    ACME.publish(resolver)
    EVIL.publish(resolver)
    return resolver


@contextmanager
def smtp_server(runtime: Runtime, resolver: FakeResolver | None = None, **smtp: Any) -> Iterator[SmtpServer]:
    section = {
        "host": "127.0.0.1",
        "port": 0,
        "accept": ["support@vendor.example"],
        "trusted_networks": [],
        **smtp,
    }
    settings = runtime.settings.model_copy(update={"smtp_server": SmtpServerSettings.model_validate(section)})
    served = Runtime(settings, runtime.engine, runtime.sessions, runtime.clock)
    with intake_smtp(settings, served, resolver if resolver is not None else dns()) as server:
        yield server


@pytest.fixture
def direct(db_url: str, clock: FixedClock) -> Iterator[Runtime]:
    """A deployment where mail arrives straight at the bot: no MX, nothing else trusted."""
    runtime = world(db_url, clock, guard={})
    yield runtime
    runtime.engine.dispose()


def send(
    server: SmtpServer, raw: bytes, mail_from: str = "dana@acme.example", helo: str = "mail.acme.example"
) -> str:
    with smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo(helo)
        client.mail(mail_from)
        client.rcpt("support@vendor.example")
        code, text = client.data(raw)
    assert code == 250, text
    return text.decode()


def stored(runtime: Runtime, reply: str) -> tuple[str, bytes]:
    number = int(reply.rsplit("-", 1)[1])
    with runtime.sessions() as session:
        ticket = session.get(Ticket, number)
        assert ticket is not None
        raw = session.scalars(select(Message.raw).where(Message.ticket_id == number)).one()
        return ticket.contact_status, raw


def signed(make_mail: MailBuilder, key: DkimKey = ACME, **kw: Any) -> bytes:
    return key.sign(make_mail(**kw))


# (case, how the message is made, MAIL FROM, status under not-fail, status under dmarc-pass)
SMTP_CASES: list[tuple[str, str, str, str, str]] = [
    ("DKIM pass aligned", "acme-signed", "dana@acme.example", "designated", "designated"),
    ("unsigned, SPF fail, DMARC reject", "plain", "dana@acme.example", "not_designated", "not_designated"),
    ("forged headers stripped", "forged", "dana@acme.example", "not_designated", "not_designated"),
    ("DKIM by another domain", "evil-signed", "x@evil.example", "not_designated", "not_designated"),
    ("SPF pass for another domain", "plain", "x@evil.example", "not_designated", "not_designated"),
    ("no DMARC record, aligned SPF pass", "hank", "hank@globex.example", "designated", "unverified"),
    ("no DMARC record, SPF pass for another domain", "hank", "x@evil.example", "unverified", "unverified"),
    (
        "no DMARC record, DKIM by another domain",
        "hank-evil-signed",
        "x@evil.example",
        "unverified",
        "unverified",
    ),
    (
        "signature broken in transit",
        "acme-signed-tampered",
        "dana@acme.example",
        "not_designated",
        "not_designated",
    ),
]


def build(kind: str, make_mail: MailBuilder) -> bytes:
    forged = {
        "Authentication-Results": "intake; dmarc=pass header.from=acme.example",
        "ARC-Authentication-Results": f"i=1; {PASS}",
    }
    if kind == "acme-signed":
        return signed(make_mail)
    if kind == "acme-signed-tampered":
        return signed(make_mail).replace(b"Hello, the export fails", b"Hello, the import fails")
    if kind == "evil-signed":
        return signed(make_mail, EVIL)
    if kind == "forged":
        return f"Authentication-Results: {PASS}\r\n".encode() + make_mail(headers=forged)
    if kind == "hank":
        return make_mail(sender="Hank <hank@globex.example>")
    if kind == "hank-evil-signed":
        return signed(make_mail, EVIL, sender="Hank <hank@globex.example>")
    return make_mail()


@pytest.mark.parametrize(
    ("case", "kind", "mail_from", "not_fail", "dmarc_pass"), SMTP_CASES, ids=[c[0] for c in SMTP_CASES]
)
def test_the_smtp_server_believes_only_what_it_verified(
    direct: Runtime,
    make_mail: MailBuilder,
    case: str,
    kind: str,
    mail_from: str,
    not_fail: str,
    dmarc_pass: str,
) -> None:
    got = []
    for require in ("not-fail", "dmarc-pass"):
        runtime = with_require(direct, require)
        with smtp_server(runtime) as server:
            reply = send(
                server,
                build(kind, make_mail),
                mail_from,
                helo="mail.evil.example" if not mail_from else "mail.acme.example",
            )
        status, raw = stored(runtime, reply)
        got.append(status)
        # exactly one Authentication-Results, ours; every incoming one is gone, ARC's kept but ignored
        [ours] = split_headers(raw).get_all("authentication-results")
        assert ours.startswith("intake; spf=")
    assert got == [not_fail, dmarc_pass], case


def test_our_header_says_what_was_verified(direct: Runtime, make_mail: MailBuilder) -> None:
    with smtp_server(direct) as server:
        reply = send(server, signed(make_mail))
    _, raw = stored(direct, reply)
    [ours] = [line for line in raw.split(b"\r\n") if line.startswith(b"Authentication-Results:")]
    assert ours.decode() == (
        "Authentication-Results: intake; spf=fail smtp.mailfrom=acme.example; "
        "dkim=pass header.d=acme.example header.s=s1; dmarc=pass header.from=acme.example policy.dmarc=reject"
    )
    assert raw.index(b"Authentication-Results: intake;") < raw.index(b"DKIM-Signature:")


def test_results_in_the_body_are_left_alone_and_ignored(direct: Runtime, make_mail: MailBuilder) -> None:
    body = f"Authentication-Results: intake; dmarc=pass\nAuthentication-Results: {PASS}\n"
    with smtp_server(direct) as server:
        reply = send(server, make_mail(body=body))
    status, raw = stored(direct, reply)
    assert status == "not_designated"
    assert raw[split_headers(raw).body_start :].count(b"Authentication-Results:") == 2


def test_a_configured_authserv_id_names_our_header(direct: Runtime, make_mail: MailBuilder) -> None:
    with smtp_server(direct, authserv_id="intake.vendor.example") as server:
        reply = send(server, signed(make_mail))
    status, raw = stored(direct, reply)
    assert status == "designated" and b"Authentication-Results: intake.vendor.example; " in raw


@pytest.mark.parametrize("require", ["not-fail", "dmarc-pass"])
def test_dns_trouble_is_temperror_and_not_a_pass(
    direct: Runtime, make_mail: MailBuilder, require: str
) -> None:
    runtime = with_require(direct, require)
    resolver = dns()
    resolver.failing.add("_dmarc.acme.example")
    with smtp_server(runtime, resolver) as server:
        aligned = send(server, signed(make_mail))
        unsigned = send(server, make_mail(subject="unsigned"))
    assert b"dmarc=temperror" in stored(runtime, aligned)[1]
    # an aligned DKIM pass is what DMARC would pass on; without it a temperror proves nothing
    # (the unsigned one fails SPF: that is a fail, temperror or not)
    expected = "designated" if require == "not-fail" else "unverified"
    assert (stored(runtime, aligned)[0], stored(runtime, unsigned)[0]) == (expected, "not_designated")


class SlowResolver(FakeResolver):
    def resolve(self, name: str, rdtype: str) -> list[str]:
        time.sleep(2)
        raise DnsTempError("too slow")


def test_verification_is_bounded_and_the_mail_still_taken(direct: Runtime, make_mail: MailBuilder) -> None:
    with smtp_server(direct, SlowResolver(), verify_timeout=0.3) as server:
        started = time.perf_counter()
        reply = send(server, signed(make_mail))
        elapsed = time.perf_counter() - started
    status, raw = stored(direct, reply)
    assert status == "unverified" and b"verification timed out" in raw
    assert elapsed < 1.9  # generous: the 250 did not wait for the 2 s lookup


def test_a_trusted_relay_keeps_its_results(db_url: str, clock: FixedClock, make_mail: MailBuilder) -> None:
    runtime = world(db_url, clock)  # trusted_authserv_ids = [mx.vendor.example]
    try:
        resolver = dns()
        with smtp_server(runtime, resolver, trusted_networks=["127.0.0.0/8"]) as server:
            vouched = send(server, mail(make_mail, PASS))
            bare = send(server, make_mail(subject="no results"))
            ours = send(server, mail(make_mail, "intake; dmarc=pass", subject="claims our id"))
        assert resolver.queries == []  # a trusted client is not verified
        assert [stored(runtime, r)[0] for r in (vouched, bare, ours)] == [
            "designated",
            "unverified",
            "unverified",
        ]
        assert stored(runtime, vouched)[1].count(b"Authentication-Results:") == 1
    finally:
        runtime.engine.dispose()


def test_an_ipv4_mapped_peer_matches_an_ipv4_network(direct: Runtime) -> None:
    section = SmtpServerSettings.model_validate({"trusted_networks": ["127.0.0.0/8"]})
    from channels.smtp_server import IntakeHandler

    handler = IntakeHandler(section, direct, FakeResolver())
    assert handler.trusted_client("127.0.0.1") and handler.trusted_client("::ffff:127.0.0.1")
    assert not handler.trusted_client("192.0.2.1") and not handler.trusted_client("garbage")


# -------------------------------------------------------------------------- AUTH failures in the log


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    made = make_cert(tmp_path / "tls")
    if made is None:
        pytest.skip("openssl is not installed")
    return made


def test_a_failed_auth_never_logs_the_login_or_password(
    direct: Runtime, cert: Cert, make_mail: MailBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    attempts = [
        ("mta", "wrong-one"),
        ("Hunter2-typed-in-login", "x-9f3k-pw"),
        ("root@vendor.example", "p@ss-77q"),
    ]
    with smtp_server(
        direct, tls_cert=str(cert.cert), tls_key=str(cert.key), auth_users={"mta": "s3cret"}
    ) as server:
        for login, password in attempts:
            with smtplib.SMTP("127.0.0.1", server.port) as client:
                client.starttls(context=cert.client_context())
                client.ehlo()
                with pytest.raises(smtplib.SMTPAuthenticationError):
                    client.login(login, password)
    failures = [
        r.getMessage() for r in caplog.records if "AUTH" in r.getMessage() and "failed" in r.getMessage()
    ]
    assert len(failures) >= len(attempts)  # smtplib tries PLAIN, then LOGIN
    text = "\n".join(r.getMessage() for r in caplog.records)
    for login, password in attempts:
        plain = base64.b64encode(f"\0{login}\0{password}".encode()).decode()
        assert login not in text and password not in text and plain not in text
        assert base64.b64encode(login.encode()).decode() not in text
    assert "(3 bytes, known)" in failures[0] and "(22 bytes, unknown)" in failures[-3]
    tags = {f.split()[6] for f in failures}
    assert len(tags) == len(attempts) and all(t.startswith("h:") for t in tags)  # attempts told apart


def test_verification_runs_off_the_event_loop(direct: Runtime, make_mail: MailBuilder) -> None:
    seen: list[str] = []

    class Recording(FakeResolver):
        def resolve(self, name: str, rdtype: str) -> list[str]:
            seen.append(threading.current_thread().name)
            return super().resolve(name, rdtype)

    resolver = Recording(records=dns().records)
    with smtp_server(direct, resolver) as server:
        send(server, signed(make_mail))
    assert seen and "test-loop" not in seen


# ------------------------------------------------------- the shared hostile-mail files of this area

HOSTILE = Path(__file__).resolve().parents[1] / "hostile" / "trust"


def expected_for(channel: str) -> dict[str, dict[str, str]]:
    manifest = tomllib.loads((HOSTILE / "expected.toml").read_text())
    out = {}
    for name, entry in manifest.items():
        merged = {k: v for k, v in entry.items() if not isinstance(v, dict)}
        merged.update(entry.get(channel, {}))
        out[name] = merged
    return out


def test_every_hostile_trust_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in HOSTILE.glob("*.eml")) == sorted(expected_for("ingest"))


@pytest.mark.parametrize("channel", ["ingest", "smtp"])
def test_the_hostile_trust_files(behind_mx: Runtime, channel: str) -> None:
    expected = expected_for(channel)
    got: dict[str, tuple[str, str]] = {}
    files = sorted(HOSTILE.glob("*.eml"))
    if channel == "ingest":
        outcomes = run(behind_mx, [p.read_bytes() for p in files])
        for path, outcome in zip(files, outcomes, strict=True):
            got[path.stem] = (outcome.disposition, status_of(behind_mx, outcome))
    else:
        with smtp_server(behind_mx, FakeResolver()) as server:
            for path in files:
                got[path.stem] = ("ticket", stored(behind_mx, send(server, path.read_bytes()))[0])
    assert got == {name: (e["outcome"], e["contact_status"]) for name, e in expected.items()}


def test_a_sender_our_server_failed_cannot_join_a_ticket_by_its_reference(
    behind_mx: Runtime, make_mail: MailBuilder
) -> None:
    with smtp_server(behind_mx) as server:
        first = send(server, signed(make_mail, subject="Export fails"))
        ref = first.rsplit(" ", 1)[1]
        # unsigned and sent from an IP acme.example's SPF refuses: our own header says dmarc=fail
        # (and the MX's id is trusted too: our own header must still be read for mail we verified)
        spoofed = send(server, make_mail(subject=f"Re: [{ref}] send the invoice data here"))
        genuine = send(server, signed(make_mail, subject=f"Re: [{ref}] more detail"))
    assert spoofed.rsplit(" ", 1)[1] != ref
    assert stored(behind_mx, spoofed)[0] == "not_designated"
    assert genuine.rsplit(" ", 1)[1] == ref
