"""`pool harvest` end to end: the real CLI, a real database, real MARC files."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pymarc
import pytest

from tests.crash import database_of, harvest_killed_after, stored_records
from tests.runpool import pool, pool_json, write_config

pytestmark = pytest.mark.database

NLNZ = "github-carpentries-pymarc_basics/NLNZ_1000_example_marc.marc"


def one_source(folder: Path, path: str, page_size: int = 1000) -> Path:
    partners = f"""
[[partners]]
code = "NLNZ"
name = "National Library of New Zealand"
kind = "network"

[[partners.sources]]
name = "nlnz-books"
kind = "marc"
path = "{path}"
"""
    pool_toml = (
        f'[pool]\nname = "T"\ncode = "T"\ndatabase = "pool.sqlite"\n'
        f"[harvest]\npage_size = {page_size}\n"
    )
    return write_config(folder, partners, pool_toml)


def test_nlnz_twice_adds_1001_then_nothing(
    corpora: Path, tmp_path: Path, database_url: str
) -> None:
    """A second harvest of an unchanged file adds and updates nothing, on SQLite and PostgreSQL."""
    config = one_source(tmp_path, str(corpora / NLNZ))
    first = pool_json("harvest", "--all", config=config, db=database_url)
    assert (first[0]["status"], first[0]["added"], first[0]["rejected"]) == ("ok", 1001, 0)
    second = pool_json("harvest", "nlnz-books", config=config, db=database_url)
    assert (second[0]["added"], second[0]["updated"], second[0]["unchanged"]) == (0, 0, 1001)
    stats = pool_json("catalog", "stats", config=config, db=database_url)
    assert stats["records"] == 1001 and stats["holdings"] >= 1001 and stats["rejected"] == 0
    assert set(stats) >= {"records", "clusters", "holdings", "rejected", "flags"}
    assert set(stats["flags"]) >= {"rare", "online-course"}
    runs = pool_json("runs", config=config, db=database_url)
    assert [r["status"] for r in runs] == ["ok", "ok"] and runs[0]["unchanged"] == 1001


def write_records(path: Path, records: list[pymarc.Record]) -> None:
    with path.open("wb") as handle:
        for record in records:
            handle.write(record.as_marc())


def read_corpus(corpora: Path) -> list[pymarc.Record]:
    with (corpora / NLNZ).open("rb") as handle:
        return [r for r in pymarc.MARCReader(handle, to_unicode=True, force_utf8=True) if r]


def test_changes_and_deletions_in_a_new_delivery(
    corpora: Path, tmp_path: Path, database_url: str
) -> None:
    """A changed record counts as updated; a record gone from the files is marked deleted."""
    records = read_corpus(corpora)[:50]
    data = tmp_path / "data"
    data.mkdir()
    write_records(data / "a.mrc", records[:30])
    write_records(data / "b.mrc", records[30:])
    config = one_source(tmp_path / "config", str(data / "*.mrc"))
    assert pool_json("harvest", "--all", config=config, db=database_url)[0]["added"] == 50

    records[0]["245"]["a"] = "A changed title :"
    write_records(data / "a.mrc", records[:29])
    summary = pool_json("harvest", "--all", config=config, db=database_url)[0]
    assert (summary["added"], summary["updated"], summary["unchanged"], summary["deleted"]) == (
        0,
        1,
        48,
        1,
    )
    stats = pool_json("catalog", "stats", config=config, db=database_url)
    assert stats["records"] == 49


def test_shrunken_delivery_fails_until_forced(corpora: Path, tmp_path: Path) -> None:
    """A delivery far smaller than what is stored deletes nothing, fails, and --force overrides."""
    records = read_corpus(corpora)[:40]
    data = tmp_path / "data"
    data.mkdir()
    write_records(data / "all.mrc", records)
    config = one_source(tmp_path / "config", str(data / "*.mrc"))
    assert pool("harvest", "--all", config=config).returncode == 0

    write_records(data / "all.mrc", records[:5])
    refused = pool("harvest", "--all", config=config)
    assert refused.returncode == 1
    assert "held 5 records, far fewer than the 40 stored" in refused.stderr
    assert pool_json("catalog", "stats", config=config)["records"] == 40

    forced = pool_json("harvest", "--all", "--force", config=config)[0]
    assert forced["deleted"] == 35
    assert pool_json("catalog", "stats", config=config)["records"] == 5


def test_same_id_different_records_are_both_kept(tmp_path: Path, corpora: Path) -> None:
    """Two different records sharing a 001 in one delivery are both stored, every run alike."""
    records = read_corpus(corpora)[:3]
    records[1]["001"].data = records[0]["001"].data
    data = tmp_path / "dup.mrc"
    write_records(data, records)
    config = one_source(tmp_path / "config", str(data), page_size=1)
    assert pool_json("harvest", "--all", config=config)[0]["added"] == 3
    again = pool_json("harvest", "--all", config=config)[0]
    assert (again["added"], again["unchanged"], again["deleted"]) == (0, 3, 0)


def test_rejects_are_listed_with_file_position_and_reason(corpora: Path, tmp_path: Path) -> None:
    """Bad records go to the reject list with where they were and why; the rest load."""
    path = corpora / "github-marc4j/test/resources/pride-and-prejudice-with-many-errors.mrc"
    config = one_source(tmp_path, str(path))
    summary = pool_json("harvest", "--all", config=config)[0]
    # 367 records read; 18 of them repeat an earlier record byte for byte.
    assert (summary["added"], summary["rejected"]) == (349, 16)
    rejects = pool_json("rejects", config=config)
    assert len(rejects) == 16
    assert all(r["position"].startswith("byte ") and "directory" in r["reason"] for r in rejects)
    assert all(r["location"].endswith("pride-and-prejudice-with-many-errors.mrc") for r in rejects)
    assert pool_json("harvest", "--all", config=config)[0]["rejected"] == 16
    assert len(pool_json("rejects", config=config)) == 16


def test_failed_source_exits_1_and_others_still_run(corpora: Path, tmp_path: Path) -> None:
    """A source whose files are missing fails with exit 1; the other source is harvested."""
    partners = f"""
[[partners]]
code = "A"
name = "A"
[[partners.sources]]
name = "missing"
kind = "marc"
path = "nowhere/*.mrc"
[[partners.sources]]
name = "present"
kind = "marc"
path = "{corpora / NLNZ}"
"""
    config = write_config(tmp_path, partners)
    result = pool("--json", "harvest", "--all", config=config)
    assert result.returncode == 1
    summaries = {s["source"]: s for s in json.loads(result.stdout)}
    assert summaries["missing"]["status"] == "failed"
    assert "no file matches path 'nowhere/*.mrc'" in summaries["missing"]["error"]
    assert summaries["present"]["added"] == 1001


def test_unknown_source_name_exits_2(tmp_path: Path, corpora: Path) -> None:
    """Naming a source that is not configured is a usage error naming the known ones."""
    config = one_source(tmp_path, str(corpora / NLNZ))
    result = pool("harvest", "tbl-bukus", config=config)
    assert result.returncode == 2
    assert "no source named 'tbl-bukus'" in result.stderr and "nlnz-books" in result.stderr


def big_file(corpora: Path, path: Path, copies: int) -> None:
    """`copies` times the NLNZ records, each copy with its own 001s."""
    records = read_corpus(corpora)
    with path.open("wb") as handle:
        for copy in range(copies):
            for record in records:
                record["001"].data = f"{copy}-{record['001'].data}"
                handle.write(record.as_marc())
                record["001"].data = record["001"].data.split("-", 1)[1]


@pytest.mark.slow
def test_sigkill_mid_harvest_then_rerun_equals_uninterrupted(corpora: Path, tmp_path: Path) -> None:
    """Killing `pool harvest` at random pages, then rerunning, gives the uninterrupted catalogue."""
    data = tmp_path / "big.mrc"
    big_file(corpora, data, copies=3)
    reference = one_source(tmp_path / "reference", str(data), page_size=100)
    assert pool("harvest", "--all", config=reference).returncode == 0
    expected = stored_records(database_of(reference))
    assert len(expected) == 3003

    # 31 pages: a kill after at most 15 leaves more than a thousand records to go.
    chance = random.Random(20261203)
    for trial in range(3):
        config = one_source(tmp_path / f"trial{trial}", str(data), page_size=100)
        harvest_killed_after(config, pages=chance.randint(1, 15))
        partial = stored_records(database_of(config))
        assert len(partial) < len(expected), f"trial {trial}: the harvest finished before the kill"

        rerun = pool_json("harvest", "--all", config=config)[0]
        assert rerun["status"] == "ok"
        assert stored_records(database_of(config)) == expected
        shutil.rmtree(config)
