"""SLA time: business-time arithmetic (`calendar`) and, beside it, the ticket timers."""
