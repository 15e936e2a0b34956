"""The one membership check every way of joining a ticket uses, and the subject reference it guards."""

from __future__ import annotations

import pytest

from intake.customers.directory import OrgView
from intake.pipeline.context import TicketView
from intake.pipeline.thread import find_ticket_ref, refusal

ACME = OrgView(1, "Acme", "resource-optimizer", None, {"acme.example"})
GLOBEX = OrgView(2, "Globex", "rezilion", "standard", {"globex.example"})


def ticket(org_id: int | None, requester: str = "dana@acme.example") -> TicketView:
    return TicketView(None, org_id, requester, "acknowledged", "resource-optimizer", None, "s3")


@pytest.mark.parametrize(
    ("sender", "org", "ticket_org", "requester", "failure", "why"),
    [
        ("dana@acme.example", ACME, 1, "dana@acme.example", None, None),
        ("kim@acme.example", ACME, 1, "dana@acme.example", None, None),
        ("hank@globex.example", GLOBEX, 1, "dana@acme.example", None, "of Globex"),
        ("eve@freemail.example", None, 1, "dana@acme.example", None, "no known organisation"),
        ("dana@acme.example", ACME, 1, "dana@acme.example", "dmarc=fail", "failed authentication"),
        ("pat@freemail.example", None, None, "pat@freemail.example", None, None),
        ("PAT@FreeMail.example", None, None, "pat@freemail.example", None, None),
        ("sam@freemail.example", None, None, "pat@freemail.example", None, "not the requester"),
        ("pat+x@freemail.example", None, None, "pat@freemail.example", None, "not the requester"),
        ("dana@acme.example", ACME, None, "pat@freemail.example", None, "not the requester"),
        ("pat@freemail.example", None, None, "pat@freemail.example", "dmarc=fail", "failed authentication"),
        ("UDANA", ACME, 1, "UKIM", None, None),  # a Slack user in the organisation's channel
        ("UEVE", None, 1, "UKIM", None, "no known organisation"),  # an unmapped channel
    ],
)
def test_refusal(
    sender: str,
    org: OrgView | None,
    ticket_org: int | None,
    requester: str,
    failure: str | None,
    why: str | None,
) -> None:
    found = refusal(sender, org, ticket(ticket_org, requester), failure)
    if why is None:
        assert found is None
    else:
        assert found is not None and why in found


@pytest.mark.parametrize(
    ("subject", "ref"),
    [
        ("Re: [support-12] Export", 12),
        ("[SUPPORT-12]", 12),
        ("Fwd: [ support-7 ] x", 7),
        ("x[support-3]y", 3),
        ("AW: [support-0012] x", 12),
        ("support-12 again", None),
        ("[support-] x", None),
        ("[support12]", None),
        ("[helpdesk-12]", None),
        ("[support-1234567890123]", None),
    ],
)
def test_find_ticket_ref(subject: str, ref: int | None) -> None:
    assert find_ticket_ref(subject, "support") == ref
