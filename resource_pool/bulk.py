"""Bulk writes shared by storing pages and reclustering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session

from harvesters.errors import SourceError


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows and return their new ids, in the order of `rows`.

    On PostgreSQL, INSERT ... RETURNING in batches. SQLite's driver would run
    RETURNING once per row (a statement per record); there the rows go in one
    executemany, and their ids follow the largest before it: SQLite gives a new
    row the largest rowid plus one, and this transaction holds the write lock.
    The count is checked, so a gap could not pass unseen.
    """
    if session.get_bind().dialect.name != "sqlite":
        returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(returning, rows).scalars())
    largest = select(func.max(table.c.id))
    before = session.execute(largest).scalar_one() or 0
    session.execute(insert(table), rows)
    after = session.execute(largest).scalar_one()
    if after != before + len(rows):
        raise SourceError(
            f"{table.name}: {len(rows)} rows inserted after id {before}, yet the largest "
            f"id is now {after}; nothing of this page was stored"
        )
    return list(range(before + 1, after + 1))


def insert_plain(
    session: Session, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows of plain values (numbers, text, booleans) in one executemany.

    The driver's own executemany, past SQLAlchemy's processing of each row's
    parameters, which such values do not need: a page's hundred thousand
    match keys spent most of their time there.
    """
    if not rows:
        return
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        _copy(connection, f"COPY {table.name} ({names}) FROM STDIN", rows)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def _copy(connection: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows into PostgreSQL by COPY, in the session's transaction.

    An executemany, even pipelined, costs the driver a round of Python work
    per row; COPY streams the rows in one command.
    """
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
