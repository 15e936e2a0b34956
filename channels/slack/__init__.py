"""Slack: customers open tickets in shared channels, engineers triage and answer from Slack.

- events.py: Events API payloads -> what they mean (a customer message, an edit, a reaction ...)
- smalltalk.py: "thanks!", "ok will try", a lone emoji: not a ticket
- intake.py: the synchronous work of one event (dedup, pipeline, ticket events), inside Slack's 3 s
- app.py: the slack-bolt App (process_before_response=True) and its listeners
- http.py: `mount(app, runtime)`: POST /slack/events on a FastAPI app; socket.py: Socket Mode
- render.py: ticket -> Slack text and blocks; outbox.py: delivery of the outbox's Slack rows
- triage.py: the engineers' triage channel (posts updated in place, actions)
"""
