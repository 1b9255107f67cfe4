"""The faster paths give what the plain ones give: pages read in a second process,
exports and flag batches built by worker processes, seen marks in their own table."""

from __future__ import annotations

import dataclasses
import functools
import marshal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col

from harvesters.errors import SourceError
from harvesters.marc import MarcFileHarvester
from harvesters.records import Page
from resource_pool.db import create_pool_engine
from resource_pool.export import MarcWriter, RecordLayout, _Plan, _read_and_encode
from resource_pool.export_workers import batch_outputs
from resource_pool.flags import load_rules
from resource_pool.matching import match_profile
from resource_pool.models import Cluster
from resource_pool.reading import _packed, _unpacked, prepared_pages
from resource_pool.store import prepare_record
from tests.crash import database_of
from tests.runpool import ROOT, pool_json, write_config

NLNZ = "github-carpentries-pymarc_basics/NLNZ_1000_example_marc.marc"
TAGS = load_rules(ROOT / "config" / "flags.toml").tags


def nlnz_harvester(corpora: Path) -> MarcFileHarvester:
    return MarcFileHarvester(
        source="nlnz-books", partner="NLNZ", path=str(corpora / NLNZ), page_size=300
    )


def prepared_in_place(pages: list[Page]) -> list[Page]:
    """The pages as the reader process hands them over: stored form worked out, no pymarc."""
    for page in pages:
        for record in page.records:
            if record.marc is not None:
                record.prepared = prepare_record(record.marc, match_profile, TAGS)
                record.marc = None
    return pages


def test_a_page_crosses_between_processes_unchanged(corpora: Path) -> None:
    """Packed, marshalled and unpacked, every page equals the one that was sent."""
    pages = prepared_in_place(list(nlnz_harvester(corpora).pages(None)))
    assert sum(len(page.records) for page in pages) == 1001

    for page in pages:
        assert _unpacked(marshal.loads(marshal.dumps(_packed(page)))) == page


def test_pages_read_ahead_equal_the_pages_read_in_place(corpora: Path) -> None:
    """The second process delivers the same pages, in the same order, as reading in place."""
    expected = prepared_in_place(list(nlnz_harvester(corpora).pages(None)))
    ahead = list(prepared_pages(nlnz_harvester(corpora), None, match_profile, TAGS))

    assert ahead == expected
    assert ahead[-1].complete and ahead[-1].full


def test_an_error_in_the_reading_process_is_raised_in_the_pool(tmp_path: Path) -> None:
    """A source that cannot be read fails the run with the harvester's own message."""
    harvester = MarcFileHarvester(source="gone", partner="X", path=str(tmp_path / "none.mrc"))
    with pytest.raises(SourceError, match="source gone: no file matches path"):
        list(prepared_pages(harvester, None, match_profile, TAGS))


STALLED_SOURCE = """
import os, sys, time
from harvesters.records import Page
from resource_pool.reading import prepared_pages

class Stalled:
    # A source that gives one page, then hangs on the next (a slow partner server).
    unchanged = None
    def pages(self, checkpoint):
        yield Page()
        # Written aside and renamed, so the test never reads a half-written file.
        with open(sys.argv[1] + ".part", "w") as out:
            out.write(str(os.getpid()))
        os.rename(sys.argv[1] + ".part", sys.argv[1])
        time.sleep(120)

for page in prepared_pages(Stalled(), None, None, None):
    print("page", flush=True)
    time.sleep(120)
"""


def test_the_reading_process_ends_when_the_pool_is_killed(tmp_path: Path) -> None:
    """A pool killed while its reader waits on a slow page takes the reader with it,
    so nothing it inherited (a PostgreSQL lock's connection) outlives the pool."""
    reader_pid = tmp_path / "reader.pid"
    pool = subprocess.Popen(
        [sys.executable, "-c", STALLED_SOURCE, str(reader_pid)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert pool.stdout is not None and pool.stdout.readline() == "page\n"
        wait_until(reader_pid.exists, "the reader to ask for its second page")
        reader = int(reader_pid.read_text())
        assert process_alive(reader)
    finally:
        pool.kill()
        pool.wait()

    wait_until(lambda: not process_alive(reader), f"reader {reader} to end with the pool")


def wait_until(condition: Callable[[], bool], what: str, patience: float = 30.0) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting {patience:.0f} s for {what}")
        time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.database
def test_export_batches_built_by_workers_equal_those_built_in_place(
    corpora: Path, tmp_path: Path
) -> None:
    """Worker processes encode every batch byte for byte as this process would."""
    config = nlnz_pool(corpora, tmp_path)
    engine = create_pool_engine(database_of(config))
    try:
        plan = _Plan(RecordLayout("T"), (col(Cluster.deleted).is_(False),), batch_size=100)
        with engine.connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT id FROM cluster ORDER BY id"))]
        batches = [ids[start : start + 100] for start in range(0, len(ids), 100)]
        build = functools.partial(_read_and_encode, engine, plan, MarcWriter, True)

        in_place = [build(batch) for batch in batches]
        by_workers = list(batch_outputs(engine, batches, build, workers=2))
    finally:
        engine.dispose()

    assert [dataclasses.asdict(o) for o in by_workers] == [dataclasses.asdict(o) for o in in_place]
    assert sum(output.written for output in in_place) == len(ids)


@pytest.mark.database
def test_every_record_has_one_seen_mark_naming_the_last_delivery(
    corpora: Path, tmp_path: Path
) -> None:
    """After a second full harvest, each record's seen mark names that harvest's run."""
    config = nlnz_pool(corpora, tmp_path)
    again = pool_json("harvest", "--all", config=config)[0]
    assert again["unchanged"] == 1001

    engine = create_pool_engine(database_of(config))
    try:
        with engine.connect() as connection:
            marks = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT m.source_record_id), min(m.seen_run),"
                    " max(m.seen_run) FROM source_record r"
                    " JOIN seen_mark m ON m.source_record_id = r.id"
                )
            ).one()
            records = connection.execute(text("SELECT count(*) FROM source_record")).scalar()
    finally:
        engine.dispose()
    assert (marks[0], marks[1], marks[2], marks[3]) == (
        records,
        records,
        again["run_id"],
        again["run_id"],
    )


@pytest.mark.database
def test_a_harvest_leaves_postgresql_with_statistics_of_what_it_stored(
    corpora: Path, tmp_path: Path, database_url: str
) -> None:
    """The planner's row counts are those of the harvested tables, not of the empty ones."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the statistics refreshed are PostgreSQL's planner's")
    config = nlnz_pool(corpora, tmp_path)
    engine = create_pool_engine(database_of(config))
    try:
        with engine.connect() as connection:
            for table in ("source_record", "match_key", "holding", "cluster"):
                planned = connection.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = :table"),
                    {"table": table},
                ).scalar()
                stored = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                assert (table, planned) == (table, stored)
    finally:
        engine.dispose()


def nlnz_pool(corpora: Path, tmp_path: Path) -> Path:
    partners = f"""
[[partners]]
code = "NLNZ"
name = "National Library of New Zealand"
kind = "network"

[[partners.sources]]
name = "nlnz-books"
kind = "marc"
path = "{corpora / NLNZ}"
"""
    config = write_config(tmp_path / "pool", partners)
    first = pool_json("harvest", "--all", config=config)[0]
    assert (first["status"], first["added"]) == ("ok", 1001)
    return config
