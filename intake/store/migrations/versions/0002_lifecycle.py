"""lifecycle: SLA pauses on tickets, contact retirement for transfers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.store.orm

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("pauses", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(
            sa.Column("retires_at", intake.store.orm.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_column("retires_at")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("pauses")
