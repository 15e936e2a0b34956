"""The shape of a support policy: what a bundled TOML file may say, and nothing else.

Every model forbids unknown keys, so a typo in a policy file is an error, not a
silently ignored rule. Cross-field rules (each level has targets in every plan,
a plan names a known calendar, ...) are checked when the `Policy` is built; they
raise errors that start with the offending field path, which the loader turns
into ``file: path: why``.

The rest of the code reads a policy only through the helper methods on `Policy`
(`level`, `level_for_canonical`, `targets`, `calendar`, `due`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from intake.errors import NotFound
from intake.sla.calendar import (
    CLOCK_KINDS,
    UNITS,
    WEEKDAYS,
    BusinessCalendar,
    Pause,
    Window,
    due_with_pauses,
)

Canonical = Literal["critical", "high", "medium", "low"]
CANONICAL_SEVERITIES: tuple[Canonical, ...] = get_args(Canonical)
CanonicalCategory = Literal["question", "defect", "configuration", "account", "enhancement"]
CANONICAL_CATEGORIES: tuple[str, ...] = get_args(CanonicalCategory)
LifecycleStatus = Literal[
    "new", "acknowledged", "in_progress", "waiting_on_customer", "escalated", "resolved", "closed", "reopened"
]
LIFECYCLE: tuple[str, ...] = get_args(LifecycleStatus)
ChannelName = Literal["email", "slack", "portal", "in_app", "phone"]
ContactRole = Literal["primary", "backup", "designated"]
Environment = Literal["production", "test", "unknown"]
EscalationTrigger = Literal[
    "first_response_breach", "resolution_breach", "customer_request", "manager_request"
]
OrderKey = Literal["severity", "business_impact", "environment", "received_at"]
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _at(path: str, why: str) -> ValueError:
    """An error about field `path` below the model being validated.

    The leading "@" tells the loader to append `path` to the error's location.
    """
    return ValueError(f"@{path}: {why}")


# --- time -----------------------------------------------------------------


class Target(_Model):
    """An amount of time on a clock: ``{ amount = 8, unit = "hours", clock = "business_hours" }``.

    A best-effort target is written ``"best_effort"`` (or ``{ clock = "best_effort" }``)
    where a target is optional, and becomes None there.
    """

    amount: float = Field(gt=0)
    unit: Literal["minutes", "hours", "days"]
    clock: Literal["business_hours", "business_days", "calendar_hours", "24x7"]
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _known_words(cls, data: Any) -> Any:
        if isinstance(data, dict):
            clock = data.get("clock")
            if clock is not None and clock not in CLOCK_KINDS:
                raise ValueError(f"unknown clock {clock!r}")
            if clock == "best_effort":
                raise ValueError("best effort is not allowed here")
            unit = data.get("unit")
            if unit is not None and unit not in UNITS:
                raise ValueError(f"unknown unit {unit!r}")
        return data

    @model_validator(mode="after")
    def _unit_fits_clock(self) -> Target:
        if self.clock == "business_days" and (self.unit != "days" or self.amount != int(self.amount)):
            raise ValueError("business_days counts whole days (unit = 'days')")
        if self.clock == "business_hours" and self.unit == "days":
            raise ValueError("business_hours counts hours or minutes; use clock 'business_days' for days")
        return self

    def due(
        self, start: datetime, calendar: BusinessCalendar, pauses: Iterable[Pause] = ()
    ) -> datetime | None:
        """When this target falls due for a clock started at `start` (see `sla.calendar.due_with_pauses`)."""
        return due_with_pauses(start, self.amount, self.unit, self.clock, calendar, pauses=pauses)

    def describe(self) -> str:
        """The target as a customer reads it: "8 business hours", "5 business days", "3 calendar days"."""
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        unit = self.unit.removesuffix("s") if amount == 1 else self.unit
        if self.clock == "business_days":
            return f"{amount} business {unit}"
        if self.clock == "business_hours":
            if self.unit == "hours":
                return f"{amount} business {unit}"
            return f"{amount} {unit} of business hours"
        if self.clock == "24x7":
            return f"{amount} {unit}, around the clock"
        return f"{amount} calendar {unit}"


def _best_effort_to_none(value: Any) -> Any:
    if value == "best_effort" or (isinstance(value, dict) and value.get("clock") == "best_effort"):
        if isinstance(value, dict) and set(value) - {"clock", "note"}:
            raise ValueError("a best-effort target takes no amount or unit")
        return None
    if isinstance(value, str):
        raise ValueError(f"expected a target table or 'best_effort', got {value!r}")
    return value


class Targets(_Model):
    """Targets for one severity level in one plan. None means best effort (no due time)."""

    first_response: Target | None
    resolution: Target | None
    # Document-specific extra deadlines, informational (e.g. Resilio's "Debug Analysis ETA").
    milestones: dict[str, Target] = Field(default_factory=dict)
    note: str = ""

    @field_validator("first_response", "resolution", mode="before")
    @classmethod
    def _best_effort(cls, value: Any) -> Any:
        return _best_effort_to_none(value)


class WindowGroup(_Model):
    """Open hours for some weekdays: ``days = ["mon", ...]``, ``hours = ["09:00-17:00"]``."""

    days: list[str] = Field(min_length=1)
    hours: list[str] = Field(min_length=1)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for day in value:
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for span in value:
            Window.parse(span)
        return value


class Holidays(_Model):
    """Days the calendar is closed: a country's public holidays and/or explicit dates."""

    country: str | None = None
    subdivision: str | None = None
    dates: list[date] = Field(default_factory=list)
    # Holiday names (as the `holidays` package spells them) on which support is open anyway.
    exclude: list[str] = Field(default_factory=list)


class CalendarSpec(_Model):
    label: str = ""
    # The zone the windows are read in; with `local_time`, only the fallback for a
    # customer organisation that has no time zone of its own.
    timezone: str
    # The document gives the hours in the customer's "local time" (Rezilion): the
    # windows are read in the organisation's zone (`intake org add --tz`).
    local_time: bool = False
    windows: list[WindowGroup] = Field(min_length=1)
    holidays: Holidays = Field(default_factory=Holidays)
    note: str = ""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _buildable(self) -> CalendarSpec:
        # Overlapping windows and unknown holiday countries only show when built.
        self.build()
        return self

    def build(self, name: str = "") -> BusinessCalendar:
        weekly: list[list[Window]] = [[] for _ in WEEKDAYS]
        for group in self.windows:
            for day in group.days:
                weekly[WEEKDAYS.index(day)].extend(Window.parse(h) for h in group.hours)
        return BusinessCalendar(
            ZoneInfo(self.timezone),
            tuple(tuple(sorted(day)) for day in weekly),
            holiday_country=self.holidays.country,
            holiday_subdivision=self.holidays.subdivision,
            holiday_dates=frozenset(self.holidays.dates),
            holiday_exclude=frozenset(self.holidays.exclude),
            name=name,
        )


# --- severity and category --------------------------------------------------


class SeverityLevel(_Model):
    """One of the policy's own severity levels, with its meaning in the document."""

    key: Key
    label: str
    number: int | None = None
    canonical: Canonical
    description: str
    examples: list[str] = Field(default_factory=list)
    # Whether the customer's stated level is taken as given (True) or is only a
    # hint for triage because the vendor sets the level (False).
    customer_settable: bool = True
    # Revalize reserves Severity 1 for the production environment.
    requires_environment: Literal["production"] | None = None
    # Other ways customers name this level ("S1", "Level 5", "Urgent"), matched case-insensitively.
    aliases: list[str] = Field(default_factory=list)


class Category(_Model):
    key: Key
    label: str
    canonical: CanonicalCategory
    description: str = ""
    # "transfer": handed to another department (named in transfer_to);
    # "out_of_scope": closed as outside the scope of support.
    handling: Literal["normal", "transfer", "out_of_scope"] = "normal"
    transfer_to: str | None = None


# --- people and channels ----------------------------------------------------


class NotDesignatedRule(_Model):
    """What to do with a message from someone who is not a designated contact."""

    # reply_and_hold: open the ticket, reply with `template`, hold it for review (no SLA clock);
    # accept: treat like a designated contact; reply_and_accept: reply and treat normally.
    action: Literal["reply_and_hold", "reply_and_accept", "accept"]
    template: str = "not_a_contact"


class Contacts(_Model):
    """Who may raise tickets, how many of them, and the rules for changing them."""

    # Maximum per role, or "unlimited"; a role missing here is not used by the policy.
    roles: dict[ContactRole, int | None] = Field(min_length=1)
    max_total: int | None = Field(default=None, gt=0)
    min_recommended: int | None = Field(default=None, gt=0)
    warn_below_min: bool = False
    transfer_notice: Target | None = None
    must_notify_transfer: bool = False
    training_required: bool = False
    only_designated_may_submit: bool = True
    not_designated: NotDesignatedRule

    @field_validator("roles", mode="before")
    @classmethod
    def _unlimited(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {role: None if limit == "unlimited" else limit for role, limit in value.items()}
        return value

    @field_validator("roles")
    @classmethod
    def _positive(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        for role, limit in value.items():
            if limit is not None and limit < 1:
                raise ValueError(f"{role}: a limit must be at least 1 (omit the role instead)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Contacts:
        limits = [n for n in self.roles.values() if n is not None]
        if self.max_total is not None and None not in self.roles.values() and sum(limits) < self.max_total:
            raise ValueError("max_total is larger than the role limits allow")
        if self.min_recommended and self.max_total and self.min_recommended > self.max_total:
            raise ValueError("min_recommended is above max_total")
        return self

    def role_limit(self, role: str) -> int | None:
        """The most contacts allowed in `role` (None: no limit); NotFound if the role is not used."""
        for name, limit in self.roles.items():
            if name == role:
                return limit
        raise NotFound(f"role {role!r} is not used by this policy (roles: {', '.join(self.roles)})")

    def total_limit(self) -> int | None:
        if self.max_total is not None:
            return self.max_total
        limits = list(self.roles.values())
        return None if None in limits else sum(n for n in limits if n is not None)


class UnsupportedChannel(_Model):
    """What to do with a message that came in on a channel the policy does not support.

    redirect: reply with `template` pointing the sender at `redirect_to`; the
    message is kept (a ticket if `open_ticket`) and closed: no SLA clock runs.
    reject: reply and open nothing. accept: treat it as supported.
    """

    action: Literal["redirect", "reject", "accept"]
    redirect_to: ChannelName | None = None
    template: str = "portal_redirect"
    open_ticket: bool = True

    @model_validator(mode="after")
    def _target(self) -> UnsupportedChannel:
        if self.action == "redirect" and self.redirect_to is None:
            raise _at("redirect_to", "a redirect needs a channel to redirect to")
        return self


class Channels(_Model):
    supported: list[ChannelName] = Field(min_length=1)
    # Supported only when the primary channels are unavailable (Functionize: email).
    fallback: list[ChannelName] = Field(default_factory=list)
    unsupported: UnsupportedChannel
    # Addresses a vendor web form mails from; mail from them counts as channel "portal".
    portal_senders: list[str] = Field(default_factory=list)

    def accepts(self, channel: str) -> bool:
        return channel in self.supported or channel in self.fallback


# --- lifecycle rules ----------------------------------------------------------


class Acknowledgement(_Model):
    """The bot's receipt confirmation."""

    automated: bool = True
    # Does the automated acknowledgement satisfy the first-response target?
    counts_as_first_response: bool
    # How soon it is due: a target, or "first_response" (the severity's first-response target).
    within: Target | Literal["first_response"]
    template: str = "ack"


class DroppedRule(_Model):
    """Closing a ticket whose customer stopped answering an information request.

    Both reminders and the close are measured from the information request; the
    close happens only if the customer still has not answered.
    """

    enabled: bool = True
    remind_after: list[Target] = Field(default_factory=list)
    close_after: Target | None = None
    reminder_template: str = "reminder"
    close_template: str = "closing"
    close_reason: str = "dropped"

    @model_validator(mode="after")
    def _order(self) -> DroppedRule:
        if self.enabled and self.close_after is None:
            raise _at("close_after", "required when the rule is enabled")
        return self


class ReopenRule(_Model):
    """A customer reply to a closed ticket."""

    # reopen: the ticket reopens; review: it reopens pending an engineer's decision
    # (the vendor decides, Resource Optimizer); new_ticket: a new ticket cites the old one.
    action: Literal["reopen", "review", "new_ticket"]
    # How long after closing a reply still reopens; later replies open a new ticket. None: always.
    within: Target | None = None


class EnhancementRule(_Model):
    """Enhancement (feature) requests."""

    action: Literal["close_when_recorded", "transfer_then_close", "none"]
    level: str | None = None  # the level enhancement requests get, when the document fixes one
    recorded_in: str | None = None
    transfer_to: str | None = None
    feedback: bool = True  # does the customer hear back about the request?
    close_reason: str = "enhancement_recorded"

    @model_validator(mode="after")
    def _transfer(self) -> EnhancementRule:
        if self.action == "transfer_then_close" and not self.transfer_to:
            raise _at("transfer_to", "required for transfer_then_close")
        return self


class Warn(_Model):
    """When to warn before a breach: at a fraction of the target, or a duration before it."""

    fraction: float | None = Field(default=None, gt=0, lt=1)
    before: Target | None = None

    @model_validator(mode="after")
    def _one(self) -> Warn:
        if (self.fraction is None) == (self.before is None):
            raise ValueError("give exactly one of fraction or before")
        return self


class CustomerEscalation(_Model):
    channel: ChannelName = "email"
    address: str = ""  # left blank in the documents; set per deployment
    subject_must_contain_case_ref: bool = True
    # Words that mark a message as an escalation request (matched case-insensitively).
    keywords: list[str] = Field(default_factory=lambda: ["escalate", "escalation"])
    to: str = ""


class Escalation(_Model):
    warn: Warn
    escalate_on: list[EscalationTrigger] = Field(min_length=1)
    notify: str = "support manager"
    customer: CustomerEscalation | None = None
    raise_severity: bool = False  # may the severity be raised when escalating?


class Statuses(_Model):
    """The policy's own status names for each canonical lifecycle state."""

    new: str
    acknowledged: str
    in_progress: str
    waiting_on_customer: str
    escalated: str
    resolved: str
    closed: str
    reopened: str


class Survey(_Model):
    template: str = "csat_survey"
    areas: list[str] = Field(default_factory=list)


class Closing(_Model):
    survey: Survey | None = None
    out_of_scope: bool = False  # may close a ticket as outside the scope of support
    # Rezilion: may close once an engineer replied with a confident answer.
    close_on_confident_answer: bool = False
    # A resolved ticket with no customer reply closes after this long (None: only by hand).
    auto_close_resolved_after: Target | None = None


class TicketCounting(_Model):
    """Tickets counted against an allowance per period (Resilio)."""

    per: Literal["subscription_term"]
    exclude_categories: list[str] = Field(default_factory=list)
    # Levels counted against the separate critical allowance ("Level 5 tickets").
    critical_levels: list[str] = Field(default_factory=list)


class Allowance(_Model):
    regular: int | None = None  # None: as the order form says
    critical: int | None = None
    additional_purchasable: bool = False


class TriageRules(_Model):
    """What the deployment does with the classifier's recall-first flag (issue 13).

    A message whose P(critical) is past the model's possible-critical threshold but
    whose label is lower is marked ``possible_critical`` and put up for review; with
    ``possible_critical_clock`` its first-response clock runs at the critical target
    until a person confirms or lowers the severity. A missed outage costs far more
    than a manager's minute on a false alarm, so it is on by default.
    """

    possible_critical_clock: bool = True
    announce_possible_critical: bool = True  # tell the escalation address(es)


_NO_TARGETS = Targets(first_response=None, resolution=None)


class Plan(_Model):
    label: str
    calendar: str
    availability: str = ""
    targets: dict[str, Targets]
    contacts: Contacts
    allowance: Allowance | None = None
    # A plan that comes without support (Rezilion 2.5: "Trials are provided 'As-is' without
    # support"): its requests are answered with `unsupported_text` and closed.
    supported: bool = True
    unsupported_text: str = ""


# --- the conformance table ------------------------------------------------------


class Rule(_Model):
    """One line of the conformance table (`intake policies show NAME --rules`).

    `says` is the document's own sentence (fragments joined by " ... "; tests check
    it against the seed document), empty where the document is silent; `bot` is
    what the bot does about it; `fields` are the policy-file fields that carry it;
    `choice` marks a value the document leaves open or lost, that we picked.
    """

    topic: str
    section: str = ""
    says: str = ""
    bot: str
    fields: list[str] = Field(default_factory=list)
    choice: bool = False

    @model_validator(mode="after")
    def _silent_is_a_choice(self) -> Rule:
        if not self.says and not self.choice:
            raise _at("choice", "a rule the document does not state is a [choice]")
        return self


# --- the policy -------------------------------------------------------------


def _default_ordering() -> list[OrderKey]:
    return ["severity", "received_at"]


class Policy(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    vendor: str
    title: str
    source: str
    revision: str = ""
    levels: list[SeverityLevel] = Field(min_length=1)  # most severe first
    # The level given when triage cannot tell; written `default_level = "s3"` in the
    # file, read as `policy.default_level` (the SeverityLevel) or `default_level_key`.
    default_level_key: str = Field(validation_alias="default_level", serialization_alias="default_level")
    # Which level a canonical severity maps to, where several levels share one canonical.
    canonical_levels: dict[Canonical, str] = Field(default_factory=dict)
    # How same-severity tickets are ordered in the queue.
    ordering: list[OrderKey] = Field(default_factory=_default_ordering)
    case_owner: bool = False
    categories: list[Category] = Field(min_length=1)
    default_category: str
    # Does the customer categorise their own tickets (Resource Optimizer IV.A.4.d)? Then a
    # stated category is taken as given, like a customer-settable level.
    customer_sets_category: bool = False
    calendars: dict[str, CalendarSpec] = Field(min_length=1)
    plans: dict[str, Plan] = Field(min_length=1)
    default_plan: str
    acknowledgement: Acknowledgement
    channels: Channels
    dropped: DroppedRule
    reopen: ReopenRule
    enhancements: EnhancementRule
    escalation: Escalation
    statuses: Statuses
    closing: Closing = Field(default_factory=Closing)
    ticket_counting: TicketCounting | None = None
    triage: TriageRules = Field(default_factory=TriageRules)
    rules: list[Rule] = Field(default_factory=list)

    # Built calendars by (calendar name, zone override): building checks holidays
    # and windows, so it is done once per policy object.
    _calendars: dict[tuple[str, str | None], BusinessCalendar] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        keys = [lv.key for lv in self.levels]
        _unique("levels", keys)
        ranks = [CANONICAL_SEVERITIES.index(lv.canonical) for lv in self.levels]
        if ranks != sorted(ranks):
            raise _at("levels", "list the levels most severe first (by their canonical severity)")
        if self.default_level_key not in keys:
            raise _at("default_level", f"unknown level {self.default_level_key!r}")
        for canonical, key in self.canonical_levels.items():
            if key not in keys:
                raise _at(f"canonical_levels.{canonical}", f"unknown level {key!r}")
            if self.level(key).canonical != canonical:
                raise _at(f"canonical_levels.{canonical}", f"level {key!r} is {self.level(key).canonical}")
        for canonical in CANONICAL_SEVERITIES:
            if canonical in self.canonical_levels:
                continue
            matching = [lv.key for lv in self.levels if lv.canonical == canonical]
            if len(matching) > 1:
                raise _at(
                    "canonical_levels",
                    f"{canonical!r} maps to several levels ({', '.join(matching)}); say which one to use",
                )
        cat_keys = [c.key for c in self.categories]
        _unique("categories", cat_keys)
        if self.default_category not in cat_keys:
            raise _at("default_category", f"unknown category {self.default_category!r}")
        if self.default_plan not in self.plans:
            raise _at("default_plan", f"unknown plan {self.default_plan!r}")
        for name, plan in self.plans.items():
            if plan.calendar not in self.calendars:
                raise _at(f"plans.{name}.calendar", f"unknown calendar {plan.calendar!r}")
            for key in plan.targets:
                if key not in keys:
                    raise _at(f"plans.{name}.targets.{key}", "unknown severity level")
            for key in keys if plan.supported else ():
                if key not in plan.targets:
                    raise _at(f"plans.{name}.targets", f"no targets for level {key!r}")
        self._check_rules()
        if self.enhancements.level is not None and self.enhancements.level not in keys:
            raise _at("enhancements.level", f"unknown level {self.enhancements.level!r}")
        if self.ticket_counting is not None:
            for key in self.ticket_counting.critical_levels:
                if key not in keys:
                    raise _at("ticket_counting.critical_levels", f"unknown level {key!r}")
            for cat in self.ticket_counting.exclude_categories:
                if cat not in cat_keys:
                    raise _at("ticket_counting.exclude_categories", f"unknown category {cat!r}")
        return self

    def _check_rules(self) -> None:
        """Every field a conformance rule names exists in the policy."""
        for index, rule in enumerate(self.rules):
            missing = [path for path in rule.fields if not self._has_field(path)]
            if missing:
                raise _at(f"rules.{index}.fields", f"no such policy field {missing[0]!r}")

    def _has_field(self, path: str) -> bool:
        node: Any = self.model_dump(by_alias=True)
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        return True

    # --- severity ---------------------------------------------------------

    def level(self, key: str) -> SeverityLevel:
        """The level with this key; NotFound if the policy has none."""
        for lv in self.levels:
            if lv.key == key:
                return lv
        raise NotFound(f"policy {self.name}: no severity level {key!r} ({', '.join(self.level_keys())})")

    def level_keys(self) -> list[str]:
        return [lv.key for lv in self.levels]

    def canonical(self, level_key: str) -> Canonical:
        """The canonical severity (critical/high/medium/low) of one of this policy's levels."""
        return self.level(level_key).canonical

    def level_for_canonical(self, canonical: str) -> SeverityLevel:
        """The policy's level for a canonical severity.

        If no level carries that canonical (a policy without a "high"), the
        nearest less severe one is used, then the nearest more severe one.
        """
        if canonical not in CANONICAL_SEVERITIES:
            raise NotFound(f"unknown canonical severity {canonical!r}")
        if canonical in self.canonical_levels:
            return self.level(self.canonical_levels[canonical])
        index = CANONICAL_SEVERITIES.index(canonical)
        order = list(CANONICAL_SEVERITIES[index:]) + list(reversed(CANONICAL_SEVERITIES[:index]))
        for candidate in order:
            for lv in self.levels:
                if lv.canonical == candidate:
                    return self.level(self.canonical_levels.get(candidate, lv.key))
        raise AssertionError("a policy has at least one level")

    @property
    def default_level(self) -> SeverityLevel:
        """The level given when triage cannot tell."""
        return self.level(self.default_level_key)

    def rank(self, level_key: str) -> int:
        """1 for the most severe level, 2 for the next, ..."""
        return self.level_keys().index(self.level(level_key).key) + 1

    def admissible_level(self, level_key: str, environment: str = "unknown") -> SeverityLevel:
        """`level_key`, stepped down while its environment requirement is not met.

        Only a known non-production environment steps down (Revalize: Severity 1
        "reserved for production"); "unknown" keeps the level, and the decide step
        may flag it for review.
        """
        index = self.rank(level_key) - 1
        while index < len(self.levels) - 1:
            required = self.levels[index].requires_environment
            if required is None or environment in (required, "unknown"):
                break
            index += 1
        return self.levels[index]

    # --- categories -------------------------------------------------------

    def category(self, key: str) -> Category:
        for cat in self.categories:
            if cat.key == key:
                return cat
        raise NotFound(f"policy {self.name}: no category {key!r}")

    def category_for_canonical(self, canonical: str) -> Category:
        """The policy's category for a canonical one (question, defect, ...); the default if none."""
        for cat in self.categories:
            if cat.canonical == canonical:
                return cat
        return self.category(self.default_category)

    # --- plans and time ---------------------------------------------------

    def plan(self, name: str | None = None) -> Plan:
        """A plan by name; the default plan when `name` is None."""
        key = self.default_plan if name is None else name
        try:
            return self.plans[key]
        except KeyError:
            raise NotFound(f"policy {self.name}: no plan {key!r} ({', '.join(self.plans)})") from None

    def plan_name(self, name: str | None = None) -> str:
        self.plan(name)
        return self.default_plan if name is None else name

    def targets(self, plan: str | None, level_key: str) -> Targets:
        """First-response and resolution targets for a level in a plan (None = best effort).

        A plan without support (Rezilion's trial) promises nothing: no targets at any level.
        """
        chosen = self.plan(plan)
        key = self.level(level_key).key
        if not chosen.supported and key not in chosen.targets:
            return _NO_TARGETS
        return chosen.targets[key]

    def calendar(self, plan: str | None = None, timezone: str | None = None) -> BusinessCalendar:
        """The plan's business calendar; `timezone` reads its windows in another zone."""
        key = (self.plan(plan).calendar, timezone)
        cached = self._calendars.get(key)
        if cached is None:
            cached = self.calendars[key[0]].build(f"{self.name}/{key[0]}")
            if timezone is not None:
                cached = cached.with_timezone(timezone)
            self._calendars[key] = cached
        return cached

    def calendar_for(self, plan: str | None, org_timezone: str | None) -> BusinessCalendar:
        """The calendar a customer's tickets run on: in the organisation's zone where the
        plan's hours are the customer's local time, else the policy's own zone."""
        return self.calendar(plan, self.zone_for(plan, org_timezone))

    def zone_for(self, plan: str | None, org_timezone: str | None) -> str | None:
        """The zone override for `calendar` (None: the policy's own zone)."""
        spec = self.calendars[self.plan(plan).calendar]
        return org_timezone if spec.local_time and org_timezone else None

    def due(
        self,
        kind: Literal["first_response", "resolution"],
        start: datetime,
        level_key: str,
        *,
        plan: str | None = None,
        pauses: Iterable[Pause] = (),
        timezone: str | None = None,
    ) -> datetime | None:
        """When the `kind` target for this level falls due, in UTC; None for best effort."""
        target = getattr(self.targets(plan, level_key), kind)
        if target is None:
            return None
        due: datetime | None = target.due(start, self.calendar(plan, timezone), pauses)
        return due

    def acknowledgement_target(self, plan: str | None, level_key: str) -> Target | None:
        """How soon the acknowledgement is due for this level (None: no deadline)."""
        within = self.acknowledgement.within
        return self.targets(plan, level_key).first_response if within == "first_response" else within

    # --- lifecycle --------------------------------------------------------

    def status_label(self, status: str) -> str:
        """The policy's own name for a canonical lifecycle status."""
        if status not in LIFECYCLE:
            raise NotFound(f"unknown lifecycle status {status!r}")
        label: str = getattr(self.statuses, status)
        return label

    def accepts_channel(self, channel: str) -> bool:
        return self.channels.accepts(channel)


def _unique(path: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise _at(path, f"duplicate key {key!r}")
        seen.add(key)
