"""Helpers for the scheduler and lock tests: a gated OAI-PMH endpoint, a `pool`
child process whose log lines can be awaited, and readers of the pool's tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from tests.oaiserver import Reply, SyntheticRepository
from tests.runpool import ROOT, write_config

JAKARTA = ZoneInfo("Asia/Jakarta")
PATIENCE = 60.0
"""Seconds before a wait gives up and fails the test (a safety net, not a measurement)."""


@dataclass
class GatedRepository:
    """A synthetic repository whose ListRecords answers wait for the test to let them through."""

    repository: SyntheticRepository
    permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    opened: threading.Event = field(default_factory=threading.Event)

    def release(self, pages: int) -> None:
        for _ in range(pages):
            self.permits.release()

    def open(self) -> None:
        self.opened.set()

    def reply(self, params: dict[str, str]) -> Reply:
        if params.get("verb") == "ListRecords":
            self._wait()
        return self.repository.reply(params)

    def _wait(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while not self.opened.is_set() and time.monotonic() < deadline:
            if self.permits.acquire(timeout=0.02):
                return


def oai_partners(*sources: tuple[str, str, str | None]) -> str:
    """partners.toml with one partner and an OAI-PMH source per (name, url, schedule)."""
    blocks = [
        '[[partners]]\ncode = "TBL"\nname = "Perpustakaan Kota Tanjungbalai"\nkind = "public"\n'
    ]
    for name, url, schedule in sources:
        when = f'schedule = "{schedule}"\n' if schedule else ""
        blocks.append(
            f'[[partners.sources]]\nname = "{name}"\nkind = "oai"\nurl = "{url}"\n'
            f"retries = 0\ntimeout = 20\n{when}"
        )
    return "\n".join(blocks)


def pool_toml(extra: str = "") -> str:
    return f'[pool]\nname = "Test pool"\ncode = "TEST"\ndatabase = "pool.sqlite"\n{extra}'


def quiet_config(folder: Path, partners: str, extra: str = "") -> Path:
    """A configuration whose nightly stays out of the service (it would harvest too)."""
    return write_config(folder, partners, pool_toml(f"[nightly]\nenabled = false\n{extra}"))


def far_cron(hours: int = 12) -> str:
    """A daily cron whose time is `hours` away in Jakarta: it neither just fired nor soon fires."""
    moment = datetime.now(JAKARTA) + timedelta(hours=hours)
    return f"{moment.minute} {moment.hour} * * *"


class Child:
    """`pool ARGS...` running in the background, its stderr collected line by line."""

    def __init__(self, *args: str, config: Path, db: str) -> None:
        command = [sys.executable, "-m", "resource_pool", "--config", str(config), "--db", db]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("POOL_DATABASE")}
        # A session of its own, so SIGKILL can take the harvest's reader process
        # with it, as a crash of the whole command would.
        self.process = subprocess.Popen(
            [*command, *args],
            cwd=ROOT,
            env={**environment, "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.output: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.lines)),
            threading.Thread(target=self._read, args=(self.process.stdout, self.output)),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        # A failed test must not leave its service running.
        if self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.finish()

    @property
    def pid(self) -> int:
        return self.process.pid

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        """The stderr lines read so far, parsed as JSON log events."""
        return [json.loads(line) for line in list(self.lines)]

    def logged(self, fragment: str) -> bool:
        return any(fragment in line for line in list(self.lines))

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait while this process runs; fail, with its last log lines, if it exits first."""

        def settled() -> bool:
            if condition():
                return True
            if self.process.poll() is not None and not condition():
                log = "\n".join(self.lines[-30:])
                raise AssertionError(f"pool exited {self.process.returncode} before {what}:\n{log}")
            return False

        wait_for(settled, what)

    def signal(self, number: int = signal.SIGTERM) -> None:
        """SIGTERM asks the command to stop; SIGKILL kills it and any process it started."""
        if number == signal.SIGKILL:
            os.killpg(self.process.pid, number)
        else:
            self.process.send_signal(number)

    def finish(self) -> int:
        code = self.process.wait(timeout=PATIENCE)
        for reader in self._readers:
            reader.join(timeout=PATIENCE)
        return code


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def query(db: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL query against the pool's database, read as the tests' own client."""
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def runs_of(db: str, source: str) -> list[tuple[str, int]]:
    """(status, pages) of each run of the source, oldest first; none before the schema exists."""
    try:
        rows = query(
            db,
            "SELECT r.status, r.pages FROM harvest_run r JOIN source s ON s.id = r.source_id "
            "WHERE s.name = :name ORDER BY r.id",
            name=source,
        )
    except (OperationalError, ProgrammingError):
        return []
    return [(str(status), int(pages)) for status, pages in rows]


def catalogue(db: str) -> set[tuple[str, str, bool]]:
    """Every source record as (local id, content hash, deleted)."""
    rows = query(db, "SELECT local_id, content_hash, deleted FROM source_record")
    return {(str(local_id), str(digest), bool(deleted)) for local_id, digest, deleted in rows}
