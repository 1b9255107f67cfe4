"""The pool's tables, as sqlmodel classes.

One row per partner, source, source record (per source and local id),
seen mark, holding, rejected record, harvest run, cluster, match key and flag. Times
are UTC with their zone; sqlmodel stores them the same way on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, in UTC (the form every time column holds)."""
    return datetime.now(UTC)


class Partner(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=16)
    name: str
    kind: str
    lends: bool = True
    loan_days: int = 21
    lends_rare: bool = False


class Source(SQLModel, table=True):
    """A harvestable source; its checkpoint says where the next run resumes."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    kind: str
    checkpoint: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    delivery_run_id: int | None = None
    """The run whose full delivery is still being stored (a resumed run continues it)."""
    last_delivery_count: int = 0
    last_success: datetime | None = None
    lock_owner: str | None = None
    lock_heartbeat: datetime | None = None


class SourceRecord(SQLModel, table=True):
    """One record of one source, as last delivered."""

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("source_id", "local_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    local_id: str = Field(max_length=512)
    content_hash: str = Field(max_length=64)
    format: str = Field(max_length=16)
    original: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    marc: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The decoded record as MARC-in-JSON; empty for a deleted record."""
    profile: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The match profile (keys and guards) as JSON, so matching never re-parses MARC."""
    title: str = ""
    datestamp: str | None = None
    deleted: bool = Field(default=False, index=True)
    first_seen: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow)
    cluster_id: int | None = Field(default=None, index=True)
    match_reason: str = ""


class SeenMark(SQLModel, table=True):
    """Which delivery last contained a source record, and when.

    Apart from source_record because every repeated harvest rewrites it for
    every record: a narrow row costs a fraction of a source_record row, which
    carries the MARC and the original bytes.
    """

    __tablename__ = "seen_mark"

    source_record_id: int = Field(foreign_key="source_record.id", primary_key=True)
    seen_run: int | None = Field(default=None, index=True)
    """The delivery (see `Source.delivery_run_id`) that last contained the record."""
    last_seen: datetime = Field(default_factory=utcnow)


class Holding(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source_record_id: int = Field(foreign_key="source_record.id", index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    location: str = ""
    call_number: str = ""
    barcode: str = ""
    collection: str = ""
    lendable: bool = True


class RejectedRecord(SQLModel, table=True):
    """A record that could not be read, kept with where it was and why."""

    __tablename__ = "rejected_record"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    run_id: int | None = Field(default=None, index=True)
    location: str = ""
    position: str = ""
    local_id: str | None = None
    reason: str = ""
    original: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    created: datetime = Field(default_factory=utcnow)


class HarvestRun(SQLModel, table=True):
    """One harvest of one source: what it did, how long it took, how it ended."""

    __tablename__ = "harvest_run"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    started: datetime = Field(default_factory=utcnow)
    finished: datetime | None = None
    status: str = "running"
    full: bool = False
    pages: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    cleaned: int = 0
    retried: int = 0
    error: str | None = None


class Cluster(SQLModel, table=True):
    """One edition in the union catalogue; its members are source records."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = ""
    year: str | None = None
    members: int = 0
    deleted: bool = Field(default=False, index=True)
    created: datetime = Field(default_factory=utcnow)
    changed_at: datetime = Field(default_factory=utcnow, index=True)


class MatchKey(SQLModel, table=True):
    """A key a source record can be matched on: ISBN, ISSN, LCCN, OCLC or composite."""

    __tablename__ = "match_key"
    __table_args__ = (Index("ix_match_key_kind_value", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    source_record_id: int = Field(foreign_key="source_record.id", index=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=255)


class Flag(SQLModel, table=True):
    """A flag on a cluster, with the rule that raised it and the evidence."""

    __table_args__ = (Index("ix_flag_cluster_flag", "cluster_id", "flag"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id")
    flag: str = Field(max_length=32, index=True)
    rule: str = Field(max_length=64)
    evidence: str = ""
