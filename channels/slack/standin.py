"""A local stand-in for the Slack Web API recording every call (WebClient(base_url=...)): tests, the demo.

Like bolt-python's tests/mock_web_api_server: a threaded HTTP server answering
`{"ok": true, ...}` per method. It keeps what was posted, so conversations.replies
and conversations.history answer with the messages the bot really posted
(metadata included); `rate_limit(method, n, retry_after)` answers the next n
calls of a method with 429 and Retry-After. apps.connections.open answers with
`socket_url` (a local WebSocket standing in for Socket Mode's, tests/servers/slack_socket.py);
each call records the token it came with.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""


@dataclass
class SlackApi:
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    throttled: dict[str, tuple[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    socket_url: str = ""

    def rate_limit(self, method: str, times: int, retry_after: int) -> None:
        self.throttled[method] = (times, retry_after)

    def called(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def answer(
        self, method: str, args: dict[str, Any], token: str = ""
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.calls.append(Call(method, args, token))
            times, wait = self.throttled.get(method, (0, 0))
            if times > 0:
                self.throttled[method] = (times - 1, wait)
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
            return 200, self._body(method, args, token), {}

    def _body(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "apps.connections.open":
            if not token.startswith("xapp-") or not self.socket_url:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_url}
        if method == "auth.test":
            return {"ok": True, "team_id": "TVENDOR", "user_id": "UBOT", "bot_id": "BBOT"}
        if method == "chat.postMessage":
            return self._post(args)
        if method in ("conversations.replies", "conversations.history"):
            return {"ok": True, "messages": self._read(method, args)}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            return {"ok": False, "error": "user_not_found"} if user is None else {"ok": True, "user": user}
        return {"ok": True}

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1800000000.{next(self._ts):06d}"
        message = {"ts": ts, "text": args.get("text", ""), "user": "UBOT", "bot_id": "BBOT"}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("metadata"):
            meta = args["metadata"]
            message["metadata"] = json.loads(meta) if isinstance(meta, str) else meta
        self.messages.setdefault(str(args.get("channel")), []).append(message)
        return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": message}

    def _read(self, method: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        found = list(self.messages.get(str(args.get("channel")), []))
        if method == "conversations.replies":
            thread = str(args.get("ts"))
            return [m for m in found if m.get("thread_ts") == thread or m["ts"] == thread]
        if args.get("latest") and str(args.get("inclusive")).lower() in ("1", "true"):
            return [m for m in found if m["ts"] == args["latest"]]
        return found


def _handler(api: SlackApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if raw.startswith("{"):
                args: dict[str, Any] = json.loads(raw)
            else:
                args = {k: v[0] for k, v in parse_qs(raw or parsed.query).items()}
            bearer = self.headers.get("Authorization") or ""
            token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else ""
            status, body, headers = api.answer(parsed.path.strip("/"), args, token or args.get("token", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

    return Handler


class SlackApiServer:
    """Serve a SlackApi on 127.0.0.1 (a free port) in a thread; `with` stops it."""

    def __init__(self) -> None:
        self.api = SlackApi()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.api))
        self.api.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        # shutdown() waits for serve_forever's next poll: 0.05 s instead of the default 0.5 s per stop
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> SlackApi:
        self.thread.start()
        return self.api

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
