"""Contact: which organisation wrote, and is the sender one of its designated contacts?

The organisation comes from the ticket being followed up, the Slack channel, or
the sender's domain. Whether the sender is *designated* takes two things: the
address is one of the organisation's designated contacts, and, for mail, the
trust model (intake/trust.py) vouches for the From: only Authentication-Results
written by a trusted authserv-id count (`guard.trusted_authserv_ids`, plus our
own SMTP server's for mail it received and verified itself), and they must meet
`guard.require`.

contact_status is then:
- `unknown`: no organisation for the sender;
- `not_designated`: the address is no designated contact, or trusted results
  say the From failed authentication (a forgery is not the contact it names);
- `unverified`: the address is a designated contact, but no trusted result
  vouches for it (no header from a trusted server, `dmarc=none` under
  `dmarc-pass`, no aligned pass, a temperror ...): treated as not designated;
- `designated`: both hold.
An empty sender (From missing, or not exactly one valid address) is never designated.
Slack users are who Slack's signed request says; the trust model is for mail.

Mail from a configured web form's sender (a policy's `portal_senders`, `[tickets]
form_senders`) is the form's requester's: the form sits behind the customer's login,
so its Email: field names who wrote, and the organisation and contact status are
theirs (Resilio: "the Resilio Connect Management Console "Contact Support" form or
... the Contact Support form on our website"; issue 12, finding 2).
"""

from __future__ import annotations

from intake.pipeline.context import Context, Stop
from intake.policies.stated import form_fields
from intake.trust import Assessment, assess

NAME = "contact"


def authenticate(ctx: Context) -> Assessment:
    """The trust model's verdict on this message's From, under the configured settings."""
    msg = ctx.inbound
    guard = ctx.deps.settings.guard
    trusted = set(guard.trusted_authserv_ids)
    if msg.authenticated_by:
        trusted.add(msg.authenticated_by)
    return assess(
        msg.headers.get("authentication-results", ""), msg.sender, frozenset(trusted), guard.require
    )


def failed_authentication(ctx: Context) -> str | None:
    """Why trusted results say this message's From is forged, or None (also for unverified mail)."""
    if ctx.inbound.channel == "slack":
        return None
    verdict = authenticate(ctx)
    return verdict.reason if verdict.verdict == "fail" else None


def _is_form(ctx: Context) -> bool:
    msg = ctx.inbound
    if msg.channel != "email" or not msg.sender:
        return False
    senders = {s.lower() for p in ctx.deps.policies.values() for s in p.channels.portal_senders}
    senders |= {s.lower() for s in ctx.deps.settings.tickets.form_senders}
    return msg.sender.lower() in senders


def form_requester(ctx: Context) -> bool:
    """For a new request from a form: the requester its fields name; True when that decided the contact."""
    if ctx.ticket is not None or not _is_form(ctx):
        return False
    ctx.from_form = True
    fields = form_fields(ctx.inbound.text)
    email = fields.get("email", "").strip().lower()
    if "@" not in email or any(c.isspace() for c in email):
        ctx.hit("contact.form-without-requester", "form mail names no valid Email: field")
        return False
    ctx.requester = email
    ctx.requester_name = next(iter(fields.get("name", "").split()), "")
    org = ctx.org = ctx.deps.directory.org_for_address(email)
    person = org.contacts.get(email) if org is not None else None
    designated = person is not None and person.designated_at(ctx.now)
    ctx.contact_status = "designated" if designated else "not_designated" if org else "unknown"
    ctx.hit("contact.form", f"form mail from {ctx.inbound.sender} for {email} ({ctx.contact_status})")
    return True


def run(ctx: Context) -> Stop | None:
    if form_requester(ctx):
        return None
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
        ctx.hit("contact.unknown-org", f"no organisation for {msg.sender or 'an empty sender'}")
        return None
    if msg.channel == "slack":
        person = next((c for c in ctx.org.contacts.values() if c.slack_user == msg.sender), None)
        if person is None and msg.headers.get("slack-email"):
            # users.info's email for this user (channels/slack/people.py), for contacts without a slack_user.
            found = ctx.org.contacts.get(msg.headers["slack-email"].lower())
            person = found if found is not None and found.slack_user in (None, msg.sender) else None
        verdict = Assessment("pass", "Slack's signed request names the user")
    else:
        person = ctx.org.contacts.get(msg.sender) if msg.sender else None
        verdict = authenticate(ctx)
    if verdict.verdict == "fail":
        ctx.contact_status = "not_designated"
        ctx.hit("contact.auth-failed", f"From {msg.sender} failed authentication ({verdict.reason})")
        return None
    if person is None or not msg.sender or not person.designated_at(ctx.now):
        ctx.contact_status = "not_designated"
        ctx.hit(
            "contact.not-designated",
            f"{msg.sender or 'an empty sender'} is not a designated contact of {ctx.org.name}",
        )
        return None
    if verdict.verdict == "unverified":
        ctx.contact_status = "unverified"
        ctx.hit(
            "contact.unverified",
            f"{msg.sender} is a contact of {ctx.org.name}, but unverified: {verdict.reason}",
        )
        return None
    ctx.contact_status = "designated"
    ctx.hit(
        "contact.designated",
        f"{person.email} is a {person.role} contact of {ctx.org.name} ({verdict.reason})",
    )
    return None
