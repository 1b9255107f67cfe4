"""Read-only views of the pool for the CLI: runs, rejects, statistics, sources."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from harvesters.errors import StepRefused
from resource_pool.config import PoolConfig
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
    utcnow,
)
from resource_pool.schedule import (
    ScheduleSettings,
    cron_trigger,
    is_due,
    last_successes,
    next_run,
    schedule_settings,
    source_trigger,
)
from resource_pool.schedule_models import NightlyRun


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


def source_status(engine: Engine, config: PoolConfig | None = None) -> list[dict[str, Any]]:
    """Per source: last success, last failure with its message, live record count.

    With the configuration, also each source's next run by its schedule and
    whether `pool harvest --due` would take it now; configured sources not
    yet harvested are listed too.
    """
    rows = _stored_source_status(engine)
    if config is None:
        return rows
    return _with_schedules(rows, config, schedule_settings(config), last_successes(engine))


def _stored_source_status(engine: Engine) -> list[dict[str, Any]]:
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


def _with_schedules(
    rows: list[dict[str, Any]],
    config: PoolConfig,
    settings: ScheduleSettings,
    last: dict[str, datetime],
) -> list[dict[str, Any]]:
    by_name = {row["source"]: row for row in rows}
    for source in config.sources:
        by_name.setdefault(source.name, _unharvested(source.name, source.kind))

    now = utcnow()
    for source in config.sources:
        row = by_name[source.name]
        scheduled = source.enabled and source.schedule
        trigger = source_trigger(source, settings) if scheduled else None
        row["schedule"] = source.schedule if source.enabled else "disabled"
        row["next_run"] = _local(next_run(trigger, now), settings) if trigger else None
        row["due"] = trigger is not None and is_due(trigger, last.get(source.name), now)
    return sorted(by_name.values(), key=lambda row: str(row["source"]))


def _unharvested(name: str, kind: str) -> dict[str, Any]:
    return {
        "source": name,
        "kind": kind,
        "records": 0,
        "last_run": None,
        "last_success": None,
        "last_failure": None,
        "failure": None,
        "resuming": False,
        "locked_by": None,
    }


def _local(moment: datetime | None, settings: ScheduleSettings) -> str | None:
    """A time in the pool's own zone, with its offset: "2026-12-04 02:00:00+07:00"."""
    if moment is None:
        return None
    return moment.astimezone(settings.timezone).isoformat(sep=" ", timespec="seconds")


def nightly_status(engine: Engine, config: PoolConfig) -> dict[str, Any]:
    """The nightly pipeline: its schedule, next run, and how the last one went."""
    settings = schedule_settings(config)
    trigger = cron_trigger(settings.nightly, settings.timezone, "pool.toml [nightly] schedule")
    with session_scope(engine, read_only=True) as session:
        last: NightlyRun | None = session.execute(
            select(NightlyRun).order_by(col(NightlyRun.id).desc()).limit(1)
        ).scalar_one_or_none()
    return {
        "schedule": settings.nightly,
        "in_service": settings.nightly_enabled,
        "next_run": _local(next_run(trigger, utcnow()), settings),
        "last_run": _iso(last.started) if last else None,
        "last_status": last.status if last else None,
        "failed_steps": _failed_steps(last),
    }


def _failed_steps(run: NightlyRun | None) -> str | None:
    if run is None:
        return None
    failed = [step["step"] for step in json.loads(run.steps) if step["status"] == "failed"]
    return ", ".join(failed) or None


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
