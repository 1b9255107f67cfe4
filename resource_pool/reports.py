"""Read-only views of the pool for the CLI: runs, rejects, statistics, sources."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from harvesters.errors import StepRefused
from resource_pool.db import session_scope
from resource_pool.models import (
    Cluster,
    Flag,
    HarvestRun,
    Holding,
    Partner,
    RejectedRecord,
    Source,
    SourceRecord,
)


def _iso(value: Any) -> str | None:
    """UTC time to the second, as "2026-12-03 17:04:05"."""
    return value.isoformat(sep=" ", timespec="seconds")[:19] if value is not None else None


def catalog_stats(engine: Engine) -> dict[str, Any]:
    """Counts of live records, clusters, holdings, rejects and flags."""
    with session_scope(engine, read_only=True) as session:
        records = session.scalar(
            select(func.count())
            .select_from(SourceRecord)
            .where(col(SourceRecord.deleted).is_(False))
        )
        clusters = session.scalar(
            select(func.count()).select_from(Cluster).where(col(Cluster.deleted).is_(False))
        )
        holdings = session.scalar(select(func.count()).select_from(Holding))
        rejected = session.scalar(select(func.count()).select_from(RejectedRecord))
        flag_rows = session.execute(
            select(col(Flag.flag), func.count(func.distinct(col(Flag.cluster_id)))).group_by(
                col(Flag.flag)
            )
        ).all()
    flags = {"rare": 0, "online-course": 0} | {name: count for name, count in flag_rows}
    return {
        "records": records or 0,
        "clusters": clusters or 0,
        "holdings": holdings or 0,
        "rejected": rejected or 0,
        "flags": flags,
    }


def partner_rows(engine: Engine) -> list[dict[str, Any]]:
    """Each partner with its sources and how many live records it contributes."""
    with session_scope(engine, read_only=True) as session:
        partners = session.execute(select(Partner).order_by(col(Partner.code))).scalars().all()
        counts = dict(
            session.execute(
                select(col(Source.partner_id), func.count(col(SourceRecord.id)))
                .join(SourceRecord, col(SourceRecord.source_id) == col(Source.id))
                .where(col(SourceRecord.deleted).is_(False))
                .group_by(col(Source.partner_id))
            ).all()
        )
        sources = session.execute(select(Source).order_by(col(Source.name))).scalars().all()
    return [
        {
            "code": p.code,
            "name": p.name,
            "kind": p.kind,
            "lends": p.lends,
            "loan_days": p.loan_days,
            "lends_rare": p.lends_rare,
            "sources": [s.name for s in sources if s.partner_id == p.id],
            "records": counts.get(p.id, 0),
        }
        for p in partners
    ]


def run_rows(engine: Engine, source: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest harvest runs, newest first."""
    with session_scope(engine, read_only=True) as session:
        query = (
            select(HarvestRun, col(Source.name))
            .join(Source, col(Source.id) == col(HarvestRun.source_id))
            .order_by(col(HarvestRun.id).desc())
            .limit(limit)
        )
        if source:
            query = query.where(col(Source.name) == source)
        rows = session.execute(query).all()
    return [
        {
            "id": run.id,
            "source": name,
            "status": run.status,
            "started": _iso(run.started),
            "finished": _iso(run.finished),
            "seconds": round((run.finished - run.started).total_seconds(), 1)
            if run.finished
            else None,
            "pages": run.pages,
            "added": run.added,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "deleted": run.deleted,
            "rejected": run.rejected,
            "cleaned": run.cleaned,
            "retried": run.retried,
            "error": run.error,
        }
        for run, name in rows
    ]


def reject_rows(
    engine: Engine, source: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Quarantined records: where they were and why they could not be read."""
    with session_scope(engine, read_only=True) as session:
        query = (
            select(RejectedRecord, col(Source.name))
            .join(Source, col(Source.id) == col(RejectedRecord.source_id))
            .order_by(col(RejectedRecord.id))
            .limit(limit)
        )
        if source:
            query = query.where(col(Source.name) == source)
        rows = session.execute(query).all()
    return [
        {
            "id": reject.id,
            "source": name,
            "location": reject.location,
            "position": reject.position,
            "local_id": reject.local_id,
            "reason": reject.reason,
            "bytes": len(reject.original),
            "run": reject.run_id,
        }
        for reject, name in rows
    ]


def source_status(engine: Engine) -> list[dict[str, Any]]:
    """Per source: last success, last failure with its message, live record count."""
    with session_scope(engine, read_only=True) as session:
        sources = session.execute(select(Source).order_by(col(Source.name))).scalars().all()
        counts = dict(
            session.execute(
                select(col(SourceRecord.source_id), func.count())
                .where(col(SourceRecord.deleted).is_(False))
                .group_by(col(SourceRecord.source_id))
            ).all()
        )
        rows = []
        for source in sources:
            last_run = _last_run(session, source.id, None)
            failure = _last_run(session, source.id, "failed")
            rows.append(
                {
                    "source": source.name,
                    "kind": source.kind,
                    "records": counts.get(source.id, 0),
                    "last_run": last_run.status if last_run else None,
                    "last_success": _iso(source.last_success),
                    "last_failure": _iso(failure.started) if failure else None,
                    "failure": failure.error if failure else None,
                    "resuming": json.loads(source.checkpoint or "{}") != {}
                    and source.delivery_run_id is not None,
                    "locked_by": source.lock_owner,
                }
            )
    return rows


def _last_run(session: Session, source_id: int | None, status: str | None) -> HarvestRun | None:
    query = select(HarvestRun).where(col(HarvestRun.source_id) == source_id)
    if status:
        query = query.where(col(HarvestRun.status) == status)
    found: HarvestRun | None = session.execute(
        query.order_by(col(HarvestRun.id).desc()).limit(1)
    ).scalar_one_or_none()
    return found


def require_source(engine: Engine, name: str) -> None:
    with session_scope(engine, read_only=True) as session:
        if session.execute(select(col(Source.id)).where(col(Source.name) == name)).first() is None:
            raise StepRefused(f"no source named {name!r} has been harvested yet")
