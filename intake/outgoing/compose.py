"""Outgoing messages: pick a template for the policy, render it, and make an outbox row.

Templates live in templates/ (Jinja2, plain text with an optional HTML twin); a
policy may have its own version in templates/<policy>/, and a deployment may
override any of them from `[templates] dir`. The first line of a text template
is its `Subject:`. The environment is built once per process and caches compiled
templates, so composing a message on the hot path costs a render, not a parse.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from markupsafe import Markup, escape

import templates as bundled
from channels.safe_values import (
    address_key,
    address_problem,
    clean_text,
    domain_key,
    msg_ids,
    one_line,
    valid_address,
    valid_msg_id,
)
from intake.config import Settings
from intake.policies.schema import LIFECYCLE, Policy

BUNDLED = Path(bundled.__file__).parent
log = logging.getLogger(__name__)
# Template variables that end up on one line (the Subject, a greeting); the others may span lines.
ONE_LINE = frozenset({"subject", "name", "requester", "org", "ref", "vendor", "policy_title"})


@lru_cache(maxsize=8)
def environment(override_dir: str) -> Environment:
    folders = [override_dir] if override_dir else []
    folders.append(str(BUNDLED))
    # Plain-text mail is not markup, so nothing is escaped here; the HTML twin is
    # rendered through an overlay with autoescape on.
    return Environment(
        loader=FileSystemLoader(folders),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=False,
        auto_reload=False,
    )


@lru_cache(maxsize=8)
def _html_environment(override_dir: str) -> Environment:
    return environment(override_dir).overlay(autoescape=True)


@lru_cache(maxsize=512)
def _pick(env: Environment, policy: str, name: str, suffix: str, language: str | None = None) -> Any:
    """The policy's own version of a template, else the common one; None if neither exists.

    With a ``language`` (ISO 639-1, from the classifier), ``name.<language>`` is
    looked for first, the policy's then the common one (``ack.de.txt.j2``), and
    the English template is the fallback. Cached per process: deployments change
    templates by restarting, as with the config.
    """
    names = [f"{name}.{language}", name] if language and language.isalpha() else [name]
    for candidate in [f"{where}{n}.{suffix}.j2" for n in names for where in (f"{policy}/", "")]:
        try:
            return env.get_template(candidate)
        except TemplateNotFound:
            continue
    return None


def render(
    settings: Settings, policy: str, name: str, variables: dict[str, Any], language: str | None = None
) -> tuple[str, str, str]:
    """(subject, text body, html body or "") of template `name` for `policy`, in `language` if provided."""
    env = environment(settings.templates.dir)
    text_template = _pick(env, policy, name, "txt", language)
    if text_template is None:
        raise LookupError(f"no template {name!r} for policy {policy}")
    variables = {key: _variable(key, value) for key, value in variables.items()}
    rendered = text_template.render(**variables)
    subject = ""
    if rendered.startswith("Subject:"):
        first, _, rendered = rendered.partition("\n")
        subject = one_line(first.removeprefix("Subject:"))
        rendered = rendered.lstrip("\n")
    translated = language if text_template.name.endswith(f"{name}.{language}.txt.j2") else None
    html_template = _pick(_html_environment(settings.templates.dir), policy, name, "html", translated)
    if translated and html_template is not None and not html_template.name.endswith(f".{translated}.html.j2"):
        html_template = None  # no translated HTML twin: derive the HTML from the translated text
    text = rendered.rstrip() + "\n"
    html = html_template.render(**variables) if html_template is not None else html_from_text(text)
    return subject, text, html


def _variable(key: str, value: Any) -> Any:
    """What customers wrote, made safe to render: one line where a header takes it, no controls."""
    if not isinstance(value, str):
        return value
    return one_line(value, 1000) if key in ONE_LINE else clean_text(value)


def html_from_text(text: str) -> str:
    """The HTML twin of a text-only template: its paragraphs, every character escaped."""
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), Markup('<br>'))}</p>\n" for p in paragraphs)


def escalation_variables(
    policy: Policy,
    *,
    what: str,
    org: str | None,
    severity: str,
    status: str,
    requester: str,
    reason: str,
    target_name: str = "-",
    due: str = "-",
) -> dict[str, Any]:
    """What the team's escalation notice says, wherever it is raised (ingest or scheduler)."""
    return {
        "what": what,
        "org": org,
        "policy": policy.name,
        "severity_label": policy.level(severity).label,
        "target_name": target_name,
        "due": due or "-",
        "status": status_label(policy, status),
        "requester": requester,
        "reason": reason,
    }


def status_label(policy: Policy, status: str) -> str:
    """The policy's own name for a status ("On Hold", "Awaiting Partner"); the bot's own otherwise."""
    if status in LIFECYCLE:
        return policy.status_label(status)
    return status.replace("_", " ")


def new_message_id(settings: Settings, ref: str) -> str:
    """Our own msg-id, `<hex>.<ref>@<our domain>`; without the ref where it is no dot-atom."""
    domain = settings.relay.from_address.rpartition("@")[2] or "intake.invalid"
    unique = uuid.uuid4().hex
    for candidate in (f"{unique}.{ref}@{domain}", f"{unique}@{domain}"):
        if valid_msg_id(candidate) is not None:
            return candidate
    return f"{unique}@intake.invalid"


def clean_subject(subject: str, ref: str) -> str:
    """The ticket's subject on one line, without reply prefixes or our own reference."""
    text = one_line(subject).replace(f"[{ref}]", "").strip()
    while True:
        head, sep, rest = text.partition(":")
        if sep and head.strip().lower() in {"re", "aw", "sv", "fw", "fwd", "wg", "tr", "antw"}:
            text = rest.strip()
            continue
        return text or "(no subject)"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A ready-to-send outbox row (the `outbox` table's columns but its id and ticket)."""

    template: str
    channel: str
    recipient: str
    rcpt_key: str | None
    rcpt_domain: str | None
    subject: str
    body_text: str
    body_html: str
    message_id: str
    in_reply_to: str | None
    references: list[str]
    automatic: bool
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None = None

    def values(self) -> dict[str, object]:
        """The columns, as a bulk insert or `Outbox(**row.values())` takes them."""
        return {name: getattr(self, name) for name in _OUTBOX_FIELDS}


_OUTBOX_FIELDS = tuple(f.name for f in fields(OutboxRow))


def outbox_row(
    settings: Settings,
    policy: Policy,
    template: str,
    *,
    ref: str,
    recipient: str,
    variables: dict[str, Any],
    now: datetime,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    automatic: bool = True,
    channel: str = "email",
    language: str | None = None,
    slack_thread: str | None = None,
) -> OutboxRow:
    """A ready-to-send outbox row; the outbox worker only delivers it.

    With `slack_thread` ("C123:1700000000.000100", the channel and the thread's
    ts) the row is a Slack post in that thread instead of mail: channel "slack",
    that target as recipient, no mail headers; channels/slack/outbox.py delivers it.

    Every value a header takes is validated here: the recipient must be one
    plain address (a row for an empty, `<>` or otherwise invalid one is created
    already failed, with the reason, so nothing is silently dropped and nothing
    goes out); In-Reply-To and References keep only strict msg-ids, the others
    are omitted and logged.
    """
    values = {"ref": ref, "vendor": policy.vendor, "policy_title": policy.title, **variables}
    subject, text, html = render(settings, policy.name, template, values, language)
    if slack_thread is not None:
        row = slack_row(settings, template, slack_thread, now, ref=ref)
        return replace(row, subject=subject, body_text=text, automatic=automatic)
    address = valid_address(recipient)
    parent = valid_msg_id(in_reply_to) if in_reply_to else None
    chain = msg_ids([*(references or []), *([in_reply_to] if in_reply_to else [])])
    if chain.omitted:
        log.warning(
            "%s %s: omitted from In-Reply-To/References, not msg-ids: %s",
            ref,
            template,
            ", ".join(chain.omitted[:5]),
        )
    problem = None if address is not None else f"not sent: recipient: {address_problem(recipient)}"
    if problem is not None:
        log.error("%s %s: %s", ref, template, problem)
    return OutboxRow(
        template=template,
        channel=channel,
        recipient=address if address is not None else one_line(recipient, 300),
        rcpt_key=address_key(address) if address is not None else None,
        rcpt_domain=domain_key(address) if address is not None else None,
        subject=subject,
        body_text=text,
        body_html=html,
        message_id=new_message_id(settings, ref),
        in_reply_to=parent,
        references=chain.kept,
        automatic=automatic,
        state="pending" if problem is None else "failed",
        attempts=0,
        next_attempt_at=now,
        last_error=problem,
        created_at=now,
        sent_at=None,
    )


def format_due(policy: Policy, plan: str | None, due: datetime | None, org_zone: str | None = None) -> str:
    """A due time in the customer's calendar terms, e.g. 'Mon 16 Nov 2026 13:00 GMT'."""
    if due is None:
        return ""
    zone = policy.calendar_for(plan, org_zone).timezone
    return due.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z")


def slack_row(
    settings: Settings, template: str, recipient: str, now: datetime, *, ref: str, text: str = ""
) -> OutboxRow:
    """An outbox row for the Slack worker that no mail template renders (triage posts, mirrors, DMs).

    `recipient` is "triage:<ticket id>" (the ticket's triage post, or its thread),
    "dm:<user id>" or "C…:ts"; channels/slack/outbox.py renders the post from the
    ticket when it delivers it. An `OutboxRow` like `outbox_row`, so a batch inserts both.
    """
    return OutboxRow(
        template=template,
        channel="slack",
        recipient=one_line(recipient, 300),
        rcpt_key=None,
        rcpt_domain=None,
        subject="",
        body_text=clean_text(text) if text else "",
        body_html="",
        message_id=new_message_id(settings, ref),
        in_reply_to=None,
        references=[],
        automatic=True,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        last_error=None,
        created_at=now,
        sent_at=None,
    )


def triage_enabled(settings: Settings) -> bool:
    return settings.slack is not None and bool(settings.slack.triage_channel)
