"""after screening: awareness date, the Rapid Review's Day 1, outcome and sign-off, named owners,
reconsideration reasons, the CSPR's reviewer

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aware_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rr_day1", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", storage.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("submitted_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cspr_reviewer", sa.String(length=200), nullable=True))

    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_person", sa.String(length=64), nullable=True))

    with op.batch_alter_table("screening_rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))

    op.create_table(
        "rr_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("immediate_actions", sa.Text(), nullable=False),
        sa.Column("single_agency_learning", sa.Text(), nullable=False),
        sa.Column("multi_agency_learning", sa.Text(), nullable=False),
        sa.Column("cspr_criteria_met", sa.Boolean(), nullable=False),
        sa.Column("recommendation", sa.String(length=24), nullable=False),
        sa.Column("no_review_reason", sa.Text(), nullable=True),
        sa.Column("wider_system_issues", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("agreed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_rr_outcomes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rr_outcomes")),
        sa.UniqueConstraint("case_id", name=op.f("uq_rr_outcomes_case_id")),
    )
    op.create_table(
        "signoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["rr_outcomes.id"], name=op.f("fk_signoffs_outcome_id_rr_outcomes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signoffs")),
        sa.UniqueConstraint("outcome_id", "agency", name=op.f("uq_signoffs_outcome_id")),
    )


def downgrade() -> None:
    op.drop_table("signoffs")
    op.drop_table("rr_outcomes")
    with op.batch_alter_table("screening_rounds", schema=None) as batch_op:
        batch_op.drop_column("reason")
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_column("owner_person")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("cspr_reviewer")
        batch_op.drop_column("submitted_by")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("rr_day1")
        batch_op.drop_column("aware_at")
