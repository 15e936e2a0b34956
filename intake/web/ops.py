"""Operators' endpoints: `/metrics` (Prometheus), `/healthz` (the process answers), `/readyz` (it can work).

`router` is included by the web app (`intake/web/app.py`), which keeps the
`Runtime` it serves in `app.state.runtime`. `/readyz` answers 200 only when the
database is reachable and migrated to this intake's revision, else 503 with the
reason in one line: a load balancer sends no mail or Slack traffic to a worker
that would only answer 451. `/metrics` is prometheus-client's text format: the
process's counters and histograms (intake/observe/metrics.py) and the store's
gauges read at scrape time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from intake.errors import IntakeError
from intake.observe.metrics import StoreCollector
from intake.runtime import Runtime

router = APIRouter(tags=["operations"])


def runtime_of(request: Request) -> Runtime:
    found: Any = getattr(request.app.state, "runtime", None)
    if not isinstance(found, Runtime):
        raise RuntimeError("the web app has no runtime: set app.state.runtime")
    return found


@router.get("/healthz", response_class=JSONResponse)
def healthz() -> dict[str, str]:
    """The process is up and its event loop answers; says nothing about the database."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    rt = runtime_of(request)
    try:
        rt.require_schema()
    except IntakeError as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc).splitlines()[0]}, status_code=503)
    except Exception as exc:  # a driver error require_schema did not name
        reason = f"database: {type(exc).__name__}: {exc}".splitlines()[0]
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    rt = runtime_of(request)
    store = CollectorRegistry(auto_describe=False)
    store.register(StoreCollector(rt.sessions, rt.clock.now))
    try:
        stored = generate_latest(store)
    except Exception as exc:  # the process's own figures still matter when the store is down
        stored = f"# store gauges unavailable: {type(exc).__name__}\n".encode()
    return PlainTextResponse(generate_latest(REGISTRY) + stored, media_type=CONTENT_TYPE_LATEST)
