"""One harvest per source at a time, across processes and machines.

The lock is a row: `source.lock_owner` names host, process and run, and
`lock_heartbeat` moves with every stored page. Another process takes the
lock over only when it is stale: its process is gone (same host), or its
heartbeat is older than `STALE_AFTER` (another host). It lives in the pool's
database, so it works the same on SQLite and on a shared PostgreSQL server.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import Engine, update
from sqlmodel import select

from resource_pool.db import session_scope
from resource_pool.models import Source, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)


def owner_name(run_id: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:run {run_id}"


def acquire(engine: Engine, source_id: int, owner: str) -> str | None:
    """Take the source's lock; None on success, else who holds it."""
    with session_scope(engine) as session:
        source = session.exec(select(Source).where(Source.id == source_id)).one()
        holder = source.lock_owner
        if holder and not _stale(holder, source.lock_heartbeat):
            return holder
        if holder:
            log.warning("source=%s taking over stale lock held by %s", source.name, holder)
        session.execute(
            update(Source)
            .where(Source.id == source_id)  # type: ignore[arg-type]
            .values(lock_owner=owner, lock_heartbeat=utcnow())
        )
    return None


def release(engine: Engine, source_id: int, owner: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id, Source.lock_owner == owner)  # type: ignore[arg-type]
            .values(lock_owner=None, lock_heartbeat=None)
        )


def _stale(holder: str, heartbeat: object) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return not _alive(int(pid_text))
    return heartbeat is None or utcnow() - heartbeat > STALE_AFTER  # type: ignore[operator]


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
