"""The web app: engineers' tickets, managers' review queue, dashboard, retraining, the JSON API, the form.

Server-rendered (Jinja2, autoescaped); the little JavaScript there is lives in
static/app.js, so the Content-Security-Policy allows no inline script. Every
page but /login and the customers' /support pages needs a session; every
/api route needs a bearer token (`intake token add`); every POST carries the
session's CSRF token (the login and support forms a double-submit cookie).
"""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from intake.errors import BadInput, IntakeError, NotFound
from intake.runtime import Runtime
from intake.web import auth

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "intake_session"
FORM_COOKIE = "intake_form"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """A page asked for without a session: the browser goes to /login."""


class Forbidden(Exception):
    """Signed in, but the page is for managers."""


class Web:
    """What the routes share: the runtime, the templates, the cookie signer."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.signer = URLSafeSerializer(auth.secret_key(runtime.settings), salt="intake-session")
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.prefix = runtime.settings.tickets.ref_prefix

    @contextmanager
    def db(self) -> Iterator[Session]:
        with self.runtime.sessions() as session:
            yield session

    def now(self) -> Any:
        return self.runtime.clock.now()

    def signed_in(self, request: Request) -> auth.SignedIn | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            token = self.signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(token, str):
            return None
        with self.db() as session:
            return auth.find_session(session, token, self.now())

    def user(self, request: Request, *, manager: bool = False) -> auth.SignedIn:
        who = self.signed_in(request)
        if who is None:
            raise LoginRequired
        if manager and not who.is_manager:
            raise Forbidden
        return who

    def render(
        self, request: Request, name: str, who: auth.SignedIn | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        html = self.env.get_template(name).render(
            who=who, csrf=who.csrf if who else "", prefix=self.prefix, path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status)

    async def form(self, request: Request, who: auth.SignedIn) -> FormData:
        """The POSTed form, after its CSRF token is checked against the session's."""
        form = await request.form()
        if not auth.same(str(form.get("csrf", "")), who.csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        return form

    async def anonymous_form(self, request: Request) -> FormData:
        """A form without a session (login, support): double-submit, the cookie's value in the form."""
        form = await request.form()
        if not auth.same(str(form.get("csrf", "")), request.cookies.get(FORM_COOKIE, "")):
            raise HTTPException(403, "missing or wrong CSRF token")
        return form


def form_token(request: Request, response: Response) -> str:
    """The double-submit token of an anonymous form: the cookie's, or a new one set on `response`."""
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response.set_cookie(FORM_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request))
    return token


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def query_string(values: dict[str, str]) -> str:
    return urlencode({k: v for k, v in values.items() if v})


def create_app(runtime: Runtime) -> FastAPI:
    """The web app over `runtime`; `intake web` and `intake serve` run it under uvicorn."""
    app = FastAPI(title="intake", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    web = Web(runtime)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        if request.method != "GET":
            return HTMLResponse("log in first", status_code=401)
        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return HTMLResponse("this page is for managers", status_code=403)

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return web.render(
            request, "message.html", web.signed_in(request), 400, title="Not done", text=str(exc)
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return web.render(
            request, "message.html", web.signed_in(request), 404, title="Not found", text=str(exc)
        )

    from intake.web import api, dashboard, pages, retrain, support

    pages.register(app, web)
    dashboard.register(app, web)
    retrain.register(app, web)
    api.register(app, web)
    support.register(app, web)
    _optional(app, runtime)
    return app


def _optional(app: FastAPI, runtime: Runtime) -> None:
    """The `ops` engineer's /metrics and /healthz, and Slack's events endpoint, where they exist."""
    try:
        ops = importlib.import_module("intake.web.ops")
    except ModuleNotFoundError as exc:
        if exc.name != "intake.web.ops":
            raise
    else:
        app.include_router(ops.router)
    slack = runtime.settings.slack
    if slack is not None and slack.mode == "http":
        try:
            http = importlib.import_module("channels.slack.http")
        except ModuleNotFoundError as exc:
            if exc.name not in ("channels.slack", "channels.slack.http"):
                raise
            log.warning("web: [slack] is in http mode but channels.slack.http is not installed")
        else:
            http.mount(app, runtime)


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadInput(f"not a date (YYYY-MM-DD): {value!r}") from exc


__all__ = ["IntakeError", "Web", "create_app", "form_token", "parse_date", "query_string"]
