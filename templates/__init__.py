"""Jinja2 templates of the messages the bot sends; see intake/compose.py for how one is chosen."""
