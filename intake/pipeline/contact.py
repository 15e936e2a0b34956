"""Contact: which organisation wrote, and is the sender one of its designated contacts?

A From header is only as good as its authentication: with `dmarc=fail`, or
`spf=fail` without a `dkim=pass`, in the Authentication-Results our own
receiving server added (RFC 8601), the sender is never treated as designated.
"""

from __future__ import annotations

import re

from intake.pipeline.context import Context, Stop

NAME = "contact"

_RESULT = re.compile(r"\b(dmarc|spf|dkim)\s*=\s*([a-z]+)", re.I)


def authentication_failed(header: str, trusted: list[str]) -> str | None:
    """The reason the From failed authentication, or None.

    Only the topmost Authentication-Results header is read (the one our own
    border server prepends), unless `trusted` names the authserv-ids to believe.
    """
    if not header:
        return None
    entries = header.split("\n")
    if trusted:
        entries = [e for e in entries if e.strip().split(";", 1)[0].strip().lower() in trusted]
    else:
        entries = entries[:1]
    for entry in entries:
        results: dict[str, set[str]] = {}
        for method, value in _RESULT.findall(entry):
            results.setdefault(method.lower(), set()).add(value.lower())
        if "fail" in results.get("dmarc", set()):
            return "dmarc=fail"
        if "fail" in results.get("spf", set()) and "pass" not in results.get("dkim", set()):
            return "spf=fail without dkim=pass"
    return None


def run(ctx: Context) -> Stop | None:
    msg = ctx.inbound
    directory = ctx.deps.directory
    if ctx.ticket is not None and ctx.ticket.org_id is not None:
        ctx.org = directory.orgs.get(ctx.ticket.org_id)
    elif msg.channel == "slack" and msg.headers.get("slack-channel"):
        ctx.org = directory.by_slack_channel.get(msg.headers["slack-channel"])
    else:
        ctx.org = directory.org_for_address(msg.sender)
    if ctx.org is None:
        ctx.contact_status = "unknown"
        ctx.hit("contact.unknown-org", f"no organisation for {msg.sender}")
        return None
    trusted = [t.lower() for t in ctx.deps.settings.guard.trusted_authserv_ids]
    failed = authentication_failed(msg.headers.get("authentication-results", ""), trusted)
    if failed:
        ctx.contact_status = "not_designated"
        ctx.hit("contact.auth-failed", f"From {msg.sender} failed authentication ({failed})")
        return None
    person = ctx.org.contacts.get(msg.sender)
    if msg.channel == "slack":
        person = next((c for c in ctx.org.contacts.values() if c.slack_user == msg.sender), None)
    if person is not None and person.designated_at(ctx.now):
        ctx.contact_status = "designated"
        ctx.hit("contact.designated", f"{person.email} is a {person.role} contact of {ctx.org.name}")
    else:
        ctx.contact_status = "not_designated"
        ctx.hit("contact.not-designated", f"{msg.sender} is not a designated contact of {ctx.org.name}")
    return None
