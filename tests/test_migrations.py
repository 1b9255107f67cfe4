"""Schema migrations: a pool made with the first schema upgrades to the latest with its data."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from resource_pool import db
from tests.runpool import ROOT, pool, pool_json

pytestmark = pytest.mark.database


def test_first_schema_with_data_upgrades_to_latest(database_url: str) -> None:
    """Rows written under revision 0001 are all there after upgrading to every head."""
    engine = db.create_pool_engine(database_url)
    db.upgrade(engine, "0001")
    assert db.current_revisions(engine) == ("0001",)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO partner (id, code, name, kind, lends, loan_days, lends_rare)"
                " VALUES (1, 'TBL', 'Perpustakaan Kota Tanjungbalai', 'public', true, 21, false)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO source (id, name, partner_id, kind, checkpoint, last_delivery_count)"
                " VALUES (1, 'tbl-books', 1, 'marc', '{}', 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO cluster (id, title, members, deleted, created, changed_at)"
                " VALUES (7, 'Laskar pelangi', 1, false, :now, :now)"
            ),
            {"now": "2026-01-01 00:00:00+00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO source_record (id, source_id, local_id, content_hash, format,"
                " original, marc, profile, title, deleted, first_seen, last_seen, changed_at,"
                " cluster_id, match_reason) VALUES (1, 1, 'TBL:1', 'abc', 'marc', :raw, '{}', '',"
                " 'Laskar pelangi', false, :now, :now, :now, 7, '')"
            ),
            {"raw": b"\x00\x01raw", "now": "2026-01-01 00:00:00+00:00"},
        )

    db.upgrade(engine)
    assert db.current_revisions(engine) == db.head_revisions()
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT r.local_id, r.original, c.title FROM source_record r"
                " JOIN cluster c ON c.id = r.cluster_id"
            )
        ).one()
    assert (row[0], bytes(row[1]), row[2]) == ("TBL:1", b"\x00\x01raw", "Laskar pelangi")
    tables = set(inspect(engine).get_table_names())
    assert {"partner", "source", "source_record", "cluster", "search_mark"} <= tables
    engine.dispose()


def test_db_commands_report_and_upgrade(database_url: str) -> None:
    """`pool db current` shows the revisions; `pool db upgrade` brings an old pool to the latest."""
    url = database_url
    engine = db.create_pool_engine(url)
    db.upgrade(engine, "0001")
    engine.dispose()
    before = pool_json("db", "current", config=ROOT / "config", db=url)
    assert before["current"] == ["0001"] and before["latest"] == list(db.head_revisions())
    upgraded = pool("db", "upgrade", config=ROOT / "config", db=url)
    assert upgraded.returncode == 0, upgraded.stderr
    after = pool_json("db", "current", config=ROOT / "config", db=url)
    assert after["current"] == after["latest"]


def test_the_head_the_pool_opens_at_is_the_migrations_folders_head() -> None:
    """db.HEAD_REVISIONS, which spares opening a pool the Alembic import, names the latest
    migration: a new migration without it would leave every pool unupgraded."""
    assert db.head_revisions() == db.HEAD_REVISIONS


def test_a_command_on_an_up_to_date_pool_loads_neither_alembic_nor_apscheduler(
    database_url: str,
) -> None:
    """Alembic is loaded only to upgrade, APScheduler only to schedule: the command line
    opening a current pool starts without either (together a fifth of its start-up)."""
    db.open_pool(database_url).dispose()
    check = (
        "import sys; from resource_pool.cli import app; from resource_pool.db import open_pool; "
        f"open_pool({database_url!r}).dispose(); "
        "print('alembic' in sys.modules, 'apscheduler' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "False False"
