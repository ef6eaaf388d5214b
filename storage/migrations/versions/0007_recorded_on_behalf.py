"""recorded on someone's behalf: who recorded a vote, a scrutiny view or a milestone, and how it was given

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("votes", "scrutiny", "obligations")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("recorded_by", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("record_method", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("record_method")
            batch_op.drop_column("recorded_by")
