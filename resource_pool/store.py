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
from resource_pool.bulk import insert_plain, insert_rows
from resource_pool.catalogue import marc_to_json, profile_to_json
from resource_pool.flags import RecordView
from resource_pool.locks import ADVISORY_NAMESPACE
from resource_pool.matching import MatchProfile
from resource_pool.models import (
    Holding,
    MatchKey,
    RejectedRecord,
    SeenMark,
    SourceRecord,
    utcnow,
)

log = logging.getLogger(__name__)

_CHUNK = 500
"""Rows per IN (...) query: well under SQLite's and PostgreSQL's parameter limits."""

_SEEN = SeenMark.__table__  # type: ignore[attr-defined]


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
    records: dict[int, RecordView] = field(default_factory=dict)
    """The records stored now, by id, as the flag rules read them back from the store:
    flags are evaluated from these instead of parsing the stored JSON again."""


@dataclass(slots=True)
class Prepared:
    """What the pool stores of one decoded record, worked out before its page is stored.

    Built where the record is decoded: in a second process while the pool
    stores the page before (see `resource_pool.reading`), else by `store_page`.
    """

    marc: str
    """MARC-in-JSON, as the source_record row keeps it."""
    title: str
    profile: MatchProfile | None
    profile_json: str
    view: RecordView
    """The record as the flag rules read it back from the store."""


def prepare_record(
    marc: pymarc.Record,
    profile_function: Callable[[pymarc.Record], MatchProfile] | None,
    tags: frozenset[str] | None = None,
) -> Prepared:
    """The stored form of a record; `tags` keeps only those fields in its view for the flags."""
    profile = profile_function(marc) if profile_function else None
    return Prepared(
        marc=marc_to_json(marc),
        title=(marc.title or "")[:500],
        profile=profile,
        profile_json=profile_to_json(profile) if profile else "",
        view=stored_view(marc, tags),
    )


def stored_view(marc: pymarc.Record, tags: frozenset[str] | None = None) -> RecordView:
    """The view `flags.view_from_json` gives of the stored record, without the JSON.

    The leader goes through pymarc's normalisation on reading (Leader/10-11
    "22", Leader/20-23 "4500"); subfields become plain pairs, cheap to pass
    between processes.
    """
    leader = str(marc.leader)
    leader = leader[0:10] + "22" + leader[12:20] + "4500"
    controls: dict[str, list[str]] = {}
    fields: dict[str, list[Any]] = {}
    for item in marc.fields:
        tag = item.tag
        if tags is not None and tag not in tags:
            continue
        if item.control_field:
            controls.setdefault(tag, []).append(item.data or "")
        else:
            first, second = item.indicators or _BLANK
            occurrence = (first, second, list(map(tuple, item.subfields)))
            fields.setdefault(tag, []).append(occurrence)
    return RecordView(leader, controls, fields, tags)


_BLANK = ("", "")
"""What pymarc reads as the indicators of a data field that has none."""


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
    tags: frozenset[str] | None = None
    """The tags the flag rules read: a record's view for them keeps only these."""
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
    _prepare(fresh + changed, context)
    profiles = _profiles(fresh + changed)
    take_turn(session)
    now = utcnow()
    new_ids = _insert_records(session, fresh, profiles, context, now)
    _add_seen_marks(session, new_ids.values(), context.marker, now)
    _update_records(session, changed, existing, profiles, context, now)
    seen_again = [existing[r.local_id]["id"] for r in changed + unchanged]
    _mark_seen(session, seen_again, context.marker, now)
    deleted_ids = _delete_records(session, gone, existing, context, now)

    stored = {**new_ids, **{r.local_id: existing[r.local_id]["id"] for r in changed}}
    _replace_holdings(session, fresh, changed, stored, context)
    _replace_keys(session, fresh, changed, stored, profiles)
    _store_rejections(session, page, context, stored)

    counts.added, counts.updated = len(fresh), len(changed)
    counts.unchanged, counts.deleted = len(unchanged), len(deleted_ids)
    counts.changed_ids = set(stored.values()) | set(deleted_ids)
    counts.records = {stored[r.local_id]: r.prepared.view for r in fresh + changed}
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
    undecoded = [r.local_id for r in records if r.marc is None and r.prepared is None]
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
                _SEEN.c.seen_run,
            )
            .outerjoin(_SEEN, _SEEN.c.source_record_id == table.c.id)
            .where(table.c.source_id == source_id, table.c.local_id.in_(chunk))
        )
        for record_id, local_id, content_hash, deleted, seen_run in rows.all():
            found[local_id] = {
                "id": record_id,
                "local_id": local_id,
                "content_hash": content_hash,
                "deleted": deleted,
                "seen_run": seen_run,
            }
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


def _prepare(records: list[HarvestedRecord], context: PageContext) -> None:
    """Work out the stored form of the records the harvester did not prepare."""
    for record in records:
        if record.prepared is None and record.marc is not None:
            record.prepared = prepare_record(record.marc, context.profile_function, context.tags)


def _profiles(records: list[HarvestedRecord]) -> dict[str, MatchProfile]:
    return {r.local_id: r.prepared.profile for r in records if r.prepared.profile is not None}


def _record_values(
    record: HarvestedRecord, profile: MatchProfile | None, context: PageContext, now: Any
) -> dict[str, Any]:
    prepared: Prepared = record.prepared
    return {
        "profile": prepared.profile_json if profile else "",
        "source_id": context.source_id,
        "local_id": record.local_id,
        "content_hash": record.content_hash,
        "format": record.format,
        "original": record.original,
        "marc": prepared.marc,
        "title": prepared.title,
        "datestamp": record.datestamp,
        "deleted": False,
        "changed_at": now,
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
    ids = insert_rows(session, table, rows)
    return {record.local_id: new_id for record, new_id in zip(records, ids, strict=True)}


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
    for chunk in _chunks(ids):
        session.execute(
            update(_SEEN)
            .where(_SEEN.c.source_record_id.in_(chunk))
            .values(seen_run=marker, last_seen=now)
        )


def _add_seen_marks(session: Session, ids: Iterable[int], marker: int, now: Any) -> None:
    rows = [{"source_record_id": i, "seen_run": marker, "last_seen": now} for i in ids]
    if rows:
        session.execute(insert(_SEEN), rows)


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
    values: dict[str, Any] = {"deleted": True, "marc": "", "changed_at": now}
    seen: dict[str, Any] = {"last_seen": now}
    if seen_run is not None:
        seen["seen_run"] = seen_run
    for chunk in _chunks(list(ids)):
        session.execute(update(table).where(table.c.id.in_(chunk)).values(values))
        session.execute(update(_SEEN).where(_SEEN.c.source_record_id.in_(chunk)).values(seen))
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
    rows: list[tuple[Any, ...]] = []
    for record in fresh + changed:
        # A record without holdings fields is still held by its source's partner.
        for holding in record.holdings or [HoldingData()]:
            rows.append(_holding_row(holding, stored[record.local_id], context))
    insert_plain(session, Holding.__table__, _HOLDING_COLUMNS, rows)  # type: ignore[attr-defined]


_HOLDING_COLUMNS = (
    "source_record_id",
    "partner_id",
    "location",
    "call_number",
    "barcode",
    "collection",
    "lendable",
)


def _holding_row(holding: HoldingData, record_id: int, context: PageContext) -> tuple[Any, ...]:
    # 852 $a may name the holding institution; a code the pool knows is
    # honoured (a network's shared catalogue), anything else is the source's own.
    partner_id = context.partner_ids.get(holding.partner_code or "", context.partner_id)
    return (
        record_id,
        partner_id,
        holding.location[:255],
        holding.call_number[:255],
        holding.barcode[:255],
        holding.collection[:255],
        holding.lendable,
    )


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
        (stored[r.local_id], kind, value[:255])
        for r in fresh + changed
        if r.local_id in profiles
        for kind, value in profiles[r.local_id].keys
    ]
    columns = ("source_record_id", "kind", "value")
    insert_plain(session, MatchKey.__table__, columns, rows)  # type: ignore[attr-defined]


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
