"""A throwaway PostgreSQL server for tests, started from Debian's binaries.

initdb and pg_ctl refuse to run as root, so as root they run as the
`postgres` user. The server listens on 127.0.0.1 on a free port, trusts local
connections, and is stopped (and its folder removed) when the tests end.
Durability is switched off: nothing on it outlives the run, and a test waits
on fsync for nothing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

INSTALL = "apt-get install postgresql"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL bin folder with initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None when it can."""
    if postgres_bin() is None:
        return f"PostgreSQL binaries (initdb, pg_ctl) not installed: {INSTALL}"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """initdb, pg_ctl start, CREATE DATABASE; `url(name)` gives a psycopg URL."""

    def __init__(self) -> None:
        bin_folder = postgres_bin()
        if bin_folder is None:
            raise RuntimeError(f"PostgreSQL's initdb was not found ({INSTALL})")
        self.bin = bin_folder
        self.folder = Path(tempfile.mkdtemp(prefix="pool-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        return self

    def _admin(self, statement: sql.Composable) -> None:
        # CREATE and DROP DATABASE cannot run inside a transaction.
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database, empty or a copy of `template`; returns its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            # The copy needs its template idle: end any session still open on it
            # (an engine kept by a test reconnects; it pings before each use).
            self._admin(
                sql.SQL(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = {} AND pid <> pg_backend_pid()"
                ).format(sql.Literal(template))
            )
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin(statement)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
