"""seen marks in a narrow table of their own

Revision ID: 0007_seen_mark
Revises: 0006_merge
Create Date: 2026-12-04

A repeated harvest marks every record it sees again. On source_record that
rewrote each row whole, MARC and original bytes included (SQLite rewrites a
row to change any column of it): a quarter of a million records meant a
gigabyte through the write-ahead log. The delivery that last contained a
record, and when, now sit in seen_mark, some thirty bytes a row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision: str = "0007_seen_mark"
down_revision: str | Sequence[str] | None = "0006_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_mark",
        sa.Column("source_record_id", sa.Integer(), nullable=False),
        sa.Column("seen_run", sa.Integer(), nullable=True),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_record_id"], ["source_record.id"]),
        sa.PrimaryKeyConstraint("source_record_id"),
    )
    op.create_index("ix_seen_mark_seen_run", "seen_mark", ["seen_run"], unique=False)
    op.execute(
        "INSERT INTO seen_mark (source_record_id, seen_run, last_seen)"
        " SELECT id, seen_run, last_seen FROM source_record"
    )
    # Plain DROP COLUMN (SQLite 3.35 and later) rather than batch mode: batch mode
    # copies source_record and drops the original, which the foreign keys of
    # holding, match_key and seen_mark refuse.
    op.drop_index("ix_source_record_seen_run", table_name="source_record")
    op.execute("ALTER TABLE source_record DROP COLUMN seen_run")
    op.execute("ALTER TABLE source_record DROP COLUMN last_seen")


def downgrade() -> None:
    op.add_column("source_record", sa.Column("last_seen", UTCDateTime(), nullable=True))
    op.add_column("source_record", sa.Column("seen_run", sa.Integer(), nullable=True))
    op.create_index("ix_source_record_seen_run", "source_record", ["seen_run"], unique=False)
    op.execute(
        "UPDATE source_record SET seen_run = (SELECT seen_run FROM seen_mark"
        " WHERE seen_mark.source_record_id = source_record.id), last_seen = (SELECT last_seen"
        " FROM seen_mark WHERE seen_mark.source_record_id = source_record.id)"
    )
    op.drop_index("ix_seen_mark_seen_run", table_name="seen_mark")
    op.drop_table("seen_mark")
