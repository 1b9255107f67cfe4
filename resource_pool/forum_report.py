"""The figures of the partners' forum report, counted in the database.

Everything is counted with SQL aggregates that run the same on SQLite and
PostgreSQL; Python only adds up running totals, lays counts out by partner
and takes medians. The catalogue figures (records, clusters, overlap, flags)
describe the pool as it stands; a `since` day limits the activity figures
(growth, harvest runs, rejects, requests) to what happened from that day on.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, select, true
from sqlmodel import Session, col

from resource_pool.db import session_scope
from resource_pool.exchange_models import ExchangeRequest, RotaEntry
from resource_pool.models import (
    Cluster,
    Flag,
    HarvestRun,
    Partner,
    RejectedRecord,
    Source,
    SourceRecord,
    utcnow,
)

log = logging.getLogger(__name__)

RARE = "rare"
ONLINE_COURSE = "online-course"
# ISO 18626 lender status for a lender that said no (iso18626.LenderStatus.UNFILLED).
UNFILLED = "Unfilled"
FAILED = "failed"


@dataclass(frozen=True)
class PartnerCatalogue:
    """One partner's share of the catalogue."""

    code: str
    name: str
    records: int
    """Live source records from the partner's sources."""
    clusters: int
    """Clusters with at least one of those records."""
    unique_clusters: int
    """Clusters no other partner holds."""
    rare: int
    online_courses: int


@dataclass(frozen=True)
class GrowthSeries:
    """A running total by day: live records a partner contributes, or live clusters."""

    name: str
    points: list[tuple[str, int]]
    """(day as YYYY-MM-DD, total at the end of that day), oldest first."""


@dataclass(frozen=True)
class Overlap:
    """How many clusters each pair of partners shares; the diagonal is what each holds."""

    partners: list[str]
    shared: list[list[int]]


@dataclass(frozen=True)
class SourceHealth:
    """One source's harvest runs and rejected records."""

    source: str
    partner: str
    runs: int
    failed_runs: int
    rejected_records: int
    last_run: str | None
    last_status: str | None


@dataclass(frozen=True)
class HealthDay:
    """One source on one day: runs started, how many failed, records rejected."""

    day: str
    source: str
    runs: int
    failed_runs: int
    rejected_records: int


@dataclass(frozen=True)
class PartnerLoans:
    """One partner in the exchange, as requester and as lender (loans and copies)."""

    code: str
    requested: int
    borrowed: int
    """Of its requests, those a lender supplied."""
    asked: int
    """Times the pool asked it to lend."""
    lent: int
    """Loans shipped and copies delivered."""
    unfilled: int
    fill_rate: float | None
    """lent / asked; None when it was never asked."""
    median_turnaround_days: float | None
    """From the pool asking it to shipping or delivering."""


@dataclass(frozen=True)
class ForumFigures:
    """Every figure the report shows, in the order it shows them."""

    pool_name: str
    generated: str
    since: str | None
    records: int
    clusters: int
    partners: list[PartnerCatalogue]
    growth: list[GrowthSeries]
    """Live records per partner, in partner order."""
    cluster_growth: GrowthSeries
    overlap: Overlap
    sources: list[SourceHealth]
    health: list[HealthDay]
    loans: list[PartnerLoans]
    requests: int

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values."""
        figures = asdict(self)
        for series in [*figures["growth"], figures["cluster_growth"]]:
            series["points"] = [{"day": day, "total": total} for day, total in series["points"]]
        return figures


def forum_figures(engine: Engine, pool_name: str, since: date | None = None) -> ForumFigures:
    """Count everything the forum report shows; `since` limits the activity figures."""
    start = datetime.combine(since, time(), UTC) if since else None
    with session_scope(engine, read_only=True) as session:
        day = _day_function(session)
        partners = _partners(session)
        catalogue = _catalogue(session, partners)
        figures = ForumFigures(
            pool_name=pool_name,
            generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
            since=since.isoformat() if since else None,
            records=sum(p.records for p in catalogue),
            clusters=_live_clusters(session),
            partners=catalogue,
            growth=_record_growth(session, day, partners, start),
            cluster_growth=_cluster_growth(session, day, start),
            overlap=_overlap(session, partners),
            sources=_source_health(session, start),
            health=_health_days(session, day, start),
            loans=_loans(session, list(partners.values()), start),
            requests=_request_count(session, start),
        )
    log.info(
        "forum report: %d partners, %d records, %d clusters, %d requests since %s",
        len(catalogue),
        figures.records,
        figures.clusters,
        figures.requests,
        figures.since or "the start",
    )
    return figures


# The catalogue as it stands


def _partners(session: Session) -> dict[int, str]:
    """Partner id to code, in code order."""
    rows = session.execute(select(col(Partner.id), col(Partner.code)).order_by(col(Partner.code)))
    return {partner_id: code for partner_id, code in rows.all()}


def _held() -> Any:
    """(partner_id, cluster_id) for every cluster a partner holds through a live record."""
    return (
        select(col(Source.partner_id).label("partner_id"), col(SourceRecord.cluster_id))
        .join(Source, col(Source.id) == col(SourceRecord.source_id))
        .where(col(SourceRecord.deleted).is_(False), col(SourceRecord.cluster_id).is_not(None))
        .distinct()
        .subquery()
    )


def _catalogue(session: Session, partners: dict[int, str]) -> list[PartnerCatalogue]:
    held = _held()
    records = _by_partner(
        session,
        select(col(Source.partner_id), func.count())
        .join(SourceRecord, col(SourceRecord.source_id) == col(Source.id))
        .where(col(SourceRecord.deleted).is_(False))
        .group_by(col(Source.partner_id)),
    )
    clusters = _by_partner(
        session, select(held.c.partner_id, func.count()).group_by(held.c.partner_id)
    )
    alone = select(held.c.cluster_id).group_by(held.c.cluster_id).having(func.count() == 1)
    unique = _by_partner(
        session,
        select(held.c.partner_id, func.count())
        .where(held.c.cluster_id.in_(alone))
        .group_by(held.c.partner_id),
    )
    rare = _flagged(session, held, RARE)
    courses = _flagged(session, held, ONLINE_COURSE)

    names = dict(session.execute(select(col(Partner.id), col(Partner.name))).tuples().all())
    return [
        PartnerCatalogue(
            code=code,
            name=names[partner_id],
            records=records.get(partner_id, 0),
            clusters=clusters.get(partner_id, 0),
            unique_clusters=unique.get(partner_id, 0),
            rare=rare.get(partner_id, 0),
            online_courses=courses.get(partner_id, 0),
        )
        for partner_id, code in partners.items()
    ]


def _flagged(session: Session, held: Any, flag: str) -> dict[int, int]:
    """Per partner, the clusters it holds that carry `flag`."""
    return _by_partner(
        session,
        select(held.c.partner_id, func.count(func.distinct(col(Flag.cluster_id))))
        .join(Flag, col(Flag.cluster_id) == held.c.cluster_id)
        .where(col(Flag.flag) == flag)
        .group_by(held.c.partner_id),
    )


def _by_partner(session: Session, query: Select[Any, Any]) -> dict[int, int]:
    return {key: int(count) for key, count in session.execute(query).tuples().all()}


def _live_clusters(session: Session) -> int:
    query = select(func.count()).select_from(Cluster).where(col(Cluster.deleted).is_(False))
    return int(session.scalar(query) or 0)


def _overlap(session: Session, partners: dict[int, str]) -> Overlap:
    held = _held()
    one, other = held.alias("one"), held.alias("other")
    pairs = session.execute(
        select(one.c.partner_id, other.c.partner_id, func.count())
        .join(other, other.c.cluster_id == one.c.cluster_id)
        .group_by(one.c.partner_id, other.c.partner_id)
    ).tuples()
    counts = {(a, b): int(n) for a, b, n in pairs.all()}
    ids = list(partners)
    return Overlap(
        partners=[partners[i] for i in ids],
        shared=[[counts.get((a, b), 0) for b in ids] for a in ids],
    )


# Growth


def _day_function(session: Session) -> Any:
    """The UTC day of a time column as text YYYY-MM-DD, in this database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return lambda column: func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps UTC times as text, "2026-12-03 20:26:51.747550".
    return lambda column: func.strftime("%Y-%m-%d", column)


def _record_growth(
    session: Session, day: Any, partners: dict[int, str], start: datetime | None
) -> list[GrowthSeries]:
    """Running totals of each partner's live records by the day each was first seen."""
    seen = day(col(SourceRecord.first_seen))
    rows = session.execute(
        select(col(Source.partner_id), seen, func.count())
        .join(SourceRecord, col(SourceRecord.source_id) == col(Source.id))
        .where(col(SourceRecord.deleted).is_(False))
        .group_by(col(Source.partner_id), seen)
    ).tuples()
    by_partner: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for partner_id, when, count in rows.all():
        by_partner[partner_id].append((str(when), int(count)))

    first_day = start.date().isoformat() if start else None
    return [
        GrowthSeries(code, _running_total(by_partner[partner_id], first_day))
        for partner_id, code in partners.items()
    ]


def _cluster_growth(session: Session, day: Any, start: datetime | None) -> GrowthSeries:
    """Running total of live clusters by the day each was made."""
    created = day(col(Cluster.created))
    rows = session.execute(
        select(created, func.count()).where(col(Cluster.deleted).is_(False)).group_by(created)
    ).tuples()
    counts = [(str(when), int(count)) for when, count in rows.all()]
    first_day = start.date().isoformat() if start else None
    return GrowthSeries("clusters", _running_total(counts, first_day))


def _running_total(
    counts: Iterable[tuple[str, int]], first_day: str | None
) -> list[tuple[str, int]]:
    """Daily counts to running totals; days before `first_day` fold into its opening total."""
    ordered = sorted(counts)
    total = sum(count for day, count in ordered if first_day and day < first_day)
    points = [(first_day, total)] if first_day else []
    for day, count in ordered:
        if first_day and day < first_day:
            continue
        total += count
        if points and points[-1][0] == day:
            points[-1] = (day, total)
        else:
            points.append((day, total))
    return points


# Harvest health


def _after(column: Any, start: datetime | None) -> ColumnElement[bool]:
    """`column` on or after `start`; no condition without one."""
    return column >= start if start is not None else true()


def _source_health(session: Session, start: datetime | None) -> list[SourceHealth]:
    failed = func.sum(case((col(HarvestRun.status) == FAILED, 1), else_=0))
    runs = {
        source_id: (int(count), int(failures or 0), last)
        for source_id, count, failures, last in session.execute(
            select(col(HarvestRun.source_id), func.count(), failed, func.max(col(HarvestRun.id)))
            .where(_after(col(HarvestRun.started), start))
            .group_by(col(HarvestRun.source_id))
        ).tuples()
    }
    rejected = dict(
        session.execute(
            select(col(RejectedRecord.source_id), func.count())
            .where(_after(col(RejectedRecord.created), start))
            .group_by(col(RejectedRecord.source_id))
        )
        .tuples()
        .all()
    )
    last_runs = _runs_by_id(session, [last for _, _, last in runs.values()])
    sources = session.execute(
        select(col(Source.id), col(Source.name), col(Partner.code))
        .join(Partner, col(Partner.id) == col(Source.partner_id))
        .order_by(col(Source.name))
    ).tuples()

    rows = []
    for source_id, name, partner in sources.all():
        count, failures, last = runs.get(source_id, (0, 0, None))
        last_run = last_runs.get(last) if last is not None else None
        rows.append(
            SourceHealth(
                source=name,
                partner=partner,
                runs=count,
                failed_runs=failures,
                rejected_records=int(rejected.get(source_id, 0)),
                last_run=last_run.started.strftime("%Y-%m-%d %H:%M") if last_run else None,
                last_status=last_run.status if last_run else None,
            )
        )
    return rows


def _runs_by_id(session: Session, ids: list[int]) -> dict[int, HarvestRun]:
    if not ids:
        return {}
    runs = session.execute(select(HarvestRun).where(col(HarvestRun.id).in_(ids))).scalars()
    return {run.id: run for run in runs.all() if run.id is not None}


def _health_days(session: Session, day: Any, start: datetime | None) -> list[HealthDay]:
    started = day(col(HarvestRun.started))
    failed = func.sum(case((col(HarvestRun.status) == FAILED, 1), else_=0))
    runs = session.execute(
        select(col(Source.name), started, func.count(), failed)
        .join(HarvestRun, col(HarvestRun.source_id) == col(Source.id))
        .where(_after(col(HarvestRun.started), start))
        .group_by(col(Source.name), started)
    ).tuples()
    created = day(col(RejectedRecord.created))
    rejects = session.execute(
        select(col(Source.name), created, func.count())
        .join(RejectedRecord, col(RejectedRecord.source_id) == col(Source.id))
        .where(_after(col(RejectedRecord.created), start))
        .group_by(col(Source.name), created)
    ).tuples()

    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, when, count, failures in runs.all():
        cells[(str(when), name)][:2] = [int(count), int(failures or 0)]
    for name, when, count in rejects.all():
        cells[(str(when), name)][2] = int(count)
    return [HealthDay(when, name, *counts) for (when, name), counts in sorted(cells.items())]


# Loans


def _loans(session: Session, codes: list[str], start: datetime | None) -> list[PartnerLoans]:
    made = _after(col(ExchangeRequest.created), start)
    asked = col(RotaEntry.asked).is_not(None)
    supplied = col(RotaEntry.supplied).is_not(None)
    entries = select(col(RotaEntry.partner)).join(
        ExchangeRequest, col(ExchangeRequest.id) == col(RotaEntry.request_id)
    )

    requested = _by_code(
        session,
        select(col(ExchangeRequest.requester), func.count())
        .where(made)
        .group_by(col(ExchangeRequest.requester)),
    )
    lender = (
        entries.add_columns(
            func.sum(case((asked, 1), else_=0)),
            func.sum(case((supplied, 1), else_=0)),
            func.sum(case((and_(asked, col(RotaEntry.status) == UNFILLED), 1), else_=0)),
        )
        .where(made)
        .group_by(col(RotaEntry.partner))
    )
    lending = {
        code: (int(a or 0), int(s or 0), int(u or 0))
        for code, a, s, u in session.execute(lender).tuples().all()
    }
    borrowed = _by_code(
        session,
        select(col(ExchangeRequest.requester), func.count())
        .join(RotaEntry, col(RotaEntry.request_id) == col(ExchangeRequest.id))
        .where(made, supplied)
        .group_by(col(ExchangeRequest.requester)),
    )
    turnaround = _turnaround(session, entries.where(made, asked, supplied))
    return [
        _partner_loans(
            code,
            requested.get(code, 0),
            borrowed.get(code, 0),
            lending.get(code, (0, 0, 0)),
            turnaround.get(code, []),
        )
        for code in codes
    ]


def _by_code(session: Session, query: Select[Any, Any]) -> dict[str, int]:
    return {code: int(count) for code, count in session.execute(query).tuples().all()}


def _turnaround(session: Session, entries: Select[Any]) -> dict[str, list[float]]:
    """Days from asked to supplied for each lender; the median is taken in Python,
    as neither SQLite nor standard SQL has one."""
    rows = session.execute(
        entries.add_columns(col(RotaEntry.asked), col(RotaEntry.supplied))
    ).tuples()
    days: dict[str, list[float]] = defaultdict(list)
    for code, asked, supplied in rows.all():
        days[code].append((supplied - asked).total_seconds() / 86400)
    return days


def _partner_loans(
    code: str,
    requested: int,
    borrowed: int,
    lending: tuple[int, int, int],
    days: list[float],
) -> PartnerLoans:
    asked, lent, unfilled = lending
    return PartnerLoans(
        code=code,
        requested=requested,
        borrowed=borrowed,
        asked=asked,
        lent=lent,
        unfilled=unfilled,
        fill_rate=round(lent / asked, 4) if asked else None,
        median_turnaround_days=round(statistics.median(days), 4) if days else None,
    )


def _request_count(session: Session, start: datetime | None) -> int:
    query = (
        select(func.count())
        .select_from(ExchangeRequest)
        .where(_after(col(ExchangeRequest.created), start))
    )
    return int(session.scalar(query) or 0)
