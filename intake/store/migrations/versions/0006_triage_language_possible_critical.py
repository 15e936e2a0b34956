"""triage: language and possible_critical on triage decisions and tickets (issue 13)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("triage_decisions", "tickets"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
            batch_op.add_column(
                sa.Column("possible_critical", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in ("triage_decisions", "tickets"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("possible_critical")
            batch_op.drop_column("language")
