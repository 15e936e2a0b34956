"""The trust model's verdicts (intake/trust.py), header by header, under both `require` settings."""

from __future__ import annotations

import pytest

from intake.trust import assess, authserv_id

MX = frozenset({"mx.vendor.example"})
DANA = "dana@acme.example"


def verdict(header: str, require: str = "not-fail", trusted: frozenset[str] = MX, sender: str = DANA) -> str:
    return assess(header, sender, trusted, require).verdict  # type: ignore[arg-type]


@pytest.mark.parametrize("require", ["not-fail", "dmarc-pass"])
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("mx.vendor.example; dmarc=pass header.from=acme.example", "pass"),
        ("mx.vendor.example 1; dmarc=pass (p=reject) header.from=acme.example", "pass"),
        (
            "mx.vendor.example;\tspf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; "
            "dmarc=pass header.from=acme.example",
            "pass",
        ),
        ("mx.vendor.example; dmarc=fail header.from=acme.example", "fail"),
        # no header at all, or only other servers' headers
        ("", "unverified"),
        ("mx.other.example; dmarc=pass header.from=acme.example", "unverified"),
        # look-alike authserv-ids are other servers
        ("mx.vendor.example.evil; dmarc=pass", "unverified"),
        ("MX.VENDOR.EXAMPLE; dmarc=pass", "unverified"),
        ("Mx.Vendor.Example; dmarc=pass", "unverified"),
        ("mx.vendor.example (forged); dmarc=pass", "unverified"),
        ("(comment) mx.vendor.example; dmarc=pass", "unverified"),
        ("mx.vendor.examp1e; dmarc=pass", "unverified"),
        ("mx-vendor.example; dmarc=pass", "unverified"),
        ("xmx.vendor.example; dmarc=pass", "unverified"),
        ("mx.vendor.example\u200b; dmarc=pass", "unverified"),
        ("mx.vendor.example.; dmarc=pass", "unverified"),
        ("mx.vendor.example, mx.vendor.example; dmarc=pass", "unverified"),
        ("mx.vendor.example dmarc=pass", "unverified"),
        # a forged pass on top of, or below, the trusted fail: the fail stands
        ("mx.vendor.example; dmarc=pass\nmx.vendor.example; dmarc=fail", "fail"),
        ("mx.vendor.example; dmarc=fail\nmx.vendor.example; dmarc=pass", "fail"),
        ("mx.vendor.example; dmarc=pass\nmx.vendor.example; dmarc=none", "unverified"),
        ("mx.vendor.example; dmarc=none\nmx.vendor.example; dmarc=pass", "unverified"),
        ("mx.vendor.example; dmarc=pass\nmx.vendor.example; dmarc=temperror", "unverified"),
        ("mx.vendor.example; dmarc=pass; dmarc=fail", "fail"),
        # a forged pass from an untrusted server next to the trusted fail
        ("evil.example; dmarc=pass\nmx.vendor.example; dmarc=fail header.from=acme.example", "fail"),
        # not a pass
        ("mx.vendor.example; dmarc=none header.from=acme.example", "unverified"),
        ("mx.vendor.example; dmarc=permerror header.from=acme.example", "unverified"),
        ("mx.vendor.example; dmarc=temperror header.from=acme.example", "unverified"),
        ("mx.vendor.example; none", "unverified"),
        ("mx.vendor.example; spf=none; dkim=none", "unverified"),
        ("mx.vendor.example; dmarc=bestguesspass", "unverified"),
        ("mx.vendor.example; arc=pass", "unverified"),
        # unreadable under the trusted id: vouches for nothing
        ("mx.vendor.example; dmarc", "unverified"),
        ("mx.vendor.example; =pass", "unverified"),
        # the SPF pass is for another domain, the DKIM signature by another domain
        ("mx.vendor.example; spf=pass smtp.mailfrom=evil.example; dkim=none; dmarc=none", "unverified"),
        ("mx.vendor.example; spf=none; dkim=pass header.d=evil.example; dmarc=none", "unverified"),
        ("mx.vendor.example; spf=none; dkim=pass header.d=acme.example.evil; dmarc=none", "unverified"),
        ("mx.vendor.example; spf=pass smtp.mailfrom=x@notacme.example; dmarc=none", "unverified"),
        ("mx.vendor.example; spf=fail smtp.mailfrom=acme.example; dkim=none", "fail"),
    ],
)
def test_trusted_results(header: str, expected: str, require: str) -> None:
    assert verdict(header, require) == expected, header


@pytest.mark.parametrize(
    ("header", "not_fail", "dmarc_pass"),
    [
        # no DMARC record (none) or a broken one (permerror): an aligned pass is enough for not-fail
        ("mx.vendor.example; dkim=pass header.d=acme.example; dmarc=none", "pass", "unverified"),
        ("mx.vendor.example; dkim=pass header.d=mail.acme.example; dmarc=none", "pass", "unverified"),
        (
            "mx.vendor.example; spf=pass smtp.mailfrom=bounce@acme.example; dmarc=permerror",
            "pass",
            "unverified",
        ),
        ("mx.vendor.example; spf=pass smtp.mailfrom=acme.example", "pass", "unverified"),
        # DMARC could not be fetched: an aligned pass is what DMARC would pass on
        ("mx.vendor.example; dkim=pass header.d=acme.example; dmarc=temperror", "pass", "unverified"),
        ("mx.vendor.example; spf=temperror; dkim=temperror; dmarc=temperror", "unverified", "unverified"),
        # one failed signature next to an aligned passing one
        (
            "mx.vendor.example; dkim=fail header.d=list.example; dkim=pass header.d=acme.example; dmarc=none",
            "pass",
            "unverified",
        ),
        # spf=fail is outweighed only by an aligned DKIM pass
        (
            "mx.vendor.example; spf=fail smtp.mailfrom=acme.example; dkim=pass header.d=acme.example",
            "pass",
            "unverified",
        ),
        (
            "mx.vendor.example; spf=fail smtp.mailfrom=acme.example; dkim=pass header.d=evil.example",
            "fail",
            "fail",
        ),
        # a forged trusted-looking header adds an aligned pass the real header does not state
        (
            "mx.vendor.example; spf=none; dkim=none; dmarc=none\n"
            "mx.vendor.example; dkim=pass header.d=acme.example",
            "unverified",
            "unverified",
        ),
        (
            "mx.vendor.example; dkim=none; dmarc=none\n"
            "mx.vendor.example; spf=pass smtp.mailfrom=acme.example",
            "pass",
            "unverified",
        ),  # documented limit: the real one says nothing about SPF
        # a forged header that overstates DMARC or SPF is discredited whole, its aligned pass with it
        (
            "mx.vendor.example; dmarc=none\nmx.vendor.example; dkim=pass header.d=acme.example; dmarc=pass",
            "unverified",
            "unverified",
        ),
        (
            "mx.vendor.example; spf=softfail smtp.mailfrom=acme.example; dmarc=none\n"
            "mx.vendor.example; spf=pass smtp.mailfrom=acme.example",
            "unverified",
            "unverified",
        ),
        # split milters (OpenDKIM and OpenDMARC each add a header under the MX's id)
        (
            "mx.vendor.example; dkim=pass header.d=acme.example\n"
            "mx.vendor.example; dmarc=pass header.from=acme.example",
            "pass",
            "pass",
        ),
        (
            "mx.vendor.example; dkim=pass header.d=acme.example\n"
            "mx.vendor.example; dmarc=none header.from=acme.example",
            "pass",
            "unverified",
        ),
    ],
)
def test_not_fail_needs_an_aligned_pass(header: str, not_fail: str, dmarc_pass: str) -> None:
    assert (verdict(header, "not-fail"), verdict(header, "dmarc-pass")) == (not_fail, dmarc_pass)


def test_alignment_follows_the_from_domain() -> None:
    header = "mx.vendor.example; dkim=pass header.d=globex.example; dmarc=none"
    assert verdict(header, sender="hank@globex.example") == "pass"
    assert verdict(header, sender=DANA) == "unverified"
    assert verdict(header, sender="") == "unverified"


def test_several_trusted_servers_and_our_own_smtp_id() -> None:
    both = frozenset({"mx.vendor.example", "intake"})
    assert verdict("intake; dmarc=pass", trusted=both) == "pass"
    assert verdict("intake; dmarc=pass", trusted=MX) == "unverified"
    assert verdict("intake; dmarc=pass\nmx.vendor.example; dmarc=fail", trusted=both) == "fail"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "unchecked"),
        ("anything; dmarc=none", "unchecked"),
        ("anything; dmarc=fail header.from=acme.example", "fail"),
        ("anything; spf=fail; dkim=none", "fail"),
        ("anything; spf=fail; dkim=pass header.d=acme.example", "unchecked"),
        ("top.example; dmarc=pass\nlower.example; dmarc=fail", "unchecked"),  # only the topmost is read
    ],
)
def test_nothing_trusted_configured(header: str, expected: str) -> None:
    assert verdict(header, trusted=frozenset()) == expected
    assert verdict(header, "dmarc-pass", trusted=frozenset()) == "unverified"


def test_authserv_id_is_read_plainly() -> None:
    assert authserv_id("mx.vendor.example; dmarc=pass") == "mx.vendor.example"
    assert authserv_id("  mx.vendor.example 1 ; none") == "mx.vendor.example"
    assert authserv_id("mx.vendor.example (c); none") is None
    assert authserv_id("; dmarc=pass") is None
    assert authserv_id("mx.vendor.example") is None


def test_doctor_warns_where_nothing_can_be_verified() -> None:
    from intake.cli.doctor import trust_warnings
    from intake.config import Settings

    def warnings(**sections: object) -> list[str]:
        return trust_warnings(Settings.model_validate(sections))

    imap = [{"name": "support", "username": "support@vendor.example"}]
    assert warnings() == []
    [unsafe] = warnings(imap=imap)
    assert "IMAP" in unsafe and "trusted_authserv_ids" in unsafe and "believed" in unsafe
    [nobody] = warnings(imap=imap, guard={"require": "dmarc-pass"})
    assert "nobody" in nobody
    assert warnings(imap=imap, guard={"trusted_authserv_ids": ["mx.vendor.example"]}) == []
    # the SMTP server alone verifies what it receives; relayed mail from trusted_networks does not
    assert warnings(smtp_server={"trusted_networks": []}) == []
    [relayed] = warnings(smtp_server={})
    assert "127.0.0.0/8" in relayed and "taken as written" in relayed
    [own] = warnings(
        smtp_server={"trusted_networks": [], "authserv_id": "intake.vendor.example"},
        guard={"trusted_authserv_ids": ["intake.vendor.example"]},
    )
    assert "own id" in own


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mx; dmarc=pass header.from=acme.example", [("dmarc", "pass", {"header.from": "acme.example"})]),
        (
            "mx 1; dkim=pass (good (nested) sig) header.d=acme.example",
            [("dkim", "pass", {"header.d": "acme.example"})],
        ),
        (
            'mx; dkim=pass header.d="a;b"; dmarc=fail',
            [("dkim", "pass", {"header.d": "a;b"}), ("dmarc", "fail", {})],
        ),
        (
            'mx; dmarc=pass reason="header.d=evil.example" header.from=a.example',
            [("dmarc", "pass", {"header.from": "a.example"})],
        ),
        ("mx; dkim/1=PASS Header.D=a.example", [("dkim", "pass", {"header.d": "a.example"})]),
        ("mx; none", []),
        ("mx; dmarc", None),
        ("mx; =pass", None),
        ("mx; dkim=pass (unbalanced", None),
        ("mx; dkim=pass) header.d=a.example", None),
    ],
)
def test_results_are_read_by_the_rfc_8601_grammar(value: str, expected: object) -> None:
    from intake.trust import parse_results

    assert parse_results(value) == expected
