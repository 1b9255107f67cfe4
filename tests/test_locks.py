"""One harvest per source at a time: real processes, a real OAI-PMH server, both databases."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update

from resource_pool import locks
from resource_pool.config import load_config
from resource_pool.db import open_pool, session_scope
from resource_pool.models import Source, utcnow
from resource_pool.partners import sync_partners
from tests.oaiserver import OaiServer, SyntheticRepository
from tests.runpool import pool, write_config
from tests.scheduling import (
    Child,
    GatedRepository,
    catalogue,
    oai_partners,
    query,
    runs_of,
    wait_for,
)

RECORDS = 40


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with OaiServer() as running:
        yield running


@pytest.fixture
def gate(server: OaiServer) -> GatedRepository:
    return GatedRepository(SyntheticRepository(records=RECORDS, page_size=10))


def gated_config(folder: Path, server: OaiServer, gate: GatedRepository) -> Path:
    url = server.add("gated", gate)
    return write_config(folder, oai_partners(("tbl-oai", url, None)))


def advisory_locks(db: str) -> int:
    return int(query(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0])


def test_two_processes_at_once_one_harvests_and_the_other_refuses(
    tmp_path: Path, server: OaiServer, gate: GatedRepository, database_url: str
) -> None:
    """Two `pool harvest` of one source started together: one runs, one refuses naming it."""
    config = gated_config(tmp_path, server, gate)
    # The source's row exists already, as after any earlier harvest.
    engine = open_pool(database_url)
    with session_scope(engine) as session:
        sync_partners(session, load_config(config))
    engine.dispose()

    command = ("--json", "harvest", "tbl-oai")
    with (
        Child(*command, config=config, db=database_url) as first,
        Child(*command, config=config, db=database_url) as second,
    ):
        # The winner waits at the gate holding the lock, so the other must give up first.
        wait_for(
            lambda: first.process.poll() is not None or second.process.poll() is not None,
            "one of the two harvests to give up",
        )
        gate.open()
        outcomes = {
            child.pid: (child.finish(), json.loads("\n".join(child.output))[0])
            for child in (first, second)
        }

    by_status = {
        summary["status"]: (pid, code, summary) for pid, (code, summary) in outcomes.items()
    }
    assert sorted(by_status) == ["ok", "refused"]
    winner, _, won = by_status["ok"]
    _, refused_code, refused = by_status["refused"]
    assert won["added"] == RECORDS and refused_code == 1
    assert f"is being harvested by {socket.gethostname()}:{winner}:run " in refused["error"]
    assert refused["error"].endswith("try again later")
    assert [status for status, _ in runs_of(database_url, "tbl-oai")].count("ok") == 1
    assert len(catalogue(database_url)) == RECORDS


def test_a_lock_left_by_a_sigkilled_harvest_is_taken_over_and_logged(
    tmp_path: Path, server: OaiServer, gate: GatedRepository, database_url: str
) -> None:
    """A harvest killed with SIGKILL leaves its lock; the next run takes it over and says so."""
    config = gated_config(tmp_path, server, gate)
    open_pool(database_url).dispose()
    with Child("harvest", "tbl-oai", config=config, db=database_url) as killed:
        gate.release(1)
        killed.wait_until(
            lambda: any(pages >= 1 for _, pages in runs_of(database_url, "tbl-oai")),
            "the first page to be stored",
        )
        killed.signal(signal.SIGKILL)
        killed.finish()
    owner = query(database_url, "SELECT lock_owner FROM source WHERE name = 'tbl-oai'")[0][0]
    assert owner.startswith(f"{socket.gethostname()}:{killed.pid}:run ")

    if database_url.startswith("postgresql"):
        # The server frees a dead client's session lock once it notices the closed socket.
        wait_for(lambda: advisory_locks(database_url) == 0, "the server to end the session")
    gate.open()
    rerun = pool("-v", "harvest", "tbl-oai", config=config, db=database_url)

    assert rerun.returncode == 0, rerun.stderr
    assert f"taking over stale lock held by {owner}" in rerun.stderr
    reason = (
        "its connection to the database has ended"
        if database_url.startswith("postgresql")
        else f"process {killed.pid} is gone"
    )
    assert reason in rerun.stderr
    assert runs_of(database_url, "tbl-oai")[0][0] == "interrupted"
    assert runs_of(database_url, "tbl-oai")[-1][0] == "ok"
    assert len(catalogue(database_url)) == RECORDS


@pytest.fixture
def pool_engine(tmp_path: Path, database_url: str) -> Iterator[tuple[Engine, int]]:
    """An opened pool with one source row; yields the engine and the source's id."""
    config = write_config(
        tmp_path / "config", oai_partners(("tbl-oai", "http://127.0.0.1:9/oai", None))
    )
    engine = open_pool(database_url)
    with session_scope(engine) as session:
        source_id = sync_partners(session, load_config(config))["tbl-oai"].id
    assert source_id is not None
    yield engine, source_id
    engine.dispose()


def test_threads_racing_for_one_lock_give_exactly_one_holder(
    pool_engine: tuple[Engine, int],
) -> None:
    """Eight claims at the same instant: exactly one wins, on SQLite and PostgreSQL."""
    engine, source_id = pool_engine
    start = threading.Barrier(8)
    results: dict[str, str | None] = {}

    def claim(number: int) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}:run {number}"
        start.wait()
        results[owner] = locks.acquire(engine, source_id, owner)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [owner for owner, holder in results.items() if holder is None]
    assert len(winners) == 1
    locks.release(engine, source_id, winners[0])


@pytest.mark.sqlite_only(reason="on PostgreSQL the advisory lock, not the heartbeat, decides")
def test_a_lock_from_another_host_stands_until_its_heartbeat_is_stale(
    pool_engine: tuple[Engine, int], caplog: pytest.LogCaptureFixture
) -> None:
    """On SQLite another host's lock is refused while fresh, taken over after 15 quiet minutes."""
    engine, source_id = pool_engine

    def held_since(minutes: int) -> None:
        with session_scope(engine) as session:
            session.execute(
                update(Source)
                .where(Source.id == source_id)  # type: ignore[arg-type]
                .values(
                    lock_owner="elsewhere:4242:run 7",
                    lock_heartbeat=utcnow() - timedelta(minutes=minutes),
                )
            )

    held_since(1)
    assert locks.acquire(engine, source_id, "here:1:run 8") == "elsewhere:4242:run 7"
    held_since(16)
    with caplog.at_level(logging.WARNING, logger="resource_pool.locks"):
        assert locks.acquire(engine, source_id, "here:1:run 8") is None
    assert (
        "taking over stale lock held by elsewhere:4242:run 7 (no page stored since" in caplog.text
    )


def test_an_advisory_lock_held_elsewhere_refuses_even_with_a_free_row(
    pool_engine: tuple[Engine, int], database_url: str
) -> None:
    """On PostgreSQL a session holding the source's advisory lock keeps others out."""
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    engine, source_id = pool_engine
    key = {"namespace": locks.ADVISORY_NAMESPACE, "source_id": source_id}

    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:namespace, :source_id)"), key)
        assert locks.acquire(engine, source_id, "here:1:run 1") is not None
        other.execute(text("SELECT pg_advisory_unlock(:namespace, :source_id)"), key)
        other.commit()

    assert locks.acquire(engine, source_id, "here:1:run 2") is None
    assert advisory_locks(database_url) == 1
    locks.release(engine, source_id, "here:1:run 2")
    assert advisory_locks(database_url) == 0
