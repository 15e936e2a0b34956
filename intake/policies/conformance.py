"""The conformance table: for each policy, each rule with the document's sentence and what the bot does.

The rows come from the `[[rules]]` of each policy file; `intake policies show NAME --rules`
prints them, and docs/CONFORMANCE.md is this module's `markdown()` (a test keeps it so).
"""

from __future__ import annotations

from typing import Any

from intake.policies.loader import load_all
from intake.policies.schema import Policy


def conformance_rows(policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "topic": rule.topic,
            "section": rule.section,
            "says": rule.says,
            "bot": rule.bot,
            "fields": list(rule.fields),
            "choice": rule.choice,
        }
        for rule in policy.rules
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """Every bundled policy's table, as docs/CONFORMANCE.md holds it."""
    lines = [
        "# Conformance: each policy document against the bot",
        "",
        "Generated from the `[[rules]]` of `intake/policies/*.toml` (`intake policies show NAME --rules`);",
        "tests/unit/test_conformance.py checks every quotation against the seed document and that",
        "this file is current. **[choice]** marks a value the document leaves open or lost, that we picked.",
    ]
    for name, policy in sorted(load_all().items()):
        lines += ["", f"## {policy.vendor}: {policy.title} (`{name}`, {policy.source})", ""]
        lines += ["| rule | the document says | the bot |", "| --- | --- | --- |"]
        for row in conformance_rows(policy):
            topic = row["topic"] + (f" ({row['section']})" if row["section"] else "")
            says = f'"{row["says"]}"' if row["says"] else "(silent)"
            bot = row["bot"] + (" **[choice]**" if row["choice"] else "")
            lines.append(f"| {_cell(topic)} | {_cell(says)} | {_cell(bot)} |")
    return "\n".join(lines) + "\n"
