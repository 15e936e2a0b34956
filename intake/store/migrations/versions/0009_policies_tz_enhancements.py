"""policies: organisations have a time zone; tickets a case owner; the enhancement register

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00

`organisations.timezone` is the customer's IANA zone, read where a policy's hours
are "local time" (Rezilion). `tickets.owner` is the case owner (Revalize). `enhancements` records every enhancement request and
where it stands (`intake enhancements list`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.store.orm

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(64), nullable=True))
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(320), nullable=True))
    ids = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "enhancements",
        sa.Column("id", ids, nullable=False),
        sa.Column("ticket_id", ids, nullable=False),
        sa.Column("org_id", ids, nullable=True),
        sa.Column("policy", sa.String(80), nullable=False),
        sa.Column("requester", sa.String(320), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("destination", sa.String(200), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("created_at", intake.store.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", intake.store.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", intake.store.orm.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_enhancements_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_enhancements_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enhancements")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_enhancements_ticket_id")),
    )
    op.create_index(op.f("ix_enhancements_org_id"), "enhancements", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_enhancements_org_id"), table_name="enhancements")
    op.drop_table("enhancements")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("owner")
    with op.batch_alter_table("organisations") as batch_op:
        batch_op.drop_column("timezone")
