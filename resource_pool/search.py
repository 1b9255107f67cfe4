"""Find clusters by title, author, subject, publisher or ISBN.

The index is brought up to date when someone searches: clusters changed
since the last search are indexed again from their members' MARC. That
keeps harvesting free of search work, and costs a search only what changed.
SQLite uses FTS5; PostgreSQL a tsvector under the 'simple' configuration.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Engine, bindparam, text
from sqlalchemy.orm import Session

from resource_pool.catalog_view import display_title
from resource_pool.catalogue import record_from_json
from resource_pool.db import session_scope
from resource_pool.matching import normalise_isbn
from resource_pool.models import utcnow

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
_ISBN_LIKE = re.compile(r"^[0-9Xx -]{10,17}$")
_BATCH = 500

# What a librarian searches by: titles, names, subjects, publishers, series, ISBNs.
_SEARCHED = {
    "245": "abnp",
    "246": "ab",
    "130": "a",
    "240": "a",
    "100": "a",
    "110": "a",
    "111": "a",
    "700": "a",
    "710": "a",
    "720": "a",
    "600": "a",
    "610": "a",
    "650": "ax",
    "651": "a",
    "653": "a",
    "655": "a",
    "260": "b",
    "264": "b",
    "490": "a",
    "020": "a",
}


def refresh_index(engine: Engine) -> int:
    """Index the clusters changed since the last refresh; return how many."""
    with session_scope(engine) as session:
        since = session.execute(text("SELECT indexed_until FROM search_mark WHERE id = 1")).scalar()
        started = utcnow()
        changed = _changed_clusters(session, since)
        for start in range(0, len(changed), _BATCH):
            _index_batch(session, changed[start : start + _BATCH])
        _set_mark(session, since, started)
    if changed:
        log.info("search index: %s clusters indexed", len(changed))
    return len(changed)


def _changed_clusters(session: Session, since: datetime | None) -> list[int]:
    query = "SELECT id FROM cluster"
    params: dict[str, Any] = {}
    if since is not None:
        query += " WHERE changed_at >= :since"
        params["since"] = since
    return [row[0] for row in session.execute(text(query + " ORDER BY id"), params)]


def _set_mark(session: Session, since: datetime | None, started: datetime) -> None:
    if since is None:
        session.execute(text("DELETE FROM search_mark"))
        session.execute(
            text("INSERT INTO search_mark (id, indexed_until) VALUES (1, :at)"), {"at": started}
        )
    else:
        session.execute(text("UPDATE search_mark SET indexed_until = :at"), {"at": started})


def _index_batch(session: Session, cluster_ids: list[int]) -> None:
    documents: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        text(
            "SELECT r.cluster_id, r.marc FROM source_record r JOIN cluster c ON c.id = r.cluster_id"
            " WHERE r.cluster_id IN :ids AND r.deleted = :no AND c.deleted = :no"
        ).bindparams(_expanding("ids")),
        {"ids": cluster_ids, "no": False},
    )
    for cluster_id, marc in rows:
        documents[cluster_id].append(_searchable_text(marc))
    postgres = session.get_bind().dialect.name == "postgresql"
    table = "search_entry" if postgres else "search_fts"
    key = "cluster_id" if postgres else "rowid"
    session.execute(
        text(f"DELETE FROM {table} WHERE {key} IN :ids").bindparams(_expanding("ids")),
        {"ids": cluster_ids},
    )
    rows_to_write = [{"id": cid, "text": " ".join(parts)} for cid, parts in documents.items()]
    if not rows_to_write:
        return
    if postgres:
        statement = "INSERT INTO search_entry VALUES (:id, to_tsvector('simple', :text))"
    else:
        statement = "INSERT INTO search_fts (rowid, text) VALUES (:id, :text)"
    session.execute(text(statement), rows_to_write)


def _searchable_text(marc: str) -> str:
    record = record_from_json(marc)
    words = []
    for tag, codes in _SEARCHED.items():
        for field in record.get_fields(tag):
            words += [value for value in field.get_subfields(*codes)]
            if tag == "020":
                words += [
                    isbn for value in field.get_subfields("a") if (isbn := normalise_isbn(value))
                ]
    return " ".join(words)


def _expanding(name: str) -> BindParameter[Any]:
    return bindparam(name, expanding=True)


def search(
    engine: Engine,
    query: str,
    *,
    flag: str | None = None,
    held_by: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Clusters matching every word of `query` (or the ISBN it is), newest change first."""
    refresh_index(engine)
    with session_scope(engine, read_only=True) as session:
        ids = _matching_ids(session, query)
        ids = _filtered(session, ids, flag, held_by)[:limit]
        return _describe(session, ids)


def _matching_ids(session: Session, query: str) -> list[int]:
    if _ISBN_LIKE.match(query.strip()) and (isbn := normalise_isbn(query)):
        rows = session.execute(
            text(
                "SELECT DISTINCT r.cluster_id FROM match_key k"
                " JOIN source_record r ON r.id = k.source_record_id"
                " WHERE k.kind = 'isbn' AND k.value = :isbn AND r.cluster_id IS NOT NULL"
            ),
            {"isbn": isbn},
        )
        return sorted(row[0] for row in rows)
    words = _WORD.findall(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement = (
            "SELECT cluster_id FROM search_entry"
            " WHERE document @@ plainto_tsquery('simple', :query) ORDER BY cluster_id"
        )
        return [row[0] for row in session.execute(text(statement), {"query": " ".join(words)})]
    # Each word quoted: FTS5 then reads it as a plain term, never as query syntax.
    fts_query = " ".join('"' + word.replace('"', "") + '"' for word in words)
    statement = "SELECT rowid FROM search_fts WHERE search_fts MATCH :query ORDER BY rowid"
    return [row[0] for row in session.execute(text(statement), {"query": fts_query})]


def _filtered(session: Session, ids: list[int], flag: str | None, held_by: str | None) -> list[int]:
    if not ids or (flag is None and held_by is None):
        return ids
    keep = set(ids)
    if flag is not None:
        rows = session.execute(
            text(
                "SELECT DISTINCT cluster_id FROM flag WHERE flag = :flag AND cluster_id IN :ids"
            ).bindparams(_expanding("ids")),
            {"flag": flag, "ids": ids},
        )
        keep &= {row[0] for row in rows}
    if held_by is not None:
        rows = session.execute(
            text(
                "SELECT DISTINCT r.cluster_id FROM holding h"
                " JOIN source_record r ON r.id = h.source_record_id"
                " JOIN partner p ON p.id = h.partner_id"
                " WHERE p.code = :code AND r.cluster_id IN :ids"
            ).bindparams(_expanding("ids")),
            {"code": held_by, "ids": ids},
        )
        keep &= {row[0] for row in rows}
    return [cluster_id for cluster_id in ids if cluster_id in keep]


def _describe(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    clusters = session.execute(
        text("SELECT id, title, year, members FROM cluster WHERE id IN :ids").bindparams(
            _expanding("ids")
        ),
        {"ids": ids},
    ).all()
    holders: dict[int, set[str]] = defaultdict(set)
    for cluster_id, code in session.execute(
        text(
            "SELECT r.cluster_id, p.code FROM holding h"
            " JOIN source_record r ON r.id = h.source_record_id"
            " JOIN partner p ON p.id = h.partner_id WHERE r.cluster_id IN :ids"
        ).bindparams(_expanding("ids")),
        {"ids": ids},
    ):
        holders[cluster_id].add(code)
    flags: dict[int, set[str]] = defaultdict(set)
    for cluster_id, name in session.execute(
        text("SELECT cluster_id, flag FROM flag WHERE cluster_id IN :ids").bindparams(
            _expanding("ids")
        ),
        {"ids": ids},
    ):
        flags[cluster_id].add(name)
    return [
        {
            "id": cluster_id,
            "title": display_title(title),
            "year": year,
            "members": members,
            "held_by": sorted(holders[cluster_id]),
            "flags": sorted(flags[cluster_id]),
        }
        for cluster_id, title, year, members in sorted(clusters)
    ]
