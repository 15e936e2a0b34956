"""What the bot sends: templates rendered to outbox rows, the outbox worker, bounces of our mail."""
