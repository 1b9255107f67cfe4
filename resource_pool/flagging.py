"""Apply changed flag rules to the whole catalogue without harvesting again.

Clusters are read in batches of live ids, their members as views of the
stored MARC-in-JSON with only the columns and tags the rules read, so memory
stays flat however large the pool. Only the clusters whose flags or evidence
come out different are written: their flag rows replaced and `changed_at`
moved, so a rule change that touches a few clusters writes a few rows.
Batches are read and evaluated by forked workers where there are cores for
them (resource_pool.export_workers); this process writes them in order.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session, col

from resource_pool.catalogue import Catalogue, flag_rows
from resource_pool.config import PoolConfig
from resource_pool.db import session_scope
from resource_pool.export_workers import batch_outputs, worker_count
from resource_pool.models import Cluster, Flag, utcnow

log = logging.getLogger(__name__)

BATCH = 1000
"""Clusters per transaction: a crash loses one batch, and a rerun redoes it."""

FlagSet = frozenset[tuple[str, str, str]]
"""A cluster's flags as (flag, rule, evidence), the way the flag table holds them."""


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
    rewritten = 0
    batches = [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]
    evaluated = _evaluated(engine, catalogue, batches)
    for done, (batch, rows) in enumerate(zip(batches, evaluated, strict=True), 1):
        with session_scope(engine) as session:
            before, after = _write_batch(session, catalogue, batch, rows)
        for cluster_id in batch:
            old = {flag for flag, _, _ in before.get(cluster_id, ())}
            new = {flag for flag, _, _ in after.get(cluster_id, ())}
            gained.update(new - old)
            lost.update(old - new)
            held.update(new)
            rewritten += before.get(cluster_id) != after.get(cluster_id)
        if progress:
            progress(min(done * BATCH, len(ids)), len(ids))
    names = sorted(
        set(gained) | set(lost) | set(held) | set(catalogue.rules.flags if catalogue.rules else [])
    )
    report = {
        name: {"clusters": held[name], "gained": gained[name], "lost": lost[name]} for name in names
    }
    log.info("flags recomputed over %s clusters, %s changed: %s", len(ids), rewritten, report)
    return report


FlagRows = dict[int, list[dict[str, Any]]]
"""A batch's flag rows by cluster, as `catalogue.flag_rows` makes them."""


def _evaluated(
    engine: Engine, catalogue: Catalogue, batches: list[list[int]]
) -> Iterator[FlagRows]:
    """The rules' flag rows for each batch, in order: in worker processes where there are
    cores for them (reading members and evaluating the rules is nearly all the work)."""
    if catalogue.rules is None:
        return iter([{} for _ in batches])
    evaluate = functools.partial(_evaluate_batch, engine, catalogue)
    workers = worker_count(len(batches))
    if not workers:
        return map(evaluate, batches)
    return batch_outputs(engine, batches, evaluate, workers)


def _evaluate_batch(engine: Engine, catalogue: Catalogue, batch: list[int]) -> FlagRows:
    with session_scope(engine, read_only=True) as session:
        hits = catalogue.flag_hits(session, batch)
    return {cluster_id: flag_rows(cluster_id, found) for cluster_id, found in hits.items()}


def _write_batch(
    session: Session, catalogue: Catalogue, batch: list[int], rows: FlagRows
) -> tuple[dict[int, FlagSet], dict[int, FlagSet]]:
    """Write what changed in one batch; each cluster's flags before and after."""
    before = _flags_of(session, batch)
    if catalogue.rules is None:
        # Without a rule file the stored flags stand, as on ingest.
        return before, before

    after = {
        cluster_id: frozenset((row["flag"], row["rule"], row["evidence"]) for row in found)
        for cluster_id, found in rows.items()
    }
    changed = [c for c in batch if before.get(c) != after.get(c)]
    if changed:
        session.execute(delete(Flag).where(col(Flag.cluster_id).in_(changed)))
        fresh = [row for cluster_id in changed for row in rows.get(cluster_id, [])]
        if fresh:
            session.execute(insert(Flag.__table__), fresh)  # type: ignore[attr-defined]
        _mark_changed(session, changed)
    return before, after


def _flags_of(session: Session, cluster_ids: list[int]) -> dict[int, FlagSet]:
    """Each flagged cluster's flags as (flag, rule, evidence)."""
    flags: dict[int, set[tuple[str, str, str]]] = {}
    rows = session.execute(
        select(col(Flag.cluster_id), col(Flag.flag), col(Flag.rule), col(Flag.evidence)).where(
            col(Flag.cluster_id).in_(cluster_ids)
        )
    )
    for cluster_id, name, rule, evidence in rows:
        flags.setdefault(cluster_id, set()).add((name, rule, evidence))
    return {cluster_id: frozenset(found) for cluster_id, found in flags.items()}


def _mark_changed(session: Session, cluster_ids: list[int]) -> None:
    # Exports and the OAI-PMH provider find what changed by changed_at: a
    # cluster whose flags or their evidence changed has changed for them too.
    session.execute(
        update(Cluster).where(col(Cluster.id).in_(cluster_ids)).values(changed_at=utcnow())
    )
