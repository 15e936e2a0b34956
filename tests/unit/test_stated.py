"""Stated severities and environments: what customers write, and what only looks like it."""

from __future__ import annotations

import pytest

from intake.policies import load_all
from intake.policies.stated import StatedSeverity, detect_environment, map_stated, parse_stated_severity

POLICIES = load_all()


def stated(subject: str, body: str = "") -> tuple[str, int | None, str | None] | None:
    found = parse_stated_severity(subject, body)
    return None if found is None else (found.scheme, found.number, found.name)


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Severity 1 - production down", "", ("severity", 1, None)),
        ("Sev 2: reports slow", "", ("severity", 2, None)),
        ("SEV1 outage", "", ("severity", 1, None)),
        ("S2 - exports failing", "", ("severity", 2, None)),
        ("P1!!! URGENT - retention setting", "", ("priority", 1, None)),
        ("Re: [P2] login loop", "", ("priority", 2, None)),
        ("Fwd: [EXTERNAL] Sev-3: typo on invoice", "", ("severity", 3, None)),
        ("(Sev 2) login", "", ("severity", 2, None)),
        (
            "Login broken",
            "Priority: High\nSince this morning nobody in finance can export.",
            ("name", None, "high"),
        ),
        ("Priority: High - printer queue", "", ("name", None, "high")),
        ("[Critical] everything is down", "", ("name", None, "critical")),
        ("Sync stopped [URGENT]", "", ("name", None, "urgent")),
        ("Urgent: cannot log in", "", ("name", None, "urgent")),
        ("URGENT help needed", "", ("name", None, "urgent")),
        ("Level 5 ticket: jobs not syncing", "", ("level", 5, None)),
        ("Agents offline", "Severity: Configuration", ("name", None, "configuration")),
        ("Agents offline", "Severity level: Important", ("name", None, "important")),
        ("Question", "Hi team, this is a P1 issue for us.", ("priority", 1, None)),
        ("Question", "Treat it as a sev 2 please", ("severity", 2, None)),
        ("Question", "We would rate this Severity 3.", ("severity", 3, None)),
        # Slack workflow form: the field name on one line, the value on the next.
        (
            "",
            "*New support request*\n*Severity*\nUrgent\n*Description*\nSync stuck",
            ("name", None, "urgent"),
        ),
        ("", "> *Priority:* P2\n> *Summary:* exports", ("priority", 2, None)),
        ("", "• Urgency: 1", ("priority", 1, None)),
        ("", "Level: 4", ("level", 4, None)),
    ],
)
def test_recognised(subject: str, body: str, expected: tuple[str, int | None, str | None]) -> None:
    assert stated(subject, body) == expected


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        # Codes inside words, part numbers, versions, URLs and query strings.
        ("Printer model S1 broken", ""),
        ("Part AB-S1-200 missing from order", ""),
        ("Question", "the MS1 module throws an error"),
        ("Question", "see https://example.com/docs/p1/setup for details"),
        ("Question", "https://tickets.example.com/list?priority=1&page=2"),
        ("Question", "firmware S1.5 and S2.0 both do it"),
        ("Question", "S1 firmware version 2.1"),
        ("Question", "we store backups in an S3 bucket"),
        ("Question", "AWS S3 issue since noon"),
        ("Question", "Our P1 and P2 fields are empty in the export"),
        # Support tiers, quantities and ordinary words.
        ("Need level 1 support", ""),
        ("Question", "We spoke to level 2 support yesterday"),
        ("Question", "we made this top priority 2 weeks ago"),
        ("Low disk space warning on node 3", ""),
        ("High CPU on the scheduler", ""),
        ("Critical path question", "How do I compute the critical path?"),
        ("Question", "It is urgent that we fix the layout before Friday"),
        ("Urgent help needed", ""),  # only the shouted form counts without a colon or tag
        ("[EXTERNAL] Invoice question", ""),
        ("", ""),
    ],
)
def test_false_positives(subject: str, body: str) -> None:
    assert stated(subject, body) is None


def test_fields_win_over_subject_text() -> None:
    found = parse_stated_severity("URGENT: exports", "Severity: 3")
    assert found is not None and (found.scheme, found.number, found.source) == ("severity", 3, "field")


def test_source_and_text_are_kept() -> None:
    found = parse_stated_severity("Re: [P2] login loop", "")
    assert found == StatedSeverity("priority", 2, None, "[P2]", "tag")


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        # Numbered severities and priorities follow the common scale unless the policy names them.
        (
            "Sev 1: down",
            "",
            {
                "resource-optimizer": "s1",
                "revalize": "s1",
                "functionize": "critical",
                "rezilion": "critical",
                "resilio-connect": "critical",
            },
        ),
        (
            "[P2] slow",
            "",
            {
                "resource-optimizer": "s2",
                "revalize": "s2",
                "functionize": "high",
                "rezilion": "high",
                "resilio-connect": "urgent",
            },
        ),
        (
            "S4 - question",
            "",
            {
                "resource-optimizer": "s4",
                "revalize": "s4",
                "functionize": "low",
                "rezilion": "low",
                "resilio-connect": "low",
            },
        ),
        # Resilio numbers its levels upwards: "Level 5" is Critical there and means nothing elsewhere.
        (
            "Level 5 ticket: sync",
            "",
            {
                "resource-optimizer": None,
                "revalize": None,
                "functionize": None,
                "rezilion": None,
                "resilio-connect": "critical",
            },
        ),
        ("", "Level: 2", {"resilio-connect": "configuration", "rezilion": None}),
        # Names: the policy's own level names first (Resilio's Urgent, Revalize's "Severity 1 (Urgent)").
        (
            "Urgent: sync",
            "",
            {
                "resilio-connect": "urgent",
                "revalize": "s1",
                "functionize": "high",
                "rezilion": "high",
                "resource-optimizer": "s2",
            },
        ),
        ("[Important] sync", "", {"resilio-connect": "important", "functionize": "medium"}),
        ("", "Severity: Configuration", {"resilio-connect": "configuration", "rezilion": "low"}),
        ("Priority: High", "", {"functionize": "high", "resilio-connect": "urgent", "revalize": "s2"}),
    ],
)
def test_map_stated(subject: str, body: str, expected: dict[str, str | None]) -> None:
    found = parse_stated_severity(subject, body)
    assert found is not None
    for policy, level in expected.items():
        assert map_stated(POLICIES[policy], found) == level, policy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Our production server is down", "production"),
        ("prod db is refusing connections", "production"),
        ("It works in staging but fails in production", "production"),
        ("Since we went live yesterday the sync fails", "production"),
        ("the live system rejects logins", "production"),
        ("Environment: Production\nExports fail", "production"),
        ("Affected environment: live", "production"),
        ("our UAT environment returns 500", "test"),
        ("The test environment is down", "test"),
        ("staging shop returns 500 on every page", "test"),
        ("sandbox tenant cannot sync", "test"),
        ("only in QA so far", "test"),
        ("dev server crashed after the upgrade", "test"),
        ("pre-prod cluster is stuck", "test"),
        ("This is a non-production system", "test"),
        ("Environment: Test\nthe prod-like box is slow", "test"),
        ("I ran a test and it failed", "unknown"),
        ("I live in Paris and the app is slow", "unknown"),
        ("please deliver the product update", "unknown"),
        ("the test cases in our suite fail", "unknown"),
        ("we are developing a plugin", "unknown"),
        ("", "unknown"),
    ],
)
def test_detect_environment(text: str, expected: str) -> None:
    assert detect_environment(text) == expected
