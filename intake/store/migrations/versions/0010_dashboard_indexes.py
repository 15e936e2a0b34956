"""dashboard index: one organisation's tickets of the period

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00

The dashboard (intake/web/dashboard.py) counts the tickets created in its period, for
all tickets, one policy or one organisation. For one organisation, SQLite read every
ticket the organisation ever had through `ix_tickets_org_id` and dropped those outside
the period (5,000 rows for 390 at 100,000 tickets over 20 organisations, a year);
PostgreSQL combined two bitmap scans. (org_id, created_at) reads just the period.

Measured and not added (bench/explain_web.py): (policy, created_at) made SQLite, which
has no statistics unless ANALYZE runs, walk the whole index to group by policy instead
of the period's range of `ix_tickets_created_at` (10 ms became 90 ms); and
(canonical_severity, created_at, id) for the review queue was taken by SQLite for the
confusion matrix (`canonical_severity IS NOT NULL`, 0.1 ms became 270 ms), while
PostgreSQL's severity-filtered queue page stayed a bitmap scan of the same cost.
Figures: bench/results/web-2026-12-04-*.txt.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_org_created", "tickets", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_org_created", table_name="tickets")
