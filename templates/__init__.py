"""Jinja2 templates of the messages the bot sends; see intake/outgoing/compose.py for how one is chosen."""
