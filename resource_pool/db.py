"""Open the pool's database: SQLite by default, PostgreSQL when the URL says so.

The schema is owned by Alembic migrations; opening a pool brings it to the
latest revision, so a fresh file or server needs no separate set-up step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session

from harvesters.errors import ConfigError
from resource_pool.i18n import _

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

HEAD_REVISIONS = ("0008_export_delivery",)
"""The latest migration, named here so that opening an up-to-date pool needs no Alembic:
importing it costs a fifth of every command's start. tests/test_migrations.py checks
this against the migrations folder."""


def create_pool_engine(url: str) -> Engine:
    """An engine for the URL, with SQLite set up for one writer and many readers."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            _("database URL {url!r} is not a valid SQLAlchemy URL").format(url=url)
        ) from None
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            _("database URL {url!r}: no driver for {driver!r}").format(
                url=url, driver=parsed.drivername
            )
        ) from None


def _sqlite_engine(url: Any) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers (export, serve, status) work while a harvest writes;
        # NORMAL sync is safe in WAL mode: a crash loses no committed page.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # pysqlite's own transaction handling is off (isolation_level None
        # above). A writer takes the lock up front with BEGIN IMMEDIATE, so
        # two writers queue on busy_timeout instead of one failing halfway
        # (a deferred transaction that starts writing late cannot wait).
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (several when migrations branch); none when new.

    Read from Alembic's own table, in a read-only transaction: opening a pool
    never waits for a harvest's write lock.
    """
    with engine.execution_options(read_only=True).connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return ()
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return tuple(sorted(row[0] for row in rows))


def head_revisions() -> tuple[str, ...]:
    """The latest revisions the code ships, as the migrations folder has them."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads()))


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply the migrations up to `revision` (all the latest by default)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def open_pool(url: str) -> Engine:
    """Open the database at `url` and bring its schema to the latest revision."""
    engine = create_pool_engine(url)
    try:
        if current_revisions(engine) != HEAD_REVISIONS:
            log.info(_("upgrading database schema at %s"), engine.url.render_as_string())
            upgrade(engine)
    except OperationalError as error:
        raise ConfigError(
            _("cannot open database {url!r}: {reason}").format(url=url, reason=error.orig)
        ) from None
    return engine


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error.

    A read-only scope never holds SQLite's write lock, so a long export or
    listing does not stall a harvest.
    """
    bind = engine.execution_options(read_only=True) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def refresh_statistics(engine: Engine, tables: Sequence[str]) -> None:
    """Have PostgreSQL measure `tables` again; nothing to do on SQLite.

    The planner chooses between an index and a full scan from statistics
    taken when a table was last analysed. A pool filled from empty by one
    harvest outgrows them within minutes, and until autovacuum happens to
    catch up, each lookup of match keys reads the whole table: a harvest of
    50,000 records took 35 to 93 s where it takes 31 s with fresh statistics.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        connection.execute(text("ANALYZE " + ", ".join(tables)))
