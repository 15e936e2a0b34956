"""slack: posted ts of outbox rows, the triage post of a ticket, and Slack event ids seen

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:55:00

`outbox.posted_ts` is the ts Slack gave the message an outbox row posted (a
retry after a crash finds it before posting again); `tickets.triage_ts` is the
ticket's post in the engineers' triage channel (updated in place);
`slack_events` holds every Events API event_id taken, so a retry or a
redelivery is absorbed whatever it carries.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.store.orm

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("posted_ts", sa.String(40), nullable=True))
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("triage_ts", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("assignee", sa.String(320), nullable=True))
        batch_op.add_column(sa.Column("csat", sa.String(20), nullable=True))
    op.create_table(
        "slack_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("received_at", intake.store.orm.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_slack_events_event_id")),
    )


def downgrade() -> None:
    op.drop_table("slack_events")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("csat")
        batch_op.drop_column("assignee")
        batch_op.drop_column("triage_ts")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("posted_ts")
