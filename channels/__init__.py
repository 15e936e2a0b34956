"""Channel adapters: each turns its native input into an `intake.models.InboundMessage`."""
