"""Keep clusters and flags current as source records change.

After a page is stored, the records it changed are matched again together
with every record they share a key with, and every record that was in their
old clusters: that closed set is the only part of the catalogue whose
clustering can change. Its clusters are recomputed from the stored match
profiles (no MARC is parsed for matching), cluster ids are kept where the
membership mostly carries over, and the flags of every touched cluster are
evaluated again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import pymarc
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session, col

from resource_pool import flags as flag_rules
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


def profile_to_json(profile: MatchProfile) -> str:
    data = {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in asdict(profile).items()
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


_SET_FIELDS = {f.name for f in fields(MatchProfile) if str(f.type).startswith("frozenset")}


def profile_from_json(text: str) -> MatchProfile:
    data: dict[str, Any] = json.loads(text) if text else {}
    for name in _SET_FIELDS & data.keys():
        data[name] = frozenset(data[name])
    if "parts" in data:
        data["parts"] = tuple(data["parts"])
    return MatchProfile(**data)


def record_from_json(text: str) -> pymarc.Record:
    """Rebuild a pymarc Record from the MARC-in-JSON the store keeps."""
    data = json.loads(text)
    record = pymarc.Record(leader=data.get("leader", " " * 24))
    for entry in data.get("fields", []):
        for tag, value in entry.items():
            if isinstance(value, str):
                record.add_field(pymarc.Field(tag=tag, data=value))
                continue
            subfields = [
                pymarc.Subfield(code, text)
                for item in value.get("subfields", [])
                for code, text in item.items()
            ]
            indicators = pymarc.Indicators(value.get("ind1", " "), value.get("ind2", " "))
            record.add_field(pymarc.Field(tag=tag, indicators=indicators, subfields=subfields))
    return record


@dataclass
class _Member:
    id: int
    local_id: str
    cluster_id: int | None
    profile: MatchProfile


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

    def records_changed(self, session: Session, record_ids: set[int]) -> set[int]:
        """Recluster around the changed records; return the ids of clusters touched."""
        if not record_ids:
            return set()
        members = self._closed_set(session, record_ids)
        live = {m.id: m.profile for m in members.values() if m.profile is not None}
        results = cluster(live)
        touched = self._assign(session, members, results)
        self.refresh_flags(session, touched)
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
                ).where(table.c.id.in_(chunk))
            )
            for row in rows:
                profile = None if row.deleted else profile_from_json(row.profile)
                loaded[row.id] = _Member(row.id, row.local_id, row.cluster_id, profile)  # type: ignore[arg-type]
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
        self, session: Session, members: dict[int, _Member], results: list[ClusterResult]
    ) -> set[int]:
        old_ids = {m.cluster_id for m in members.values() if m.cluster_id is not None}
        kept = _keep_ids(members, results)
        now = utcnow()
        touched: set[int] = set()
        names = {m.id: m.local_id for m in members.values()}
        for index, result in enumerate(results):
            cluster_id = kept.get(index)
            if cluster_id is None:
                cluster_id = self._new_cluster(session, now)
            touched.add(cluster_id)
            reasons = result.describe(lambda record_id: names[record_id])
            for record_id in result.members:
                session.execute(
                    update(SourceRecord.__table__)  # type: ignore[attr-defined]
                    .where(col(SourceRecord.id) == record_id)
                    .values(cluster_id=cluster_id, match_reason=reasons[record_id])
                )
        gone = [m.id for m in members.values() if m.profile is None and m.cluster_id is not None]
        for chunk in _chunks(gone):
            session.execute(
                update(SourceRecord.__table__)  # type: ignore[attr-defined]
                .where(col(SourceRecord.id).in_(chunk))
                .values(cluster_id=None, match_reason="")
            )
        emptied = old_ids - touched
        self._retire(session, emptied, now)
        self._describe_clusters(session, touched, now)
        return touched | emptied

    def _new_cluster(self, session: Session, now: Any) -> int:
        table = Cluster.__table__  # type: ignore[attr-defined]
        result = session.execute(
            insert(table).values(created=now, changed_at=now).returning(table.c.id)
        )
        return int(result.scalar_one())

    def _retire(self, session: Session, cluster_ids: set[int], now: Any) -> None:
        """A cluster left without members stays as a tombstone, so exports can delete it."""
        for chunk in _chunks(sorted(cluster_ids)):
            session.execute(
                update(Cluster.__table__)  # type: ignore[attr-defined]
                .where(col(Cluster.id).in_(chunk))
                .values(deleted=True, members=0, changed_at=now)
            )
            session.execute(delete(Flag).where(col(Flag.cluster_id).in_(chunk)))

    def _describe_clusters(self, session: Session, cluster_ids: set[int], now: Any) -> None:
        """Title, year and member count of each cluster, from its lowest-id member."""
        for cluster_id in sorted(cluster_ids):
            rows = session.execute(
                select(col(SourceRecord.title), col(SourceRecord.profile))
                .where(col(SourceRecord.cluster_id) == cluster_id)
                .order_by(col(SourceRecord.id))
            ).all()
            if not rows:
                continue
            year = profile_from_json(rows[0][1]).year
            session.execute(
                update(Cluster.__table__)  # type: ignore[attr-defined]
                .where(col(Cluster.id) == cluster_id)
                .values(
                    title=rows[0][0][:500],
                    year=str(year) if year else None,
                    members=len(rows),
                    deleted=False,
                    changed_at=now,
                )
            )

    # Flags.

    def refresh_flags(self, session: Session, cluster_ids: Iterable[int]) -> dict[int, set[str]]:
        """Evaluate the rules again for these clusters; return each one's flags."""
        result: dict[int, set[str]] = {}
        if self.rules is None:
            return result
        ids = sorted(cluster_ids)
        for chunk in _chunks(ids):
            contexts = self._flag_contexts(session, chunk)
            session.execute(delete(Flag).where(col(Flag.cluster_id).in_(chunk)))
            rows = []
            for cluster_id in chunk:
                context = contexts.get(cluster_id)
                hits = flag_rules.evaluate(self.rules, context) if context else []
                result[cluster_id] = {hit.flag for hit in hits}
                rows += [
                    {
                        "cluster_id": cluster_id,
                        "flag": hit.flag,
                        "rule": hit.rule,
                        "evidence": "; ".join(str(item) for item in hit.evidence)[:2000],
                    }
                    for hit in hits
                ]
            if rows:
                session.execute(insert(Flag.__table__), rows)  # type: ignore[attr-defined]
        return result

    def _flag_contexts(
        self, session: Session, cluster_ids: list[int]
    ) -> dict[int, flag_rules.FlagContext]:
        members: dict[int, list[flag_rules.Member]] = defaultdict(list)
        rows = session.execute(
            select(
                col(SourceRecord.cluster_id),
                col(SourceRecord.marc),
                col(Source.kind),
                col(Partner.code),
            )
            .join(Source, col(Source.id) == col(SourceRecord.source_id))
            .join(Partner, col(Partner.id) == col(Source.partner_id))
            .where(
                col(SourceRecord.cluster_id).in_(cluster_ids), col(SourceRecord.deleted).is_(False)
            )
        )
        for cluster_id, marc, kind, partner in rows:
            members[cluster_id].append(flag_rules.Member(record_from_json(marc), kind, partner))
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
