"""Tables of the export side: what each export target last received, and the signing key.

An export target is named in pool.toml; its row here remembers where the
last successful run left off, so that the next run writes only what changed.
The provider key signs OAI-PMH resumption tokens; it lives in the database
so that every `pool serve` of one pool, and every restart, accepts the same
tokens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from resource_pool.models import utcnow


class ExportTarget(SQLModel, table=True):
    """One export target of pool.toml and the outcome of its runs."""

    __tablename__ = "export_target"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    mark: datetime | None = None
    """Clusters changed after this moment are the next run's changes; None: never exported."""
    last_success: datetime | None = None
    """When the last successful run finished reading: clusters created later were never sent."""
    last_run: datetime | None = None
    last_status: str = ""
    last_error: str | None = None
    last_records: int = 0
    last_deleted: int = 0
    last_path: str = ""
    delivery: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """A delivery under way, as JSON: its mark, the renames that put its files in place
    and its summary. Written once the files are whole, cleared with the mark's move; a
    run that finds it set finishes that delivery first."""


class ProviderKey(SQLModel, table=True):
    """A secret the pool keeps for itself, such as the key that signs resumption tokens."""

    __tablename__ = "provider_key"

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(unique=True, max_length=64)
    secret: str = Field(max_length=128)
    created: datetime = Field(default_factory=utcnow)
