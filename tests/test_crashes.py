"""SIGKILL part-way through reclustering, an export to a target and request steps.

Each trial kills the real `pool` process right after its N-th SQL statement
(N drawn by a seeded random from the statements an uninterrupted run
executes), so the kill lands inside transactions as well as between them,
and inside the file writes between two statements. The command is then run
again, as a librarian would after a crash, and what the pool holds is
compared with a copy of the same pool on which the command ran undisturbed.

File and OAI-PMH harvests killed at random pages are proven in
tests/test_harvest_cli.py and tests/test_oai_cli.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resource_pool.cli import app
from resource_pool.config import load_config
from resource_pool.db import open_pool
from resource_pool.export import export_target
from resource_pool.harvest import harvest_source
from tests import runpool
from tests.runpool import ROOT, copy_database, database_for, write_config
from tests.scheduling import query, wait_for

pytestmark = pytest.mark.database

TRIALS = 2
"""Kill points per command; each costs a process start (about a second)."""
REQUEST_TRIALS = 3
"""Steps killed, each once, out of the four the request test takes."""
SEED = 18626

KILL_AT_STATEMENT = """
import atexit, os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

limit, tally, me, count = int(sys.argv[1]), sys.argv[2], os.getpid(), 0

def counted(*_):
    global count
    if os.getpid() != me:  # forked readers and export workers are not counted
        return
    count += 1
    if count == limit:
        os.kill(me, signal.SIGKILL)

def report():
    if os.getpid() == me:
        open(tally, "w").write(str(count))

event.listen(Engine, "after_cursor_execute", counted)
atexit.register(report)
sys.argv = ["pool", *sys.argv[3:]]
from resource_pool.i18n import main
main()
"""
"""Runs `pool ARGS` with a SQLAlchemy hook that SIGKILLs it after statement `limit` (0: never)
and, when it ends by itself, writes how many statements it executed to `tally`."""

PARTNERS = """
[[partners]]
code = "TBL"
name = "Perpustakaan Kota Tanjungbalai"
kind = "public"
lends = true
loan_days = 21

[[partners.sources]]
name = "tbl-books"
kind = "marc"
path = "tbl.xml"

[[partners]]
code = "UNA"
name = "Perpustakaan Universitas Asahan"
kind = "university"
lends = true
loan_days = 14

[[partners.sources]]
name = "una-books"
kind = "marc"
path = "una.xml"

[[partners]]
code = "SMA1"
name = "SMA Negeri 1 Tanjungbalai"
kind = "school"
lends = false
"""

POOL_TOML = """
[pool]
name = "Test pool"
code = "TEST"
database = "pool.sqlite"

[harvest]
page_size = 5

[[export.targets]]
name = "opac"
format = "marcxml"
path = "out/opac-{stamp}.xml"
deletes = "out/opac-{stamp}.delete"
"""


def isbn(book: int) -> str:
    """A valid ISBN-13 for book number `book`."""
    body = f"978602{book:06d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str(-total % 10)


def book(local_id: str, number: int, genre: str = "") -> str:
    """One MARCXML record of book `number`; records of the same number are one edition."""
    genre_field = (
        f'<datafield tag="655" ind1=" " ind2="7"><subfield code="a">{genre}</subfield></datafield>'
        if genre
        else ""
    )
    return (
        '<record><leader>00000nam a2200000 a 4500</leader>'
        f'<controlfield tag="001">{local_id}</controlfield>'
        '<controlfield tag="008">010101s2001    io            000 0 ind d</controlfield>'
        f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn(number)}</subfield>'
        '</datafield><datafield tag="245" ind1="0" ind2="0">'
        f'<subfield code="a">Buku nomor {number}</subfield></datafield>{genre_field}'
        '<datafield tag="852" ind1=" " ind2=" "><subfield code="b">Umum</subfield>'
        f'<subfield code="p">B-{local_id}</subfield></datafield></record>'
    )


def collection(records: list[str]) -> str:
    return f'<collection xmlns="http://www.loc.gov/MARC21/slim">{"".join(records)}</collection>'


def una_second_delivery() -> str:
    """UNA's next file: records moved to other editions, flagged, deleted and added.

    u16-u18 now describe books 6-8 (their clusters split, TBL's 6-8 gain a
    member); u19-u20 gain a rare genre term; u21-u22 are gone; u31-u32 are
    new, u31 joining TBL's book 1.
    """
    records = [book(f"u{n}", n) for n in range(11, 16)]
    records += [book(f"u{n}", n - 10) for n in range(16, 19)]
    records += [book(f"u{n}", n, genre="Naskah kuno") for n in (19, 20)]
    records += [book(f"u{n}", n) for n in range(23, 31)]
    records += [book("u31", 1), book("u32", 32)]
    return collection(records)


@dataclass(frozen=True)
class Pool:
    """A configuration folder and its pool database."""

    config: Path
    url: str


def clone(original: Pool, folder: Path) -> Pool:
    """A copy of the configuration folder, its export folder included, and of the database."""
    shutil.copytree(
        original.config, folder, ignore=shutil.ignore_patterns("pool.sqlite*")
    )
    return Pool(folder, copy_database(original.url, folder))


def run(pool: Pool, *args: str, kill_at: int = 0) -> tuple[int, int]:
    """`pool ARGS` as a real process; (exit code, statements executed), -9 when killed."""
    tally = pool.config / ".statements"
    tally.unlink(missing_ok=True)
    command = [sys.executable, "-c", KILL_AT_STATEMENT, str(kill_at), str(tally)]
    command += ["--config", str(pool.config), "--db", pool.url, *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    statements = int(tally.read_text()) if tally.exists() else kill_at
    return done.returncode, statements


def again(pool: Pool, *args: str) -> int:
    """`pool ARGS` once more after a crash, in this process (the crash was a process's own);
    its exit code."""
    result = CliRunner().invoke(app, ["--config", str(pool.config), "--db", pool.url, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def ok(pool: Pool, *args: str) -> int:
    """Run `pool ARGS` undisturbed, fail on a non-zero exit; the statements it executed."""
    code, statements = run(pool, *args)
    assert code == 0, f"pool {' '.join(args)} exited {code}"
    return statements


def kill_points(total: int, salt: str) -> list[int]:
    """TRIALS statement numbers in 1..total, the same on every run."""
    chooser = random.Random(f"{SEED}:{salt}")
    return sorted(chooser.sample(range(1, total + 1), min(TRIALS, total)))


def no_advisory_locks(url: str) -> bool:
    """Whether PostgreSQL has ended the killed process's session (and freed its locks)."""
    if not url.startswith("postgresql"):
        return True
    return bool(query(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] == 0)


def catalogue_state(url: str) -> dict[str, Any]:
    """The catalogue as a reader sees it, without ids and times that differ between copies."""
    members: dict[int, set[str]] = {}
    for cluster_id, local_id in query(
        url,
        "SELECT c.id, r.local_id FROM cluster c JOIN source_record r ON r.cluster_id = c.id "
        "WHERE NOT c.deleted AND NOT r.deleted",
    ):
        members.setdefault(cluster_id, set()).add(local_id)
    named = {cluster_id: frozenset(ids) for cluster_id, ids in members.items()}
    flags = query(url, "SELECT cluster_id, flag, rule FROM flag")
    return {
        "records": set(query(url, "SELECT local_id, content_hash, deleted FROM source_record")),
        "clusters": set(named.values()),
        "empty live clusters": query(
            url,
            "SELECT count(*) FROM cluster c WHERE NOT c.deleted AND NOT EXISTS (SELECT 1 FROM "
            "source_record r WHERE r.cluster_id = c.id AND NOT r.deleted)",
        )[0][0],
        "flags": Counter((named.get(c), flag, rule) for c, flag, rule in flags),
        "holdings": Counter(
            row[0]
            for row in query(
                url,
                "SELECT r.local_id FROM holding h "
                "JOIN source_record r ON r.id = h.source_record_id",
            )
        ),
        "match keys": Counter(
            query(
                url,
                "SELECT r.local_id, k.kind, k.value FROM match_key k "
                "JOIN source_record r ON r.id = k.source_record_id",
            )
        ),
    }


@pytest.fixture(scope="module")
def delivered(pool_databases: runpool.Databases, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    """Both partners harvested and exported once to the target; UNA's next file in place."""
    folder = tmp_path_factory.mktemp("delivered")
    config = write_config(folder, PARTNERS, POOL_TOML)
    shutil.copy(ROOT / "config" / "flags.toml", config / "flags.toml")
    (config / "tbl.xml").write_text(collection([book(f"t{n}", n) for n in range(1, 21)]))
    (config / "una.xml").write_text(collection([book(f"u{n}", n) for n in range(11, 31)]))
    pool = Pool(config, database_for(config))
    # Done in this process: the starting state is not under test.
    settings, engine = load_config(config), open_pool(pool.url)
    try:
        for source in settings.sources:
            assert harvest_source(engine, settings, source).status == "ok"
        export_target(engine, settings, "opac")
    finally:
        engine.dispose()
    (config / "una.xml").write_text(una_second_delivery())
    return pool


@pytest.fixture(scope="module")
def reclustered(delivered: Pool, tmp_path_factory: pytest.TempPathFactory) -> tuple[Pool, int]:
    """A copy on which UNA's second file was harvested undisturbed, and its statement count."""
    pool = clone(delivered, tmp_path_factory.mktemp("reclustered") / "config")
    return pool, ok(pool, "harvest", "una-books")


def test_reclustering_killed_at_random_statements_then_rerun_equals_uninterrupted(
    delivered: Pool, reclustered: tuple[Pool, int], tmp_path: Path
) -> None:
    """A harvest that splits, merges, flags and deletes clusters, SIGKILLed and rerun, ends
    with the clusters, members, flags, holdings and keys of the undisturbed harvest."""
    expected_pool, statements = reclustered
    expected = catalogue_state(expected_pool.url)
    assert frozenset({"TBL:t6", "UNA:u16"}) in expected["clusters"]
    assert any(flag == "rare" for _, flag, _ in expected["flags"])

    for kill_at in kill_points(statements, "recluster"):
        trial = clone(delivered, tmp_path / f"killed-{kill_at}")
        assert run(trial, "harvest", "una-books", kill_at=kill_at)[0] == -9
        wait_for(partial(no_advisory_locks, trial.url), "the killed session to end")
        assert again(trial, "harvest", "una-books") == 0

        assert catalogue_state(trial.url) == expected, f"killed after statement {kill_at}"


def export_files(pool: Pool) -> dict[str, bytes]:
    """The files an OPAC would read from the target's folder (not the hidden staging files)."""
    return {
        path.name: path.read_bytes()
        for path in sorted((pool.config / "out").iterdir())
        if not path.name.startswith(".")
    }


def target_state(url: str) -> tuple[Any, ...]:
    """The target's outcome, and whether its mark covers every cluster change."""
    row = query(
        url,
        "SELECT t.last_status, t.last_records, t.last_deleted, "
        "t.mark >= (SELECT max(changed_at) FROM cluster) FROM export_target t",
    )
    return tuple(row[0])


def test_an_export_killed_at_random_statements_then_rerun_delivers_the_same_files(
    reclustered: tuple[Pool, int], tmp_path: Path
) -> None:
    """An export to a target killed and rerun leaves whole files with exactly the undisturbed
    run's records and deletes, and a mark from which the next run sends nothing again."""
    start, _ = reclustered
    before = export_files(start)
    expected_pool = clone(start, tmp_path / "undisturbed")
    statements = ok(expected_pool, "export", "--target", "opac")
    written = {
        name: content for name, content in export_files(expected_pool).items()
        if name not in before
    }
    assert sorted(Path(name).suffix for name in written) == [".delete", ".xml"]
    expected_target = target_state(expected_pool.url)
    assert expected_target[0] == "ok" and expected_target[3]

    # The last three statements note the delivery (its UPDATE), then, after the files
    # are in place, read the target's row and save its mark.
    for kill_at in [*kill_points(statements - 3, "export"), *range(statements - 2, statements + 1)]:
        trial = clone(start, tmp_path / f"killed-{kill_at}")
        assert run(trial, "export", "--target", "opac", kill_at=kill_at)[0] == -9
        assert again(trial, "export", "--target", "opac") == 0

        assert_delivered_once(trial, before, written, f"killed after statement {kill_at}")
        assert target_state(trial.url) == expected_target, f"killed after statement {kill_at}"


KILL_AFTER_FIRST_FILE = """
import os, signal, sys
from resource_pool.export import StagedFile

place = StagedFile.place

def place_then_die(self):
    place(self)
    os.kill(os.getpid(), signal.SIGKILL)

StagedFile.place = place_then_die
sys.argv = ["pool", *sys.argv[1:]]
from resource_pool.i18n import main
main()
"""
"""Runs `pool ARGS`, SIGKILLed right after an export puts its first file in place."""


def test_an_export_killed_between_placing_its_two_files_is_finished_by_the_rerun(
    reclustered: tuple[Pool, int], tmp_path: Path
) -> None:
    """Records file in place, deletes file not yet: the rerun puts the second in place and
    moves the mark, and sends nothing twice."""
    start, _ = reclustered
    before = export_files(start)
    expected_pool = clone(start, tmp_path / "undisturbed")
    ok(expected_pool, "export", "--target", "opac")
    written = {
        name: content for name, content in export_files(expected_pool).items()
        if name not in before
    }
    trial = clone(start, tmp_path / "killed")
    command = [sys.executable, "-c", KILL_AFTER_FIRST_FILE, "--config", str(trial.config)]
    killed = subprocess.run(
        [*command, "--db", trial.url, "export", "--target", "opac"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert len(export_files(trial)) == len(before) + 1

    assert again(trial, "export", "--target", "opac") == 0

    assert_delivered_once(trial, before, written, "killed between the two files")
    assert target_state(trial.url) == target_state(expected_pool.url)


def assert_delivered_once(
    trial: Pool, before: dict[str, bytes], written: dict[str, bytes], when: str
) -> None:
    """The earlier files untouched, this run's files each in place exactly once and whole,
    and no temporary file left behind in the target's folder."""
    files = export_files(trial)
    assert {name: files[name] for name in before} == before, when
    new = Counter(content for name, content in files.items() if name not in before)
    assert new == Counter(written.values()), when
    hidden = [path.name for path in (trial.config / "out").iterdir() if path.name.startswith(".")]
    assert hidden == [], when


# No ids: on PostgreSQL a killed `request new` has used up its sequence number,
# so the request made again gets the next one (a gap, not a second request).
REQUEST_COLUMNS = (
    "requester, cluster_id, service, state, lender, due, loan_condition, version, "
    "patron_reference, closed IS NULL"
)
ROTA_COLUMNS = "position, partner, status, reason, asked IS NULL, supplied IS NULL"
EVENT_COLUMNS = (
    "sequence, actor, role, step, state_before, state_after, via, note, "
    "message_kind, message IS NULL"
)


def requests_state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every request, its rota and its history, without the times of day."""
    return {
        "requests": query(url, f"SELECT {REQUEST_COLUMNS} FROM exchange_request ORDER BY id"),
        "rota": query(url, f"SELECT {ROTA_COLUMNS} FROM rota_entry ORDER BY request_id, position"),
        "events": query(
            url, f"SELECT {EVENT_COLUMNS} FROM request_event ORDER BY request_id, sequence"
        ),
    }


def test_request_steps_killed_at_random_statements_then_retaken_equal_uninterrupted(
    reclustered: tuple[Pool, int], tmp_path: Path
) -> None:
    """A request step killed part-way and taken again (or refused as already taken) leaves the
    request, its rota and its audit trail as the undisturbed steps do: no step lost or twice."""
    start, _ = reclustered
    cluster = query(
        start.url, "SELECT cluster_id FROM source_record WHERE local_id = 'UNA:u11'"
    )[0][0]
    steps = [
        ("new", "--as", "SMA1", "--item", str(cluster), "--service", "loan"),
        ("unfilled", "1", "--as", "TBL", "--reason", "NotOnShelf"),
        ("will-supply", "1", "--as", "UNA"),
        ("ship", "1", "--as", "UNA"),
    ]

    chooser = random.Random(f"{SEED}:requests")
    killed_steps = set(chooser.sample(range(len(steps)), REQUEST_TRIALS))
    before: dict[int, Pool] = {}
    after: list[dict[str, list[tuple[Any, ...]]]] = []
    statements: list[int] = []
    walk = clone(start, tmp_path / "undisturbed")
    for number, step in enumerate(steps):
        if number in killed_steps:
            before[number] = clone(walk, tmp_path / f"killed-at-step-{number}")
        statements.append(ok(walk, "request", *step))
        after.append(requests_state(walk.url))
    assert after[-1]["requests"][0][3:5] == ("Loaned", "UNA")

    for number, trial in sorted(before.items()):
        kill_at = chooser.randint(1, statements[number])
        where = f"step {steps[number][0]} killed after statement {kill_at}"
        assert run(trial, "request", *steps[number], kill_at=kill_at)[0] == -9, where

        retaken = again(trial, "request", *steps[number])
        # Refused (2) only when the killed run had already committed the step.
        assert retaken in (0, 2), where
        assert requests_state(trial.url) == after[number], where
