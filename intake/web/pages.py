"""The HTML pages: login, tickets (see, take, answer), the review queue and the decision page."""

from __future__ import annotations

from typing import Any

import nh3
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from intake.policies.loader import load_all
from intake.policies.schema import CANONICAL_CATEGORIES, CANONICAL_SEVERITIES
from intake.store.orm import Message, Organisation, Review, Ticket, Timer, TriageDecision
from intake.tickets.replies import reply
from intake.tickets.reviews import CONTACT_STATUSES, override
from intake.web import auth
from intake.web.app import SESSION_COOKIE, Web, _client, _secure, form_token, parse_date, query_string
from intake.web.queries import BANDS, QueueFilter, has_possible_critical, queue_page, ticket_page

# Mail HTML is shown only after nh3 (ammonia) kept these tags; no URL leaves the page (CSP img-src 'self').
SAFE_TAGS = {
    "p",
    "br",
    "b",
    "i",
    "em",
    "strong",
    "ul",
    "ol",
    "li",
    "blockquote",
    "pre",
    "code",
    "table",
    "tr",
    "td",
    "th",
    "thead",
    "tbody",
    "div",
    "span",
    "h1",
    "h2",
    "h3",
    "h4",
    "a",
    "hr",
}


def clean_html(html: str) -> str:
    return nh3.clean(
        html, tags=SAFE_TAGS, attributes={"a": {"href"}}, url_schemes={"https", "http", "mailto"}
    )


def _flag(value: str | None) -> bool | None:
    return None if value in (None, "") else value in ("1", "true", "yes", "on")


def register(app: FastAPI, web: Web) -> None:
    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        response = HTMLResponse("")
        token = form_token(request, response)
        page = web.render(request, "login.html", None, form_csrf=token, next=_local(next), error=None)
        page.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
        return page

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await web.anonymous_form(request)
        email = str(form.get("email", "")).strip().lower()
        password = str(form.get("password", ""))
        target = _local(str(form.get("next", "/")))
        keys = [f"login:email:{email}", f"login:ip:{_client(request)}"]
        now = web.now()
        with web.db() as session:
            if auth.throttled(session, keys, now, auth.LOGIN_LIMIT, auth.LOGIN_WINDOW):
                return web.render(
                    request,
                    "login.html",
                    None,
                    429,
                    form_csrf=request.cookies.get("intake_form", ""),
                    next=target,
                    error="Too many failed attempts: try again in 15 minutes.",
                )
            user = auth.check_password(session, email, password)
            if user is None:
                auth.count_attempt(session, keys, now)
                return web.render(
                    request,
                    "login.html",
                    None,
                    401,
                    form_csrf=request.cookies.get("intake_form", ""),
                    next=target,
                    error="Wrong email or password.",
                )
            auth.clear_attempts(session, keys[:1])
            token = auth.open_session(session, user, now)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            web.signer.dumps(token),
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        who = web.user(request)
        await web.form(request, who)
        with web.db() as session:
            auth.close_session(session, who.session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        who = web.user(request)
        return RedirectResponse("/review" if who.is_manager else "/tickets", status_code=303)

    @app.get("/tickets", include_in_schema=False)
    def tickets(request: Request, mine: str = "", after: str = "") -> Response:
        who = web.user(request)
        with web.db() as session:
            rows, cursor = ticket_page(session, mine=who.email if mine else None, cursor=after or None)
        return web.render(request, "tickets.html", who, rows=rows, cursor=cursor, mine=bool(mine))

    @app.get("/tickets/{ticket_id}", include_in_schema=False)
    def ticket_page_(request: Request, ticket_id: int) -> Response:
        who = web.user(request)
        with web.db() as session:
            ticket = _ticket(session, ticket_id)
            return web.render(request, "ticket.html", who, **_thread(session, ticket))

    @app.post("/tickets/{ticket_id}/take", include_in_schema=False)
    async def take(request: Request, ticket_id: int) -> Response:
        who = web.user(request)
        await web.form(request, who)
        with web.db() as session:
            ticket = _ticket(session, ticket_id)
            ticket.assignee = who.email
            ticket.updated_at = web.now()
            session.commit()
        return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)

    @app.post("/tickets/{ticket_id}/reply", include_in_schema=False)
    async def answer(request: Request, ticket_id: int) -> Response:
        who = web.user(request)
        form = await web.form(request, who)
        action = str(form.get("action", "reply"))
        with web.db() as session:
            reply(
                session,
                web.runtime.clock,
                web.runtime.settings,
                f"{web.prefix}-{ticket_id}",
                str(form.get("text", "")),
                request_info=action == "request_info",
                resolve=action == "resolve",
                actor=who.email,
            )
        return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)

    @app.get("/review", include_in_schema=False)
    def review_queue(request: Request) -> Response:
        who = web.user(request, manager=True)
        q = request.query_params
        chosen = QueueFilter(
            needs_review=_flag(q.get("needs_review")),
            possible_critical=_flag(q.get("possible_critical")),
            band=q.get("band") or None,
            org=q.get("org") or None,
            policy=q.get("policy") or None,
            severity=q.get("severity") or None,
            category=q.get("category") or None,
            channel=q.get("channel") or None,
            since=parse_date(q.get("since")),
            until=parse_date(q.get("until")),
            sort="confidence" if q.get("sort") == "confidence" else "newest",
        )
        with web.db() as session:
            rows, cursor = queue_page(session, chosen, q.get("after") or None)
            orgs = list(session.scalars(select(Organisation.name).order_by(Organisation.name)))
        params = chosen.params()
        return web.render(
            request,
            "queue.html",
            who,
            rows=rows,
            f=chosen,
            params=params,
            next_url=f"/review?{query_string({**params, 'after': cursor})}" if cursor else None,
            bands=list(BANDS),
            severities=CANONICAL_SEVERITIES,
            categories=CANONICAL_CATEGORIES,
            policies=sorted(load_all()),
            orgs=orgs,
            channels=("email", "slack", "portal"),
            with_critical=has_possible_critical(),
        )

    @app.get("/review/{decision_id}", include_in_schema=False)
    def decision_page(request: Request, decision_id: int, review: int | None = None) -> Response:
        who = web.user(request, manager=True)
        with web.db() as session:
            decision = session.get(TriageDecision, decision_id)
            if decision is None or decision.ticket_id is None:
                return web.render(
                    request, "message.html", who, 404, title="Not found", text="no such decision"
                )
            ticket = _ticket(session, decision.ticket_id)
            reviews = list(
                session.scalars(
                    select(Review).where(Review.ticket_id == ticket.id).order_by(Review.id.desc())
                )
            )
            policy = load_all().get(ticket.policy)
            # What the review just done moved, read from its audit row (never text from the URL).
            done = next((_summary(r) for r in reviews if r.id == review), "")
            return web.render(
                request,
                "decision.html",
                who,
                decision=decision,
                reviews=reviews,
                done=done,
                probabilities=_probabilities(decision),
                severities=CANONICAL_SEVERITIES,
                categories=CANONICAL_CATEGORIES,
                contact_statuses=CONTACT_STATUSES,
                levels=policy.level_keys() if policy else [],
                **_thread(session, ticket),
            )

    @app.post("/review/{decision_id}", include_in_schema=False)
    async def review(request: Request, decision_id: int) -> Response:
        who = web.user(request, manager=True)
        form = await web.form(request, who)
        with web.db() as session:
            decision = session.get(TriageDecision, decision_id)
            if decision is None or decision.ticket_id is None:
                return web.render(
                    request, "message.html", who, 404, title="Not found", text="no such decision"
                )
            ticket = _ticket(session, decision.ticket_id)

            def changed(name: str, current: str | None) -> str | None:
                value = str(form.get(name, "")).strip()
                return value if value and value != current else None

            accept = form.get("action") == "accept"
            result = override(
                session,
                web.runtime.clock,
                web.runtime.settings,
                f"{web.prefix}-{ticket.id}",
                who.email,
                severity=None if accept else changed("severity", ticket.canonical_severity),
                category=None if accept else changed("category", ticket.category),
                contact_status=None if accept else changed("contact_status", ticket.contact_status),
                reason=str(form.get("reason", "")),
                decision_id=decision_id,
            )
        return RedirectResponse(f"/review/{decision_id}?review={result.review_id}", status_code=303)


def _summary(review: Review) -> str:
    if not review.moved:
        return "Accepted: nothing moved."
    return "Moved: " + "; ".join(
        f"{str(m['name']).replace('_', ' ')} {m.get('before') or 'none'} → {m.get('after') or 'none'}"
        for m in review.moved
    )


def _local(target: str) -> str:
    """Only paths of this site: never `//evil.example` or `https://...` after login."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _ticket(session: Session, ticket_id: int) -> Ticket:
    from intake.errors import NotFound

    ticket = session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(
            selectinload(Ticket.org),
            selectinload(Ticket.messages).selectinload(Message.attachments),
        )
    )
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    return ticket


def _thread(session: Any, ticket: Ticket) -> dict[str, Any]:
    timers = list(
        session.scalars(
            select(Timer).where(Timer.ticket_id == ticket.id, Timer.state == "pending").order_by(Timer.due_at)
        )
    )
    decisions = list(
        session.scalars(
            select(TriageDecision).where(TriageDecision.ticket_id == ticket.id).order_by(TriageDecision.id)
        )
    )
    return {
        "ticket": ticket,
        "messages": [(m, clean_html(m.html) if m.html else "") for m in ticket.messages],
        "timers": timers,
        "decisions": decisions,
        "stated": [
            h
            for d in decisions
            for h in d.hits or []
            if "stated" in str(h.get("step", "")) or "customer says" in str(h.get("reason", ""))
        ],
    }


def _probabilities(decision: TriageDecision) -> dict[str, list[tuple[str, float]]]:
    """Every class of each head with its probability, most likely first."""
    found = (decision.outputs or {}).get("probabilities") or {}
    out: dict[str, list[tuple[str, float]]] = {}
    for head, values in found.items():
        if isinstance(values, dict):
            out[head] = sorted(((str(k), float(v)) for k, v in values.items()), key=lambda kv: -kv[1])
    return out
