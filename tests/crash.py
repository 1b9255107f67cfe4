"""Kill a real `pool harvest` part-way through, and read what the database then holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tests.runpool import ROOT, database_for


def database_of(config: Path, db: str | None = None) -> str:
    """The URL a test pool uses: --db when given, else the run's database for the config."""
    return db or database_for(config)


def stored_records(url: str) -> set[tuple[str, str, bool]]:
    """Every source record as (local id, content hash, deleted)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT local_id, content_hash, deleted FROM source_record")
            )
            return {(row[0], row[1], bool(row[2])) for row in rows}
    finally:
        engine.dispose()


def pages_stored(engine: Engine) -> int:
    """The most pages any run has stored so far (0 while the database is being made)."""
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT max(pages) FROM harvest_run")).scalar() or 0)
    except SQLAlchemyError:
        return 0


def harvest_killed_after(config: Path, pages: int, db: str | None = None) -> None:
    """Start `pool harvest --all`, SIGKILL it once `pages` pages are stored."""
    url = database_of(config, db)
    command = [sys.executable, "-m", "resource_pool", "--config", str(config), "--db", url]
    command += ["harvest", "--all"]
    # A session of its own: the kill takes the harvest's reader process too.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    engine = create_engine(url, connect_args={"timeout": 1} if url.startswith("sqlite") else {})
    deadline = time.monotonic() + 300
    try:
        while pages_stored(engine) < pages and process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pages} pages stored within 300 s")
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        engine.dispose()
