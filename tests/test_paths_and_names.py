"""Export paths and configured names cannot reach outside their folder or into SQL.

An export writes into folders other programs read (an OPAC's import
folder); whoever can write there must not be able to steer the pool's next
file elsewhere, and a name in partners.toml or pool.toml is never a path
or a piece of SQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from resource_pool.db import open_pool
from resource_pool.search import search
from tests.runpool import database_for, pool, pool_json, write_config

VICTIM = "a file outside the export folder that no export may touch\n"

BOOKS = """
[[partners]]
code = "TBL"
name = "Perpustakaan Kota Tanjungbalai"

[[partners.sources]]
name = "tbl-books"
kind = "marc"
path = "books.xml"
"""


def marcxml(count: int) -> str:
    """A MARCXML collection of `count` small books."""
    records = "".join(
        '<record><leader>00000nam a2200000 a 4500</leader>'
        f'<controlfield tag="001">{n}</controlfield>'
        f'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Buku {n}</subfield>'
        '</datafield><datafield tag="852" ind1=" " ind2=" "><subfield code="b">Umum</subfield>'
        f'<subfield code="p">B{n:06d}</subfield></datafield></record>'
        for n in range(1, count + 1)
    )
    return f'<collection xmlns="http://www.loc.gov/MARC21/slim">{records}</collection>'


def pool_with_target(folder: Path, target_path: str) -> Path:
    """A harvested pool of 3 books with one target writing to `target_path`."""
    pool_toml = (
        '[pool]\nname = "T"\ncode = "T"\ndatabase = "pool.sqlite"\n\n'
        f'[[export.targets]]\nname = "opac"\nformat = "marc"\npath = "{target_path}"\n'
    )
    config = write_config(folder, BOOKS, pool_toml)
    (config / "books.xml").write_text(marcxml(3))
    assert pool_json("harvest", "--all", config=config)[0]["status"] == "ok"
    return config


@pytest.mark.database
def test_a_symlink_where_the_target_file_goes_is_replaced_not_followed(tmp_path: Path) -> None:
    """A link planted at a target's path is replaced by the export; what it named is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    config = pool_with_target(tmp_path / "config", "out/opac.mrc")
    (config / "out").mkdir()
    (config / "out" / "opac.mrc").symlink_to(victim)

    summary = pool_json("export", "--target", "opac", config=config)

    assert summary["records"] == 3
    assert victim.read_text() == VICTIM
    written = config / "out" / "opac.mrc"
    assert not written.is_symlink() and written.read_bytes().count(b"\x1d") == 3
    assert Path(summary["path"]) == written.resolve()


@pytest.mark.database
def test_a_symlink_given_as_out_is_replaced_not_followed(tmp_path: Path) -> None:
    """`--out link.mrc` where link.mrc points elsewhere writes link.mrc itself, not its target."""
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    config = pool_with_target(tmp_path / "config", "out/opac.mrc")
    link = tmp_path / "link.mrc"
    link.symlink_to(victim)

    result = pool("export", "--format", "marc", "--out", str(link), config=config)

    assert result.returncode == 0, result.stderr
    assert victim.read_text() == VICTIM
    assert not link.is_symlink() and link.read_bytes().count(b"\x1d") == 3


@pytest.mark.database
@pytest.mark.parametrize("key, value", [
    ("path", "out/../../escaped.mrc"),
    ("path", "/srv/opac/../../etc/escaped.mrc"),
    ("deletes", "out/{stamp}/../../../escaped.delete"),
])
def test_a_target_path_that_climbs_out_of_its_folder_is_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    """'..' after a folder name in a target's path or deletes is refused, naming key and value."""
    extra = f'deletes = "{value}"\n' if key == "deletes" else ""
    path = value if key == "path" else "out/opac-{stamp}.mrc"
    pool_toml = (
        '[pool]\nname = "T"\ncode = "T"\ndatabase = "pool.sqlite"\n\n'
        f'[[export.targets]]\nname = "opac"\nformat = "marc"\npath = "{path}"\n{extra}'
    )
    config = write_config(tmp_path / "config", BOOKS, pool_toml)
    (config / "books.xml").write_text(marcxml(1))

    result = pool("export", "--target", "opac", config=config)

    assert result.returncode == 2
    assert f"{key} = {value!r}" in result.stderr and "climbs back out" in result.stderr
    assert not list(tmp_path.rglob("escaped*"))


@pytest.mark.database
def test_a_leading_climb_to_a_sibling_folder_is_allowed(tmp_path: Path) -> None:
    """'../var/export/...' as the docs show it stays allowed: leading '..' names the folder."""
    config = pool_with_target(tmp_path / "config", "../var/export/opac-{stamp}.mrc")
    summary = pool_json("export", "--target", "opac", config=config)
    assert Path(summary["path"]).parent == (tmp_path / "var" / "export").resolve()


@pytest.mark.parametrize("name", [
    "../escape", "sub/dir", "a\\b", "x'; DROP TABLE source_record; --", "/abs", "",
])
def test_a_source_name_with_a_path_or_sql_in_it_is_refused(tmp_path: Path, name: str) -> None:
    """A source name holding a separator, a quote or SQL stops the load with exit code 2."""
    partners = BOOKS.replace('name = "tbl-books"', f"name = '''{name}'''")
    config = write_config(tmp_path / "config", partners)
    result = pool("partners", "list", config=config)
    assert result.returncode == 2
    assert "name = " in result.stderr


@pytest.mark.database
@pytest.mark.parametrize("name", ["../escape", "x'; DROP TABLE cluster; --"])
def test_a_target_name_with_a_path_or_sql_in_it_is_refused(tmp_path: Path, name: str) -> None:
    """A target name holding a separator or SQL stops the export with exit code 2, named."""
    pool_toml = (
        '[pool]\nname = "T"\ncode = "T"\ndatabase = "pool.sqlite"\n\n'
        f"[[export.targets]]\nname = '''{name}'''\nformat = \"marc\"\npath = \"out/x.mrc\"\n"
    )
    config = write_config(tmp_path / "config", BOOKS, pool_toml)
    result = pool("export", "--list-targets", config=config)
    assert result.returncode == 2
    assert f"name = {name!r}" in result.stderr


@pytest.mark.database
def test_names_asked_for_on_the_command_line_never_reach_sql(tmp_path: Path) -> None:
    """SQL given as a source, target or flag name is refused as unknown; every table remains."""
    config = pool_with_target(tmp_path / "config", "out/opac.mrc")
    hostile = "x'; DROP TABLE cluster; --"
    attempts = [
        pool("harvest", hostile, config=config),
        pool("export", "--target", hostile, config=config),
        pool("export", "--format", "marc", "--out", str(tmp_path / "f.mrc"), "--flag", hostile,
             config=config),
        pool("rejects", "--source", hostile, config=config),
    ]
    for result in attempts[:3]:
        assert result.returncode != 0 and "DROP TABLE" in result.stderr
    assert attempts[3].returncode == 0, attempts[3].stderr

    engine = create_engine(database_for(config))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"cluster", "source_record", "export_target"} <= tables
    assert pool_json("catalog", "stats", config=config)


@pytest.mark.database
def test_search_text_and_filters_match_as_words_never_as_syntax(tmp_path: Path) -> None:
    """SQL, FTS operators and LIKE wildcards in search text, flag or holder find what their
    words find: 'Buku -2' finds Buku 2 (not the others), an OR finds nothing, tables stay."""
    config = pool_with_target(tmp_path / "config", "out/opac.mrc")
    engine = open_pool(database_for(config))
    try:
        found = {
            text: len(search(engine, text))
            for text in ["Buku 2", "Buku*", "Buku -2", "Buku OR 1", "NEAR(Buku 2)",
                         "title:Buku", "Buku 2' OR '1'='1", "2; DROP TABLE cluster; --", "%"]
        }
        held = len(search(engine, "Buku", held_by="TBL"))
        hostile_holder = search(engine, "Buku", held_by="TBL' OR '1'='1")
        hostile_flag = search(engine, "Buku", flag="rare' OR '1'='1")
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()

    assert found == {
        "Buku 2": 1, "Buku*": 3, "Buku -2": 1, "Buku OR 1": 0, "NEAR(Buku 2)": 0,
        "title:Buku": 0, "Buku 2' OR '1'='1": 0, "2; DROP TABLE cluster; --": 0, "%": 0,
    }
    assert held == 3 and hostile_holder == [] and hostile_flag == []
    assert {"cluster", "source_record", "partner", "holding"} <= tables


@pytest.mark.parametrize("code", ["TBL'; DROP TABLE partner; --", "../TBL"])
def test_a_partner_code_with_a_path_or_sql_in_it_is_refused(tmp_path: Path, code: str) -> None:
    """A partner code holding a quote, SQL or a path stops the load with exit code 2, named."""
    partners = BOOKS.replace('code = "TBL"', f"code = '''{code}'''")
    config = write_config(tmp_path / "config", partners)
    result = pool("partners", "list", config=config)
    assert result.returncode == 2
    assert "code" in result.stderr and "partners.toml" in result.stderr
