"""The local stand-in for the Slack Web API (channels/slack/standin.py, which `intake demo` uses too),
and the Events API envelope Slack wraps a channel event in."""

from typing import Any

from channels.slack.standin import Call, SlackApi, SlackApiServer

__all__ = ["Call", "SlackApi", "SlackApiServer", "event_callback"]


def event_callback(event: dict[str, Any], channel: str, event_id: str) -> dict[str, Any]:
    """An `event_callback` body for `event` in `channel`, as Slack sends it over HTTP or Socket Mode."""
    return {
        "type": "event_callback",
        "team_id": "TVENDOR",
        "api_app_id": "A1",
        "event_id": event_id,
        "event_time": 1800000000,
        "event": {"channel": channel, "channel_type": "channel", **event},
    }
