"""The web app served by a real uvicorn on a free port, in a thread, over a seeded store."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from channels.parse import parse_one
from intake.config import Settings
from intake.pipeline import ingest
from intake.runtime import Runtime
from intake.web.app import create_app
from intake.web.auth import add_user
from tests.servers.net import free_port
from tests.servers.stack import add_customers

MANAGER = ("manager@vendor.example", "manager password 1")
ENGINEER = ("engineer@vendor.example", "engineer password 1")


@dataclass
class Served:
    runtime: Runtime
    base: str
    clients: list[httpx.Client]
    app: FastAPI

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)
        self.clients.append(client)
        return client

    def login(self, who: tuple[str, str] = MANAGER) -> httpx.Client:
        client = self.client()
        page = client.get("/login")
        response = client.post(
            "/login", data={"csrf": csrf_of(page.text), "email": who[0], "password": who[1], "next": "/"}
        )
        assert response.status_code == 303, response.text
        return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def with_web_settings(runtime: Runtime, tmp_model_dir: str) -> Runtime:
    data = runtime.settings.model_dump(mode="python")
    data["web"]["secret_key"] = "test secret key, not for production"
    data["classifier"]["model_dir"] = tmp_model_dir
    data["classifier"]["retrain_folds"] = 2  # a page retrain in tests: 3 fits instead of 6
    data["guard"]["trusted_authserv_ids"] = ["mx.vendor.example"]
    settings = Settings.model_validate(
        {**data, "web": {**data["web"], "secret_key": "test secret key, not for production"}}
    )
    return Runtime(settings, runtime.engine, runtime.sessions, runtime.clock)


AR = "mx.vendor.example; dmarc=pass header.from=acme.example"


def sample_mails(make_mail: Any) -> list[bytes]:
    """A designated contact's outage, and one carrying script and HTML in every field a page shows."""
    return [
        make_mail(subject="Production is down, all users blocked", headers={"Authentication-Results": AR}),
        make_mail(
            "<script>alert(1)</script> body </textarea><script>alert(4)</script>",
            subject='"><img src=x onerror=alert(2)> subject',
            sender='"<svg onload=alert(3)>" <dana@acme.example>',
            html="<p>hi</p><script>alert(6)</script><img src=x onerror=alert(7)>"
            "<a href='javascript:alert(8)'>x</a>",
            headers={"Authentication-Results": AR},
            attachments=[('"><img src=x onerror=alert(9)>.txt', "text/plain", b"x")],
        ),
    ]


def seed(runtime: Runtime, mails: list[bytes]) -> list[int | None]:
    add_customers(runtime)
    with runtime.sessions() as session:
        add_user(session, MANAGER[0], "manager", MANAGER[1], runtime.clock.now())
        add_user(session, ENGINEER[0], "engineer", ENGINEER[1], runtime.clock.now())
    items = [parse_one(raw, f"seed:{i}", runtime.clock.now()) for i, raw in enumerate(mails)]
    with runtime.deps() as deps:
        return [o.ticket_id for o in ingest(items, deps)]


@contextmanager
def serve_web(runtime: Runtime) -> Iterator[Served]:
    port = free_port()
    app = create_app(runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("the web app did not start")
        time.sleep(0.05)
    served = Served(runtime, f"http://127.0.0.1:{port}", [], app)
    try:
        yield served
    finally:
        for client in served.clients:
            client.close()
        server.should_exit = True
        thread.join(timeout=10)
