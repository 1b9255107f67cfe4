"""Harvests on a timetable: each source's cron schedule, and the nightly pipeline.

Two ways to run them. `pool schedule` keeps APScheduler 3 in the foreground
with its jobs stored in the pool's own database (table apscheduler_jobs), so
a restart finds them again and runs a job it missed once (coalesced), as long
as the miss is within the grace time. `pool harvest --due` runs, once, every
source whose schedule has fired since its last successful harvest; a crontab
line calls it every few minutes.

The jobs are stored as references to the module-level functions below and
their plain arguments (configuration folder, database URL, source name):
the job store pickles them, so they must stay importable by these names.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select
from sqlmodel import col

from harvesters.errors import ConfigError, PoolError
from resource_pool.config import PoolConfig, SourceConfig, load_config
from resource_pool.db import create_pool_engine, open_pool, session_scope
from resource_pool.harvest import RunSummary, harvest_source, stop_requested
from resource_pool.models import Source, utcnow

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Jakarta"
DEFAULT_MISFIRE_GRACE_TIME = 3600
DEFAULT_NIGHTLY = "0 1 * * *"
NIGHTLY_JOB = "nightly"
SOURCE_JOB = "resource_pool.schedule:run_source_job"
NIGHTLY_JOB_FUNCTION = "resource_pool.nightly:run_nightly_job"

_SCHEDULE_KEYS = {"timezone", "misfire_grace_time"}
_NIGHTLY_KEYS = {"schedule", "enabled", "export_targets"}


# Settings: pool.toml [schedule] and [nightly].


@dataclass(frozen=True)
class ScheduleSettings:
    """How and when things run unattended, from pool.toml."""

    timezone: ZoneInfo
    misfire_grace_time: int
    """Seconds a job may start late (the service was down or busy) and still run."""
    nightly: str = DEFAULT_NIGHTLY
    nightly_enabled: bool = True
    """Whether `pool schedule` runs the nightly pipeline; `pool nightly` always runs it."""
    export_targets: tuple[str, ...] | None = None
    """The export targets the nightly writes; None: every one in pool.toml [[export.targets]]."""


def schedule_settings(config: PoolConfig) -> ScheduleSettings:
    """Read and check pool.toml's [schedule] and [nightly] tables."""
    schedule = _pool_table(config, "schedule", _SCHEDULE_KEYS)
    nightly = _pool_table(config, "nightly", _NIGHTLY_KEYS)

    timezone = _timezone(schedule.get("timezone", DEFAULT_TIMEZONE))
    grace = schedule.get("misfire_grace_time", DEFAULT_MISFIRE_GRACE_TIME)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 1:
        raise ConfigError(
            f"pool.toml [schedule] misfire_grace_time = {grace!r}: must be a whole number of "
            "seconds of at least 1, e.g. 3600"
        )

    settings = ScheduleSettings(
        timezone=timezone,
        misfire_grace_time=grace,
        nightly=_nightly_schedule(nightly),
        nightly_enabled=_nightly_enabled(nightly),
        export_targets=_export_targets(nightly),
    )
    cron_trigger(settings.nightly, timezone, "pool.toml [nightly] schedule")
    return settings


def _pool_table(config: PoolConfig, name: str, known: set[str]) -> dict[str, Any]:
    table = config.raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"pool.toml: [{name}] must be a table, not {table!r}")
    for key in table:
        if key not in known:
            raise ConfigError(
                f"pool.toml [{name}]: unknown key {key!r} (known: {', '.join(sorted(known))})"
            )
    return table


def _timezone(name: Any) -> ZoneInfo:
    hint = f"use an IANA time zone name such as {DEFAULT_TIMEZONE!r}"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"pool.toml [schedule] timezone = {name!r}: {hint}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"pool.toml [schedule] timezone = {name!r}: not a known time zone; {hint}"
        ) from None


def _nightly_schedule(nightly: dict[str, Any]) -> str:
    value = nightly.get("schedule", DEFAULT_NIGHTLY)
    if not isinstance(value, str):
        raise ConfigError(
            f"pool.toml [nightly] schedule = {value!r}: must be a cron expression in quotes, "
            f'e.g. "{DEFAULT_NIGHTLY}"'
        )
    return value


def _nightly_enabled(nightly: dict[str, Any]) -> bool:
    value = nightly.get("enabled", True)
    if not isinstance(value, bool):
        raise ConfigError(f"pool.toml [nightly] enabled = {value!r}: must be true or false")
    return value


def _export_targets(nightly: dict[str, Any]) -> tuple[str, ...] | None:
    if "export_targets" not in nightly:
        return None
    value = nightly["export_targets"]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f"pool.toml [nightly] export_targets = {value!r}: must be a list of export target "
            'names, e.g. ["vufind", "koha"]'
        )
    return tuple(value)


# Cron expressions as APScheduler triggers.

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expression: str, timezone: ZoneInfo, where: str) -> Any:
    """A trigger that fires when crontab(5) would, in the pool's time zone.

    APScheduler 3 counts weekdays from Monday = 0 where cron counts from
    Sunday = 0, so weekdays are passed on by name. When both day of month and
    day of week are restricted, cron fires on either (POSIX crontab), while
    one APScheduler trigger needs both: such a schedule becomes two triggers.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(
            f"{where} = {expression!r}: a cron expression has five fields "
            '(minute hour day month weekday), e.g. "0 2 * * *"'
        )
    # APScheduler is loaded where it is used: most commands never need it.
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = fields
    days = _weekday_names(weekday, expression, where)
    common = {"minute": minute, "hour": hour, "month": month, "timezone": timezone}
    try:
        if not day.startswith("*") and not weekday.startswith("*"):
            return OrTrigger(
                [CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common)]
            )
        return CronTrigger(day=day, day_of_week=days, **common)
    except ValueError as error:
        raise ConfigError(f"{where} = {expression!r}: {error}") from None


def _weekday_names(field: str, expression: str, where: str) -> str:
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        days |= _weekday_item(item, expression, where)
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def _weekday_item(item: str, expression: str, where: str) -> set[int]:
    """The days (0 = Sunday) one comma-separated part of cron's weekday field names."""
    body, slash, step_text = item.partition("/")
    step = int(step_text) if step_text.isdigit() else 0
    if slash and step < 1:
        raise ConfigError(f"{where} = {expression!r}: weekday step {item!r} needs a number >= 1")

    if body == "*":
        low, high = 0, 6
    elif "-" in body:
        first, last = body.split("-", 1)
        low, high = _weekday(first, expression, where), _weekday(last, expression, where)
    else:
        low = _weekday(body, expression, where)
        high = 6 if slash else low
    if low > high:
        raise ConfigError(f"{where} = {expression!r}: weekday range {item!r} runs backwards")
    return {day % 7 for day in range(low, high + 1, step or 1)}


def _weekday(text: str, expression: str, where: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ConfigError(
        f"{where} = {expression!r}: weekday {text!r} is not 0-7 (0 and 7 are Sunday) or sun-sat"
    )


def source_trigger(source: SourceConfig, settings: ScheduleSettings) -> Any:
    """The trigger for a source's `schedule` (the caller has checked it has one)."""
    assert source.schedule is not None
    return cron_trigger(
        source.schedule, settings.timezone, f"partners.toml: source {source.name} schedule"
    )


def next_run(trigger: Any, now: datetime) -> datetime | None:
    """The trigger's first fire time at or after `now`."""
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def is_due(trigger: Any, last_success: datetime | None, now: datetime) -> bool:
    """Whether the schedule has fired since the last successful harvest (never: due)."""
    if last_success is None:
        return True
    after = _aware(last_success) + timedelta(microseconds=1)
    fire = next_run(trigger, after)
    return fire is not None and fire <= now


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Which sources are due (`pool harvest --due`, the nightly).


def due_sources(
    engine: Engine, config: PoolConfig, settings: ScheduleSettings, now: datetime | None = None
) -> list[str]:
    """Enabled sources with a schedule that fired since their last success, in config order."""
    now = now or utcnow()
    last = last_successes(engine)
    scheduled = [s for s in config.sources if s.enabled and s.schedule]
    due = [
        source.name
        for source in scheduled
        if is_due(source_trigger(source, settings), last.get(source.name), now)
    ]
    log.info(
        "%s of %s scheduled sources due: %s", len(due), len(scheduled), ", ".join(due) or "none"
    )
    return due


def last_successes(engine: Engine) -> dict[str, datetime]:
    """Each source's last successful harvest, by name."""
    with session_scope(engine, read_only=True) as session:
        rows = session.execute(
            select(col(Source.name), col(Source.last_success)).where(
                col(Source.last_success).is_not(None)
            )
        ).all()
    return {name: _aware(moment) for name, moment in rows}


def log_outcome(config: PoolConfig, source: SourceConfig, summary: RunSummary) -> None:
    """One line for a run that did not succeed, naming the source, where it lives and why."""
    if summary.status == "ok":
        return
    location = source.url or str(config.folder / (source.path or ""))
    level = logging.WARNING if summary.status in ("refused", "interrupted") else logging.ERROR
    log.log(
        level,
        "source=%s url=%s run=%s %s: %s",
        source.name,
        location,
        summary.run_id,
        summary.status,
        summary.error,
    )


# The jobs: what the service should hold, and bringing its store in line.


@dataclass(frozen=True)
class JobSpec:
    """One job the configuration asks for."""

    id: str
    name: str
    func: str
    args: tuple[str, ...]
    trigger: Any
    schedule: str


@dataclass(frozen=True)
class JobState:
    """A job as `pool schedule --list` shows it."""

    job: str
    name: str
    schedule: str
    state: str
    """scheduled (stored as configured), new, rescheduled (its times changed), changed
    (its settings changed, its next run kept) or removed (no longer configured)."""
    next_run: datetime | None

    def as_row(self, timezone: ZoneInfo) -> dict[str, Any]:
        shown = self.next_run.astimezone(timezone) if self.next_run else None
        return {
            "job": self.job,
            "name": self.name,
            "schedule": self.schedule,
            "state": self.state,
            "next_run": shown.isoformat(sep=" ", timespec="seconds") if shown else None,
        }


def wanted_jobs(
    config: PoolConfig, database_url: str, settings: ScheduleSettings, every: float | None = None
) -> list[JobSpec]:
    """A job per enabled source with a schedule, and the nightly unless it is turned off.

    `every` replaces each source's schedule by a fixed interval in seconds
    (the tests' way to see the service harvest without waiting minutes).
    """
    folder = str(config.folder.resolve())
    jobs = [_source_job(source, folder, database_url, settings, every) for source in config.sources]
    wanted = [job for job in jobs if job is not None]
    if settings.nightly_enabled:
        trigger = cron_trigger(settings.nightly, settings.timezone, "pool.toml [nightly] schedule")
        wanted.append(
            JobSpec(
                NIGHTLY_JOB,
                "nightly pipeline",
                NIGHTLY_JOB_FUNCTION,
                (folder, database_url),
                trigger,
                settings.nightly,
            )
        )
    return wanted


def _source_job(
    source: SourceConfig,
    folder: str,
    database_url: str,
    settings: ScheduleSettings,
    every: float | None,
) -> JobSpec | None:
    if not (source.enabled and source.schedule):
        return None
    if every:
        from apscheduler.triggers.interval import IntervalTrigger

        trigger, schedule = (
            IntervalTrigger(seconds=every, timezone=settings.timezone),
            f"every {every}s",
        )
    else:
        trigger, schedule = source_trigger(source, settings), source.schedule
    return JobSpec(
        f"source:{source.name}",
        f"harvest {source.name}",
        SOURCE_JOB,
        (folder, database_url, source.name),
        trigger,
        schedule,
    )


def _scheduler_options(database_url: str, settings: ScheduleSettings) -> dict[str, Any]:
    # The pool's own engine set-up, so SQLite waits for a harvest's write lock
    # instead of failing, and the store lives beside the runs it schedules.
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(engine=create_pool_engine(database_url))
    return {
        "jobstores": {"default": store},
        "job_defaults": _job_options(settings),
        "timezone": settings.timezone,
    }


def _job_options(settings: ScheduleSettings) -> dict[str, Any]:
    return {"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.misfire_grace_time}


@contextmanager
def paused_scheduler(database_url: str, settings: ScheduleSettings) -> Iterator[Any]:
    """A scheduler on the pool's job store that runs nothing: for reading and editing jobs."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(**_scheduler_options(database_url, settings))
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        stop_without_last_round(scheduler, wait=False)


def stop_without_last_round(scheduler: Any, *, wait: bool) -> None:
    """Shut a scheduler down without letting it hand out one more round of due jobs.

    APScheduler 3's loop, woken by shutdown(), looks for due jobs once more
    even when paused: a job due then (a missed run waiting for the service)
    would go to the stopped executor and be moved on to its next time, its
    run lost. With the job store detached first there is nothing to find.
    """
    scheduler.remove_jobstore("default", shutdown=True)
    scheduler.shutdown(wait=wait)


def plan_jobs(
    database_url: str, settings: ScheduleSettings, wanted: list[JobSpec]
) -> list[JobState]:
    """The stored jobs against the configured ones, changing nothing."""
    with paused_scheduler(database_url, settings) as scheduler:
        return _reconcile(scheduler, wanted, settings, apply=False)


def sync_jobs(
    database_url: str, settings: ScheduleSettings, wanted: list[JobSpec]
) -> list[JobState]:
    """Bring the stored jobs in line with the configuration: add, change, remove."""
    with paused_scheduler(database_url, settings) as scheduler:
        return _reconcile(scheduler, wanted, settings, apply=True)


def _reconcile(
    scheduler: Any, wanted: list[JobSpec], settings: ScheduleSettings, *, apply: bool
) -> list[JobState]:
    stored = {job.id: job for job in scheduler.get_jobs()}
    states = [
        _reconcile_one(scheduler, spec, stored.pop(spec.id, None), settings, apply)
        for spec in wanted
    ]

    for job in stored.values():
        if apply:
            scheduler.remove_job(job.id)
            log.info("job %s removed: partners.toml or pool.toml no longer asks for it", job.id)
        states.append(JobState(job.id, job.name, str(job.trigger), "removed", None))
    return states


def _reconcile_one(
    scheduler: Any, spec: JobSpec, job: Any, settings: ScheduleSettings, apply: bool
) -> JobState:
    state = _compare(job, spec, settings)
    if apply and state != "scheduled":
        job = _apply(scheduler, spec, state, settings)
        log.info("job %s %s: %s", spec.id, "added" if state == "new" else state, spec.schedule)

    if job is not None and (apply or state in ("scheduled", "changed")):
        # A stored next run in the past is a missed run: the scheduler runs it
        # once at start, so it is kept as it is, never recomputed here.
        upcoming = job.next_run_time
    else:
        upcoming = next_run(spec.trigger, datetime.now(settings.timezone))
    return JobState(spec.id, spec.name, spec.schedule, state, upcoming)


def _compare(job: Any, spec: JobSpec, settings: ScheduleSettings) -> str:
    if job is None:
        return "new"
    if repr(job.trigger) != repr(spec.trigger):
        return "rescheduled"
    same = (
        job.func_ref == spec.func,
        tuple(job.args) == spec.args,
        job.name == spec.name,
        job.coalesce is True,
        job.max_instances == 1,
        job.misfire_grace_time == settings.misfire_grace_time,
    )
    return "scheduled" if all(same) else "changed"


def _apply(scheduler: Any, spec: JobSpec, state: str, settings: ScheduleSettings) -> Any:
    details = {"func": spec.func, "args": spec.args, "name": spec.name, **_job_options(settings)}
    if state == "new":
        return scheduler.add_job(trigger=spec.trigger, id=spec.id, **details)
    scheduler.modify_job(spec.id, **details)
    if state == "rescheduled":
        scheduler.reschedule_job(spec.id, trigger=spec.trigger)
    return scheduler.get_job(spec.id)


# The service: `pool schedule`.


class Service:
    """APScheduler in the foreground until SIGTERM or SIGINT, which stop it gently."""

    def __init__(self, database_url: str, settings: ScheduleSettings, jobs: list[JobSpec]) -> None:
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_SCHEDULER_STARTED,
        )
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.settings = settings
        self.triggers = {job.id: job.trigger for job in jobs}
        self.scheduler = BlockingScheduler(**_scheduler_options(database_url, settings))
        self.scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.scheduler.add_listener(self._started, EVENT_SCHEDULER_STARTED)
        self.stoppers: list[threading.Thread] = []
        self.previous_handlers: dict[int, Any] = {}

    def run(self) -> None:
        """Block until stopped; return once the jobs in flight have stored their page."""
        log.info(
            "scheduler starting: %s jobs, time zone %s, misfire grace %ss",
            len(self.triggers),
            self.settings.timezone.key,
            self.settings.misfire_grace_time,
        )
        self.scheduler.start()

        for stopper in self.stoppers:
            stopper.join()
        _restore_signals(self.previous_handlers)
        log.info("scheduler stopped")

    def _started(self, _event: Any) -> None:
        # Installed only once the scheduler runs: a signal before that finds
        # nothing to wait for, and the default handlers end the process.
        self.previous_handlers = _catch_signals(self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = not stop_requested.is_set()
        request_stop(signum, frame)
        if first:
            # shutdown() waits for the running jobs and takes the scheduler's
            # locks, which the interrupted main loop may be holding: run it
            # beside the loop, never inside this handler.
            stopper = threading.Thread(target=self._shutdown, name="scheduler-stop")
            self.stoppers.append(stopper)
            stopper.start()

    def _shutdown(self) -> None:
        from apscheduler.schedulers import SchedulerNotRunningError

        try:
            stop_without_last_round(self.scheduler, wait=True)
        except SchedulerNotRunningError:
            log.debug("scheduler already stopped")

    def _job_done(self, event: Any) -> None:
        # Computed from the trigger, not read from the store: the store's lock
        # is held by shutdown() while it waits for this very job.
        trigger = self.triggers.get(event.job_id)
        upcoming = next_run(trigger, datetime.now(self.settings.timezone)) if trigger else None
        shown = upcoming.isoformat(timespec="seconds") if upcoming else "none"
        if event.exception is not None:
            log.error("job %s raised %r; next run %s", event.job_id, event.exception, shown)
        else:
            log.info("job %s done; next run %s", event.job_id, shown)


def run_source_job(config_folder: str, database_url: str, source_name: str) -> None:
    """Harvest one source when the scheduler says so (the job store keeps this name)."""
    if stop_requested.is_set():
        return
    try:
        config = load_config(Path(config_folder))
        source = config.source(source_name)
        engine = open_pool(database_url)
    except PoolError as error:
        log.error("source=%s scheduled harvest cannot start: %s", source_name, error)
        return

    try:
        summary = harvest_source(engine, config, source)
    finally:
        engine.dispose()
    log_outcome(config, source, summary)


# Signals: stop after the page in flight.

SignalHandler = Callable[[int, FrameType | None], None]


def request_stop(signum: int, _frame: FrameType | None) -> None:
    """Ask every run in this process to stop after the page it is storing."""
    name = signal.Signals(signum).name
    if stop_requested.is_set():
        log.warning("%s received again: still finishing the page in flight", name)
        return
    stop_requested.set()
    log.warning("%s received: stopping after the page in flight", name)


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Inside, SIGTERM and SIGINT stop runs after their page instead of killing them."""
    previous = _catch_signals(request_stop)
    try:
        yield
    finally:
        _restore_signals(previous)


def _catch_signals(handler: SignalHandler) -> dict[int, Any]:
    return {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)
