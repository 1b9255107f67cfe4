"""Store one harvested page: records, holdings, match keys, rejects, checkpoint.

Everything for a page happens in the caller's transaction, so a crash loses
at most the page in flight and the next run resumes after the last stored
page. Records are compared by content hash: an unchanged record only has
its seen mark moved, which keeps a repeated harvest cheap.

On PostgreSQL, harvests of different sources run side by side, from one
machine or several, but their pages are written one at a time: a page
records and reclusters only after the page before it, from any harvest,
is committed. Without that, two sources storing records that share a key
at the same moment would each see only its own record and cluster it alone.
The wait comes after the page's match profiles are computed, the costliest
part, which stays parallel; and before its first write, so a waiting
harvest holds no row another one needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymarc
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlmodel import Session, col

from harvesters.errors import SourceError
from harvesters.records import HarvestedRecord, HoldingData, Page
from resource_pool.catalogue import as_stored, marc_to_json, profile_to_json
from resource_pool.locks import ADVISORY_NAMESPACE
from resource_pool.matching import MatchProfile
from resource_pool.models import Holding, MatchKey, RejectedRecord, SourceRecord, utcnow

log = logging.getLogger(__name__)

_CHUNK = 500
"""Rows per IN (...) query: well under SQLite's and PostgreSQL's parameter limits."""


@dataclass
class PageCounts:
    """What storing one page did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    changed_ids: set[int] = field(default_factory=set)
    """Source records whose content changed: their clusters need matching again."""
    records: dict[int, pymarc.Record] = field(default_factory=dict)
    """The MARC of the records stored now, by id, as the pool reads it back: flags
    are evaluated from these instead of parsing the stored JSON again."""


@dataclass
class PageContext:
    """What storing needs to know beyond the page: which source and run."""

    source_id: int
    run_id: int
    marker: int
    """The delivery this page belongs to; a resumed run keeps its first run's id."""
    partner_id: int
    partner_ids: dict[str, int]
    profile_function: Callable[[pymarc.Record], MatchProfile] | None = None
    """record -> match profile; None stores no profiles and no match keys."""
    rows_ahead: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Rows `held_unchanged` read for the next page, by local id (None: no row); the
    page's storing uses them instead of reading them again, then drops them."""


def store_page(session: Session, page: Page, context: PageContext) -> PageCounts:
    """Write the page's records and rejects; return the counts."""
    counts = PageCounts(rejected=len(page.rejections))
    ahead, context.rows_ahead = context.rows_ahead, {}
    latest = _unique_ids(page.records)
    existing = _existing(session, context.source_id, list(latest), ahead)
    latest, existing = _separate_duplicates(session, latest, existing, context)

    fresh, changed, unchanged, gone = _classify(latest.values(), existing)
    _refuse_undecoded(fresh + changed)
    profiles = _profiles(fresh + changed, context)
    take_turn(session)
    now = utcnow()
    new_ids = _insert_records(session, fresh, profiles, context, now)
    _update_records(session, changed, existing, profiles, context, now)
    _mark_seen(session, [existing[r.local_id]["id"] for r in unchanged], context.marker, now)
    deleted_ids = _delete_records(session, gone, existing, context, now)

    stored = {**new_ids, **{r.local_id: existing[r.local_id]["id"] for r in changed}}
    _replace_holdings(session, fresh, changed, stored, context)
    _replace_keys(session, fresh, changed, stored, profiles)
    _store_rejections(session, page, context, stored)

    counts.added, counts.updated = len(fresh), len(changed)
    counts.unchanged, counts.deleted = len(unchanged), len(deleted_ids)
    counts.changed_ids = set(stored.values()) | set(deleted_ids)
    counts.records = {
        stored[r.local_id]: as_stored(r.marc) for r in fresh + changed if r.marc is not None
    }
    return counts


WRITER_TURN = 0
"""The advisory lock key, beside ADVISORY_NAMESPACE, that pages wait on; source ids start at 1."""


def take_turn(session: Session) -> None:
    """Wait until no other transaction is writing a page (PostgreSQL; see the module's note).

    The lock is the transaction's: it goes with the commit or the rollback.
    SQLite needs none, its writers queue for the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :turn)"),
            {"namespace": ADVISORY_NAMESPACE, "turn": WRITER_TURN},
        )


def _unique_ids(records: list[HarvestedRecord]) -> dict[str, HarvestedRecord]:
    """Records by local id; a different record under an id already used gets its own id."""
    latest: dict[str, HarvestedRecord] = {}
    for record in records:
        earlier = latest.get(record.local_id)
        if earlier is not None and earlier.content_hash != record.content_hash:
            _rename_duplicate(record)
        latest[record.local_id] = record
    return latest


def _rename_duplicate(record: HarvestedRecord) -> None:
    # Files in the wild repeat a 001 for different records (marc4j's
    # pride-and-prejudice sample has 20). Keeping only the last would lose
    # the others; the content hash names each apart, the same way every run.
    original = record.local_id
    record.local_id = f"{original}~{record.content_hash[:10]}"
    log.warning(
        "source=%s local id %s is used by more than one record; storing one as %s",
        record.source,
        original,
        record.local_id,
    )


def _separate_duplicates(
    session: Session,
    latest: dict[str, HarvestedRecord],
    existing: dict[str, dict[str, Any]],
    context: PageContext,
) -> tuple[dict[str, HarvestedRecord], dict[str, dict[str, Any]]]:
    """Rename records whose id an earlier page of this same delivery already used."""
    clashing = [
        record
        for record in latest.values()
        if (row := existing.get(record.local_id)) is not None
        and row["seen_run"] == context.marker
        and not row["deleted"]
        and not record.deleted
        and row["content_hash"] != record.content_hash
    ]
    if not clashing:
        return latest, existing
    for record in clashing:
        del latest[record.local_id]
        _rename_duplicate(record)
        latest[record.local_id] = record
    existing.update(_existing(session, context.source_id, [r.local_id for r in clashing]))
    return latest, existing


def held_unchanged(
    session: Session, context: PageContext, identities: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Of these (local id, content hash) pairs, those the source holds as live records.

    Asked just before the page is stored, so the rows read are kept for storing
    it: the columns it needs change only when this source is harvested, and the
    source's lock lets one harvest run at a time.
    """
    local_ids = [local_id for local_id, _ in identities]
    found = _existing(session, context.source_id, local_ids)
    context.rows_ahead = {local_id: found.get(local_id) for local_id in local_ids}

    live = {
        (local_id, row["content_hash"]) for local_id, row in found.items() if not row["deleted"]
    }
    return live.intersection(identities)


def _refuse_undecoded(records: list[HarvestedRecord]) -> None:
    # A harvester passes a record on undecoded only when the pool holds its
    # very bytes; storing one as new or changed would lose its MARC.
    undecoded = [r.local_id for r in records if r.marc is None]
    if undecoded:
        raise SourceError(
            f"source {records[0].source}: record {undecoded[0]} came without its MARC, yet the "
            "pool does not hold it unchanged; the page was not stored (a fault in the "
            "harvester, not in the data)"
        )


def _existing(
    session: Session,
    source_id: int,
    local_ids: list[str],
    ahead: dict[str, dict[str, Any] | None] | None = None,
) -> dict[str, dict[str, Any]]:
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    ahead = ahead or {}
    found = {local_id: known for local_id in local_ids if (known := ahead.get(local_id))}
    for chunk in _chunks([local_id for local_id in local_ids if local_id not in ahead]):
        rows = session.execute(
            select(
                table.c.id,
                table.c.local_id,
                table.c.content_hash,
                table.c.deleted,
                table.c.seen_run,
            ).where(table.c.source_id == source_id, table.c.local_id.in_(chunk))
        )
        for row in rows:
            found[row.local_id] = row._asdict()
    return found


def _classify(
    records: Iterable[HarvestedRecord], existing: dict[str, dict[str, Any]]
) -> tuple[
    list[HarvestedRecord], list[HarvestedRecord], list[HarvestedRecord], list[HarvestedRecord]
]:
    fresh, changed, unchanged, gone = [], [], [], []
    for record in records:
        row = existing.get(record.local_id)
        if record.deleted:
            if row is not None and not row["deleted"]:
                gone.append(record)
        elif row is None:
            fresh.append(record)
        elif row["deleted"] or row["content_hash"] != record.content_hash:
            changed.append(record)
        else:
            unchanged.append(record)
    return fresh, changed, unchanged, gone


def _profiles(records: list[HarvestedRecord], context: PageContext) -> dict[str, MatchProfile]:
    if context.profile_function is None:
        return {}
    return {r.local_id: context.profile_function(r.marc) for r in records if r.marc is not None}


def _record_values(
    record: HarvestedRecord, profile: MatchProfile | None, context: PageContext, now: Any
) -> dict[str, Any]:
    marc = record.marc
    return {
        "profile": profile_to_json(profile) if profile else "",
        "source_id": context.source_id,
        "local_id": record.local_id,
        "content_hash": record.content_hash,
        "format": record.format,
        "original": record.original,
        "marc": marc_to_json(marc) if marc else "",
        "title": (marc.title or "")[:500] if marc else "",
        "datestamp": record.datestamp,
        "deleted": False,
        "last_seen": now,
        "changed_at": now,
        "seen_run": context.marker,
    }


def _insert_records(
    session: Session,
    records: list[HarvestedRecord],
    profiles: dict[str, MatchProfile],
    context: PageContext,
    now: Any,
) -> dict[str, int]:
    if not records:
        return {}
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    rows = [
        {**_record_values(r, profiles.get(r.local_id), context, now), "first_seen": now}
        for r in records
    ]
    result = session.execute(insert(table).returning(table.c.id, table.c.local_id), rows)
    return {row.local_id: row.id for row in result}


def _update_records(
    session: Session,
    records: list[HarvestedRecord],
    existing: dict[str, dict[str, Any]],
    profiles: dict[str, MatchProfile],
    context: PageContext,
    now: Any,
) -> None:
    if not records:
        return
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    rows = [
        {
            **_record_values(record, profiles.get(record.local_id), context, now),
            "record_id": existing[record.local_id]["id"],
        }
        for record in records
    ]
    # One statement for the page, executed once per row by the driver.
    session.execute(update(table).where(table.c.id == bindparam("record_id")), rows)


def _mark_seen(session: Session, ids: list[int], marker: int, now: Any) -> None:
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(ids):
        session.execute(
            update(table).where(table.c.id.in_(chunk)).values(seen_run=marker, last_seen=now)
        )


def _delete_records(
    session: Session,
    records: list[HarvestedRecord],
    existing: dict[str, dict[str, Any]],
    context: PageContext,
    now: Any,
) -> list[int]:
    ids = [existing[record.local_id]["id"] for record in records]
    mark_deleted(session, ids, now, seen_run=context.marker)
    return ids


def mark_deleted(
    session: Session, ids: Sequence[int], now: Any, seen_run: int | None = None
) -> None:
    """Mark source records deleted: their holdings and keys go, the row stays as a tombstone."""
    table = SourceRecord.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"deleted": True, "marc": "", "changed_at": now, "last_seen": now}
    if seen_run is not None:
        values["seen_run"] = seen_run
    for chunk in _chunks(list(ids)):
        session.execute(update(table).where(table.c.id.in_(chunk)).values(values))
        session.execute(delete(Holding).where(col(Holding.source_record_id).in_(chunk)))
        session.execute(delete(MatchKey).where(col(MatchKey.source_record_id).in_(chunk)))


def _replace_holdings(
    session: Session,
    fresh: list[HarvestedRecord],
    changed: list[HarvestedRecord],
    stored: dict[str, int],
    context: PageContext,
) -> None:
    # A record stored for the first time has nothing to replace.
    ids = [stored[r.local_id] for r in changed]
    for chunk in _chunks(ids):
        session.execute(delete(Holding).where(col(Holding.source_record_id).in_(chunk)))
    rows = []
    for record in fresh + changed:
        # A record without holdings fields is still held by its source's partner.
        for holding in record.holdings or [HoldingData()]:
            rows.append(_holding_row(holding, stored[record.local_id], context))
    if rows:
        session.execute(insert(Holding.__table__), rows)  # type: ignore[attr-defined]


def _holding_row(holding: HoldingData, record_id: int, context: PageContext) -> dict[str, Any]:
    # 852 $a may name the holding institution; a code the pool knows is
    # honoured (a network's shared catalogue), anything else is the source's own.
    partner_id = context.partner_ids.get(holding.partner_code or "", context.partner_id)
    return {
        "source_record_id": record_id,
        "partner_id": partner_id,
        "location": holding.location[:255],
        "call_number": holding.call_number[:255],
        "barcode": holding.barcode[:255],
        "collection": holding.collection[:255],
        "lendable": holding.lendable,
    }


def _replace_keys(
    session: Session,
    fresh: list[HarvestedRecord],
    changed: list[HarvestedRecord],
    stored: dict[str, int],
    profiles: dict[str, MatchProfile],
) -> None:
    ids = [stored[r.local_id] for r in changed]
    for chunk in _chunks(ids):
        session.execute(delete(MatchKey).where(col(MatchKey.source_record_id).in_(chunk)))
    rows = [
        {"source_record_id": stored[r.local_id], "kind": kind, "value": value[:255]}
        for r in fresh + changed
        if r.local_id in profiles
        for kind, value in profiles[r.local_id].keys
    ]
    if rows:
        session.execute(insert(MatchKey.__table__), rows)  # type: ignore[attr-defined]


def _store_rejections(
    session: Session, page: Page, context: PageContext, stored: dict[str, int]
) -> None:
    table = RejectedRecord.__table__  # type: ignore[attr-defined]
    # A record stored now supersedes an earlier reject of the same id.
    for chunk in _chunks(list(stored)):
        session.execute(
            delete(table).where(table.c.source_id == context.source_id, table.c.local_id.in_(chunk))
        )
    rows = [
        {
            "source_id": context.source_id,
            "run_id": context.run_id,
            "location": r.location[:1000],
            "position": r.position[:255],
            "local_id": r.local_id,
            "reason": r.reason[:2000],
            "original": r.original,
            "created": utcnow(),
        }
        for r in page.rejections
    ]
    if rows:
        session.execute(insert(table), rows)


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
