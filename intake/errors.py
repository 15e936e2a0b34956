"""The kinds of failure, named so callers can react to each.

`BadInput` is the sender's or the user's fault: exit 2 on the command line,
quarantine for a message. `Transient` is ours and may succeed on retry: SMTP
451, IMAP leaves the message unseen. Stopping a message on purpose is not an
error; it is a `Stop` returned by a pipeline step.
"""


class IntakeError(Exception):
    """Base of every error the bot raises on purpose."""


class BadInput(IntakeError):
    """Input that can never be processed as given (bad command-line value, unreadable mail)."""


class NotFound(IntakeError):
    """A referenced object (ticket, organisation, policy) does not exist."""


class Transient(IntakeError):
    """A failure that may go away on retry (database unavailable, network)."""


class PolicyError(BadInput):
    """A policy file that does not validate; the message names the file and the field."""
