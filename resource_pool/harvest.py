"""Run harvests: one source at a time, page by page, recorded as runs.

A run takes the source's lock, resumes from the source's checkpoint, stores
each page with the next checkpoint in one transaction, and records counts
and the outcome in harvest_run. A full delivery that completes marks the
records it did not see as deleted, unless it is suspiciously small.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session, col

from harvesters.errors import ConfigError, PoolError, SourceError, keep_secret
from harvesters.records import Checkpoint, Harvester, Page
from resource_pool import locks
from resource_pool.catalogue import Catalogue
from resource_pool.config import PoolConfig, SourceConfig
from resource_pool.db import refresh_statistics, session_scope
from resource_pool.i18n import _
from resource_pool.models import (
    Cluster,
    Flag,
    HarvestRun,
    Holding,
    MatchKey,
    RejectedRecord,
    SeenMark,
    Source,
    SourceRecord,
    utcnow,
)
from resource_pool.partners import partner_ids, sync_partners
from resource_pool.reading import prepared_pages, read_ahead_possible
from resource_pool.store import PageContext, PageCounts, held_unchanged, mark_deleted, store_page

if TYPE_CHECKING:
    # Only for annotations: the file harvester is imported when a file source runs.
    from harvesters.marc import IdentityCheck

log = logging.getLogger(__name__)


class Interrupted(PoolError):
    """The run was asked to stop; its last stored page and checkpoint stand."""


@dataclass
class RunSummary:
    """The outcome of one run, as `pool harvest` reports it."""

    source: str
    run_id: int = 0
    status: str = "running"
    pages: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    cleaned: int = 0
    retried: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HarvestOptions:
    """What the user asked for beyond the source's configuration."""

    full: bool = False
    force: bool = False
    from_date: str | None = None
    until_date: str | None = None


ProgressCallback = Callable[[RunSummary, Page], None]


stop_requested = threading.Event()
"""Set by a signal handler (the scheduler's SIGTERM): runs stop after the page in flight."""


def harvest_source(
    engine: Engine,
    config: PoolConfig,
    source_config: SourceConfig,
    options: HarvestOptions | None = None,
    progress: ProgressCallback | None = None,
) -> RunSummary:
    """Harvest one source; failures are recorded in the run, not raised."""
    options = options or HarvestOptions()
    summary = RunSummary(source=source_config.name)
    started = time.monotonic()
    options = _periodic_full(engine, source_config, options)
    source_id, run_id = _start_run(engine, config, source_config, options)
    summary.run_id = run_id

    owner = locks.owner_name(run_id)
    holder = locks.acquire(engine, source_id, owner)
    if holder:
        message = _("source {source} is being harvested by {holder}; try again later").format(
            source=source_config.name, holder=holder
        )
        return _finish(engine, summary, started, "refused", message)
    try:
        with _fewer_collections():
            _run(engine, config, source_config, options, summary, progress)
        status, error = "ok", None
    except Interrupted as stop:
        status, error = "interrupted", str(stop)
    except PoolError as failure:
        status, error = "failed", str(failure)
    except KeyboardInterrupt:
        _finish(engine, summary, started, "interrupted", _("stopped by the user"))
        raise
    finally:
        locks.release(engine, source_id, owner)
    return _finish(engine, summary, started, status, error)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while pages are stored.

    A page holds some 100,000 young objects (MARC fields and subfields) that
    live until it is stored and form no cycles; at Python's default threshold
    of 700 allocations the collector walks them again and again, which took a
    quarter of a harvest's time. Memory stays the same: cycles are still collected.
    """
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


FULL_HARVEST_PROFILES = {"slims": 7, "inlislite": 7, "dspace": 7}
"""Days between full harvests for systems whose datestamps or deletions cannot be trusted:
SLiMS stamps records with their creation date, INLISLite sends none and reports no
deletions, DSpace's deletions are transient (RESEARCH.md, partner systems)."""


def _periodic_full(engine: Engine, source: SourceConfig, options: HarvestOptions) -> HarvestOptions:
    """Turn an incremental OAI-PMH run into a full one when the source is due for it."""
    days = source.full_every_days or FULL_HARVEST_PROFILES.get(source.profile)
    if source.kind != "oai" or options.full or options.from_date or not days:
        return options
    with session_scope(engine, read_only=True) as session:
        last_full = session.execute(
            select(func.max(col(HarvestRun.finished)))
            .join(Source, col(Source.id) == col(HarvestRun.source_id))
            .where(col(Source.name) == source.name, col(HarvestRun.status) == "ok")
            .where(col(HarvestRun.full).is_(True))
        ).scalar_one_or_none()
    if last_full is not None and utcnow() - _aware(last_full) < timedelta(days=days):
        return options
    log.info(_("source=%s due for its full harvest (every %s days)"), source.name, days)
    return replace(options, full=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start_run(
    engine: Engine, config: PoolConfig, source_config: SourceConfig, options: HarvestOptions
) -> tuple[int, int]:
    with session_scope(engine) as session:
        sources = sync_partners(session, config)
        source = sources[source_config.name]
        run = HarvestRun(source_id=source.id or 0, full=options.full)
        session.add(run)
        session.flush()
        assert source.id is not None and run.id is not None
        return source.id, run.id


def _run(
    engine: Engine,
    config: PoolConfig,
    source_config: SourceConfig,
    options: HarvestOptions,
    summary: RunSummary,
    progress: ProgressCallback | None,
) -> None:
    context, checkpoint = _resume(engine, config, source_config, summary.run_id, options)
    harvester = build_harvester(config, source_config, options, _held_check(engine, context))
    catalogue = Catalogue(config)
    context.profile_function = catalogue.profile
    context.tags = catalogue.rules.tags if catalogue.rules else None
    log.info(
        _("source=%s run=%s starting%s"),
        source_config.name,
        summary.run_id,
        _(" (resuming)") if checkpoint else "",
    )
    for page in _pages(harvester, checkpoint, context):
        with session_scope(engine) as session:
            _fewer_checkpoints(session)
            counts = store_page(session, page, context)
            catalogue.records_changed(session, counts.changed_ids, counts.records)
            if page.complete and page.full:
                counts.deleted += _sweep(session, catalogue, source_config, context, options)
            _save_progress(session, context, page, summary, counts)
        if counts.changed_ids and _statistics_due(summary.pages):
            refresh_statistics(engine, HARVESTED_TABLES)
        _log_page(source_config.name, summary, page, counts)
        if progress:
            progress(summary, page)
        if stop_requested.is_set() and not page.complete:
            raise Interrupted(
                _("source {source}: stopped after page {page}").format(
                    source=source_config.name, page=summary.pages
                )
            )


HARVESTED_TABLES = tuple(
    str(model.__tablename__)
    for model in (SourceRecord, SeenMark, MatchKey, Holding, Cluster, Flag, RejectedRecord)
)
"""The tables a harvest writes page after page."""


def _statistics_due(pages: int) -> bool:
    """After pages 1, 2, 4, 8 and so on: as often as the tables may have doubled."""
    return pages & (pages - 1) == 0


def _pages(
    harvester: Harvester, checkpoint: Checkpoint | None, context: PageContext
) -> Iterator[Page]:
    """The harvester's pages, read and prepared in a second process where one can run."""
    if not read_ahead_possible(harvester):
        return harvester.pages(checkpoint)
    return prepared_pages(harvester, checkpoint, context.profile_function, context.tags)


WAL_CHECKPOINT_PAGES = 10_000
"""WAL pages SQLite lets accumulate before copying them into the database file."""


def _fewer_checkpoints(session: Session) -> None:
    """Let SQLite's write-ahead log grow to about 40 MB between checkpoints.

    A checkpoint copies the log into the database file and syncs both; by
    default it comes whenever the log passes 1,000 pages (4 MB). Storing one
    page of records rewrites more database pages than that, so every commit
    paid for a checkpoint, and an unchanged harvest spent a third of its time
    there. The setting stays with the connection; PostgreSQL has no such step.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")


def _held_check(engine: Engine, context: PageContext) -> IdentityCheck | None:
    """What a harvester may ask before decoding: which records the pool holds byte for byte.

    None for a source that holds nothing yet: its records are all new, and asking
    would only cost time.
    """
    with session_scope(engine, read_only=True) as session:
        table = SourceRecord.__table__  # type: ignore[attr-defined]
        query = select(table.c.id).where(table.c.source_id == context.source_id).limit(1)
        if session.execute(query).first() is None:
            return None

    def held(identities: list[tuple[str, str]]) -> set[tuple[str, str]]:
        with session_scope(engine, read_only=True) as session:
            return held_unchanged(session, context, identities)

    return held


def _resume(
    engine: Engine,
    config: PoolConfig,
    source_config: SourceConfig,
    run_id: int,
    options: HarvestOptions,
) -> tuple[PageContext, dict[str, Any] | None]:
    """The page context, and the checkpoint to resume from (None: start afresh)."""
    with session_scope(engine) as session:
        source = session.execute(
            select(Source).where(col(Source.name) == source_config.name)
        ).scalar_one()
        checkpoint = json.loads(source.checkpoint or "{}") or None
        if options.full and checkpoint and "next_from" in checkpoint:
            checkpoint = None
        if source.delivery_run_id is None or checkpoint is None:
            # A new delivery: what this run sees is the source's content, and
            # a file source's rejects are those of this delivery alone.
            source.delivery_run_id = run_id
            if source_config.kind != "oai":
                session.execute(
                    delete(RejectedRecord).where(col(RejectedRecord.source_id) == source.id)
                )
        session.add(source)
        ids = partner_ids(session)
        context = PageContext(
            source_id=source.id or 0,
            run_id=run_id,
            marker=source.delivery_run_id,
            partner_id=ids[source_config.partner],
            partner_ids=ids,
        )
    return context, checkpoint


def _sweep(
    session: Session,
    catalogue: Catalogue,
    source_config: SourceConfig,
    context: PageContext,
    options: HarvestOptions,
) -> int:
    """Mark records the completed full delivery did not contain as deleted."""
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    seen_mark = SeenMark.__table__  # type: ignore[attr-defined]
    records = table.outerjoin(seen_mark, seen_mark.c.source_record_id == table.c.id)
    live = table.c.source_id == context.source_id, table.c.deleted.is_(False)
    this_delivery = seen_mark.c.seen_run == context.marker
    seen = session.execute(
        select(func.count()).select_from(records).where(*live, this_delivery)
    ).scalar_one()
    missing = [
        row.id
        for row in session.execute(
            select(table.c.id).select_from(records).where(*live, ~this_delivery)
        )
    ]
    _check_shrink(catalogue.config, source_config, seen, len(missing), options)
    if missing:
        mark_deleted(session, missing, utcnow())
        catalogue.records_changed(session, set(missing))
    log.info(
        _("source=%s delivery complete: %s records, %s gone"),
        source_config.name,
        seen,
        len(missing),
    )
    return len(missing)


def _check_shrink(
    config: PoolConfig,
    source_config: SourceConfig,
    seen: int,
    missing: int,
    options: HarvestOptions,
) -> None:
    # RecordManager's lesson: a server that answers with nothing, or with a
    # fraction of what it had, is far more often broken than emptied.
    if options.force or missing == 0:
        return
    before = seen + missing
    if seen == 0:
        raise SourceError(
            _(
                "source {source}: the delivery held no records but {before} are stored; "
                "nothing was marked deleted. If the partner really emptied its catalogue, "
                "run again with --force"
            ).format(source=source_config.name, before=before)
        )
    if seen < before * config.shrink_guard:
        raise SourceError(
            _(
                "source {source}: the delivery held {seen} records, far fewer than the "
                "{before} stored (less than {guard:.0%}); nothing was marked deleted. "
                "Check the partner's export, or run again with --force"
            ).format(source=source_config.name, seen=seen, before=before, guard=config.shrink_guard)
        )


def _save_progress(
    session: Session, context: PageContext, page: Page, summary: RunSummary, counts: PageCounts
) -> None:
    summary.pages += 1
    summary.added += counts.added
    summary.updated += counts.updated
    summary.unchanged += counts.unchanged
    summary.deleted += counts.deleted
    summary.rejected += counts.rejected
    summary.cleaned += page.cleaned
    summary.retried += page.retried

    values: dict[str, Any] = {"checkpoint": json.dumps(page.checkpoint), "lock_heartbeat": utcnow()}
    if page.complete:
        values.update(delivery_run_id=None, last_success=utcnow())
        if page.full:
            values["last_delivery_count"] = summary.added + summary.updated + summary.unchanged
    session.execute(update(Source).where(col(Source.id) == context.source_id).values(values))
    run_values = _counts(summary)
    if page.full:
        # A run that delivered the whole source counts as a full harvest.
        run_values["full"] = True
    session.execute(
        update(HarvestRun)
        .where(HarvestRun.id == context.run_id)  # type: ignore[arg-type]
        .values(run_values)
    )


def _counts(summary: RunSummary) -> dict[str, Any]:
    names = ("pages", "added", "updated", "unchanged", "deleted", "rejected", "cleaned", "retried")
    return {name: getattr(summary, name) for name in names}


def _log_page(source: str, summary: RunSummary, page: Page, counts: PageCounts) -> None:
    log.info(
        _("source=%s page=%s %s: +%s ~%s =%s -%s rejected=%s"),
        source,
        summary.pages,
        page.label or "",
        counts.added,
        counts.updated,
        counts.unchanged,
        counts.deleted,
        counts.rejected,
    )


def _finish(
    engine: Engine, summary: RunSummary, started: float, status: str, error: str | None
) -> RunSummary:
    summary.status = status
    summary.error = error
    summary.seconds = round(time.monotonic() - started, 3)
    with session_scope(engine) as session:
        session.execute(
            update(HarvestRun)
            .where(HarvestRun.id == summary.run_id)  # type: ignore[arg-type]
            .values(status=status, error=error, finished=utcnow(), **_counts(summary))
        )
    if error:
        log.error("source=%s run=%s %s: %s", summary.source, summary.run_id, status, error)
    else:
        log.info(
            _(
                "source=%s run=%s ok: %s added, %s updated, %s unchanged, %s deleted, "
                "%s rejected in %.1fs"
            ),
            summary.source,
            summary.run_id,
            summary.added,
            summary.updated,
            summary.unchanged,
            summary.deleted,
            summary.rejected,
            summary.seconds,
        )
    return summary


def build_harvester(
    config: PoolConfig,
    source: SourceConfig,
    options: HarvestOptions,
    unchanged: IdentityCheck | None = None,
) -> Harvester:
    """The harvester for a source's kind, set up from its configuration.

    `unchanged` lets a file harvester skip decoding what the pool holds already.
    """
    if source.kind == "oai":
        from harvesters.oai import OaiHarvester, ResponseLimits

        assert source.url is not None
        auth, headers = credentials(config, source)
        return OaiHarvester(
            source.name,
            source.partner,
            source.url,
            metadata_prefix=source.metadata_prefix,
            sets=source.sets,
            profile=source.profile,
            holdings_tag=source.holdings,
            full=options.full,
            from_=options.from_date,
            until=options.until_date,
            timeout=source.timeout,
            retries=source.retries,
            auth=auth,
            headers=headers,
            limits=ResponseLimits(
                max_bytes=source.max_response_mb * 2**20,
                deadline=source.response_deadline,
                max_pages=source.max_pages,
            ),
        )
    if source.kind == "courses":
        from harvesters.courses import CourseHarvester

        return CourseHarvester(
            source=source.name,
            partner=source.partner,
            path=source.path,
            url=source.url,
            base_folder=config.folder,
            timeout=source.timeout,
        )
    from harvesters.marc import MarcFileHarvester

    return MarcFileHarvester(
        source=source.name,
        partner=source.partner,
        path=source.path,
        url=source.url,
        base_folder=config.folder,
        holdings_tag=source.holdings or "852",
        page_size=config.page_size,
        timeout=source.timeout,
        unchanged=unchanged,
    )


def credentials(
    config: PoolConfig, source: SourceConfig
) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """HTTP basic auth and headers for a source, from the environment or a private file.

    Secrets never sit in partners.toml: it names an environment variable or a
    file readable by its owner only, and no message ever repeats the value.
    """
    basic: str | None = None
    if source.auth_env:
        basic = os.environ.get(source.auth_env)
        if not basic:
            raise ConfigError(
                _(
                    "partners.toml: source {source}: auth_env names ${variable}, "
                    "which is not set; export it as user:password"
                ).format(source=source.name, variable=source.auth_env)
            )
    if source.credentials_file:
        basic = _private_file(config, source)
    headers: dict[str, str] = {}
    if source.token_env:
        token = os.environ.get(source.token_env)
        if not token:
            raise ConfigError(
                _(
                    "partners.toml: source {source}: token_env names ${variable}, which is not set"
                ).format(source=source.name, variable=source.token_env)
            )
        headers["Authorization"] = f"Bearer {token}"
    keep_secret(basic, headers.get("Authorization", "").removeprefix("Bearer "))
    if basic is None:
        return None, headers
    user, _colon, password = basic.strip().partition(":")
    return (user, password), headers


def _private_file(config: PoolConfig, source: SourceConfig) -> str:
    assert source.credentials_file is not None
    path = config.folder / source.credentials_file
    where = _("partners.toml: source {source}: credentials_file {path!r}").format(
        source=source.name, path=str(path)
    )
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise ConfigError(
            _("{where}: cannot read it ({reason})").format(where=where, reason=error.strerror)
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(_("{where}: others can read it; run chmod 600 on it").format(where=where))
    return path.read_text().strip()
