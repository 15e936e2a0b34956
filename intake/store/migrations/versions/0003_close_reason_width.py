"""close reasons are policy data and may be long (transferred_to_product_management)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.alter_column("close_reason", type_=sa.String(60), existing_type=sa.String(30))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.alter_column("close_reason", type_=sa.String(30), existing_type=sa.String(60))
