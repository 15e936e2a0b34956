"""web: users, sessions, API tokens, throttling, reviews, retrain jobs, support-form requests

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:50:00

Also the indexes (`tickets.assignee` came with the Slack migration 0007) the
review queue pages by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.store.orm

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def When(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, intake.store.orm.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        When("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        When("created_at"),
        When("expires_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        When("created_at"),
        When("last_used_at", True),
        When("revoked_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "web_throttle",
        sa.Column("id", Id, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        When("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_throttle")),
    )
    op.create_index("ix_web_throttle_key_at", "web_throttle", ["key", "at"])
    op.create_table(
        "reviews",
        sa.Column("id", Id, primary_key=True),
        sa.Column("decision_id", Id, nullable=True),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("who", sa.String(320), nullable=False),
        When("at"),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["triage_decisions.id"], name=op.f("fk_reviews_decision_id_triage_decisions")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_reviews_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_decision_id"), "reviews", ["decision_id"])
    op.create_index(op.f("ix_reviews_ticket_id"), "reviews", ["ticket_id"])
    op.create_index(op.f("ix_reviews_at"), "reviews", ["at"])
    op.create_table(
        "retrain_jobs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("started_by", sa.String(320), nullable=False),
        When("started_at"),
        When("finished_at", True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("candidate_version", sa.String(80), nullable=True),
        sa.Column("candidate_dir", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrain_jobs")),
    )
    op.create_table(
        "support_requests",
        sa.Column("id", Id, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("stated_severity", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        When("created_at"),
        When("expires_at"),
        When("confirmed_at", True),
        sa.Column("ticket_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_support_requests_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_support_requests_token_hash")),
    )
    op.create_index(op.f("ix_support_requests_email"), "support_requests", ["email"])
    op.create_index("ix_triage_decisions_created_id", "triage_decisions", ["created_at", "id"])
    op.create_index("ix_triage_decisions_confidence_id", "triage_decisions", ["confidence", "id"])
    op.create_index("ix_triage_decisions_review_created", "triage_decisions", ["needs_review", "created_at"])
    op.create_index("ix_triage_decisions_reviewed_at", "triage_decisions", ["reviewed_at"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_closed_at", "tickets", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_closed_at", "tickets")
    op.drop_index("ix_tickets_created_at", "tickets")
    op.drop_index("ix_triage_decisions_reviewed_at", "triage_decisions")
    op.drop_index("ix_triage_decisions_review_created", "triage_decisions")
    op.drop_index("ix_triage_decisions_confidence_id", "triage_decisions")
    op.drop_index("ix_triage_decisions_created_id", "triage_decisions")
    for table in (
        "support_requests",
        "retrain_jobs",
        "reviews",
        "web_throttle",
        "api_tokens",
        "web_sessions",
        "users",
    ):
        op.drop_table(table)
