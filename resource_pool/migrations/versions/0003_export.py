"""export targets and provider key

Revision ID: 0003_export
Revises: 0001
Create Date: 2026-12-03 17:34:17.594611
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_export"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("mark", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_success", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_run", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_records", sa.Integer(), nullable=False),
        sa.Column("last_deleted", sa.Integer(), nullable=False),
        sa.Column("last_path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("export_target", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_target_name"), ["name"], unique=True)

    op.create_table(
        "provider_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purpose"),
    )


def downgrade() -> None:
    op.drop_table("provider_key")
    with op.batch_alter_table("export_target", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_target_name"))

    op.drop_table("export_target")
