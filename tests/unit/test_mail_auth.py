"""The SMTP server's own verification (channels/mail_auth.py) against records served locally, with real
DKIM signatures, and the removal of incoming Authentication-Results."""

from __future__ import annotations

import pytest

from channels.mail_auth import Verifier, strip_authentication_results
from channels.mail_headers import split_headers
from intake.trust import assess
from tests.conftest import MailBuilder
from tests.servers.dns import DkimKey, FakeResolver

ACME = DkimKey("acme.example")


@pytest.fixture
def resolver() -> FakeResolver:
    r = FakeResolver()
    r.add("acme.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    r.add("_dmarc.acme.example", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    r.add("evil.example", "TXT", "v=spf1 +all")
    ACME.publish(r)
    return r


def verify(
    resolver: FakeResolver,
    raw: bytes,
    ip: str = "203.0.113.9",
    mail_from: str = "dana@acme.example",
    helo: str = "mail.acme.example",
) -> str:
    return Verifier("intake", resolver).authenticate(raw, ip, mail_from, helo)


def test_aligned_dkim_passes_dmarc_whatever_spf_says(resolver: FakeResolver, make_mail: MailBuilder) -> None:
    header = verify(resolver, ACME.sign(make_mail()))
    assert "dkim=pass header.d=acme.example" in header and "dmarc=pass" in header and "spf=fail" in header
    assert assess(header, "dana@acme.example", frozenset({"intake"}), "dmarc-pass").verdict == "pass"


def test_spf_pass_from_an_authorised_ip_passes_dmarc(resolver: FakeResolver, make_mail: MailBuilder) -> None:
    header = verify(resolver, make_mail(), ip="192.0.2.7")
    assert "spf=pass smtp.mailfrom=acme.example" in header and "dmarc=pass" in header


def test_a_null_sender_is_checked_by_its_helo(resolver: FakeResolver, make_mail: MailBuilder) -> None:
    header = verify(resolver, make_mail(), mail_from="", helo="mx.evil.example")
    assert "smtp.helo=mx.evil.example" in header and "dmarc=fail" in header


@pytest.mark.parametrize(
    "sender",
    ["dana@acme.example, eve@evil.example", "undisclosed-recipients:;", ""],
    ids=["two addresses", "a group", "empty"],
)
def test_dmarc_is_permerror_without_exactly_one_from(
    resolver: FakeResolver, make_mail: MailBuilder, sender: str
) -> None:
    raw = (
        make_mail(sender=sender)
        if sender
        else make_mail().replace(b"From: Dana Smith <dana@acme.example>\n", b"")
    )
    assert "dmarc=permerror" in verify(resolver, raw)


def test_two_from_fields_are_permerror(resolver: FakeResolver, make_mail: MailBuilder) -> None:
    raw = b"From: eve@evil.example\r\n" + make_mail()
    assert "dmarc=permerror" in verify(resolver, raw)


def test_record_variants(resolver: FakeResolver, make_mail: MailBuilder) -> None:
    resolver.add("_dmarc.broken.example", "TXT", "v=DMARC1; rua=mailto:x@broken.example")
    resolver.add("_dmarc.twice.example", "TXT", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    resolver.add("_dmarc.strict.example", "TXT", "v=DMARC1; p=reject; adkim=s; aspf=s")
    resolver.add("strict.example", "TXT", "v=spf1 ip4:203.0.113.0/24 -all")
    resolver.add("mail.strict.example", "TXT", "v=spf1 ip4:203.0.113.0/24 -all")
    assert "dmarc=permerror" in verify(resolver, make_mail(sender="a@broken.example"))
    assert "dmarc=none" in verify(resolver, make_mail(sender="a@twice.example"))
    # strict alignment: the SPF pass is for mail.strict.example, the From is strict.example
    assert "dmarc=fail" in verify(
        resolver, make_mail(sender="a@strict.example"), mail_from="b@mail.strict.example"
    )
    assert "dmarc=pass" in verify(
        resolver, make_mail(sender="a@strict.example"), mail_from="b@strict.example"
    )
    # a subdomain takes the organisational domain's record and its sp=
    header = verify(resolver, make_mail(sender="a@eu.acme.example"))
    assert "dmarc=fail" in header and "policy.dmarc=quarantine" in header


def test_nothing_the_sender_wrote_reaches_our_header_raw(
    resolver: FakeResolver, make_mail: MailBuilder
) -> None:
    raw = make_mail(sender='"x" <dana@acme.example;dmarc=pass>')
    header = verify(
        resolver, raw, mail_from="x@evil.example; dmarc=pass", helo="h; dkim=pass header.d=acme.example"
    )
    assert header.count("; dmarc=") == 1 and "dkim=pass" not in header
    assert assess(header, "dana@acme.example", frozenset({"intake"}), "not-fail").verdict != "pass"


def test_a_forged_signature_claiming_the_from_domain_fails(
    resolver: FakeResolver, make_mail: MailBuilder
) -> None:
    other = DkimKey("acme.example", selector="s2")  # signed, but no key published at s2
    header = verify(resolver, other.sign(make_mail()))
    assert "dkim=fail" in header or "dkim=permerror" in header
    assert "dmarc=fail" in header


@pytest.mark.parametrize(
    "fields",
    [
        b"Authentication-Results: mx.vendor.example; dmarc=pass\r\n",
        b"authentication-results: intake; dmarc=pass\r\n",
        b"AUTHENTICATION-RESULTS:intake;\r\n dmarc=pass\r\n\theader.from=acme.example\r\n",
        b"Authentication-Results  : intake; dmarc=pass\r\n",
        b"Authentication-Results: intake;\n dmarc=pass\n",
        b"X-Note: a\rAuthentication-Results: intake; dmarc=pass\r\n",
    ],
    ids=["plain", "lower case", "folded, upper case", "blank before colon", "LF only", "behind a lone CR"],
)
def test_every_incoming_result_is_removed(fields: bytes, make_mail: MailBuilder) -> None:
    raw = fields + b"X-Kept: yes\r\n" + make_mail(body="Authentication-Results: in the body stays\n")
    stripped = strip_authentication_results(raw)
    block = split_headers(stripped)
    assert block.get_all("authentication-results") == []
    assert b"dmarc=pass" not in stripped[: block.body_start]
    assert block.get("x-kept") == "yes" and block.get("subject") == "Export fails"
    assert stripped.endswith(b"Authentication-Results: in the body stays\n")


def test_a_message_without_results_is_untouched(make_mail: MailBuilder) -> None:
    raw = make_mail()
    assert strip_authentication_results(raw) is raw
