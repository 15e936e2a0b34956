"""Tickets after intake: lifecycle states, engineers' operations (reply, resolve, review),
the story of a ticket, and the scheduler that fires its timers."""
