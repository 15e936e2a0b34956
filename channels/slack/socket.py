"""Socket Mode: the same App over a WebSocket Slack opens to us (no public URL needed).

Bolt's SocketModeHandler acks each envelope after the listener returns
(process_before_response=True), so here too the ack follows the commit.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler

from channels.slack.app import build_app
from channels.slack.intake import slack_settings
from intake.runtime import Runtime


def start(runtime: Runtime) -> Any:
    """Connect in the background; returns the handler, whose `close()` disconnects."""
    app, _ = build_app(runtime)
    handler = SocketModeHandler(app, slack_settings(runtime).app_token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    return handler
