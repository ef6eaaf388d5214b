"""indexes that match the claims' ORDER BY: reminders by (state, due_at, id), open obligations by case

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:30:00.000000

The reminder claim orders by (due_at, id) among pending rows; with (state, due_at) alone PostgreSQL
read and sorted every row tied on one minute (every working-day deadline falls at 17:00). The
Business Manager's Home reads the next open obligation of every open case in one query.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_reminders_due", table_name="reminders")
    op.create_index("ix_reminders_due", "reminders", ["state", "due_at", "id"])
    op.create_index("ix_obligations_case_open", "obligations", ["case_id", "state", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_obligations_case_open", table_name="obligations")
    op.drop_index("ix_reminders_due", table_name="reminders")
    op.create_index("ix_reminders_due", "reminders", ["state", "due_at"])
