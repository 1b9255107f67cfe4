"""A fingerprint of a pool's content, so that two runs of the benchmark can be compared.

Cluster ids and times differ from run to run; what must not differ is which
records were stored and how (MARC, match profile, holdings, keys), which were
rejected, how records group into clusters, why each is in its cluster, and
which flags each cluster carries with what evidence. Each of those becomes a
count and a SHA-1 over a canonical listing.

    python -m benchmarks.bench_pool sqlite:////tmp/pool.sqlite    prints the JSON

It runs as a child process: reading a whole pool would otherwise raise the
measuring process's peak memory, which every later child inherits in wait4's
figure.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any


def pool_fingerprint(url: str) -> dict[str, Any]:
    """Counts and digests of an SQLite pool's records, rejects, clusters and flags."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        found = _records(connection)
        found.update(_clusters(connection))
        found.update(_flags(connection))
    return found


def _digest(lines: Iterable[str]) -> str:
    digest = hashlib.sha1()
    for line in lines:
        digest.update(line.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def _records(connection: sqlite3.Connection) -> dict[str, Any]:
    records = connection.execute(
        "SELECT local_id, content_hash, marc, profile, title FROM source_record "
        "WHERE NOT deleted ORDER BY local_id"
    )
    reasons = connection.execute(
        "SELECT local_id, match_reason FROM source_record WHERE NOT deleted ORDER BY local_id"
    ).fetchall()
    rejects = connection.execute(
        "SELECT position, reason FROM rejected_record ORDER BY position, reason"
    ).fetchall()
    holdings = connection.execute(
        "SELECT r.local_id, h.location, h.call_number, h.barcode, h.collection, h.lendable "
        "FROM holding h JOIN source_record r ON r.id = h.source_record_id "
        "ORDER BY 1, 2, 3, 4, 5, 6"
    ).fetchall()
    keys = connection.execute(
        "SELECT r.local_id, k.kind, k.value FROM match_key k "
        "JOIN source_record r ON r.id = k.source_record_id ORDER BY 1, 2, 3"
    ).fetchall()
    return {
        "records": len(reasons),
        "records_digest": _digest("\t".join(row) for row in records),
        "match_reasons_digest": _digest("\t".join(row) for row in reasons),
        "rejected": len(rejects),
        "rejected_digest": _digest("\t".join(row) for row in rejects),
        "holdings": len(holdings),
        "holdings_digest": _digest("\t".join(map(str, row)) for row in holdings),
        "match_keys": len(keys),
        "match_keys_digest": _digest("\t".join(row) for row in keys),
    }


def _members(connection: sqlite3.Connection) -> dict[int, list[str]]:
    members: dict[int, list[str]] = defaultdict(list)
    rows = connection.execute(
        "SELECT cluster_id, local_id FROM source_record "
        "WHERE NOT deleted AND cluster_id IS NOT NULL ORDER BY local_id"
    )
    for cluster_id, local_id in rows:
        members[cluster_id].append(local_id)
    return members


def _clusters(connection: sqlite3.Connection) -> dict[str, Any]:
    members = _members(connection)
    described = connection.execute(
        "SELECT id, title, year, members FROM cluster WHERE NOT deleted"
    ).fetchall()
    listing = sorted(
        f"{' '.join(members[cid])}\t{title}\t{year}\t{count}"
        for cid, title, year, count in described
    )
    return {
        "clusters": len(described),
        "clusters_with_several_members": sum(1 for ids in members.values() if len(ids) > 1),
        "clusters_digest": _digest(listing),
    }


def _flags(connection: sqlite3.Connection) -> dict[str, Any]:
    members = _members(connection)
    rows = connection.execute("SELECT cluster_id, flag, rule, evidence FROM flag").fetchall()
    listing = sorted(
        f"{members[cid][0] if members[cid] else '-'}\t{f}\t{r}\t{e}" for cid, f, r, e in rows
    )
    return {
        "flags": dict(sorted(Counter(row[1] for row in rows).items())),
        "flags_digest": _digest(listing),
    }


if __name__ == "__main__":
    print(json.dumps(pool_fingerprint(sys.argv[1])))
