"""one line of migrations again

Revision ID: 0006_merge
Revises: 0002_requests, 0003_export, 0004_schedule, 0005_search
Create Date: 2026-12-03

The request, export, schedule and search tables were added side by side,
each on top of the first schema; this revision joins those branches so the
next migration has a single parent.
"""

from collections.abc import Sequence

revision: str = "0006_merge"
down_revision: str | Sequence[str] | None = (
    "0002_requests",
    "0003_export",
    "0004_schedule",
    "0005_search",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
