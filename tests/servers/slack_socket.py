"""A local stand-in for Slack's Socket Mode endpoint: the WebSocket apps.connections.open points at.

Slack's side of Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode/):
the app asks apps.connections.open (with its xapp- token) for a wss URL, opens a
WebSocket there, gets a `hello`, then envelopes (`events_api`, `slash_commands`,
`interactive`), each of which it acknowledges by sending back `{"envelope_id": ...}`
(with a `payload` where the envelope accepts one). Here the WebSocket is served by the
`websockets` library on 127.0.0.1 (ws://, no TLS: slack_sdk's built-in client speaks
plain TCP to any port but 443). `on_ack` runs the moment an acknowledgement arrives,
before the next frame is read, so a test can look at the store as Slack would see it.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


@dataclass(frozen=True)
class Ack:
    """An acknowledgement the app sent, and what `on_ack` found when it arrived."""

    envelope_id: str
    payload: dict[str, Any] | None
    observed: object


class SocketModeServer:
    """Serve Slack's Socket Mode side on a free localhost port in a thread; `with` stops it."""

    def __init__(self, on_ack: Callable[[str], object] | None = None) -> None:
        self.on_ack = on_ack or (lambda _envelope_id: None)
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.connections = 0
        self._current: ServerConnection | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.server: Server = serve(self._session, "127.0.0.1", 0)
        port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket=standin-ticket&app_id=A1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SocketModeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def _session(self, ws: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            self._current = ws
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-standin", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        self.connected.set()
        try:
            for raw in ws:
                message = json.loads(raw)
                self.received.append(message)
                envelope_id = message.get("envelope_id")
                if envelope_id:
                    observed = self.on_ack(str(envelope_id))
                    self.acks.put(Ack(str(envelope_id), message.get("payload"), observed))
        except ConnectionClosed:
            pass

    def send(self, envelope: dict[str, Any]) -> None:
        if not self.connected.wait(10):
            raise AssertionError("the app never opened the Socket Mode connection")
        with self._lock:
            ws = self._current
        assert ws is not None
        ws.send(json.dumps(envelope))

    def ack(self, timeout: float = 20) -> Ack:
        """The next acknowledgement; an AssertionError if none comes within `timeout` seconds."""
        try:
            return self.acks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no acknowledgement within {timeout} s") from None

    def envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> dict[str, Any]:
        """An envelope as Slack sends it; `events_api` ones carry the Events API body as payload."""
        return {
            "envelope_id": envelope_id or f"standin-envelope-{next(self._ids):04d}",
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
