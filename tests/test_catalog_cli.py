"""`pool catalog` and `pool flags` on the harvested demo, through the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.runpool import ROOT, copy_database, database_for, pool, pool_json

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo partners harvested once into a pool the tests only read (or copy first)."""
    folder = tmp_path_factory.mktemp("demo")
    url = database_for(folder)
    result = pool("harvest", "--all", config=ROOT / "config", db=url)
    assert result.returncode == 0, result.stderr
    return url


def test_show_explains_every_member_in_words(demo_db: str) -> None:
    """`catalog show` says why each member joined: the shared key and the member it matched."""
    found = pool_json(
        "catalog", "search", "Bumi Manusia", "--held-by", "SMA1", db=demo_db, config=ROOT / "config"
    )
    shown = pool_json("catalog", "show", str(found[0]["id"]), db=demo_db, config=ROOT / "config")
    reasons = [member["why"] for member in shown["members"]]
    assert reasons[0] == "first record of this cluster"
    assert all(r.startswith(("same ISBN", "same title", "same OCLC")) for r in reasons[1:])
    assert all(" as " in r for r in reasons[1:])
    partners = {member["partner"] for member in shown["members"]}
    assert {h["partner"] for h in shown["holdings"]} >= partners


def test_show_gives_flag_evidence(demo_db: str) -> None:
    """A rare cluster lists each rule that flagged it, with the field and value it saw."""
    rare = pool_json(
        "catalog", "search", "hikayat", "--flag", "rare", db=demo_db, config=ROOT / "config"
    )
    assert rare and all("rare" in row["flags"] for row in rare)
    shown = pool_json("catalog", "show", str(rare[0]["id"]), db=demo_db, config=ROOT / "config")
    assert shown["flags"]
    assert all(f["flag"] == "rare" and f["rule"] and f["evidence"] for f in shown["flags"])


def test_show_by_local_id_and_unknown_id(demo_db: str) -> None:
    """A member's local id finds its cluster; an unknown id exits 2 saying how to find one."""
    shown = pool_json("catalog", "show", "TBL:1369", db=demo_db, config=ROOT / "config")
    assert "TBL:1369" in [m["local_id"] for m in shown["members"]]
    missing = pool("catalog", "show", "999999", db=demo_db, config=ROOT / "config")
    assert missing.returncode == 2 and "no cluster with id '999999'" in missing.stderr


def test_search_by_isbn_in_any_form(demo_db: str) -> None:
    """An ISBN-10 with hyphens finds the cluster the ISBN-13 belongs to."""
    by_13 = pool_json("catalog", "search", "9789799731289", db=demo_db, config=ROOT / "config")
    by_10 = pool_json("catalog", "search", "979-9731-28-3", db=demo_db, config=ROOT / "config")
    assert by_13 and [r["id"] for r in by_10] == [r["id"] for r in by_13]


def test_search_text_cannot_reach_sql(demo_db: str) -> None:
    """Quotes and FTS operators in search text are searched as words, never run."""
    for text in ['"; DROP TABLE cluster; --', "title:* OR NEAR(a b)", "' OR 1=1 --"]:
        result = pool("--json", "catalog", "search", text, db=demo_db, config=ROOT / "config")
        assert result.returncode == 0, result.stderr
    assert pool_json("catalog", "stats", db=demo_db, config=ROOT / "config")["clusters"] > 0


def test_flags_recompute_applies_a_rule_change(demo_db: str, tmp_path: Path) -> None:
    """Raising the rare year and recomputing flags more clusters, without a harvest."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    url = copy_database(demo_db, tmp_path / "recompute")
    before = pool_json("catalog", "stats", config=config, db=url)["flags"]["rare"]

    rules = (config / "flags.toml").read_text()
    assert "rare_before = 1850" in rules
    (config / "flags.toml").write_text(rules.replace("rare_before = 1850", "rare_before = 1990"))
    report = pool_json("flags", "recompute", config=config, db=url)
    after = pool_json("catalog", "stats", config=config, db=url)["flags"]["rare"]
    assert report["rare"]["gained"] > 0 and report["rare"]["lost"] == 0
    assert after == before + report["rare"]["gained"] == report["rare"]["clusters"]
    runs = pool_json("runs", config=config, db=url)
    assert len(runs) == 6


def test_flags_recompute_marks_changed_clusters_for_exports(demo_db: str, tmp_path: Path) -> None:
    """Clusters whose flags a rule change altered count as changed for incremental exports."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    url = copy_database(demo_db, tmp_path / "marks")
    out = tmp_path / "first.jsonl"
    assert (
        pool("export", "--format", "jsonl", "--out", str(out), config=config, db=url).returncode
        == 0
    )

    rules = (config / "flags.toml").read_text()
    (config / "flags.toml").write_text(rules.replace("rare_before = 1850", "rare_before = 1990"))
    report = pool_json("flags", "recompute", config=config, db=url)

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        newest = connection.execute(text("SELECT max(changed_at) FROM cluster")).scalar()
        touched = connection.execute(
            text("SELECT count(*) FROM cluster WHERE changed_at = :at"), {"at": newest}
        ).scalar()
        clusters = connection.execute(text("SELECT count(*) FROM cluster")).scalar()
    engine.dispose()
    # Clusters that gained the flag changed, and so did rare ones whose evidence
    # now names another rule; clusters the new year does not reach did not.
    assert report["rare"]["gained"] <= touched < clusters
