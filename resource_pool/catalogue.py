"""Keep clusters and flags current as source records change.

After a page is stored, the records it changed are matched again together
with every record they share a key with, and every record that was in their
old clusters: that closed set is the only part of the catalogue whose
clustering can change. Its clusters are recomputed from the stored match
profiles (no MARC is parsed for matching), cluster ids are kept where the
membership mostly carries over, and the flags are evaluated again for every
cluster whose members or their content changed.

All writes for a page go out as a few statements, each executed for many
rows, rather than one statement per record or cluster.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from json.encoder import encode_basestring as _json_text
from typing import Any

import pymarc
from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel import Session, col

from resource_pool import flags as flag_rules
from resource_pool.bulk import insert_rows
from resource_pool.config import PoolConfig
from resource_pool.matching import (
    ClusterResult,
    MatchProfile,
    cluster,
    match_profile,
    normalise_isbn,
)
from resource_pool.models import (
    Cluster,
    Flag,
    Holding,
    MatchKey,
    Partner,
    Source,
    SourceRecord,
    utcnow,
)

log = logging.getLogger(__name__)

KEY_FANOUT_LIMIT = 1000
"""A key shared by more records than this is too common to follow (a publisher's dummy ISBN)."""

_CHUNK = 500


_PROFILE_FIELDS = tuple(f.name for f in fields(MatchProfile))


def profile_to_json(profile: MatchProfile) -> str:
    """The profile as compact JSON: sets as sorted lists, so equal profiles give equal text."""
    data = {name: _plain(getattr(profile, name)) for name in _PROFILE_FIELDS}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    # What dataclasses.asdict would give, without its deep copy of every value.
    if isinstance(value, frozenset | set):
        return sorted(value)
    if value is None or isinstance(value, str | int | tuple):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


_SET_FIELDS = {f.name for f in fields(MatchProfile) if str(f.type).startswith("frozenset")}


def profile_from_json(text: str) -> MatchProfile:
    data: dict[str, Any] = json.loads(text) if text else {}
    for name in _SET_FIELDS & data.keys():
        data[name] = frozenset(data[name])
    if "parts" in data:
        data["parts"] = tuple(data["parts"])
    return MatchProfile(**data)


def marc_to_json(record: pymarc.Record) -> str:
    """The record as MARC-in-JSON, the form the store keeps (pymarc's `as_dict` layout).

    Written piece by piece: the same text `json.dumps` gives for `as_dict()`
    (compact, not ASCII-escaped), in less than half the time.
    """
    try:
        fields = ",".join(map(_field_json, record.fields))
    except TypeError:
        # A value that is not text (a hand-built record); the general encoder copes.
        return json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":"))
    return f'{{"leader":{_json_text(str(record.leader))},"fields":[{fields}]}}'


def _field_json(field: pymarc.Field) -> str:
    tag = _json_text(field.tag)
    if field.control_field:
        return f"{{{tag}:{_json_or_null(field.data)}}}"
    subfields = ",".join(
        f"{{{_json_text(code)}:{_json_text(value)}}}" for code, value in field.subfields
    )
    first, second = _json_or_null(field.indicator1), _json_or_null(field.indicator2)
    return f'{{{tag}:{{"ind1":{first},"ind2":{second},"subfields":[{subfields}]}}}}'


def _json_or_null(value: str | None) -> str:
    return "null" if value is None else _json_text(value)


def record_from_json(text: str) -> pymarc.Record:
    """Rebuild a pymarc Record from the MARC-in-JSON the store keeps."""
    data = json.loads(text)
    fields = [
        _field_from_json(tag, value)
        for entry in data.get("fields", [])
        for tag, value in entry.items()
    ]
    return pymarc.Record(leader=data.get("leader", " " * 24), fields=fields)


# Builds a Subfield (a named tuple) straight from a (code, value) pair,
# without the Python call named tuples make for each one.
_subfield = tuple.__new__


def _field_from_json(tag: str, value: str | dict[str, Any]) -> pymarc.Field:
    if isinstance(value, str):
        return pymarc.Field(tag=tag, data=value)
    subfields = [
        _subfield(pymarc.Subfield, pair)
        for item in value.get("subfields", [])
        for pair in item.items()
    ]
    indicators = pymarc.Indicators(value.get("ind1", " "), value.get("ind2", " "))
    return pymarc.Field(tag=tag, indicators=indicators, subfields=subfields)


@dataclass
class _Member:
    id: int
    local_id: str
    cluster_id: int | None
    profile: MatchProfile | None
    """None for a deleted record: it leaves its cluster."""
    title: str = ""
    match_reason: str = ""


class Catalogue:
    """Match profiles for new records; clusters and flags for changed ones."""

    def __init__(self, config: PoolConfig, rules: flag_rules.RuleSet | None = None) -> None:
        self.config = config
        self.ignore_isbns = frozenset(
            isbn for text in config.ignore_isbns if (isbn := normalise_isbn(text))
        )
        if rules is None and config.flags_path.exists():
            rules = flag_rules.load_rules(config.flags_path)
        self.rules = rules
        self.special_locations = {p.code: p.special_locations for p in config.partners}

    def profile(self, record: pymarc.Record) -> MatchProfile:
        return match_profile(record, ignore_isbns=self.ignore_isbns)

    def records_changed(
        self,
        session: Session,
        record_ids: set[int],
        records: Mapping[int, pymarc.Record | flag_rules.RecordView] | None = None,
    ) -> set[int]:
        """Recluster around the changed records; return the ids of clusters touched.

        `records` may hold the changed records as the flag rules read them back
        from the store (see `store.stored_view`), which spares parsing their JSON.
        """
        if not record_ids:
            return set()
        members = self._closed_set(session, record_ids)
        live = {m.id: m.profile for m in members.values() if m.profile is not None}
        results = cluster(live)

        touched, altered = self._assign(session, members, results, record_ids)
        self.refresh_flags(session, altered, records)
        return touched

    # Finding the part of the catalogue the change can reach.

    def _closed_set(self, session: Session, record_ids: set[int]) -> dict[int, _Member]:
        members: dict[int, _Member] = {}
        frontier = set(record_ids)
        seen_clusters: set[int] = set()
        while frontier:
            loaded = self._load(session, frontier)
            members.update(loaded)
            keys = self._keys_of(session, set(loaded))
            clusters = {m.cluster_id for m in loaded.values() if m.cluster_id} - seen_clusters
            seen_clusters |= clusters
            neighbours = self._records_sharing(session, keys) | self._cluster_members(
                session, clusters
            )
            frontier = neighbours - members.keys()
        return members

    def _load(self, session: Session, ids: set[int]) -> dict[int, _Member]:
        table = SourceRecord.__table__  # type: ignore[attr-defined]
        loaded = {}
        for chunk in _chunks(sorted(ids)):
            rows = session.execute(
                select(
                    table.c.id,
                    table.c.local_id,
                    table.c.cluster_id,
                    table.c.profile,
                    table.c.deleted,
                    table.c.title,
                    table.c.match_reason,
                ).where(table.c.id.in_(chunk))
            )
            for row in rows:
                profile = None if row.deleted else profile_from_json(row.profile)
                loaded[row.id] = _Member(
                    row.id, row.local_id, row.cluster_id, profile, row.title, row.match_reason
                )
        return loaded

    def _keys_of(self, session: Session, ids: set[int]) -> set[tuple[str, str]]:
        keys: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(ids)):
            rows = session.execute(
                select(col(MatchKey.kind), col(MatchKey.value)).where(
                    col(MatchKey.source_record_id).in_(chunk)
                )
            )
            keys.update((kind, value) for kind, value in rows)
        return keys

    def _records_sharing(self, session: Session, keys: set[tuple[str, str]]) -> set[int]:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, value in keys:
            by_kind[kind].append(value)
        found: set[int] = set()
        for kind, values in by_kind.items():
            for chunk in _chunks(sorted(values)):
                rows = session.execute(
                    select(col(MatchKey.value), col(MatchKey.source_record_id)).where(
                        col(MatchKey.kind) == kind, col(MatchKey.value).in_(chunk)
                    )
                ).all()
                holders: dict[str, list[int]] = defaultdict(list)
                for value, record_id in rows:
                    holders[value].append(record_id)
                for value, ids in holders.items():
                    if len(ids) > KEY_FANOUT_LIMIT:
                        log.warning(
                            "%s %s is shared by %s records; not following it", kind, value, len(ids)
                        )
                        continue
                    found.update(ids)
        return found

    def _cluster_members(self, session: Session, cluster_ids: set[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(sorted(cluster_ids)):
            rows = session.execute(
                select(col(SourceRecord.id)).where(col(SourceRecord.cluster_id).in_(chunk))
            )
            found.update(row[0] for row in rows)
        return found

    # Writing the new clusters back, keeping ids where they carry over.

    def _assign(
        self,
        session: Session,
        members: dict[int, _Member],
        results: list[ClusterResult],
        changed: set[int],
    ) -> tuple[set[int], set[int]]:
        """Store the clusters; return the ids touched, and those whose members or content
        changed (the only ones whose flags can differ)."""
        before = _members_before(members)
        kept = _keep_ids(members, results)
        now = utcnow()
        ids = self._cluster_ids(session, members, results, kept, now)

        self._write_members(session, members, results, ids)
        self._describe_clusters(session, members, results, kept, ids, now)
        emptied = set(before) - set(ids)
        self._retire(session, emptied, now)

        altered = {
            cluster_id
            for cluster_id, result in zip(ids, results, strict=True)
            if before.get(cluster_id) != set(result.members) or changed.intersection(result.members)
        }
        return set(ids) | emptied, altered

    def _cluster_ids(
        self,
        session: Session,
        members: dict[int, _Member],
        results: list[ClusterResult],
        kept: dict[int, int],
        now: Any,
    ) -> list[int]:
        """Each result's cluster id: the one it keeps, else a new cluster, inserted described."""
        fresh = [index for index in range(len(results)) if index not in kept]
        rows = [
            {**_description(members, results[index]), "created": now, "changed_at": now}
            for index in fresh
        ]
        ids = dict(kept)
        if rows:
            table = Cluster.__table__  # type: ignore[attr-defined]
            ids.update(zip(fresh, insert_rows(session, table, rows), strict=True))
        return [ids[index] for index in range(len(results))]

    def _write_members(
        self,
        session: Session,
        members: dict[int, _Member],
        results: list[ClusterResult],
        ids: list[int],
    ) -> None:
        """Set each record's cluster and reason where they differ from what is stored."""
        names = {m.id: m.local_id for m in members.values()}
        rows = []
        for cluster_id, result in zip(ids, results, strict=True):
            reasons = result.describe(lambda record_id: names[record_id])
            for record_id in result.members:
                member = members[record_id]
                if (member.cluster_id, member.match_reason) != (cluster_id, reasons[record_id]):
                    rows.append(
                        {
                            "member": record_id,
                            "cluster_id": cluster_id,
                            "match_reason": reasons[record_id],
                        }
                    )
        rows += [
            {"member": m.id, "cluster_id": None, "match_reason": ""}
            for m in members.values()
            if m.profile is None and m.cluster_id is not None
        ]
        if rows:
            table = SourceRecord.__table__  # type: ignore[attr-defined]
            session.execute(update(table).where(table.c.id == bindparam("member")), rows)

    def _describe_clusters(
        self,
        session: Session,
        members: dict[int, _Member],
        results: list[ClusterResult],
        kept: dict[int, int],
        ids: list[int],
        now: Any,
    ) -> None:
        """Title, year and member count of each kept cluster, from its lowest-id member."""
        rows = [
            {**_description(members, results[index]), "cluster": ids[index], "changed_at": now}
            for index in sorted(kept)
        ]
        if rows:
            table = Cluster.__table__  # type: ignore[attr-defined]
            session.execute(update(table).where(table.c.id == bindparam("cluster")), rows)

    def _retire(self, session: Session, cluster_ids: set[int], now: Any) -> None:
        """A cluster left without members stays as a tombstone, so exports can delete it."""
        for chunk in _chunks(sorted(cluster_ids)):
            session.execute(
                update(Cluster.__table__)  # type: ignore[attr-defined]
                .where(col(Cluster.id).in_(chunk))
                .values(deleted=True, members=0, changed_at=now)
            )
            session.execute(delete(Flag).where(col(Flag.cluster_id).in_(chunk)))

    # Flags.

    def refresh_flags(
        self,
        session: Session,
        cluster_ids: Iterable[int],
        records: Mapping[int, pymarc.Record | flag_rules.RecordView] | None = None,
    ) -> dict[int, set[str]]:
        """Evaluate the rules again for these clusters; return each one's flags.

        `records` may hold members' MARC by record id, as stored; the rest is
        read from the store.
        """
        result: dict[int, set[str]] = {}
        if self.rules is None:
            return result
        for chunk in _chunks(sorted(cluster_ids)):
            found = self.flag_hits(session, chunk, records)
            session.execute(delete(Flag).where(col(Flag.cluster_id).in_(chunk)))
            rows = []
            for cluster_id in chunk:
                hits = found.get(cluster_id, [])
                result[cluster_id] = flag_rules.flags_of(hits)
                rows += flag_rows(cluster_id, hits)
            if rows:
                session.execute(insert(Flag.__table__), rows)  # type: ignore[attr-defined]
        return result

    def flag_hits(
        self,
        session: Session,
        cluster_ids: list[int],
        records: Mapping[int, pymarc.Record | flag_rules.RecordView] | None = None,
    ) -> dict[int, list[flag_rules.FlagHit]]:
        """The rules' hits on these clusters, read from the store; clusters with none are left out.

        Members are read as views of their stored MARC-in-JSON holding only
        the tags the rules read, so no pymarc object is built.
        """
        if self.rules is None:
            return {}
        hits: dict[int, list[flag_rules.FlagHit]] = {}
        for chunk in _chunks(cluster_ids):
            contexts = self._flag_contexts(session, chunk, records or {}, self.rules.tags)
            for cluster_id, context in contexts.items():
                found = flag_rules.evaluate(self.rules, context)
                if found:
                    hits[cluster_id] = found
        return hits

    def _flag_contexts(
        self,
        session: Session,
        cluster_ids: list[int],
        records: Mapping[int, pymarc.Record | flag_rules.RecordView],
        tags: frozenset[str] | None,
    ) -> dict[int, flag_rules.FlagContext]:
        sources = self._source_partners(session)
        members: dict[int, list[flag_rules.Member]] = defaultdict(list)
        # Deleted members are skipped here rather than in SQL: given both
        # conditions, SQLite walks the index of every live record instead of
        # the cluster index. Members go in id order, since a rule's evidence
        # comes from the first member that satisfies it.
        listed = session.execute(
            select(
                col(SourceRecord.cluster_id),
                col(SourceRecord.id),
                col(SourceRecord.deleted),
                col(SourceRecord.source_id),
            ).where(col(SourceRecord.cluster_id).in_(cluster_ids))
        ).all()
        # The stored MARC is read only for members the caller has no view of.
        wanted = [row[1] for row in listed if not row[2] and row[1] not in records]
        stored = self._stored_marc(session, wanted)
        for cluster_id, record_id, deleted, source_id in sorted(listed, key=_by_id):
            if deleted or source_id not in sources:
                continue
            record = records.get(record_id)
            if record is None:
                record = flag_rules.view_from_json(stored[record_id], tags)
            kind, partner = sources[source_id]
            members[cluster_id].append(flag_rules.Member(record, kind, partner))
        holdings: dict[int, list[flag_rules.Holding]] = defaultdict(list)
        rows = session.execute(
            select(
                col(SourceRecord.cluster_id),
                col(Partner.code),
                col(Holding.location),
                col(Holding.collection),
            )
            .join(SourceRecord, col(SourceRecord.id) == col(Holding.source_record_id))
            .join(Partner, col(Partner.id) == col(Holding.partner_id))
            .where(col(SourceRecord.cluster_id).in_(cluster_ids))
        )
        for cluster_id, partner, location, collection in rows:
            holdings[cluster_id].append(flag_rules.Holding(partner, location, collection))
        return {
            cluster_id: flag_rules.FlagContext(
                members=members[cluster_id],
                holdings=holdings[cluster_id],
                special_locations=self.special_locations,
            )
            for cluster_id in cluster_ids
            if members.get(cluster_id)
        }

    def _stored_marc(self, session: Session, record_ids: list[int]) -> dict[int, str]:
        stored: dict[int, str] = {}
        for chunk in _chunks(record_ids):
            rows = session.execute(
                select(col(SourceRecord.id), col(SourceRecord.marc)).where(
                    col(SourceRecord.id).in_(chunk)
                )
            )
            stored.update((record_id, marc) for record_id, marc in rows)
        return stored

    def _source_partners(self, session: Session) -> dict[int, tuple[str, str]]:
        """Each source's kind and partner code: a few rows, read instead of a join per record."""
        rows = session.execute(
            select(col(Source.id), col(Source.kind), col(Partner.code)).join(
                Partner, col(Partner.id) == col(Source.partner_id)
            )
        )
        return {source_id: (kind, partner) for source_id, kind, partner in rows}


def flag_rows(cluster_id: int, hits: Iterable[flag_rules.FlagHit]) -> list[dict[str, Any]]:
    """The flag table's rows for a cluster's hits, evidence as `pool catalog show` prints it."""
    return [
        {
            "cluster_id": cluster_id,
            "flag": hit.flag,
            "rule": hit.rule,
            "evidence": "; ".join(str(item) for item in hit.evidence)[:2000],
        }
        for hit in hits
    ]


def _by_id(row: Any) -> int:
    return int(row[1])


def _members_before(members: Mapping[int, _Member]) -> dict[int, set[int]]:
    """Each old cluster's members; the closed set holds all of them."""
    before: dict[int, set[int]] = defaultdict(set)
    for member in members.values():
        if member.cluster_id is not None:
            before[member.cluster_id].add(member.id)
    return before


def _description(members: Mapping[int, _Member], result: ClusterResult) -> dict[str, Any]:
    """A cluster's title and year, from its lowest-id member, and its size."""
    first = members[result.members[0]]
    year = first.profile.year if first.profile else None
    return {
        "title": first.title[:500],
        "year": str(year) if year else None,
        "members": len(result.members),
        "deleted": False,
    }


def _keep_ids(members: Mapping[int, _Member], results: list[ClusterResult]) -> dict[int, int]:
    """Which new cluster keeps which old id (by index into `results`).

    Old ids are handed out oldest first, each to the new cluster holding most
    of its members: so the largest part of a split keeps the id, and when
    clusters merge the older id survives. An id nobody takes is retired.
    """
    shares: dict[int, Counter[int]] = defaultdict(Counter)
    for index, result in enumerate(results):
        for member in result.members:
            old = members[member].cluster_id
            if old is not None:
                shares[old][index] += 1
    kept: dict[int, int] = {}
    for old in sorted(shares):
        ranked = sorted(shares[old].items(), key=lambda item: (-item[1], item[0]))
        for index, _ in ranked:
            if index not in kept:
                kept[index] = old
                break
    return kept


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
