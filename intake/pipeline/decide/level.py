"""The level rules: which of the policy's severity levels (and category) a new ticket gets.

Each rule takes the facts, the policy and the level so far and returns the level
after it; they run in the order of `LEVEL_RULES`, every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from intake.pipeline.context import Hit, Triage
from intake.pipeline.decide.decision import LevelFacts
from intake.pipeline.decide.facts import Facts
from intake.policies.schema import Policy
from intake.policies.stated import (
    detect_environment,
    map_stated,
    parse_stated_severity,
    stated_category,
    stated_environment,
)


@dataclass(frozen=True)
class Level:
    key: str
    review: bool
    facts: LevelFacts
    category: str | None
    hits: tuple[Hit, ...] = ()

    def hit(self, step: str, reason: str, **changes: object) -> Level:
        return replace(self, hits=(*self.hits, Hit(step, reason)), **changes)  # type: ignore[arg-type]


LevelRule = Callable[[Facts, Policy, Level], Level]


def _text(facts: Facts) -> str:
    return f"{facts.message.subject}\n{facts.message.text}"


def start(triage: Triage) -> Level:
    """The classifier's level, category and environment guess."""
    return Level(
        triage.severity, triage.needs_review, LevelFacts(triage.severity, triage.environment), triage.category
    )


def stated_severity(facts: Facts, policy: Policy, level: Level) -> Level:
    """The customer's stated severity, taken as given where the policy lets customers set it.

    Revalize: "Revalize Customer Support targets initial response times based on
    the Severity communicated by the partner when they submit the issue." Resource
    Optimizer only hears a "suggested urgency" (IV.A.4.h) and "may modify the
    Incident's Severity Level at its sole discretion" (IV.B.1.h): there the level
    is recorded, not taken (`customer_settable = false`).
    """
    msg = facts.message
    stated = parse_stated_severity(msg.subject, msg.text)
    if stated is None:
        return level
    key = map_stated(policy, stated)
    level = replace(
        level, facts=replace(level.facts, stated=stated.text, stated_level=key, stated_parsed=True)
    )
    if key is None:
        return level
    level = level.hit("decide.stated-severity", f"customer states {stated.text!r} = {key}")
    return replace(level, key=key) if policy.level(key).customer_settable else level


def flag_disagreement(facts: Facts, policy: Policy, level: Level) -> Level:
    """A stated level the model disagrees with goes to a person (the policy decides, a human checks)."""
    stated, triage = level.facts.stated_level, facts.triage
    if stated is None or triage is None or not triage.model_version:
        return level
    if policy.canonical(stated) == triage.canonical:
        return level
    return level.hit(
        "decide.disagreement",
        f"customer says {stated}, classifier says {level.facts.classifier_level} ({triage.canonical})",
        review=True,
    )


def stated_environment_wins(facts: Facts, policy: Policy, level: Level) -> Level:
    """What the customer states in an "Environment:" field beats the classifier's guess; then the
    classifier's reading, then the text's mentions (finding 1).

    Revalize: the partner is asked to "identify the affected environment (production, test, etc.)".
    """
    guess = level.facts.environment
    stated = stated_environment(_text(facts))
    if stated is None:
        found = guess if guess != "unknown" else detect_environment(_text(facts))
        return replace(level, facts=replace(level.facts, environment=found))
    level = replace(level, facts=replace(level.facts, environment=stated))
    if guess in ("unknown", stated):
        return level
    return level.hit("decide.stated-environment", f"customer states {stated}; classifier guessed {guess}")


def environment_limits_severity(facts: Facts, policy: Policy, level: Level) -> Level:
    """A level reserved for production is stepped down elsewhere.

    Revalize: "Severity 1 issues (Urgent) are reserved for production environment issues".
    """
    environment = level.facts.environment
    admissible = policy.admissible_level(level.key, environment).key
    if admissible == level.key:
        return level
    return level.hit(
        "decide.environment-lowered",
        f"{policy.level(level.key).label} is for production; {environment} environment gets "
        f"{policy.level(admissible).label}",
        review=True,
        key=admissible,
    )


def stated_category_taken(facts: Facts, policy: Policy, level: Level) -> Level:
    """Where the customer categorises (Resource Optimizer IV.A.4.d: the Contact's "Incident
    category"), a "Category:" field is taken as given."""
    if not policy.customer_sets_category:
        return level
    stated = stated_category(policy, facts.message.text)
    if stated is None or stated == level.category:
        return level
    return level.hit(
        "decide.stated-category",
        f"customer states {stated}; classifier said {level.category}",
        category=stated,
    )


def enhancement_has_its_level(facts: Facts, policy: Policy, level: Level) -> Level:
    """An enhancement request gets the policy's enhancement level.

    Resource Optimizer, S4: "a reported Incident where the Software is operating within
    the documented functionality and Customer would like to record an idea for
    inclusion in future releases"; Rezilion's Low: "enhancement request".
    """
    if level.category != "enhancement" or not policy.enhancements.level:
        return level
    return replace(level, key=policy.enhancements.level)


def record_stated_used(facts: Facts, policy: Policy, level: Level) -> Level:
    """The receipt says "(as you stated)" only where the stated level is the one the ticket got."""
    used = level.facts.stated_level is not None and level.facts.stated_level == level.key
    return replace(level, facts=replace(level.facts, stated_used=used))


LEVEL_RULES: tuple[LevelRule, ...] = (
    stated_severity,
    flag_disagreement,
    stated_environment_wins,
    environment_limits_severity,
    stated_category_taken,
    enhancement_has_its_level,
    record_stated_used,
)


def choose(facts: Facts, policy: Policy, triage: Triage) -> Level:
    level = start(triage)
    for rule in LEVEL_RULES:
        level = rule(facts, policy, level)
    return level
