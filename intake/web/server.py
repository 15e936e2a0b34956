"""The web app under uvicorn, inside `intake serve`'s event loop or alone for `intake web`.

uvicorn's own signal handling is switched off: the caller owns SIGTERM/SIGINT
and sets `stop`; uvicorn then stops accepting, finishes the requests in flight
and returns, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from intake.runtime import Runtime
from intake.web.app import create_app

log = logging.getLogger(__name__)


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller owns the signals and sets `should_exit` through `run_server`'s stop


def make_server(runtime: Runtime, host: str | None = None, port: int | None = None) -> Server:
    web = runtime.settings.web
    config = uvicorn.Config(
        create_app(runtime), host=host or web.host, port=port or web.port, log_level="warning"
    )
    return Server(config)


async def run_server(server: Server, stop: asyncio.Event) -> None:
    """Serve until `stop`, then let the requests in flight finish."""
    running = asyncio.create_task(server.serve())
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    try:
        await running
    except SystemExit:  # uvicorn exits when it cannot listen; the other surfaces keep running
        log.error(
            "web: cannot listen on %s:%s; the web page is not served", server.config.host, server.config.port
        )
    waiting.cancel()


async def serve_alone(runtime: Runtime, host: str | None = None, port: int | None = None) -> None:
    """`intake web`: the web page only, until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = make_server(runtime, host, port)
    log.warning("web: serving on http://%s:%s", server.config.host, server.config.port)
    await run_server(server, stop)
