"""Ticket references in one module (issue 9, point 3): what is written, what threads, what is typed."""

from __future__ import annotations

import pytest

from intake.errors import BadInput
from intake.tickets import refs


def test_format_and_tag() -> None:
    assert refs.format_ref("support", 42) == "support-42"
    assert refs.subject_tag("help", 7) == "[help-7]"


@pytest.mark.parametrize(
    ("subject", "found"),
    [
        ("Re: [support-42] Export fails", 42),
        ("[ SUPPORT-42 ] x", 42),
        ("Fwd: [support-3] and [support-4]", 3),
        ("see support-42 for the same bug", None),  # bare: prose, not a thread
        ("[supporter-42] x", None),
        ("[support-] x", None),
        ("[support-1234567890123] x", None),
    ],
)
def test_find_in_subject(subject: str, found: int | None) -> None:
    assert refs.find_in_subject(subject, "support") == found


def test_tagged_names_only_this_ticket() -> None:
    assert refs.tagged("Re: [Support-5] please escalate", "support", 5)
    assert not refs.tagged("Re: [support-50] please escalate", "support", 5)
    assert not refs.tagged("Re: support-5 please escalate", "support", 5)


@pytest.mark.parametrize("typed", ["support-42", "[support-42]", " Support-42 ", "42", "[ support-42 ]"])
def test_parse_ref_accepts_what_an_engineer_types(typed: str) -> None:
    assert refs.parse_ref(typed, "support") == 42


@pytest.mark.parametrize("typed", ["banana", "other-42", "support-", "support-4x", "-42", "support--42", ""])
def test_parse_ref_refuses_the_rest(typed: str) -> None:
    with pytest.raises(BadInput, match=r"not a ticket reference: .* \(expected e\.g\. support-42\)"):
        refs.parse_ref(typed, "support")
