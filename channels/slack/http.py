"""HTTP mode: POST /slack/events on the web server (events, interactivity, shortcuts, slash commands).

The Bolt App is synchronous and commits before it answers; the request is
dispatched in Starlette's thread pool, so the event loop keeps serving while a
ticket is written. Slack's 3-second window is the commit's budget.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from starlette.concurrency import run_in_threadpool

from channels.slack.app import build_app
from channels.slack.intake import Handler
from intake.runtime import Runtime

PATH = "/slack/events"


def mount(app: FastAPI, runtime: Runtime, client: WebClient | None = None) -> Handler:
    """Serve Slack's requests on `app` at /slack/events; returns the event handler (tests read it)."""
    bolt, handler = build_app(runtime, client)

    @app.post(PATH)
    async def slack_events(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        bolt_request = BoltRequest(
            body=body,
            query=request.url.query,
            headers={k: [v] for k, v in request.headers.items()},
        )
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
        headers = {k: v[0] for k, v in answer.headers.items() if v and k.lower() != "content-length"}
        return Response(content=answer.body, status_code=answer.status, headers=headers)

    return handler
