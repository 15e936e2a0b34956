"""What decide decides from: the message, its triage, the ticket, the sender and a few settings.

Built by the decide step from the context; a test or the review page builds one directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.customers.directory import OrgView
from intake.models import InboundMessage
from intake.pipeline.context import ContactStatus, Triage
from intake.pipeline.rows import TicketState


def first_name(display: str, address: str) -> str:
    """How mail greets someone: the display name's first word, else the address's local part."""
    return display.split(maxsplit=1)[0] if display.strip() else address.partition("@")[0]


@dataclass(frozen=True)
class Facts:
    message: InboundMessage
    now: datetime
    contact_status: ContactStatus
    org: OrgView | None
    triage: Triage | None
    ticket: TicketState | None
    # The policy a ticket opened by this message is under: the organisation's, else the default.
    new_policy: str
    # Why the thread step refused the ticket the message named (it opens a held one instead).
    held: str | None = None
    # Mail from a configured web form's sender (its channel is the portal); the requester its
    # Email: field names (None when the field is missing or invalid), and their first name.
    from_form: bool = False
    form_requester: str | None = None
    form_name: str = ""
    ref_prefix: str = "support"
    escalation_notify: tuple[str, ...] = ()
    portal_url: str = ""
    # An engineers' triage channel is configured: new tickets and follow-ups are posted there.
    triage_channel: bool = False

    @property
    def zone(self) -> str | None:
        """The customer organisation's time zone (it counts where the policy's hours are local)."""
        return self.org.timezone if self.org is not None else None

    @property
    def requester(self) -> str:
        """Who a ticket this message opens is for: the sender, or the form's requester."""
        return self.form_requester or self.message.sender

    @property
    def first_name(self) -> str:
        msg = self.message
        return self.form_name or first_name(msg.display_name, self.requester)

    def same_org(self, ticket: TicketState) -> bool:
        return ticket.org_id is not None and self.org is not None and self.org.id == ticket.org_id

    def from_requester_side(self, ticket: TicketState) -> bool:
        """The requester, or someone of the ticket's organisation."""
        return self.message.sender == ticket.requester or self.same_org(ticket)
