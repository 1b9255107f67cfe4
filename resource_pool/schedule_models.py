"""The nightly pipeline's own table: one row per `pool nightly`, with each step's report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from resource_pool.models import utcnow


class NightlyRun(SQLModel, table=True):
    """One nightly run: when, how it ended, and what each step reported."""

    __tablename__ = "nightly_run"

    id: int | None = Field(default=None, primary_key=True)
    started: datetime = Field(default_factory=utcnow, index=True)
    finished: datetime | None = None
    status: str = "running"
    """running, ok, failed (a step failed) or interrupted (stopped by a signal)."""
    steps: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """The steps' reports as a JSON list of {step, status, detail, seconds}."""
    flags_checked_until: datetime | None = None
    """Clusters changed before this moment have had their flags recomputed by a nightly."""
