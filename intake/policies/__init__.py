"""Support policies as data: the five bundled TOML files, their schema and loader.

Everything a policy document says that the bot acts on (severity levels, calendars,
targets, contacts, channels, lifecycle rules) is in the TOML files beside this
module; code reads them only through `Policy` and its helper methods.
"""

from intake.policies.loader import bundled_policy_names, load_all, load_policy, parse_policy
from intake.policies.schema import (
    CANONICAL_SEVERITIES,
    LIFECYCLE,
    Canonical,
    Category,
    Plan,
    Policy,
    SeverityLevel,
    Target,
    Targets,
)

__all__ = [
    "CANONICAL_SEVERITIES",
    "LIFECYCLE",
    "Canonical",
    "Category",
    "Plan",
    "Policy",
    "SeverityLevel",
    "Target",
    "Targets",
    "bundled_policy_names",
    "load_all",
    "load_policy",
    "parse_policy",
]
