"""One harvest per source at a time, across processes and machines.

The lock is a row: `source.lock_owner` names host, process and run
("host:pid:run N") and `lock_heartbeat` moves with every stored page. It is
taken with a compare-and-set UPDATE, so two processes that read a free row at
the same moment cannot both win: the second one's UPDATE matches nothing.

On PostgreSQL the row is backed by a session advisory lock
(`pg_try_advisory_lock`) held for the whole run on a connection of its own,
outside any transaction. The server drops it the moment that connection
ends, whichever machine the harvest ran on: a killed harvest frees its
source at once, and a live harvest waiting on one slow page is never taken
over because its heartbeat aged. The price is one extra connection per
running harvest, and a direct connection to the server (a pooler in
transaction mode would hand the lock to whoever gets the connection next).

Without that (SQLite), a row lock is stale when its process is gone (same
host) or its heartbeat is older than `STALE_AFTER` (another host). A stale
lock is taken over with a warning naming the old holder, and the holder's
run is marked interrupted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from resource_pool.db import session_scope
from resource_pool.models import HarvestRun, Source, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)

ADVISORY_NAMESPACE = 0x504F4F4C
"""The first key of every advisory lock the pool takes ("POOL" in ASCII); the second
is the source's id. It keeps the pool's locks apart from other applications' on a
shared PostgreSQL server."""

_advisory_sessions: dict[str, Connection] = {}
_advisory_guard = threading.Lock()


@dataclass(frozen=True)
class _Holder:
    """Who the row says holds the lock, and whether that claim still stands."""

    owner: str
    stale_because: str | None


def owner_name(run_id: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:run {run_id}"


def acquire(engine: Engine, source_id: int, owner: str) -> str | None:
    """Take the source's lock; None on success, else who holds it."""
    if engine.dialect.name != "postgresql":
        return _take_row(engine, source_id, owner, session_ended=False)

    session_lock = _advisory_lock(engine, source_id)
    if session_lock is None:
        return _row_owner(engine, source_id) or "another process (its lock is held on the server)"

    holder = _take_row(engine, source_id, owner, session_ended=True)
    if holder is not None:
        _advisory_unlock(session_lock, source_id)
        return holder
    with _advisory_guard:
        _advisory_sessions[owner] = session_lock
    return None


def release(engine: Engine, source_id: int, owner: str) -> None:
    """Free the row, then the advisory lock, so a waiting run never finds a half-freed source."""
    with session_scope(engine) as session:
        session.execute(
            update(Source)
            .where(col(Source.id) == source_id, col(Source.lock_owner) == owner)
            .values(lock_owner=None, lock_heartbeat=None)
        )

    with _advisory_guard:
        session_lock = _advisory_sessions.pop(owner, None)
    if session_lock is not None:
        _advisory_unlock(session_lock, source_id)


def _take_row(engine: Engine, source_id: int, owner: str, *, session_ended: bool) -> str | None:
    """Claim the row when it is free or stale; None on success, else the holder."""
    with session_scope(engine) as session:
        source = session.exec(select(Source).where(Source.id == source_id)).one()
        holder = _judge(source, session_ended)
        if holder is not None and holder.stale_because is None:
            return holder.owner

        claimed = session.connection().execute(
            update(Source)
            .where(col(Source.id) == source_id, _still_held_by(holder))
            .values(lock_owner=owner, lock_heartbeat=utcnow())
        )
        if claimed.rowcount != 1:
            # Another process took the row between our read and our write.
            return _row_owner(engine, source_id) or "another process"

        if holder is not None:
            _take_over(session, source.name, holder, owner)
    return None


def _judge(source: Source, session_ended: bool) -> _Holder | None:
    if not source.lock_owner:
        return None
    if session_ended:
        # Every holder on PostgreSQL keeps the advisory lock while it runs;
        # we hold it now, so the holder's connection to the server is gone.
        return _Holder(source.lock_owner, "its connection to the database has ended")
    return _Holder(source.lock_owner, _stale_because(source.lock_owner, source.lock_heartbeat))


def _still_held_by(holder: _Holder | None) -> ColumnElement[bool]:
    """The compare part of compare-and-set: the row still names the holder we judged."""
    if holder is None:
        return col(Source.lock_owner).is_(None)
    return col(Source.lock_owner) == holder.owner


def _take_over(session: Session, source_name: str, holder: _Holder, owner: str) -> None:
    log.warning(
        "source=%s taking over stale lock held by %s (%s); now held by %s",
        source_name,
        holder.owner,
        holder.stale_because,
        owner,
    )
    run_id = _run_of(holder.owner)
    if run_id is None:
        return
    # The dead holder never finished its run; say so in the history.
    session.execute(
        update(HarvestRun)
        .where(col(HarvestRun.id) == run_id, col(HarvestRun.status) == "running")
        .values(
            status="interrupted",
            finished=utcnow(),
            error=f"{holder.owner} stopped without finishing ({holder.stale_because}); "
            f"its lock was taken over by {owner}",
        )
    )


def _run_of(owner: str) -> int | None:
    _, _, run = owner.rpartition(":run ")
    return int(run) if run.isdigit() else None


def _row_owner(engine: Engine, source_id: int) -> str | None:
    with session_scope(engine, read_only=True) as session:
        owner: str | None = session.exec(
            select(Source.lock_owner).where(Source.id == source_id)
        ).one_or_none()
    return owner


def _stale_because(holder: str, heartbeat: datetime | None) -> str | None:
    """Why the holder no longer counts, or None while it does."""
    host, _, rest = holder.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return None if _alive(int(pid_text)) else f"process {pid_text} is gone"

    if heartbeat is None:
        return "it never stored a page"
    moment = heartbeat if heartbeat.tzinfo else heartbeat.replace(tzinfo=UTC)
    if utcnow() - moment > STALE_AFTER:
        return f"no page stored since {moment.isoformat(timespec='seconds')}"
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# PostgreSQL session advisory locks.


def _advisory_lock(engine: Engine, source_id: int) -> Connection | None:
    """The connection now holding the source's advisory lock, or None when another has it."""
    # Autocommit: the connection sits outside any transaction for the whole
    # run, so it holds no snapshot back from vacuum and no idle-in-transaction
    # timeout can end it.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    got = connection.execute(
        text("SELECT pg_try_advisory_lock(:namespace, :source_id)"),
        {"namespace": ADVISORY_NAMESPACE, "source_id": source_id},
    ).scalar_one()
    if got:
        return connection
    connection.close()
    return None


def _advisory_unlock(connection: Connection, source_id: int) -> None:
    try:
        connection.execute(
            text("SELECT pg_advisory_unlock(:namespace, :source_id)"),
            {"namespace": ADVISORY_NAMESPACE, "source_id": source_id},
        )
        connection.close()
    except SQLAlchemyError as error:
        # A connection that cannot say unlock must not go back to the pool
        # still holding the lock: drop it, and the server frees the lock.
        log.warning(
            "source id %s: advisory unlock failed (%s); closing its connection", source_id, error
        )
        connection.invalidate()
        connection.close()
