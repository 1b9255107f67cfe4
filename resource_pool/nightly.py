"""The nightly pipeline: harvest what is due, recompute flags, mark overdue loans, export.

Each step reports ok, failed, skipped (saying why) or interrupted, with a
line of detail; a failing source or step does not stop the ones after it.
Every nightly is kept in nightly_run with its steps' reports.

Marking overdue loans and writing export targets belong to parts of the pool
an installation may not have: they are looked up by name when the step
runs, and the step is reported as skipped, naming what is missing, when
they are absent.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlmodel import col

from harvesters.errors import PoolError
from resource_pool.catalogue import Catalogue
from resource_pool.config import PoolConfig, load_config
from resource_pool.db import open_pool, session_scope
from resource_pool.harvest import RunSummary, harvest_source, stop_requested
from resource_pool.models import Cluster, utcnow
from resource_pool.schedule import (
    ScheduleSettings,
    due_sources,
    log_outcome,
    schedule_settings,
)
from resource_pool.schedule_models import NightlyRun

log = logging.getLogger(__name__)

FLAG_CHUNK = 500
"""Clusters whose flags are recomputed in one transaction: short enough not to hold up a harvest."""


@dataclass
class StepReport:
    """What one step of the nightly did."""

    step: str
    status: str
    """ok, failed, skipped or interrupted."""
    detail: str
    seconds: float = 0.0


@dataclass
class NightlyReport:
    """The whole nightly: its run id, outcome, steps, and the harvests it ran."""

    run_id: int
    status: str
    steps: list[StepReport]
    harvests: list[RunSummary]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "steps": [asdict(step) for step in self.steps],
            "harvests": [summary.as_dict() for summary in self.harvests],
        }


@dataclass
class _Night:
    """What the steps share while one nightly runs."""

    engine: Engine
    config: PoolConfig
    settings: ScheduleSettings
    started: datetime = field(default_factory=utcnow)
    harvests: list[RunSummary] = field(default_factory=list)
    flags_checked_until: datetime | None = None


Step = Callable[[_Night], tuple[str, str]]


def run_nightly(engine: Engine, config: PoolConfig, settings: ScheduleSettings) -> NightlyReport:
    """Run every step in order, record the nightly, and report it."""
    night = _Night(engine, config, settings)
    run_id = _open_run(engine, night.started)
    log.info("nightly run=%s starting", run_id)

    steps = [_run_step(name, step, night) for name, step in _steps()]
    status = _overall(steps)
    _close_run(engine, run_id, status, steps, night.flags_checked_until)

    level = logging.INFO if status == "ok" else logging.ERROR
    summary = ", ".join(f"{step.step} {step.status}" for step in steps)
    log.log(level, "nightly run=%s %s: %s", run_id, status, summary)
    return NightlyReport(run_id, status, steps, night.harvests)


def run_nightly_job(config_folder: str, database_url: str) -> None:
    """The nightly on the scheduler's call (the job store keeps this name and the arguments)."""
    if stop_requested.is_set():
        return
    try:
        config = load_config(Path(config_folder))
        settings = schedule_settings(config)
        engine = open_pool(database_url)
    except PoolError as error:
        log.error("nightly cannot start: %s", error)
        return

    try:
        run_nightly(engine, config, settings)
    finally:
        engine.dispose()


def _steps() -> tuple[tuple[str, Step], ...]:
    return (
        ("harvest", _harvest_step),
        ("flags", _flags_step),
        ("overdue", _overdue_step),
        ("export", _export_step),
    )


def _run_step(name: str, step: Step, night: _Night) -> StepReport:
    if stop_requested.is_set():
        return StepReport(name, "interrupted", "not started: the nightly was asked to stop")

    started = time.monotonic()
    try:
        status, detail = step(night)
    except PoolError as error:
        status, detail = "failed", str(error)
    except Exception as error:
        # The nightly runs unattended: a step that breaks is reported, with
        # its traceback in the log, and the steps after it still run.
        log.exception("nightly step %s broke", name)
        status, detail = "failed", f"{type(error).__name__}: {error}"

    report = StepReport(name, status, detail, round(time.monotonic() - started, 3))
    level = logging.ERROR if status == "failed" else logging.INFO
    log.log(level, "nightly step=%s %s in %.1fs: %s", name, status, report.seconds, detail)
    return report


def _overall(steps: list[StepReport]) -> str:
    statuses = {step.status for step in steps}
    if "failed" in statuses:
        return "failed"
    return "interrupted" if "interrupted" in statuses else "ok"


# The steps. Each returns its status and a line of detail.


def _harvest_step(night: _Night) -> tuple[str, str]:
    names = due_sources(night.engine, night.config, night.settings)
    if not names:
        return "ok", "nothing due"

    for name in names:
        if stop_requested.is_set():
            break
        night.harvests.append(_harvest_one(night, name))

    done = ", ".join(f"{s.source} {s.status}" for s in night.harvests)
    if len(night.harvests) < len(names):
        left = ", ".join(names[len(night.harvests) :])
        return "interrupted", f"{done}; not started: {left}"
    # A refusal means another process is harvesting that source right now.
    failed = [s for s in night.harvests if s.status not in ("ok", "refused")]
    return ("failed" if failed else "ok"), f"{len(names)} due: {done}"


def _harvest_one(night: _Night, name: str) -> RunSummary:
    source = night.config.source(name)
    try:
        summary = harvest_source(night.engine, night.config, source)
    except Exception as error:
        # harvest_source records a source's own failures; this is the pool
        # failing around it (a lost database connection). The next source
        # still gets its turn.
        log.exception("source=%s harvest broke", name)
        summary = RunSummary(source=name, status="failed", error=f"{type(error).__name__}: {error}")
    log_outcome(night.config, source, summary)
    return summary


def _flags_step(night: _Night) -> tuple[str, str]:
    catalogue = Catalogue(night.config)
    if catalogue.rules is None:
        return "skipped", f"no flag rules: {night.config.flags_path} does not exist"

    since = _flags_checked_until(night.engine)
    mark = utcnow()
    cluster_ids = _changed_clusters(night.engine, since)
    for chunk in _chunks(cluster_ids, FLAG_CHUNK):
        with session_scope(night.engine) as session:
            catalogue.refresh_flags(session, chunk)

    night.flags_checked_until = mark
    if since is None:
        return "ok", f"flags recomputed for all {len(cluster_ids)} clusters (the first nightly)"
    when = since.isoformat(sep=" ", timespec="seconds")
    return "ok", f"flags recomputed for {len(cluster_ids)} clusters changed since {when}"


def _overdue_step(night: _Night) -> tuple[str, str]:
    mark_overdue = optional_callable("resource_pool.exchange", "mark_overdue")
    if mark_overdue is None:
        return "skipped", "resource_pool.exchange.mark_overdue is not part of this installation"

    # Loans fall due by the calendar where the partners are, not in UTC.
    today = night.started.astimezone(night.settings.timezone).date()
    result = mark_overdue(night.engine, today)
    if isinstance(result, list | tuple):
        return "ok", f"as of {today.isoformat()}: {len(result)} loans marked Overdue"
    return "ok", f"as of {today.isoformat()}: {_describe(result)}"


def _export_step(night: _Night) -> tuple[str, str]:
    targets = night.settings.export_targets
    if targets is None:
        targets = configured_targets(night.config)
        if not targets:
            return "skipped", "no export targets: pool.toml has no [[export.targets]]"
    elif not targets:
        return "skipped", "no export targets: pool.toml [nightly] export_targets is empty"
    export_target = optional_callable("resource_pool.export", "export_target")
    if export_target is None:
        return "skipped", "resource_pool.export.export_target is not part of this installation"

    outcomes = [_export_one(export_target, night, name) for name in targets]
    failed = any(not ok for ok, _ in outcomes)
    return ("failed" if failed else "ok"), "; ".join(text for _, text in outcomes)


def _export_one(export_target: Callable[..., Any], night: _Night, name: str) -> tuple[bool, str]:
    if stop_requested.is_set():
        return False, f"{name}: not started (asked to stop)"
    try:
        result = export_target(night.engine, night.config, name)
    except PoolError as error:
        log.error("export target=%s failed: %s", name, error)
        return False, f"{name} failed: {error}"
    except Exception as error:
        # One broken target must not keep the others from being written.
        log.exception("export target=%s broke", name)
        return False, f"{name} failed: {type(error).__name__}: {error}"
    return True, f"{name}: {_describe(result)}"


# Helpers.


def configured_targets(config: PoolConfig) -> tuple[str, ...]:
    """The names in pool.toml's [[export.targets]]; checking them is the export's own job."""
    export = config.raw.get("export", {})
    entries = export.get("targets", []) if isinstance(export, dict) else []
    if not isinstance(entries, list):
        return ()
    return tuple(
        entry["name"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    )


def optional_callable(module_name: str, attribute: str) -> Callable[..., Any] | None:
    """`module.attribute` when the module exists and has it; None when either is absent."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            # The module is there but something it imports is not: a real fault.
            raise
        return None
    found = getattr(module, attribute, None)
    return found if callable(found) else None


def _describe(result: Any) -> str:
    if result is None:
        return "done"
    if hasattr(result, "as_dict"):
        result = result.as_dict()
    if isinstance(result, dict):
        # Counts and names read well on one line; lists and empty values do not.
        shown = {k: v for k, v in result.items() if isinstance(v, str | int | float) and v != ""}
        return ", ".join(f"{key} {value}" for key, value in shown.items())[:300]
    if isinstance(result, list | tuple):
        return f"{len(result)} items"
    return str(result)[:300]


def _chunks(values: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _changed_clusters(engine: Engine, since: datetime | None) -> list[int]:
    query = select(col(Cluster.id)).where(col(Cluster.deleted).is_(False))
    if since is not None:
        query = query.where(col(Cluster.changed_at) >= since)
    with session_scope(engine, read_only=True) as session:
        return list(session.execute(query.order_by(col(Cluster.id))).scalars())


def _flags_checked_until(engine: Engine) -> datetime | None:
    with session_scope(engine, read_only=True) as session:
        moment: datetime | None = session.execute(
            select(func.max(col(NightlyRun.flags_checked_until)))
        ).scalar_one_or_none()
    return moment


def _open_run(engine: Engine, started: datetime) -> int:
    with session_scope(engine) as session:
        run = NightlyRun(started=started)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _close_run(
    engine: Engine,
    run_id: int,
    status: str,
    steps: list[StepReport],
    flags_checked_until: datetime | None,
) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(NightlyRun)
            .where(col(NightlyRun.id) == run_id)
            .values(
                status=status,
                finished=utcnow(),
                steps=json.dumps([asdict(step) for step in steps], ensure_ascii=False),
                flags_checked_until=flags_checked_until,
            )
        )
