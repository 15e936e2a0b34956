"""The local stand-in for the Slack Web API (channels/slack/standin.py, which `intake demo` uses too)."""

from channels.slack.standin import Call, SlackApi, SlackApiServer

__all__ = ["Call", "SlackApi", "SlackApiServer"]
