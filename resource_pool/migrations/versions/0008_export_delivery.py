"""a note of the export delivery under way

Revision ID: 0008_export_delivery
Revises: 0007_seen_mark
Create Date: 2026-12-04

An export to a target wrote its files, renamed them into place and then
moved the target's mark; a run killed between the renames and the mark sent
the same changes again on the next run. The target's row now notes the
delivery (its mark, the renames, its summary) once the files are whole, so
the next run can finish it instead of repeating it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_export_delivery"
down_revision: str | Sequence[str] | None = "0007_seen_mark"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("export_target", sa.Column("delivery", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("export_target", "delivery")
