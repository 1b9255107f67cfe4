"""`pool harvest` of OAI-PMH sources end to end: real HTTP server, real CLI, real database."""

from __future__ import annotations

import os
import pty
import random
import select
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.crash import database_of, harvest_killed_after, stored_records
from tests.oaiserver import OaiServer, SyntheticRepository
from tests.runpool import ROOT, database_for, pool, pool_json, write_config

pytestmark = pytest.mark.database


def oai_config(folder: Path, url: str, page_size: int = 1000, extra: str = "") -> Path:
    partners = f"""
[[partners]]
code = "UNA"
name = "Perpustakaan Universitas Asahan"
kind = "university"

[[partners.sources]]
name = "una-oai"
kind = "oai"
url = "{url}"
retries = 3
timeout = 5
{extra}
"""
    pool_toml = (
        f'[pool]\nname = "T"\ncode = "T"\ndatabase = "pool.sqlite"\n'
        f"[harvest]\npage_size = {page_size}\n"
    )
    return write_config(folder, partners, pool_toml)


def test_incremental_harvest_picks_up_changes_and_deletions(tmp_path: Path) -> None:
    """The second run asks only for what changed since the server's own last responseDate."""
    repository = SyntheticRepository(records=120, page_size=25)
    with OaiServer() as server:
        config = oai_config(tmp_path, server.add("oai", repository))
        first = pool_json("harvest", "--all", config=config)[0]
        assert (first["status"], first["added"], first["pages"]) == ("ok", 120, 5)

        repository.clock += timedelta(hours=1)
        repository.touch(3, 4, 5)
        repository.touch(7, 8, deleted=True)
        second = pool_json("harvest", "--all", config=config)[0]
        assert (second["added"], second["updated"], second["deleted"]) == (0, 3, 2)
        asked = server.requests_to("oai")
        list_requests = [r for r in asked if r.get("verb") == "ListRecords" and "from" in r]
        assert list_requests, "the second run did not harvest incrementally"

    stats = pool_json("catalog", "stats", config=config)
    assert stats["records"] == 118


def test_faults_are_retried_cleaned_and_reported(tmp_path: Path) -> None:
    """A 503, a dropped connection and control characters still give every record once, counted."""
    repository = SyntheticRepository(
        records=60, page_size=20, faults={1: "503", 2: "drop", 3: "control-characters"}
    )
    with OaiServer() as server:
        config = oai_config(tmp_path, server.add("oai", repository))
        summary = pool_json("harvest", "--all", config=config)[0]
    assert (summary["status"], summary["added"]) == ("ok", 60)
    assert summary["retried"] >= 2 and summary["cleaned"] >= 1
    assert len(stored_records(database_of(config))) == 60


def test_server_that_keeps_failing_fails_the_run_with_the_url(tmp_path: Path) -> None:
    """After its retries a failing server fails the source (exit 1), naming the URL."""
    repository = SyntheticRepository(
        records=30, page_size=10, faults={n: "500" for n in range(1, 9)}
    )
    with OaiServer() as server:
        url = server.add("oai", repository)
        config = oai_config(tmp_path, url)
        result = pool("harvest", "--all", config=config)
    assert result.returncode == 1
    assert "127.0.0.1" in result.stderr and "una-oai" in result.stderr
    runs = pool_json("runs", config=config)
    assert runs[0]["status"] == "failed" and runs[0]["error"]


@pytest.mark.slow
def test_sigkill_at_random_pages_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    """Killing an OAI-PMH harvest at random pages, then rerunning, gives the whole catalogue."""
    repository = SyntheticRepository(records=1500, page_size=50)
    with OaiServer() as server:
        url = server.add("oai", repository)
        reference = oai_config(tmp_path / "reference", url)
        assert pool("harvest", "--all", config=reference).returncode == 0
        expected = stored_records(database_of(reference))
        assert len(expected) == 1500

        chance = random.Random(3)
        for trial in range(3):
            config = oai_config(tmp_path / f"trial{trial}", url)
            harvest_killed_after(config, pages=chance.randint(2, 20))
            assert len(stored_records(database_of(config))) < 1500, (
                f"trial {trial} finished before the kill"
            )

            rerun = pool_json("harvest", "--all", config=config)[0]
            assert rerun["status"] == "ok"
            assert stored_records(database_of(config)) == expected


def test_progress_shows_pages_records_and_rate_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the harvest shows pages, records and a rate while it runs."""
    repository = SyntheticRepository(records=200, page_size=20)
    with OaiServer() as server:
        config = oai_config(tmp_path, server.add("oai", repository))
        main, child = pty.openpty()
        command = [
            sys.executable,
            "-m",
            "resource_pool",
            "--config",
            str(config),
            "--db",
            database_for(config),
            "harvest",
            "--all",
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=child, stderr=child, env={**os.environ, "COLUMNS": "160"}
        )
        os.close(child)
        screen = b""
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        process.wait(timeout=60)
        os.close(main)
    text = screen.decode("utf-8", "replace")
    assert process.returncode == 0
    assert "pages 10" in text and "records 200" in text and "records/s" in text
