"""Shared fixtures: where the real-data corpora live, and a scratch pool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
def postgres_server():  # type: ignore[no-untyped-def]
    """One PostgreSQL server for the whole run; skipped, saying why, without the binaries."""
    from tests.pgserver import PostgresServer, postgres_bin

    if postgres_bin() is None:
        pytest.skip(
            "PostgreSQL binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
        )
    server = PostgresServer().start()
    yield server
    server.stop()


_database_counter = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):  # type: ignore[no-untyped-def]
    """A fresh empty database: an SQLite file, and a database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pool.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"pool_{next(_database_counter)}")
