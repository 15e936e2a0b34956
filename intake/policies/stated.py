"""What the customer says the severity is, and which environment they say is affected.

`parse_stated_severity` finds a severity the sender *states* ("Severity 1", "Sev 2",
"S2", "P1", "Priority: High", "[Critical]", "Level 5", "URGENT:", a Slack form
field) without knowing the policy; `map_stated` turns it into one of a policy's
levels. A stated level is evidence, not a verdict: the decide step weighs it with
the classifier and the policy's `customer_settable`.

Short codes are easy to find by accident ("S1" in a part number, "p1" in a URL,
"Level 1 support" meaning a support tier), so each form is accepted only where a
person writing a severity puts it: a field ("Severity: 2"), a subject tag ("[P1]"),
the start of the subject, or next to words like "issue" or "this is a".
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

from intake.policies.schema import Canonical, Policy

Scheme = Literal["severity", "priority", "level", "name"]
Source = Literal["field", "tag", "subject", "body"]


@dataclass(frozen=True)
class StatedSeverity:
    """A severity as written: a numbered scheme ("P1" is priority 1) or a name ("high")."""

    scheme: Scheme
    number: int | None
    name: str | None
    text: str
    source: Source

    def candidates(self) -> list[str]:
        """Spellings a policy's level aliases may use for this statement, lower-case."""
        n = self.number
        if self.scheme == "severity":
            return [f"severity {n}", f"sev {n}", f"s{n}"]
        if self.scheme == "priority":
            return [f"priority {n}", f"p{n}"]
        if self.scheme == "level":
            return [f"level {n}", f"l{n}"]
        return [self.name or ""]


# Names people use for a severity, and their canonical meaning when the policy has
# no level of that name. "Urgent" is high: Resilio's Urgent is level 4 of 5, and the
# labelling guide (classifiers/seed/LABELLING.md) warns that shouting "urgent" is
# not a critical outage. A policy whose level is called "Urgent" (Resilio, Revalize's
# "Severity 1 (Urgent)") maps it through its aliases first.
NAMES: dict[str, Canonical] = {
    "critical": "critical",
    "emergency": "critical",
    "blocker": "critical",
    "showstopper": "critical",
    "highest": "critical",
    "urgent": "high",
    "high": "high",
    "major": "high",
    "serious": "high",
    "important": "medium",
    "medium": "medium",
    "normal": "medium",
    "moderate": "medium",
    "configuration": "low",
    "low": "low",
    "minor": "low",
    "trivial": "low",
    "lowest": "low",
    "cosmetic": "low",
}
# Names loud enough to be a stated level at the start of a subject even without a
# colon ("URGENT help needed"), when written in capitals.
_SHOUTED = {"urgent", "critical", "emergency"}

_NAME_ALT = "|".join(sorted(NAMES, key=len, reverse=True))
# A code: Severity 1, Sev-2, SEV1, S2, P1, Priority 3, Prio 2, Level 5, L5.
_CODE = (
    r"(?:(?P<sev>sev(?:erity)?\s*[-#]?\s*|s)(?P<sevn>[1-5])"
    r"|(?P<pri>p(?:rio(?:rity)?\s*[-#]?\s*)?)(?P<prin>[1-5])"
    r"|(?P<lvl>l(?:evel|vl)?\s*[-#]?\s*)(?P<lvln>[1-5]))"
)
# Not inside a word, path, URL, part number or decimal: "MS1", "/p1/", "AB-S1", "S1.5", "p1=".
_BEFORE = r"(?<![\w/.=#&?:@-])"
_AFTER = r"(?![\w/=#&@]|[.-]\w)"
_CODE_RE = re.compile(_BEFORE + _CODE + _AFTER, re.IGNORECASE)
# "top priority 2 weeks ago" is not priority 2.
_NOT_A_QUANTITY = (
    r"(?!\s*(?:weeks?|days?|hours?|hrs?|months?|years?|minutes?|mins?|times?|people|users?)\b|\s*%)"
)
_LONG_CODE_RE = re.compile(
    _BEFORE
    + r"(?:(?P<sev>sev(?:erity)?)|(?P<pri>priority))\s*[-#]?\s*(?P<n>[1-5])"
    + _AFTER
    + _NOT_A_QUANTITY,
    re.IGNORECASE,
)
# Amazon S3 and friends: "AWS S3 issue", "S3 bucket".
_NOT_A_CODE_BEFORE = re.compile(r"\b(?:aws|amazon|minio|wasabi)\s*$", re.IGNORECASE)
_NOT_A_CODE_AFTER = re.compile(r"^\s*(?:buckets?|objects?|storage|api|endpoints?|compatible)\b", re.I)
_LABEL = (
    r"(?:(?:ticket|case|issue|incident)\s+)?"
    r"(?P<label>severity|sev|priority|prio|urgency|level)(?:\s+level)?"
)
_VALUE = rf"(?P<value>{_CODE}|[1-5]|{_NAME_ALT})"
# "Severity: 2", "Priority = High", "*Urgency:* Urgent" (Slack bold), inline in a line.
_FIELD_INLINE_RE = re.compile(
    rf"(?<![\w/?&=.-]){_LABEL}[*_]*\s*[:=]\s*[*_`]*\s*{_VALUE}(?![\w/])", re.IGNORECASE
)
# "Priority - High" at the start of a line.
_FIELD_DASH_RE = re.compile(rf"^{_LABEL}[*_]*\s+[-–]\s+[*_`]*{_VALUE}(?![\w/])", re.IGNORECASE)
# A line holding only a field name ("*Severity*"): the value is on the next line (Slack forms).
_LABEL_LINE_RE = re.compile(rf"^[*_]*{_LABEL}[*_]*\s*:?\s*[*_]*$", re.IGNORECASE)
_VALUE_LINE_RE = re.compile(rf"^[*_`]*\s*{_VALUE}(?![\w/])", re.IGNORECASE)
# A tag in the subject: [P1], (Sev 2), {Critical}, [URGENT].
_TAG_RE = re.compile(rf"[\[({{]\s*{_VALUE}\s*[\])}}]", re.IGNORECASE)
# Reply and forward prefixes and tags that come before the real subject.
_SUBJECT_PREFIX_RE = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|sv|tr)\s*:\s*|\s*\[[^\]]*\]\s*)*", re.IGNORECASE)
_LEADING_NAME_RE = re.compile(rf"^(?P<value>{_NAME_ALT})\s*(?:[:!|–—-]|$)", re.IGNORECASE)
_LEADING_SHOUT_RE = re.compile(r"^(?P<value>URGENT|CRITICAL|EMERGENCY)\b")
# Words next to a code in running text that make it a severity.
_CONTEXT_AFTER = (
    r"\s+(?:issue|incident|ticket|case|outage|bug|problem|priority|severity|request|defect|emergency)\b"
)
_CONTEXT_BEFORE = (
    r"(?:\bthis\s+is\s+(?:an?\s+)?|\bit'?s\s+(?:an?\s+)?|\bas\s+(?:an?\s+)?|\bto\s+(?:an?\s+)?"
    r"|\bis\s+an?\s+|\bmark(?:ed)?\s+(?:it\s+)?(?:as\s+)?)$"
)
# "Level 1 support", "level 2 engineer": a support tier, not a severity.
_TIER_AFTER = re.compile(
    r"^\s*(?:support|tier|engineers?|team|agents?|analysts?|technicians?|escalation)\b", re.I
)
_MARKUP = str.maketrans({"*": " ", "_": " ", "`": " ", "~": " "})


def parse_stated_severity(subject: str, body: str) -> StatedSeverity | None:
    """The severity the sender states, or None.

    Looks, in order, at fields ("Severity: 2", a Slack form's "*Priority*" line
    followed by "High"), subject tags ("[P1]"), the start of the subject
    ("URGENT:", "S1 - ...") and codes in running text that sit next to context
    words ("this is a P1", "Sev 2 issue"). The first hit wins.
    """
    # People state a severity near the top; the rest of a long mail (logs, pasted
    # output) only costs time and adds false hits.
    body = body[:_SCAN_CHARS]
    for finder in (_from_fields, _from_subject, _from_text):
        found = finder(subject, body)
        if found is not None:
            return found
    return None


_SCAN_CHARS = 4000
# Every field form names its label; without one of these words there is no field to find.
_LABEL_GATE_RE = re.compile(
    r"\b(?:sev(?:erity)?|prio(?:rity)?|urgency|level)\b[*_]*(?:\s+level)?[*_]*\s*(?:[:=–-]|$)",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTE_MARKS_RE = re.compile(r"^\s*(?:[>•·*-]\s+)*")


def _from_fields(subject: str, body: str) -> StatedSeverity | None:
    if not _LABEL_GATE_RE.search(subject) and not _LABEL_GATE_RE.search(body):
        return None
    lines = [_strip_quote(line) for line in [subject, *body.splitlines()]]
    for index, line in enumerate(lines):
        match = _FIELD_INLINE_RE.search(line) or _FIELD_DASH_RE.match(line)
        if match:
            stated = _from_value(match.group("value"), match.group("label"), match.group(0), "field")
            if stated is not None:
                return stated
        if index and _LABEL_LINE_RE.match(line):
            following = next((nxt for nxt in lines[index + 1 : index + 3] if nxt.strip()), "")
            value = _VALUE_LINE_RE.match(following.strip())
            if value:
                label = _LABEL_LINE_RE.match(line)
                assert label is not None
                stated = _from_value(value.group("value"), label.group("label"), following.strip(), "field")
                if stated is not None:
                    return stated
    return None


def _strip_quote(line: str) -> str:
    """Drop Slack/Markdown quote and bullet marks at the start of a line."""
    return _QUOTE_MARKS_RE.sub("", line, count=1).strip()


def _from_subject(subject: str, body: str) -> StatedSeverity | None:
    del body
    for match in _TAG_RE.finditer(subject):
        stated = _from_value(match.group("value"), None, match.group(0), "tag")
        if stated is not None:
            return stated
    rest = _SUBJECT_PREFIX_RE.sub("", subject, count=1)
    code = _CODE_RE.match(rest)
    if code and not _is_tier(rest[code.end() :], code):
        return _from_code(code, "subject")
    leading = _LEADING_NAME_RE.match(rest) or _LEADING_SHOUT_RE.match(rest)
    if leading:
        return _name(leading.group("value"), leading.group(0).strip(), "subject")
    # "Printer down - P1" / "Login broken (severity 1)" handled by tags and _from_text.
    return None


def _from_text(subject: str, body: str) -> StatedSeverity | None:
    places: tuple[tuple[str, Source], ...] = ((subject, "subject"), (body, "body"))
    for text, source in places:
        for match in _LONG_CODE_RE.finditer(text):
            scheme: Scheme = "severity" if match.group("sev") else "priority"
            return StatedSeverity(scheme, int(match.group("n")), None, match.group(0), source)
        for match in _CODE_RE.finditer(text):
            before = text[max(0, match.start() - 30) : match.start()]
            after = text[match.end() : match.end() + 20]
            if _is_tier(after, match) or _NOT_A_CODE_BEFORE.search(before) or _NOT_A_CODE_AFTER.match(after):
                continue
            if re.match(_CONTEXT_AFTER, after, re.I) or re.search(_CONTEXT_BEFORE, before, re.I):
                return _from_code(match, source)
    return None


def _is_tier(after: str, match: re.Match[str]) -> bool:
    return bool(match.group("lvl") is not None and _TIER_AFTER.match(after))


def _from_code(match: re.Match[str], source: Source) -> StatedSeverity:
    text = match.group(0)
    if match.group("sevn"):
        return StatedSeverity("severity", int(match.group("sevn")), None, text, source)
    if match.group("prin"):
        return StatedSeverity("priority", int(match.group("prin")), None, text, source)
    return StatedSeverity("level", int(match.group("lvln")), None, text, source)


def _from_value(value: str, label: str | None, text: str, source: Source) -> StatedSeverity | None:
    value = value.translate(_MARKUP).strip()
    code = _CODE_RE.fullmatch(value)
    if code:
        return dataclasses.replace(_from_code(code, source), text=text.strip())
    if value.isdigit():
        scheme = _LABEL_SCHEMES.get((label or "").lower(), "severity")
        return StatedSeverity(scheme, int(value), None, text.strip(), source)
    if value.lower() in NAMES:
        return _name(value, text, source)
    return None


_BY_NUMBER: tuple[Canonical, ...] = ("critical", "high", "medium", "low")
_LABEL_SCHEMES: dict[str, Scheme] = {
    "level": "level",
    "priority": "priority",
    "prio": "priority",
    "urgency": "priority",
}


def _name(value: str, text: str, source: Source) -> StatedSeverity:
    return StatedSeverity("name", None, value.lower(), text.strip(), source)


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def map_stated(policy: Policy, stated: StatedSeverity) -> str | None:
    """The policy level a stated severity names, or None if it names none.

    First the policy's own words (level keys, labels and aliases: Resilio's
    "Level 5" is Critical, Revalize's "Urgent" is Severity 1); then the common
    convention, through the canonical scale: Severity/Priority 1 is critical,
    2 high, 3 medium, 4 and 5 low, and names as in `NAMES`. "Level N" means
    nothing to a policy that does not number its levels that way (it is often a
    support tier), so it maps only through aliases.
    """
    wanted = {_normal(c) for c in stated.candidates()}
    for level in policy.levels:
        spellings = {_normal(level.key), _normal(level.label), *(_normal(a) for a in level.aliases)}
        if wanted & spellings:
            return level.key
    canonical: Canonical | None = None
    if stated.scheme in ("severity", "priority") and stated.number is not None:
        canonical = _BY_NUMBER[min(stated.number, 4) - 1]
    elif stated.scheme == "name" and stated.name is not None:
        canonical = NAMES.get(stated.name)
    if canonical is None:
        return None
    return policy.level_for_canonical(canonical).key


# --- environment --------------------------------------------------------------

_ENV_FIELD_RE = re.compile(
    r"(?:^|\n)\s*[*_>•-]*\s*(?:affected\s+)?environment[*_]*\s*[:=-]\s*[*_]*\s*(?P<value>[\w -]{1,40})",
    re.IGNORECASE,
)
# Not production although they contain "prod": non-production, pre-prod, preproduction.
_NOT_PROD_RE = re.compile(r"\b(?:non|pre)[\s-]?prod(?:uction)?\b", re.IGNORECASE)
_PROD_RE = re.compile(
    r"\bprod(?:uction)?\b"
    r"|\blive\s+(?:environment|env|system|site|server|instance|platform|tenant|database|data|shop|store)\b"
    r"|\b(?:in|on|to)\s+live\b(?!\s+(?:chat|demo|stream|session|support|call|meeting))"
    r"|\bgo(?:ne|es)?[\s-]live\b|\bwent\s+live\b",
    re.IGNORECASE,
)
_TEST_RE = re.compile(
    r"\b(?:uat|staging|sandbox|pre[\s-]?prod(?:uction)?|non[\s-]?prod(?:uction)?)\b"
    r"|\bQA\b"
    r"|\b(?:test|testing|dev|development|qa)\s+(?:environment|env|system|server|instance|site|tenant|"
    r"org|box|cluster|database|db|stack)\b"
    r"|\b(?:in|on)\s+(?:the\s+)?(?:test|dev|qa)\b(?!\s+(?:case|cases|suite|run|script|plan|results?|data))",
    re.IGNORECASE,
)


def detect_environment(text: str) -> Literal["production", "test", "unknown"]:
    """Which environment the text says is affected.

    An "Environment:" field decides; otherwise any mention of production (prod,
    "live system", "went live") wins over test, staging, UAT, sandbox, QA or dev,
    because a message that names both is usually about production ("works in
    staging, fails in production"). "Non-production" and "pre-prod" count as test.
    """
    field = _ENV_FIELD_RE.search(text)
    if field:
        value = field.group("value")
        if _PROD_RE.search(_NOT_PROD_RE.sub(" ", value)) or re.match(r"\s*live\b", value, re.I):
            return "production"
        if _TEST_RE.search(value) or re.match(r"\s*(?:test|dev|qa)\b", value, re.I):
            return "test"
    cleaned = _NOT_PROD_RE.sub(" non-production ", text)
    if _PROD_RE.search(cleaned.replace("non-production", " ")):
        return "production"
    if _TEST_RE.search(cleaned):
        return "test"
    return "unknown"


def stated_environment(text: str) -> Literal["production", "test"] | None:
    """The environment an "Environment:" field states, or None where no field states one.

    What the customer states in a field beats a guess (issue 12, finding 1): Revalize asks
    the partner to "identify the affected environment (production, test, etc.)".
    """
    field = _ENV_FIELD_RE.search(text)
    if field is None:
        return None
    found = detect_environment(field.group(0))
    return None if found == "unknown" else found


# --- category, survey scores, form fields ---------------------------------------

_CATEGORY_FIELD_RE = re.compile(
    r"(?:^|\n)\s*[*_>•-]*\s*(?:issue\s+)?(?:category|type\s+of\s+(?:issue|request))[*_]*\s*[:=]\s*[*_]*"
    r"\s*(?P<value>[\w /-]{2,60})",
    re.IGNORECASE,
)


def stated_category(policy: Policy, text: str) -> str | None:
    """The canonical category a "Category:" field states, matched to the policy's categories
    by key, label or canonical name ("defect", "License request", "Enhancement request")."""
    field = _CATEGORY_FIELD_RE.search(text)
    if field is None:
        return None
    value = _normal(field.group("value"))
    for category in policy.categories:
        names = {_normal(category.key.replace("_", " ")), _normal(category.label), category.canonical}
        if any(value == name or value.startswith(name + " ") for name in names):
            return category.canonical
    return None


_SCORE_RE = re.compile(
    r"^\s*(?:(?:my\s+)?(?:score|rating|csat)\s*(?:is)?\s*[:=-]?\s*)?(?P<score>[1-5])(?:\s*(?:/|out\s+of)\s*5)?"
    r"(?:\s*(?:stars?|points?))?(?:\s*[.!,:;-]|\s*$|\s+\D)",
    re.IGNORECASE,
)


def survey_score(text: str) -> int | None:
    """The 1-5 score a reply to a satisfaction survey gives on its first line ("4", "5/5", "Score: 3")."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(">"):
            match = _SCORE_RE.match(line)
            return int(match.group("score")) if match else None
    return None


_FORM_FIELD_RE = re.compile(
    r"^\s*(?P<name>name|e-?mail|company|severity)\s*:\s*(?P<value>.+?)\s*$", re.I | re.M
)


def form_fields(text: str) -> dict[str, str]:
    """The `Name:/Email:/Company:/Severity:` fields of a web form's mail (first of each)."""
    found: dict[str, str] = {}
    for match in _FORM_FIELD_RE.finditer(text[:_SCAN_CHARS]):
        key = match.group("name").lower().replace("-", "")
        found.setdefault(key, match.group("value"))
    return found
