"""Apply changed flag rules to the whole catalogue without harvesting again."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from resource_pool.catalogue import Catalogue
from resource_pool.config import PoolConfig
from resource_pool.db import session_scope
from resource_pool.models import Cluster, Flag, utcnow

log = logging.getLogger(__name__)

BATCH = 1000
"""Clusters per transaction: a crash loses one batch, and a rerun redoes it."""


def recompute_flags(
    engine: Engine, config: PoolConfig, progress: Callable[[int, int], None] | None = None
) -> dict[str, dict[str, int]]:
    """Evaluate the rules of flags.toml on every live cluster; per flag, what changed."""
    catalogue = Catalogue(config)
    with session_scope(engine, read_only=True) as session:
        ids = list(
            session.execute(
                select(col(Cluster.id))
                .where(col(Cluster.deleted).is_(False))
                .order_by(col(Cluster.id))
            ).scalars()
        )
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with session_scope(engine) as session:
            before = _flags_of(session, batch)
            catalogue.refresh_flags(session, batch)
            after = _flags_of(session, batch)
            _mark_changed(session, [c for c in batch if before.get(c) != after.get(c)])
        for cluster_id in batch:
            old = {flag for flag, _, _ in before.get(cluster_id, set())}
            new = {flag for flag, _, _ in after.get(cluster_id, set())}
            gained.update(new - old)
            lost.update(old - new)
            held.update(new)
        if progress:
            progress(min(start + BATCH, len(ids)), len(ids))
    names = sorted(
        set(gained) | set(lost) | set(held) | set(catalogue.rules.flags if catalogue.rules else [])
    )
    report = {
        name: {"clusters": held[name], "gained": gained[name], "lost": lost[name]} for name in names
    }
    log.info("flags recomputed over %s clusters: %s", len(ids), report)
    return report


def _flags_of(session: Session, cluster_ids: list[int]) -> dict[int, set[tuple[str, str, str]]]:
    """Each cluster's flags as (flag, rule, evidence)."""
    flags: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
    rows = session.execute(
        select(col(Flag.cluster_id), col(Flag.flag), col(Flag.rule), col(Flag.evidence)).where(
            col(Flag.cluster_id).in_(cluster_ids)
        )
    )
    for cluster_id, name, rule, evidence in rows:
        flags[cluster_id].add((name, rule, evidence))
    return flags


def _mark_changed(session: Session, cluster_ids: list[int]) -> None:
    # Exports and the OAI-PMH provider find what changed by changed_at: a
    # cluster whose flags or their evidence changed has changed for them too.
    if cluster_ids:
        session.execute(
            update(Cluster).where(col(Cluster.id).in_(cluster_ids)).values(changed_at=utcnow())
        )
