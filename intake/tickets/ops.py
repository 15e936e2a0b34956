"""Changes to one stored ticket outside the ingest path: transitions, messages, closing.

Used by the scheduler and by engineers' commands; every change writes its audit
event and its outbox rows in the caller's transaction, never on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from intake.config import Settings
from intake.errors import BadInput
from intake.observe import metrics
from intake.outgoing import webhooks
from intake.outgoing.compose import (
    clean_subject,
    escalation_variables,
    format_due,
    outbox_row,
    slack_row,
    triage_enabled,
)
from intake.pipeline.decide.facts import first_name
from intake.policies.loader import load_all
from intake.policies.schema import Policy
from intake.sla.timers import DROPPED_KINDS, SLA_KINDS, TimerSpec
from intake.store import repo
from intake.store.orm import Outbox, Ticket, TicketEvent, Timer
from intake.tickets import lifecycle
from intake.tickets.refs import format_ref, prefix_of

if TYPE_CHECKING:
    from intake.pipeline.decide.decision import Decision


def _greeting_name(ticket: Ticket) -> str:
    """How a message greets the requester: a first name; a Slack user without one is mentioned
    (`<@U123>`, which Slack shows as their name), never greeted by a bare user ID."""
    if not ticket.requester_name.strip() and "@" not in ticket.requester:
        return f"<@{ticket.requester}>"
    return first_name(ticket.requester_name, ticket.requester)


def slack_thread_of(ticket: Ticket) -> str | None:
    """ "C123:ts" of a Slack ticket's thread (where its customer is answered), None for mail tickets."""
    if ticket.channel == "slack" and ticket.slack_channel and ticket.slack_thread_ts:
        return f"{ticket.slack_channel}:{ticket.slack_thread_ts}"
    return None


@dataclass
class TicketOps:
    session: Session
    settings: Settings
    now: datetime
    actor: str = "bot"
    _queued: set[tuple[int, str, str | None]] = field(default_factory=set)

    def ref(self, ticket: Ticket) -> str:
        return format_ref(prefix_of(self.settings), ticket.id)

    def policy(self, ticket: Ticket) -> Policy:
        return load_all()[ticket.policy]

    def zone(self, ticket: Ticket) -> str | None:
        """The customer organisation's time zone (used where the policy's hours are local)."""
        return ticket.org.timezone if ticket.org is not None else None

    def transition(self, ticket: Ticket, to: str, reason: str) -> None:
        change = lifecycle.transition(ticket.status, to, reason, self.now, self.actor)
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=change.at,
                from_status=change.from_status,
                to_status=change.to_status,
                reason=change.reason,
                actor=change.actor,
            )
        )
        event = webhooks.event_of(ticket.status, to)
        ticket.status = to
        ticket.updated_at = self.now
        if event is not None:
            webhooks.queue(self.session, self.settings, event, ticket, reason, self.now)

        self.triage(ticket, "triage_update")

    def breached(self, ticket: Ticket, target: str, reason: str) -> None:
        """A target was missed: count it and tell the webhooks that want breaches."""
        metrics.BREACHES.labels(target).inc()
        webhooks.queue(self.session, self.settings, "breached", ticket, reason, self.now)

    def triage(self, ticket: Ticket, template: str, text: str = "", recipient: str | None = None) -> None:
        """Queue a Slack post about the ticket for the engineers: its triage post (updated in place),
        a message in its thread, or (recipient "dm:U…") a DM; nothing without `[slack] triage_channel`.
        One triage_update per ticket per operation."""
        if not triage_enabled(self.settings):
            return
        key = (ticket.id, template, recipient)
        if template == "triage_update":
            if key in self._queued:
                return
            self._queued.add(key)
        row = slack_row(
            self.settings,
            template,
            recipient or f"triage:{ticket.id}",
            self.now,
            ref=self.ref(ticket),
            text=text,
        )
        self.session.add(Outbox(ticket_id=ticket.id, **row.values()))

    def cancel_timers(self, ticket: Ticket, kinds: tuple[str, ...]) -> None:
        repo.cancel_timers(self.session, ticket.id, kinds)

    def add_timers(self, ticket: Ticket, rows: Sequence[TimerSpec]) -> None:
        for row in rows:
            self.session.add(Timer(ticket_id=ticket.id, **row.values()))

    def apply_override(self, ticket: Ticket, decision: Decision) -> None:
        """Apply `decide.recompute`'s Decision to a stored ticket: its columns, then its SLA timers."""
        for name, value in decision.changes.values().items():
            setattr(ticket, name, value)
        if decision.cancel_timers:
            self.cancel_timers(ticket, decision.cancel_timers)
        self.add_timers(ticket, decision.timers)

    def _last_inbound(self, ticket: Ticket) -> tuple[str | None, list[str]]:
        last = repo.last_inbound_mail(self.session, ticket.id)
        return (last.external_id, last.references) if last is not None else (None, [])

    def send(
        self,
        ticket: Ticket,
        template: str,
        variables: dict[str, Any],
        *,
        recipient: str | None = None,
        automatic: bool = True,
    ) -> Outbox:
        """Queue a message about the ticket; to the requester unless told otherwise."""
        policy = self.policy(ticket)
        ref = self.ref(ticket)
        to = recipient or ticket.requester
        in_reply_to, references = self._last_inbound(ticket) if to == ticket.requester else (None, [])
        values = {
            "subject": clean_subject(ticket.subject, ref),
            "name": _greeting_name(ticket),
            **variables,
        }
        row = outbox_row(
            self.settings,
            policy,
            template,
            ref=ref,
            recipient=to,
            variables=values,
            now=self.now,
            in_reply_to=in_reply_to,
            references=references,
            automatic=automatic,
            slack_thread=slack_thread_of(ticket) if to == ticket.requester else None,
        )
        outbox = Outbox(ticket_id=ticket.id, **row.values())
        self.session.add(outbox)
        if not automatic and to == ticket.requester:
            self.triage(
                ticket, "mirror", f"Sent to the customer by {self.actor}: {variables.get('text', '')}"
            )
        return outbox

    def notify_team(
        self, ticket: Ticket, what: str, target_name: str, due: datetime | None, reason: str
    ) -> None:
        policy = self.policy(ticket)
        variables = escalation_variables(
            policy,
            what=what,
            org=ticket.org.name if ticket.org else None,
            severity=ticket.severity,
            status=ticket.status,
            requester=ticket.requester,
            reason=reason,
            target_name=target_name,
            due=format_due(policy, ticket.plan, due, self.zone(ticket)),
        )
        for address in self.settings.escalation.notify:
            self.send(ticket, "escalation", variables, recipient=address)
        notice = (
            f":rotating_light: {what}: {target_name} of {self.ref(ticket)} due {variables.get('due') or '-'}"
        )
        self.triage(ticket, "escalation", notice)
        if ticket.assignee:
            self.triage(ticket, "escalation", notice, recipient=f"dm:{ticket.assignee}")

    def set_severity(self, ticket: Ticket, level: str) -> None:
        """A person confirms or changes the severity; the SLA clock follows it from the ticket's start.

        This is what ends a ``possible_critical`` (classify): the flag is cleared, the
        review is done, and the first-response and resolution targets (and their
        timers) are those of the level the person chose, with the customer's pauses
        (`decide.recompute`, the same rules and arithmetic as at intake).
        """
        from intake.pipeline.decide.recompute import recompute, ticket_state

        policy = self.policy(ticket)
        chosen = policy.level(level)
        before = ticket.severity
        flagged = ticket.possible_critical
        self.apply_override(
            ticket,
            recompute(policy, ticket_state(ticket), self.now, severity=chosen.key, zone=self.zone(ticket)),
        )
        ticket.needs_review = False
        what = "confirmed" if chosen.key == before else f"changed from {policy.level(before).label}"
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=self.now,
                from_status=ticket.status,
                to_status=ticket.status,
                reason=f"severity {chosen.label} {what} by {self.actor}"
                + ("; possible critical resolved" if flagged else ""),
                actor=self.actor,
            )
        )

    def escalate(self, ticket: Ticket, why: str) -> None:
        """Escalate at a manager's request, where the policy says a manager may.

        Rezilion: "A support request set to an escalated status means ... the customer
        support manager has asked for an expedited program fix"; Revalize lists a
        manager's request among its escalations (`escalate_on = ["manager_request"]`).
        """
        policy = self.policy(ticket)
        ref = self.ref(ticket)
        if "manager_request" not in policy.escalation.escalate_on:
            raise BadInput(f"{ref}: {policy.title} does not escalate at a manager's request")
        if ticket.status == "escalated":
            raise BadInput(f"{ref} is already escalated")
        if not lifecycle.is_open(ticket.status) or ticket.status == "pending_authorisation":
            raise BadInput(f"{ref} is {ticket.status}: only a ticket being worked on can be escalated")
        reason = f"escalated at the request of {self.actor}: {why}"
        self.transition(ticket, "escalated", reason)
        self.notify_team(ticket, "Escalated by a manager", "resolution", ticket.resolution_due, reason)

    def close(self, ticket: Ticket, reason: str, why: str, *, message: bool = True) -> None:
        """Close with a reason, tell the customer, and send the policy's survey if it has one."""
        policy = self.policy(ticket)
        self.transition(ticket, "closed", why)
        ticket.closed_at = self.now
        ticket.close_reason = reason
        # The SLA clock stopped when the ticket was resolved or put on the customer, if before now.
        ticket.waiting_since = ticket.waiting_since or self.now
        self.cancel_timers(ticket, (*SLA_KINDS, *DROPPED_KINDS, "auto_close_resolved"))
        if message:
            self.send(
                ticket,
                policy.dropped.close_template if reason == "dropped" else "closing",
                {
                    "reason": reason,
                    "reopen": policy.reopen.action != "new_ticket",
                    "recorded_in": policy.enhancements.recorded_in,
                    "transfer_to": policy.enhancements.transfer_to,
                    "feedback": policy.enhancements.feedback,
                    "referral": next(
                        (
                            c.transfer_to
                            for c in policy.categories
                            if c.handling == "out_of_scope" and c.transfer_to
                        ),
                        None,
                    ),
                },
            )
        survey = policy.closing.survey
        # Revalize: "When a case is closed, the partner contact ... will receive an email inviting
        # them to complete a brief online Customer Satisfaction (CSAT) survey": every close of a
        # case, dropped and enhancement ones too; not the redirect of mail that never was a case.
        if survey is not None and reason != "unsupported_channel":
            self.send(ticket, survey.template, {"areas": survey.areas})
