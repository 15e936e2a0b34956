"""outgoing: loop caps counted in the store (per mailbox, per domain, per ticket, across workers)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00

`counted_at` is when an automatic row took its place under the caps (set once,
inside the admission lock); `rcpt_key` is the mailbox it reaches (lower case,
no +tag) and `rcpt_domain` its registrable domain. Automatic rows sent before
this revision are counted from their `sent_at`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.store.orm
from channels.safe_values import address_key, domain_key

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column("counted_at", intake.store.orm.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("rcpt_key", sa.String(320), nullable=True))
        batch_op.add_column(sa.Column("rcpt_domain", sa.String(253), nullable=True))
        batch_op.create_index("ix_outbox_rcpt_key_counted", ["rcpt_key", "counted_at"])
        batch_op.create_index("ix_outbox_rcpt_domain_counted", ["rcpt_domain", "counted_at"])
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("recipient", sa.String),
        sa.column("sent_at", intake.store.orm.UtcDateTime(timezone=True)),
        sa.column("counted_at", intake.store.orm.UtcDateTime(timezone=True)),
        sa.column("rcpt_key", sa.String),
        sa.column("rcpt_domain", sa.String),
        sa.column("automatic", sa.Boolean),
        sa.column("state", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.recipient, outbox.c.sent_at).where(
            outbox.c.automatic.is_(True), outbox.c.state == "sent"
        )
    ).all()
    for row_id, recipient, sent_at in rows:
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                counted_at=sent_at,
                rcpt_key=address_key(recipient)[:320],
                rcpt_domain=domain_key(recipient)[:253],
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_rcpt_domain_counted")
        batch_op.drop_index("ix_outbox_rcpt_key_counted")
        batch_op.drop_column("rcpt_domain")
        batch_op.drop_column("rcpt_key")
        batch_op.drop_column("counted_at")
