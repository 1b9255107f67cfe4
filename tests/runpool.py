"""Run the real `pool` command line in a child process, as a user would, against
the pool database of the test run's backend.

The suite runs once per backend (`pytest --backend sqlite|postgresql`). A test
gets its pool's URL from `database_for(folder)`, or lets `pool(config=...)`
find it: on SQLite that is the file pool.toml names beside the configuration,
as a librarian's pool would be; on PostgreSQL it is a database of its own on
the run's throwaway server, handed to the CLI through POOL_DATABASE_URL.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from tests.pgserver import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")


class Databases(Protocol):
    """Where this run keeps its pool databases."""

    name: str

    def database(self, folder: Path, *, empty: bool = False) -> str: ...

    def copy(self, url: str, folder: Path) -> str: ...

    def cli_environment(self, config: Path) -> dict[str, str]: ...


class SqliteDatabases:
    """Each pool is the file pool.sqlite in its folder, as pool.toml names it."""

    name = "sqlite"

    def database(self, folder: Path, *, empty: bool = False) -> str:
        return f"sqlite:///{folder / 'pool.sqlite'}"

    def copy(self, url: str, folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "pool.sqlite"
        # The backup API copies a consistent state, the WAL's pages included.
        with (
            closing(sqlite3.connect(str(make_url(url).database))) as original,
            closing(sqlite3.connect(target)) as copy,
        ):
            original.backup(copy)
        return self.database(folder)

    def cli_environment(self, config: Path) -> dict[str, str]:
        return {}


class PostgresDatabases:
    """Each pool folder gets a database of its own on one server.

    New pools are copied from a template the migrations have already brought
    to the latest schema (CREATE DATABASE ... TEMPLATE copies files, which is
    far quicker than running every migration again); `empty=True` gives a
    database with no schema, for the tests of the migrations themselves.
    """

    name = "postgresql"

    def __init__(self) -> None:
        self._server: PostgresServer | None = None
        self._by_folder: dict[Path, str] = {}
        self._names = (f"pool_{number}" for number in itertools.count(1))
        self._template: str | None = None

    @property
    def server(self) -> PostgresServer:
        if self._server is None:
            self._server = PostgresServer().start()
        return self._server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def database(self, folder: Path, *, empty: bool = False) -> str:
        key = folder.resolve()
        if key not in self._by_folder:
            template = None if empty else self._migrated_template()
            self._by_folder[key] = self.server.create_database(next(self._names), template)
        return self._by_folder[key]

    def copy(self, url: str, folder: Path) -> str:
        key = folder.resolve()
        name = next(self._names)
        self._by_folder[key] = self.server.create_database(name, str(make_url(url).database))
        return self._by_folder[key]

    def cli_environment(self, config: Path) -> dict[str, str]:
        return {"POOL_DATABASE_URL": database_for(config)}

    def _migrated_template(self) -> str:
        if self._template is None:
            from resource_pool.db import open_pool

            open_pool(self.server.create_database("pool_template")).dispose()
            self._template = "pool_template"
        return self._template


@dataclass
class RunningTest:
    """What the test now running declared, and what it was caught doing otherwise."""

    nodeid: str = ""
    opens_pools: bool = True
    sqlite_only: bool = False
    problems: list[str] = field(default_factory=list)


databases: Databases = SqliteDatabases()
running = RunningTest()

UNDECLARED = (
    "opens a pool database but neither carries @pytest.mark.database nor uses a database "
    "fixture, so the PostgreSQL pass would leave it out"
)


def database_for(folder: Path, *, empty: bool = False) -> str:
    """The URL of the pool database kept for `folder` (the same URL on every call)."""
    if not running.opens_pools:
        running.problems.append(f"{running.nodeid} {UNDECLARED}")
    return databases.database(folder, empty=empty)


def copy_database(url: str, folder: Path) -> str:
    """A copy of the pool at `url`, kept for `folder`; the original is left as it was."""
    return databases.copy(url, folder)


def note_connection(url: str) -> None:
    """Record a test opening a database it did not declare, or SQLite in the PostgreSQL pass."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return
    if not running.opens_pools:
        running.problems.append(f"{running.nodeid} {UNDECLARED}")
    elif (
        databases.name == "postgresql"
        and parsed.get_backend_name() == "sqlite"
        and not running.sqlite_only
    ):
        running.problems.append(
            f"{running.nodeid} opens SQLite file {parsed.database} in the PostgreSQL pass: "
            "take the URL from tests.runpool.database_for(folder), or mark the test "
            "@pytest.mark.sqlite_only(reason=...) saying why"
        )


def pool(
    *args: str,
    config: Path | None = None,
    db: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`pool [--config C] [--db URL] ARGS...`; returns the finished process."""
    command = [sys.executable, "-m", "resource_pool"]
    if config is not None:
        command += ["--config", str(config)]
    if db is not None:
        note_connection(db)
        command += ["--db", db]
    command += list(args)
    # The caller's own POOL_* settings must not leak into a test's pool.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("POOL_DATABASE")}
    environment = {**inherited, "COLUMNS": "200"}
    if config is not None and db is None:
        environment.update(databases.cli_environment(config))
    environment.update(env or {})
    files_before = _sqlite_files(config)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=ROOT
    )
    if _sqlite_files(config) - files_before and not running.opens_pools:
        running.problems.append(f"{running.nodeid} {UNDECLARED}")
    return result


def _sqlite_files(config: Path | None) -> set[Path]:
    return set(config.glob("*.sqlite")) if config is not None and config.is_dir() else set()


def pool_json(*args: str, **options: Any) -> Any:
    """`pool --json ARGS...`, parsed; fails the test with stderr when it exits non-zero."""
    result = pool("--json", *args, **options)
    assert result.returncode == 0, (
        f"pool {' '.join(args)} exited {result.returncode}: {result.stderr}"
    )
    return json.loads(result.stdout)


def write_config(folder: Path, partners: str, pool_toml: str | None = None) -> Path:
    """A configuration folder with the given partners.toml and a minimal pool.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pool.toml").write_text(
        pool_toml or '[pool]\nname = "Test pool"\ncode = "TEST"\ndatabase = "pool.sqlite"\n'
    )
    (folder / "partners.toml").write_text(partners)
    return folder
