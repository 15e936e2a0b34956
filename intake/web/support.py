"""The customers' support form, `/support/new` (no login).

A submitted form is held (`support_requests`) and a one-time link is mailed to
the address given. Only when that link's page is confirmed (a POST: mail
scanners that fetch links do not confirm) does the form enter the pipeline, as
channel `portal`, with the web app's own Authentication-Results saying the
address was proven (authserv-id `intake-web`, trusted for that message only,
like the bot's SMTP server for mail it verified itself). So the form is no way
around the designated-contact check: the contact step still asks whether the
confirmed address is one of the organisation's designated contacts.
Submissions are rate-limited per client address and per email address.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from intake.policies.loader import load_all
from intake.store.orm import Outbox, SupportRequest
from intake.web import auth
from intake.web.app import Web, _client, form_token

AUTHSERV_ID = "intake-web"
LINK_LIFETIME = timedelta(hours=24)
PER_CLIENT = 5
PER_EMAIL = 3
WINDOW = timedelta(hours=1)
MAX_ATTACHMENTS = 5
MAX_BYTES = 10 * 1024 * 1024
SEVERITIES = ("", "critical", "high", "medium", "low")
ENVIRONMENTS = ("", "production", "staging", "development", "test")


def build_message(req: SupportRequest, files: list[tuple[str, str, bytes]], domain: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr((req.name, req.email))
    msg["To"] = "support-form@intake.invalid"
    msg["Subject"] = req.subject or (req.description.strip().splitlines() or ["Support request"])[0][:120]
    msg["Date"] = format_datetime(req.created_at)
    msg["Message-ID"] = make_msgid(idstring=f"form{req.id}", domain=domain)
    lines = []
    if req.stated_severity:
        lines.append(f"Severity: {req.stated_severity}")
    if req.environment:
        lines.append(f"Environment: {req.environment}")
    if req.organisation:
        lines.append(f"Organisation: {req.organisation}")
    msg.set_content("\n".join([*lines, "", req.description]) if lines else req.description)
    for filename, ctype, data in files:
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        msg.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=filename
        )
    return msg.as_bytes()


def register(app: FastAPI, web: Web) -> None:
    settings = web.runtime.settings

    def page(request: Request, name: str, status: int = 200, **values: object) -> Response:
        holder = HTMLResponse("")
        token = form_token(request, holder)
        response = web.render(
            request,
            name,
            None,
            status,
            form_csrf=token,
            severities=SEVERITIES,
            environments=ENVIRONMENTS,
            **values,
        )
        response.raw_headers.extend(h for h in holder.raw_headers if h[0] == b"set-cookie")
        return response

    @app.get("/support/new", include_in_schema=False)
    def new(request: Request) -> Response:
        return page(request, "support_new.html", error=None, values={})

    @app.post("/support/new", include_in_schema=False)
    async def submit(request: Request) -> Response:
        form = await web.anonymous_form(request)
        values = {
            k: str(form.get(k, "")).strip()
            for k in (
                "name",
                "email",
                "organisation",
                "stated_severity",
                "environment",
                "subject",
                "description",
            )
        }
        email = values["email"].lower()
        error = None
        if "@" not in email or len(email) > 320 or any(c.isspace() or c in '<>,;"' for c in email):
            error = "Give one email address."
        elif not values["description"]:
            error = "Describe the problem."
        elif values["stated_severity"] not in SEVERITIES or values["environment"] not in ENVIRONMENTS:
            error = "Choose a severity and an environment from the lists."
        uploads = [f for f in form.getlist("attachments") if isinstance(f, UploadFile) and f.filename]
        files: list[tuple[str, str, bytes]] = []
        for upload in uploads[:MAX_ATTACHMENTS]:
            files.append((upload.filename or "attachment", upload.content_type or "", await upload.read()))
        await form.close()
        if len(uploads) > MAX_ATTACHMENTS or sum(len(d) for _, _, d in files) > MAX_BYTES:
            error = f"At most {MAX_ATTACHMENTS} attachments of 10 MB together."
        if error:
            return page(request, "support_new.html", 400, error=error, values=values)
        now = web.now()
        keys = [f"form:ip:{_client(request)}", f"form:email:{email}"]
        with web.db() as session:
            if auth.throttled(session, keys[:1], now, PER_CLIENT, WINDOW) or auth.throttled(
                session, keys[1:], now, PER_EMAIL, WINDOW
            ):
                return page(
                    request,
                    "support_new.html",
                    429,
                    values=values,
                    error="Too many requests from here: try again in an hour.",
                )
            auth.count_attempt(session, keys, now)
            token = secrets.token_urlsafe(32)
            req = SupportRequest(
                token_hash=auth.sha256(token),
                email=email,
                name=values["name"][:200],
                organisation=values["organisation"][:200],
                stated_severity=values["stated_severity"],
                environment=values["environment"],
                subject=values["subject"],
                description=values["description"],
                created_at=now,
                expires_at=now + LINK_LIFETIME,
            )
            session.add(req)
            session.flush()
            req.raw = build_message(req, files, "support-form.intake.invalid")
            _mail_link(web, session, req, str(request.base_url).rstrip("/") + f"/support/confirm/{token}")
            session.commit()
        return page(
            request,
            "message.html",
            title="Check your mail",
            text=f"We sent a link to {email}. Your request counts once you open it and confirm.",
        )

    @app.get("/support/confirm/{token}", include_in_schema=False)
    def confirm_page(request: Request, token: str) -> Response:
        with web.db() as session:
            req = _pending(web, session, token)
            if req is None:
                return page(
                    request,
                    "message.html",
                    404,
                    title="Link not valid",
                    text="This link is unknown, used or expired.",
                )
        return page(request, "support_confirm.html", token=token, email=req.email)

    @app.post("/support/confirm/{token}", include_in_schema=False)
    async def confirm(request: Request, token: str) -> Response:
        await web.anonymous_form(request)
        with web.db() as session:
            req = _pending(web, session, token)
            if req is None:
                return page(
                    request,
                    "message.html",
                    404,
                    title="Link not valid",
                    text="This link is unknown, used or expired.",
                )
            req.confirmed_at = web.now()
            session.commit()
            raw, email, req_id = req.raw, req.email, req.id
        ticket_id = ingest_confirmed(web, raw, email, req_id)
        with web.db() as session:
            row = session.get(SupportRequest, req_id)
            if row is not None:
                row.ticket_id = ticket_id
                session.commit()
        return page(
            request,
            "message.html",
            title="Thank you",
            text=f"Your request is {settings.tickets.ref_prefix}-{ticket_id}."
            if ticket_id
            else "Your request was received.",
        )


def _pending(web: Web, session: object, token: str) -> SupportRequest | None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    req = session.scalar(select(SupportRequest).where(SupportRequest.token_hash == auth.sha256(token)))
    if req is None or req.confirmed_at is not None or req.expires_at < web.now():
        return None
    return req


def _mail_link(web: Web, session: object, req: SupportRequest, link: str) -> None:
    from sqlalchemy.orm import Session

    from intake.outgoing.compose import outbox_row

    assert isinstance(session, Session)
    settings = web.runtime.settings
    policy = load_all()[settings.tickets.default_policy]
    row = outbox_row(
        settings,
        policy,
        "support_confirm",
        ref="form",
        recipient=req.email,
        variables={"link": link, "name": req.name or req.email},
        now=web.now(),
        automatic=True,
    )
    session.add(Outbox(ticket_id=None, **row.values()))


def ingest_confirmed(web: Web, raw: bytes, email: str, req_id: int) -> int | None:
    """Run a confirmed form through the pipeline as channel `portal`; the ticket id."""
    from channels.parse import parse_one
    from intake.models import InboundMessage
    from intake.pipeline import ingest

    now = web.now()
    item = parse_one(raw, f"support-form:{req_id}", now)
    if isinstance(item, InboundMessage):
        domain = email.rpartition("@")[2]
        headers = dict(item.headers)
        headers["authentication-results"] = f"{AUTHSERV_ID}; dmarc=pass header.from={domain}"
        item = item.model_copy(
            update={"channel": "portal", "sender": email, "authenticated_by": AUTHSERV_ID, "headers": headers}
        )
    with web.runtime.deps() as deps:
        [outcome] = ingest([item], deps)
    return outcome.ticket_id
