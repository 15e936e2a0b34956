"""The JSON API: tickets, decisions, reviews and metrics, for a bearer token from `intake token add`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from intake.store.orm import Review, Ticket
from intake.tickets.reviews import override
from intake.tickets.views import ticket_json
from intake.web import auth
from intake.web.app import Web, parse_date
from intake.web.queries import QueueFilter, queue_page

bearer = HTTPBearer(auto_error=False, description="a token from `intake token add NAME`")


class OverrideIn(BaseModel):
    severity: str | None = None
    category: str | None = None
    contact_status: str | None = None
    reason: str = ""
    decision_id: int | None = None


def token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The name of the request's valid bearer token; 401 otherwise."""
    web: Web = request.app.state.web
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
    with web.db() as session:
        name = auth.check_token(session, credentials.credentials, web.now())
    if name is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return name


Token = Annotated[str, Depends(token)]


def register(app: FastAPI, web: Web) -> None:
    router = APIRouter(prefix="/api", tags=["api"])

    @router.get("/openapi.json", include_in_schema=False)
    def openapi(_: Token) -> dict[str, Any]:
        return app.openapi()

    @router.get("/tickets")
    def tickets(
        _: Token, after: int | None = None, limit: Annotated[int, Query(le=500)] = 100
    ) -> dict[str, Any]:
        """Tickets, newest first; pass `after` (the last id) for the next page."""
        with web.db() as session:
            query = select(Ticket).options(selectinload(Ticket.org)).order_by(Ticket.id.desc()).limit(limit)
            if after is not None:
                query = query.where(Ticket.id < after)
            rows = list(session.scalars(query))
            docs = [ticket_json(t, web.prefix) for t in rows]
        return {"tickets": docs, "next": docs[-1]["id"] if len(docs) == limit else None}

    @router.get("/tickets/{ticket_id}")
    def ticket(_: Token, ticket_id: int) -> dict[str, Any]:
        with web.db() as session:
            row = session.scalar(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.org), selectinload(Ticket.messages))
            )
            if row is None:
                raise HTTPException(404, f"no ticket {ticket_id}")
            return ticket_json(row, web.prefix, with_messages=True)

    @router.get("/decisions")
    def decisions(
        _: Token,
        needs_review: bool | None = None,
        band: str | None = None,
        org: str | None = None,
        policy: str | None = None,
        severity: str | None = None,
        category: str | None = None,
        channel: str | None = None,
        since: str | None = None,
        until: str | None = None,
        sort: str = "newest",
        after: str | None = None,
    ) -> dict[str, Any]:
        """The review queue: same filters and order as the page; `next` is the cursor of the next page."""
        chosen = QueueFilter(
            needs_review=needs_review,
            band=band,
            org=org,
            policy=policy,
            severity=severity,
            category=category,
            channel=channel,
            since=parse_date(since),
            until=parse_date(until),
            sort=sort,
        )
        with web.db() as session:
            rows, cursor = queue_page(session, chosen, after)
        return {
            "decisions": [
                {
                    **r.__dict__,
                    "created_at": r.created_at.isoformat(),
                    "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None,
                }
                for r in rows
            ],
            "next": cursor,
        }

    @router.get("/reviews")
    def reviews(
        _: Token, after: int | None = None, limit: Annotated[int, Query(le=500)] = 100
    ) -> dict[str, Any]:
        with web.db() as session:
            query = select(Review).order_by(Review.id.desc()).limit(limit)
            if after is not None:
                query = query.where(Review.id < after)
            docs = [
                {
                    "id": r.id,
                    "ticket": f"{web.prefix}-{r.ticket_id}",
                    "decision_id": r.decision_id,
                    "who": r.who,
                    "at": r.at.isoformat(),
                    "action": r.action,
                    "before": r.before,
                    "after": r.after,
                    "moved": r.moved,
                    "reason": r.reason,
                }
                for r in session.scalars(query)
            ]
        return {"reviews": docs, "next": docs[-1]["id"] if len(docs) == limit else None}

    @router.post("/tickets/{ticket_id}/review")
    def review(name: Token, ticket_id: int, body: OverrideIn) -> dict[str, Any]:
        """Accept (no field) or override a ticket's triage; audited as `token:NAME`."""
        with web.db() as session:
            result = override(
                session,
                web.runtime.clock,
                web.runtime.settings,
                f"{web.prefix}-{ticket_id}",
                f"token:{name}",
                severity=body.severity,
                category=body.category,
                contact_status=body.contact_status,
                reason=body.reason,
                decision_id=body.decision_id,
            )
        return result.as_json()

    @router.get("/metrics")
    def metrics(
        _: Token, request: Request, policy: str | None = None, org: str | None = None
    ) -> dict[str, Any]:
        """The dashboard's figures, as JSON."""
        from intake.web.dashboard import Recent

        recent: Recent = request.app.state.dashboard
        with web.db() as session:
            return recent.get(session, web.now(), policy, org).as_json()

    app.include_router(router)
