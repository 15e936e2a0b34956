"""Prometheus metrics, counted where things happen and served by `intake.web.ops` at `/metrics`.

Counters and histograms are per process (each `intake serve` worker is scraped
on its own and Prometheus sums them); what the store knows for everyone
(tickets by status, outbox depth and age) is read at scrape time by
`StoreCollector`, so every worker reports the same figure for those: take the
max across workers, not the sum. Everything lives in prometheus-client's
default registry, which also carries the process's resident memory and CPU;
the store's gauges are collected per request for the runtime being served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

MESSAGES = Counter(
    "intake_messages", "Messages in, by channel and what became of them", ["channel", "disposition"]
)
TICKETS_OPENED = Counter("intake_tickets_opened", "Tickets opened", ["channel"])
ACKNOWLEDGEMENTS = Counter("intake_acknowledgements_sent", "Acknowledgements handed to the relay")
OUTBOX_DONE = Counter(
    "intake_outbox_rows",
    "Outbox rows finished by this worker, by channel and outcome",
    ["channel", "outcome"],
)
BREACHES = Counter("intake_breaches", "SLA targets missed (the breach timer fired)", ["target"])
TIMERS = Counter("intake_timers", "Timers handled by the scheduler", ["kind", "outcome"])
WEBHOOK_EVENTS = Counter("intake_webhook_events", "Ticket events queued for webhooks", ["event"])
# Buckets from a millisecond to a minute: a batch of one SMTP message to a large IMAP chunk.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PIPELINE_BATCH = Histogram(
    "intake_pipeline_batch_seconds", "Time of one pipeline batch, processing and commit", buckets=_BUCKETS
)
PIPELINE_MESSAGE = Histogram(
    "intake_pipeline_message_seconds",
    "Pipeline time per message (its batch's time divided by the batch size)",
    ["channel"],
    buckets=_BUCKETS,
)
SMTP_DATA = Histogram(
    "intake_smtp_data_seconds",
    "From the end of DATA to the SMTP reply (250 after the commit)",
    buckets=_BUCKETS,
)
ACK_DELAY = Histogram(
    "intake_acknowledgement_delay_seconds",
    "From the acknowledgement's creation (the commit of the message) to its hand-over to the relay",
    buckets=_BUCKETS,
)


class _Sourced(Protocol):
    @property
    def channel(self) -> str: ...


class _Result(Protocol):
    @property
    def disposition(self) -> str: ...


def ingested(items: Sequence[_Sourced], outcomes: Sequence[_Result], seconds: float) -> None:
    """One committed pipeline batch: its messages by channel and disposition, and its time."""
    if not items:
        return
    PIPELINE_BATCH.observe(seconds)
    share = seconds / len(items)
    for item, outcome in zip(items, outcomes, strict=False):
        MESSAGES.labels(item.channel, outcome.disposition).inc()
        PIPELINE_MESSAGE.labels(item.channel).observe(share)
        if outcome.disposition == "ticket":
            TICKETS_OPENED.labels(item.channel).inc()


def delivered(
    channel: str, outcome: str, *, template: str = "", ack_template: bool = False, age: float | None = None
) -> None:
    """One outbox row finished (sent, failed, suppressed, retried)."""
    OUTBOX_DONE.labels(channel, outcome).inc()
    if outcome == "sent" and ack_template:
        ACKNOWLEDGEMENTS.inc()
        if age is not None:
            ACK_DELAY.observe(max(age, 0.0))


class StoreCollector(Collector):
    """Gauges read from the store at scrape time: tickets by status, outbox depth and oldest age."""

    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from intake.store.orm import Outbox, Ticket

        tickets = GaugeMetricFamily("intake_tickets", "Tickets in the store by status", labels=["status"])
        depth = GaugeMetricFamily("intake_outbox_depth", "Outbox rows waiting to go out", labels=["channel"])
        age = GaugeMetricFamily(
            "intake_outbox_oldest_seconds", "Age of the oldest pending outbox row", labels=["channel"]
        )
        now = self.now()
        with self.sessions() as session:
            for status, n in session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)):
                tickets.add_metric([status], float(n))
            for channel, n, oldest in session.execute(
                select(Outbox.channel, func.count(), func.min(Outbox.created_at))
                .where(Outbox.state == "pending")
                .group_by(Outbox.channel)
            ):
                depth.add_metric([channel], float(n))
                if oldest is not None:
                    # SQLite through a bare aggregate may hand back a naive value: stored as UTC
                    first = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                    age.add_metric([channel], max((now - first).total_seconds(), 0.0))
        yield from (tickets, depth, age)
