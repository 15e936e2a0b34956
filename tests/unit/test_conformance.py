"""The conformance table (issue 12, must be true 7): each rule's quotation is the document's own
words, every policy has its table, it prints through the CLI, and docs/CONFORMANCE.md is current."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from intake.cli import main
from intake.errors import PolicyError
from intake.policies.conformance import markdown
from intake.policies.loader import load_all, parse_policy
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]
SEEDS = SHARED / "seeds"
FOLD = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u00d7": "x"}
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(FOLD)).strip()


def _document(source: str) -> str:
    path = SEEDS / source
    if not path.exists():
        pytest.skip(f"seed document {path} not present")
    return _norm(path.read_text(encoding="utf-8"))


RULES = [(name, i) for name, policy in sorted(load_all().items()) for i in range(len(policy.rules))]


@pytest.mark.parametrize(("name", "index"), RULES, ids=[f"{n}-{i}" for n, i in RULES])
def test_every_quotation_is_in_the_document(name: str, index: int) -> None:
    policy = load_all()[name]
    rule = policy.rules[index]
    text = _document(policy.source)
    position = 0
    for fragment in (_norm(f) for f in rule.says.split("...") if f.strip()):
        found = text.find(fragment, position)
        assert found >= 0, f"{name} rule {rule.topic!r}: not in {policy.source}: {fragment!r}"
        position = found + len(fragment)


def test_every_policy_has_a_table_and_marks_its_choices() -> None:
    for name, policy in load_all().items():
        assert len(policy.rules) >= 6, name
        assert any(rule.choice for rule in policy.rules), name
        assert all(rule.bot for rule in policy.rules), name


def test_a_silent_rule_must_say_it_is_a_choice_and_fields_must_exist() -> None:
    text = (ROOT / "intake/policies/functionize.toml").read_text(encoding="utf-8")
    with pytest.raises(PolicyError, match=r"rules\.\d+\.choice: a rule the document does not state"):
        parse_policy(text + '\n[[rules]]\ntopic = "x"\nbot = "y"\n', "functionize.toml")
    bad = text.replace(
        'fields = ["channels.supported", "channels.fallback"]', 'fields = ["channels.nothing"]'
    )
    with pytest.raises(PolicyError, match=r"no such policy field 'channels.nothing'"):
        parse_policy(bad, "functionize.toml")


def test_policies_show_rules_prints_the_table() -> None:
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        try:
            main(["policies", "show", "resource-optimizer", "--rules", "--json"])
        except SystemExit as exc:
            assert not exc.code
    rows = json.loads(stdout.getvalue())
    coverage = next(r for r in rows if r["topic"] == "Coverage hours")
    assert coverage["says"].startswith("Business Hours (GMT) 00:00 - 16:00 GMT")
    assert coverage["choice"] is True
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        try:
            main(["policies", "show", "rezilion", "--rules"])
        except SystemExit as exc:
            assert not exc.code
    printed = stdout.getvalue()
    assert "Hours in local time (Section 1) [choice]" in printed
    assert "document: Standard Customer Support is available" in printed


def test_docs_conformance_is_current() -> None:
    assert (ROOT / "docs/CONFORMANCE.md").read_text(encoding="utf-8") == markdown(), (
        "regenerate: python -c 'from intake.policies.conformance import markdown; "
        'open("docs/CONFORMANCE.md", "w").write(markdown())\''
    )
