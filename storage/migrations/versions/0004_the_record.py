"""the record: a hash-chained, append-only audit log; sealed Part A and contact details; retention

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models
from storage.audit_chain import GENESIS, canonical, chain_hash

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE = "audit_log is append-only: events are never changed or deleted"

PG_UP = [
    f"""CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{REFUSE}'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_append_only()",
]
SQLITE_UP = [
    f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END",
    f"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete"]


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    head = _backfill()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)

    chain_head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(chain_head, [{"id": 1, "hash": head[0], "events": head[1]}])

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referrer_sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("personal_erased_at", storage.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=True))

    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def _backfill() -> tuple[str, int]:
    """Chain the events already there, in the order they were written."""
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", storage.models.UTCDateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("case_id", sa.Integer()),
        sa.column("details", sa.JSON()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    bind = op.get_bind()
    prev, count = GENESIS, 0
    rows = bind.execute(
        sa.select(log.c.id, log.c.at, log.c.actor, log.c.action, log.c.case_id, log.c.details).order_by(log.c.id)
    ).all()
    for row in rows:
        digest = chain_hash(prev, canonical(row.at, row.actor, row.action, row.case_id, row.details))
        bind.execute(sa.update(log).where(log.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev, count = digest, count + 1
    return prev, count


def downgrade() -> None:
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table("children", schema=None) as batch_op:
        batch_op.drop_column("sealed")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("personal_erased_at")
        batch_op.drop_column("referrer_sealed")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
