"""timelines: reminder outcomes, Rapid Review delay and CSPR dates, indexes for chasing

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delay_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delay_expected_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("delay_recorded_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cspr_decided_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("cspr_publication_on", sa.Date(), nullable=True))

    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.create_index("ix_obligations_open", ["state", "due_at"], unique=False)

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_reminders_obligation_id"), ["obligation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_obligation_id"))
        batch_op.drop_column("outcome")

    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_index("ix_obligations_open")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("cspr_publication_on")
        batch_op.drop_column("cspr_decided_on")
        batch_op.drop_column("delay_recorded_at")
        batch_op.drop_column("delay_expected_on")
        batch_op.drop_column("delay_reason")
