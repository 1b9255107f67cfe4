"""full-text search over clusters

Revision ID: 0005_search
Revises: 0001
Create Date: 2026-12-03

SQLite gets an FTS5 table (unicode61 folds case and diacritics, so "Sejarah"
finds "sejarah" and "Kyōsuke" finds "Kyosuke"); PostgreSQL a tsvector with
a GIN index under the 'simple' configuration, since the catalogue mixes
Indonesian, Malay, Dutch and English and no one stemmer fits them all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_search"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_mark",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("indexed_until", sa.DateTime(timezone=True), nullable=True),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "text, tokenize='unicode61 remove_diacritics 2')"
        )
        return
    op.create_table(
        "search_entry",
        sa.Column("cluster_id", sa.Integer(), primary_key=True),
        sa.Column("document", sa.dialects.postgresql.TSVECTOR(), nullable=False),
    )
    op.create_index(
        "ix_search_entry_document", "search_entry", ["document"], postgresql_using="gin"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    else:
        op.drop_index("ix_search_entry_document", table_name="search_entry")
        op.drop_table("search_entry")
    op.drop_table("search_mark")
