"""One cluster as a librarian reads it: members and why, holdings, flags and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from harvesters.errors import StepRefused
from resource_pool.db import session_scope
from resource_pool.models import Cluster, Flag, Holding, Partner, Source, SourceRecord


def display_title(title: str) -> str:
    """A title without the ISBD punctuation that ends 245 $a (" /", " :", " ;", ".")."""
    return title.rstrip(" /:;,=.").strip() or title


def show_cluster(engine: Engine, ident: str) -> dict[str, Any]:
    """The cluster with this union id, or the one holding this local id (e.g. TBL:1234)."""
    with session_scope(engine, read_only=True) as session:
        cluster_id = _resolve(session, ident)
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:
            raise StepRefused(f"no cluster with id {ident!r}; find one with `pool catalog search`")
        members = session.execute(
            select(SourceRecord, col(Source.name), col(Partner.code))
            .join(Source, col(Source.id) == col(SourceRecord.source_id))
            .join(Partner, col(Partner.id) == col(Source.partner_id))
            .where(col(SourceRecord.cluster_id) == cluster_id)
            .order_by(col(SourceRecord.id))
        ).all()
        holdings = session.execute(
            select(Holding, col(Partner.code), col(SourceRecord.local_id))
            .join(SourceRecord, col(SourceRecord.id) == col(Holding.source_record_id))
            .join(Partner, col(Partner.id) == col(Holding.partner_id))
            .where(col(SourceRecord.cluster_id) == cluster_id)
            .order_by(col(Partner.code), col(Holding.id))
        ).all()
        flags = session.execute(
            select(Flag).where(col(Flag.cluster_id) == cluster_id).order_by(col(Flag.flag))
        ).scalars()
        return {
            "id": cluster.id,
            "title": display_title(cluster.title),
            "year": cluster.year,
            "deleted": cluster.deleted,
            "members": [
                {
                    "source": source,
                    "partner": partner,
                    "local_id": record.local_id,
                    "title": display_title(record.title),
                    "why": record.match_reason,
                }
                for record, source, partner in members
            ],
            "holdings": [
                {
                    "partner": partner,
                    "location": holding.location,
                    "call_number": holding.call_number,
                    "barcode": holding.barcode,
                    "lendable": holding.lendable,
                    "record": local_id,
                }
                for holding, partner, local_id in holdings
            ],
            "flags": [{"flag": f.flag, "rule": f.rule, "evidence": f.evidence} for f in flags],
        }


def _resolve(session: Any, ident: str) -> int:
    if ident.isdigit():
        return int(ident)
    found = session.execute(
        select(col(SourceRecord.cluster_id)).where(col(SourceRecord.local_id) == ident)
    ).scalar()
    if found is None:
        raise StepRefused(
            f"{ident!r} is neither a union id nor the local id of a record in a cluster"
        )
    return int(found)
