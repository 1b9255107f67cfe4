"""Keep clusters and flags current as source records change."""

from __future__ import annotations

from collections.abc import Iterable

import pymarc
from sqlmodel import Session

from resource_pool.config import PoolConfig


class Catalogue:
    """Match keys for new records, and clusters for changed ones."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config

    def keys(self, record: pymarc.Record) -> Iterable[tuple[str, str]]:
        return []

    def records_changed(self, session: Session, record_ids: set[int]) -> None:
        return None
