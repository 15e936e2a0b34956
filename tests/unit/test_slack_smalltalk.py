"""The small-talk rules on the cases the issue names; their figures are in bench/bench_slack_smalltalk.py."""

from __future__ import annotations

import pytest

from channels.slack.smalltalk import small_talk


@pytest.mark.parametrize(
    "text",
    [
        "thanks, that fixed it",
        "np",
        "👍",
        ":+1:",
        "tahnks!",  # letters swapped
        "thank youuu",  # elongated
        "kthxbye",  # pleasantries run together
        "ok, I'll test it tomorrow",
        "it's working again, thanks",  # "again" after "working" is good news
        "Wonderful, that's exactly what we were after",  # a question word inside a clause
        "feel free to close this one",
        "Danke, hat funktioniert",
        "merci, c'est réglé",
        "gracias, todo bien ahora",
        "bedankt, het werkt weer",
        "valeu, funcionou",
    ],
)
def test_pleasantries_are_small_talk(text: str) -> None:
    assert small_talk(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "still down",
        "same error again",
        "prod is down again!!",
        "thanks, but it's still failing",
        "ok thanks - what's the ETA for the fix",  # a question without its question mark
        "great, send me the invoice",  # a weak pleasantry with a request around it
        "thanks, he thinks it is the proxy",  # "thinks" is no typo of "thanks"
        "the app is borken",  # a mistyped problem is still one
        "thanks! one more: the logo upload fails",
        "Danke, aber der Fehler ist immer noch da",
        "merci mais ça ne marche toujours pas",
        "ok, see https://status.example.com",
        "Reports tab spins forever",  # no pleasantry at all
    ],
)
def test_problems_and_requests_are_not(text: str) -> None:
    assert small_talk(text) is None
