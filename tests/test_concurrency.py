"""Two actors at once, as real processes: exports during a harvest, one step taken twice.

Two harvests of one source at once (one runs, the other refuses naming the
holder) are proven in tests/test_locks.py, and a cancel racing a ship in
tests/test_request_cli.py; this file adds what those leave open.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import create_engine, text

from resource_pool import exchange
from resource_pool.config import load_config
from resource_pool.db import open_pool
from resource_pool.exchange import NewRequest, StepInput
from resource_pool.export import export_catalogue, export_target
from resource_pool.harvest import harvest_source
from resource_pool.iso18626 import Step
from tests.oaiserver import OaiServer, SyntheticRepository
from tests.runpool import ROOT, database_for, write_config
from tests.scheduling import Child, GatedRepository, oai_partners, query, runs_of, wait_for

pytestmark = pytest.mark.database

MARC = "{http://www.loc.gov/MARC21/slim}"
PAGES = 40
ROUNDS = 8
PAGES_PER_ROUND = 3
"""Pages let through as each of the exports starts; the harvest waits for the rest (16 pages)
until every export has run."""

TARGET = """
[pool]
name = "Test pool"
code = "TEST"
database = "pool.sqlite"

[[export.targets]]
name = "opac"
format = "marcxml"
path = "out/opac-{stamp}.xml"
deletes = "out/opac-{stamp}.delete"
"""


def union_records(path: Path) -> dict[str, bytes]:
    """The records of a MARCXML export by union id (001); fails on a repeated id."""
    records: dict[str, bytes] = {}
    for record in etree.parse(str(path)).getroot().iter(f"{MARC}record"):
        union_id = record.findtext(f"{MARC}controlfield[@tag='001']")
        assert union_id and union_id not in records, f"{path.name}: union id {union_id} twice"
        records[union_id] = etree.tostring(record, method="c14n")
    return records


def as_the_opac_sees_it(folder: Path) -> dict[str, bytes]:
    """Apply a target's files in the order of their stamps: deletes, then records."""
    catalogue: dict[str, bytes] = {}
    visible = [path for path in folder.iterdir() if not path.name.startswith(".")]
    stamps = sorted({path.name.split("-", 1)[1].rsplit(".", 1)[0] for path in visible})
    for stamp in stamps:
        deletes = folder / f"opac-{stamp}.delete"
        if deletes.exists():
            for union_id in deletes.read_text().split():
                catalogue.pop(union_id, None)
        records = folder / f"opac-{stamp}.xml"
        if records.exists():
            catalogue.update(union_records(records))
    return catalogue


def test_exports_while_a_harvest_stores_pages_lose_nothing(tmp_path: Path) -> None:
    """Target exports run while a `pool harvest` process commits page after page: each file
    is whole, and the files applied in order give exactly what a full export gives after."""
    gate = GatedRepository(SyntheticRepository(records=PAGES * 4, page_size=4))
    with OaiServer() as server:
        config_folder = write_config(
            tmp_path, oai_partners(("tbl-oai", server.add("gated", gate), None)), TARGET
        )
        url = database_for(config_folder)
        config = load_config(config_folder)
        engine = open_pool(url)
        try:
            exports = []
            with Child("harvest", "tbl-oai", config=config_folder, db=url) as harvest:
                for round_number in range(1, ROUNDS + 1):
                    # The export starts as the harvest fetches and stores the pages just
                    # let through, so its mark and reading fall among their commits.
                    gate.release(PAGES_PER_ROUND)
                    exports.append(export_target(engine, config, "opac").records)
                    harvest.wait_until(
                        partial(pages_stored, url, round_number * PAGES_PER_ROUND),
                        "the pages let through to be stored",
                    )
                gate.open()
                assert harvest.finish() == 0, "\n".join(harvest.lines[-20:])
            exports.append(export_target(engine, config, "opac").records)
            export_catalogue(engine, config, "marcxml", tmp_path / "full.xml")
        finally:
            engine.dispose()

    full = union_records(tmp_path / "full.xml")
    assert len(full) == PAGES * 4
    assert sum(1 for records in exports if 0 < records < PAGES * 4) >= 2, exports
    assert as_the_opac_sees_it(config_folder / "out") == full


def pages_stored(url: str, pages: int) -> bool:
    """Whether the running harvest has stored at least `pages` pages."""
    return max((stored for _, stored in runs_of(url, "tbl-oai")), default=0) >= pages


def one_request_will_supply(tmp_path: Path) -> tuple[Path, str, int]:
    """A pool of two lenders holding one book, and SMA1's loan request at WillSupply by TBL."""
    book = (
        '<collection xmlns="http://www.loc.gov/MARC21/slim"><record>'
        "<leader>00000nam a2200000 a 4500</leader>"
        '<controlfield tag="001">1</controlfield>'
        '<datafield tag="020" ind1=" " ind2=" "><subfield code="a">9786020000015</subfield>'
        '</datafield><datafield tag="245" ind1="0" ind2="0"><subfield code="a">Buku</subfield>'
        '</datafield><datafield tag="852" ind1=" " ind2=" "><subfield code="b">Umum</subfield>'
        "</datafield></record></collection>"
    )
    partners = ""
    for code in ("TBL", "UNA"):
        partners += (
            f'[[partners]]\ncode = "{code}"\nname = "Perpustakaan {code}"\nlends = true\n\n'
            f'[[partners.sources]]\nname = "{code.lower()}-books"\nkind = "marc"\n'
            f'path = "{code.lower()}.xml"\n\n'
        )
        (tmp_path / f"{code.lower()}.xml").write_text(book)
    partners += '[[partners]]\ncode = "SMA1"\nname = "SMA Negeri 1"\nlends = false\n'
    config_folder = write_config(tmp_path, partners)
    url = database_for(config_folder)

    config = load_config(config_folder)
    engine = open_pool(url)
    try:
        for source in config.sources:
            assert harvest_source(engine, config, source).status == "ok"
        cluster = query(url, "SELECT cluster_id FROM source_record")[0][0]
        request_id = exchange.new_request(
            engine, config, NewRequest("SMA1", cluster), date.today()
        ).request_id
        exchange.take_step(
            engine, config, request_id, Step.WILL_SUPPLY, "TBL", StepInput(), date.today()
        )
    finally:
        engine.dispose()
    return config_folder, url, request_id


def waiting_on_a_lock(url: str) -> int:
    """PostgreSQL sessions now waiting for a lock."""
    return int(
        query(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0]
    )


def has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has the file open (SQLite: it has connected to the pool)."""
    try:
        return any(
            Path(f"/proc/{pid}/fd/{fd}").resolve() == path.resolve()
            for fd in [entry.name for entry in Path(f"/proc/{pid}/fd").iterdir()]
        )
    except OSError:
        return False


def test_two_staff_taking_the_same_step_at_once_make_one_transition(tmp_path: Path) -> None:
    """Two lender staff ship one request at the same moment: one Loaned event, one refusal."""
    config, url, request_id = one_request_will_supply(tmp_path)
    command = [sys.executable, "-m", "resource_pool", "--config", str(config), "--db", url,
               "request", "ship", str(request_id), "--as", "TBL"]

    # Hold the table (PostgreSQL) or the write lock (SQLite) so both processes line up
    # behind it, then let them go together.
    engine = create_engine(url)
    with engine.connect() as blocker:
        if url.startswith("postgresql"):
            blocker.execute(text("LOCK TABLE exchange_request IN ACCESS EXCLUSIVE MODE"))
        else:
            blocker.exec_driver_sql("BEGIN IMMEDIATE")
        staff = [
            subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for _ in range(2)
        ]
        if url.startswith("postgresql"):
            wait_for(lambda: waiting_on_a_lock(url) == 2, "both to wait for the request")
        else:
            database = Path(url.removeprefix("sqlite:///"))
            wait_for(lambda: all(has_open(p.pid, database) for p in staff), "both to connect")
        blocker.rollback()
    engine.dispose()
    results = [(process.wait(timeout=120), process.communicate()) for process in staff]

    assert sorted(code for code, _ in results) == [0, 2]
    refusal = " ".join(next(streams[1] for code, streams in results if code == 2).split())
    assert f"request {request_id}" in refusal and "Loaned" in refusal
    steps = query(
        url,
        "SELECT step, state_after FROM request_event WHERE request_id = :id ORDER BY sequence",
        id=request_id,
    )
    assert [step for step, _ in steps].count("ship") == 1
    assert steps[-1] == ("ship", "Loaned")
