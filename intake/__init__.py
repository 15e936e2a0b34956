"""Support intake bot: turns customer mail and Slack messages into triaged tickets."""

__version__ = "0.1.0"
