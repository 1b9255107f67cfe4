"""Shared fixtures: the real-data corpora, and the pool databases of the run's backend.

The suite runs once per database backend:

    pytest                          # SQLite (or $POOL_TEST_BACKEND)
    pytest --backend postgresql     # PostgreSQL, on a server the run starts

Which tests the PostgreSQL pass runs: a test that opens a pool database, and
only such a test, declares it, in one of two ways:

- it uses the `pool_databases` fixture, directly or through another fixture
  (`database_url`, `demo_pool` and fixtures built on them do), or
- it carries `@pytest.mark.database` (for tests that drive the CLI through
  tests.runpool, which finds the pool's database by itself).

The PostgreSQL pass deselects every other test: parsers, fuzzing, XML safety
and configuration loading prove nothing more on a database server. A test
about the SQLite file itself carries `@pytest.mark.sqlite_only(reason=...)`
and is deselected there too. In the SQLite pass a test that opens a database
without declaring it fails, naming the rule, so no new test slips out of the
PostgreSQL pass unnoticed; in the PostgreSQL pass so does a test that still
opens an SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event

from tests import runpool
from tests.pgserver import missing_reason

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=runpool.BACKENDS,
        default=os.environ.get("POOL_TEST_BACKEND", "sqlite"),
        help="the database the pools of this run live in (default: $POOL_TEST_BACKEND or sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "database: opens a pool database, so it runs in every backend's pass"
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about SQLite itself; left out of the PostgreSQL pass"
    )
    if config.getoption("backend") == "postgresql":
        runpool.databases = runpool.PostgresDatabases()
    event.listen(Engine, "engine_connect", _note_connection)


def pytest_unconfigure(config: pytest.Config) -> None:
    event.remove(Engine, "engine_connect", _note_connection)
    if isinstance(runpool.databases, runpool.PostgresDatabases):
        runpool.databases.stop()
    runpool.databases = runpool.SqliteDatabases()


def pytest_report_header(config: pytest.Config) -> str:
    return f"pool database backend: {config.getoption('backend')}"


def _note_connection(connection: Connection) -> None:
    runpool.note_connection(connection.engine.url.render_as_string(hide_password=True))


def opens_pools(item: pytest.Item) -> bool:
    """Whether the test declared that it opens a pool database (the rule above)."""
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("database") is not None or "pool_databases" in fixtures


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("backend") != "postgresql":
        return
    kept = [i for i in items if opens_pools(i) and not i.get_closest_marker("sqlite_only")]
    left_out = [item for item in items if item not in kept]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    reason = missing_reason()
    if reason is not None:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    runpool.running = runpool.RunningTest(
        nodeid=item.nodeid,
        opens_pools=opens_pools(item),
        sqlite_only=item.get_closest_marker("sqlite_only") is not None,
    )


@pytest.fixture(autouse=True)
def _declared_databases_only() -> Iterator[None]:
    """Fail a test that opened a database it did not declare (see the rule above)."""
    yield
    problems = sorted(set(runpool.running.problems))
    runpool.running.problems.clear()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def corpora_dir() -> Path:
    """The shared real-data corpora: $POOL_CORPORA, else ../shared/corpora."""
    return Path(os.environ.get("POOL_CORPORA", ROOT.parent / "shared" / "corpora"))


@pytest.fixture(scope="session")
def corpora() -> Path:
    """Skip, naming the folder, when the corpora are not on this machine."""
    path = corpora_dir()
    if not path.is_dir():
        pytest.skip(f"real-data corpora not found at {path}; set POOL_CORPORA to their folder")
    return path


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The XML schemas the project validates its output against."""
    path = corpora_dir().parent / "schemas"
    if not path.is_dir():
        pytest.skip(f"XML schemas not found at {path}")
    return path


@pytest.fixture(scope="session")
def pool_databases() -> runpool.Databases:
    """Where this run's pools live: SQLite files, or databases on the run's PostgreSQL server."""
    return runpool.databases


@pytest.fixture
def database_url(pool_databases: runpool.Databases, tmp_path: Path) -> str:
    """A fresh database without a schema, kept for tmp_path, on the run's backend."""
    return runpool.database_for(tmp_path, empty=True)


@pytest.fixture(scope="session")
def demo_pool(pool_databases: runpool.Databases, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo partners (config/) harvested once per run; a test that writes copies it first
    with tests.runpool.copy_database."""
    from resource_pool.config import load_config
    from resource_pool.db import open_pool
    from resource_pool.harvest import harvest_source

    url = runpool.database_for(tmp_path_factory.mktemp("demo-pool"))
    config = load_config(ROOT / "config")
    engine = open_pool(url)
    try:
        for source in config.sources:
            summary = harvest_source(engine, config, source)
            assert summary.status == "ok", f"demo source {source.name}: {summary.error}"
    finally:
        engine.dispose()
    return url
