"""`intake serve`: every configured channel, the outbox worker and the timer tick, until SIGTERM/SIGINT.

One event loop hosts the SMTP server (its pipeline calls go to worker
threads); each IMAP folder is watched by a thread of its own; the outbox
worker and `intake.tickets.scheduler.tick` run in worker threads every few seconds.
Nothing synchronous runs on the loop. On a signal: stop accepting SMTP
connections, let messages in flight reach their commit, tell the IMAP
watchers and the outbox worker to finish their current batch, and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from channels.imap import run_mailbox
from channels.smtp_server import SmtpServer
from intake.errors import IntakeError
from intake.outgoing.outbox import deliver_due
from intake.runtime import Runtime, load_classifier

log = logging.getLogger(__name__)


def load_scheduler() -> ModuleType | None:
    """intake.tickets.scheduler if it is installed; serve runs without timers otherwise (and says so)."""
    try:
        return importlib.import_module("intake.tickets.scheduler")
    except ModuleNotFoundError as exc:
        if exc.name != "intake.tickets.scheduler":
            raise
        return None


async def _every(
    interval: float, stop: asyncio.Event, name: str, work: Callable[[], Awaitable[None]]
) -> None:
    """Run `work` now and then every `interval` seconds until `stop`; a failing run is logged, not fatal."""
    while not stop.is_set():
        try:
            await work()
        except Exception:
            log.exception("serve: %s pass failed; next try in %.0f s", name, interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def _deliver(runtime: Runtime, halt: threading.Event) -> None:
    with runtime.sessions() as session:
        summary = deliver_due(session, runtime.clock, runtime.settings, halt)
    if summary.claimed:
        log.info("outbox: %s", summary.as_json())


def _tick(runtime: Runtime, scheduler: ModuleType) -> None:
    with runtime.sessions() as session:
        scheduler.tick(session, runtime.clock, runtime.settings)
        session.commit()


def _slack_web_server(runtime: Runtime) -> Any:
    """The web server that answers Slack in HTTP mode: the web app if installed, else only /slack/events.

    `intake.web.app.create_app` mounts the Slack endpoint itself when [slack] is in http mode.
    """
    import uvicorn
    from fastapi import FastAPI

    try:
        from intake.web.app import create_app  # type: ignore[import-not-found, unused-ignore]

        app = create_app(runtime)
    except ModuleNotFoundError as exc:
        if exc.name not in ("intake.web", "intake.web.app"):
            raise
        from channels.slack.http import mount

        app = FastAPI(title="intake: Slack endpoint")
        mount(app, runtime)
    web = runtime.settings.web
    config = uvicorn.Config(app, host=web.host, port=web.port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    # serve() owns SIGTERM/SIGINT; uvicorn must not take them over (it would swallow the shutdown).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    return server


def _retention(runtime: Runtime) -> None:
    from intake.tickets.retention import purge_raw

    with runtime.sessions() as session:
        report = purge_raw(session, runtime.clock, runtime.settings)
    if report.messages or report.quarantined:
        log.info("retention: %s", report.as_json())


async def serve(runtime: Runtime, stop: asyncio.Event | None = None, *, signals: bool = True) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT arrives when `signals`), then shut down cleanly."""
    settings = runtime.settings
    loop = asyncio.get_running_loop()
    # the pipeline calls of the SMTP server and the periodic jobs; IMAP watchers have threads of their own
    loop.set_default_executor(ThreadPoolExecutor(max_workers=16, thread_name_prefix="intake-worker"))
    stop = stop or asyncio.Event()
    halt = threading.Event()  # the same signal, for code running in threads
    tasks: list[asyncio.Task[None]] = []

    # The triage model is loaded before the first connection is taken: loaded by the first message
    # instead, it held every message of its first second (SMTP p99 0.9 s at 50 msg/s in bench_serve).
    await asyncio.to_thread(load_classifier, settings)
    smtp = await _start_smtp(runtime)
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    for mailbox in settings.imap:
        tasks.append(asyncio.create_task(run_mailbox(mailbox, runtime, halt), name=f"imap-{mailbox.name}"))

    async def outbox_pass() -> None:
        await asyncio.to_thread(_deliver, runtime, halt)

    tasks.append(asyncio.create_task(_every(settings.outbox.poll_interval, stop, "outbox", outbox_pass)))

    socket_mode, web = await _start_slack(runtime, stop, halt, tasks)
    if web is None:
        web = _start_web(runtime, stop, tasks)

    scheduler = _start_scheduler(runtime, stop, tasks)

    _start_retention(runtime, stop, tasks)

    log.info(
        "serve: running (smtp %s, web %s, %d IMAP mailbox(es), outbox worker, scheduler %s)",
        f"on port {smtp.port}" if smtp else "off",
        f"on port {runtime.settings.web.port}" if web is not None else "off",
        len(settings.imap),
        "on" if scheduler else "absent",
    )
    try:
        await stop.wait()
    finally:
        log.info("serve: stopping")
        halt.set()
        stop.set()
        grace = settings.service.shutdown_grace
        if smtp is not None:
            await smtp.stop(grace)
        if socket_mode is not None:
            await asyncio.to_thread(socket_mode.close)
        if web is not None:
            web.should_exit = True
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.warning("serve: %s did not stop within %.0f s; cancelled", task.get_name(), grace)
                task.cancel()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("serve: stopped")


def run(runtime: Runtime) -> None:
    """Blocking entry point for the command line."""
    asyncio.run(serve(runtime))


async def _start_slack(
    runtime: Runtime, stop: asyncio.Event, halt: threading.Event, tasks: list[asyncio.Task[None]]
) -> tuple[Any, Any]:
    """The Slack outbox worker, and Socket Mode or the HTTP endpoint; (socket handler, web server)."""
    settings = runtime.settings
    if settings.slack is None:
        return None, None
    from channels.slack.app import web_client
    from channels.slack.outbox import deliver_due as deliver_slack

    client = web_client(runtime)

    def _deliver_slack() -> None:
        with runtime.sessions() as session:
            deliver_slack(session, runtime.clock, settings, client, halt)

    async def slack_pass() -> None:
        await asyncio.to_thread(_deliver_slack)

    tasks.append(asyncio.create_task(_every(settings.outbox.poll_interval, stop, "slack", slack_pass)))
    if settings.slack.mode == "socket":
        from channels.slack.socket import start as start_socket

        return await asyncio.to_thread(start_socket, runtime), None
    if settings.web.enabled:
        return None, None  # the web page's app serves /slack/events (intake.web.app.create_app)
    web = _slack_web_server(runtime)
    tasks.append(asyncio.create_task(web.serve(), name="web"))
    log.info("serve: Slack in HTTP mode on http://%s:%d/slack/events", settings.web.host, settings.web.port)
    return None, web


async def _start_smtp(runtime: Runtime) -> SmtpServer | None:
    """The bot's own SMTP server, when configured; a port that is taken is a one-line error."""
    settings = runtime.settings
    if settings.smtp_server is None:
        log.info("serve: no [smtp_server] section: the SMTP server is not started")
        return None
    smtp = SmtpServer(settings, runtime)
    try:
        await smtp.start()
    except OSError as exc:
        where = f"{settings.smtp_server.host}:{settings.smtp_server.port}"
        raise IntakeError(f"the SMTP server cannot listen on {where}: {exc.strerror or exc}") from exc
    return smtp


def _start_web(runtime: Runtime, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> Any:
    """The web page (review queue, dashboard, API, support form, and /slack/events in http mode)."""
    if not runtime.settings.web.enabled:
        log.info("serve: [web] enabled = false: the web page is not started")
        return None
    from intake.web.server import make_server, run_server

    web = make_server(runtime)
    tasks.append(asyncio.create_task(run_server(web, stop), name="web"))
    return web


def _start_scheduler(runtime: Runtime, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> Any:
    """The periodic tick (SLA warnings, escalations, reminders, closes); None when not installed."""
    scheduler = load_scheduler()
    if scheduler is None:
        log.warning(
            "serve: intake.tickets.scheduler is not installed: no timers run (acknowledgement deadlines, "
            "reminders, escalations, auto-close)"
        )
        return None

    async def tick_pass() -> None:
        await asyncio.to_thread(_tick, runtime, scheduler)

    tasks.append(asyncio.create_task(_every(runtime.settings.service.tick_interval, stop, "tick", tick_pass)))
    return scheduler


def _start_retention(runtime: Runtime, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Remove raw mail older than `[retention] raw_days` every `interval`, when set."""
    settings = runtime.settings
    if not settings.retention.raw_days:
        return

    async def retention_pass() -> None:
        await asyncio.to_thread(_retention, runtime)

    tasks.append(asyncio.create_task(_every(settings.retention.interval, stop, "retention", retention_pass)))
