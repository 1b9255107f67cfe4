"""The configuration folder: defaults, the partner contract, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvesters.errors import ConfigError
from resource_pool.config import config_folder, load_config
from tests.runpool import pool, pool_json, write_config

PARTNER = """
[[partners]]
code = "TBL"
name = "Perpustakaan Kota Tanjungbalai"
kind = "public"
lends = true
loan_days = 21
lends_rare = false

[[partners.sources]]
name = "tbl-books"
kind = "marc"
path = "demo/tbl/*.mrc"
holdings = "852"
schedule = "0 2 * * *"
"""


def test_contract_partner_format_loads(tmp_path: Path) -> None:
    """The documented partner format loads with every key as written."""
    config = load_config(write_config(tmp_path, PARTNER))
    partner = config.partner("TBL")
    source = config.source("tbl-books")
    assert (partner.kind, partner.lends, partner.loan_days, partner.lends_rare) == (
        "public",
        True,
        21,
        False,
    )
    assert (source.kind, source.path, source.holdings, source.schedule, source.partner) == (
        "marc",
        "demo/tbl/*.mrc",
        "852",
        "0 2 * * *",
        "TBL",
    )


def test_database_defaults_to_sqlite_file_beside_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --db or POOL_DATABASE_URL the database is the file in pool.toml, beside it."""
    monkeypatch.delenv("POOL_DATABASE_URL", raising=False)
    config = load_config(write_config(tmp_path, PARTNER))
    assert config.database_url() == f"sqlite:///{(tmp_path / 'pool.sqlite').resolve()}"
    monkeypatch.setenv("POOL_DATABASE_URL", "sqlite:////elsewhere.sqlite")
    assert config.database_url() == "sqlite:////elsewhere.sqlite"
    assert config.database_url("postgresql+psycopg://x/y") == "postgresql+psycopg://x/y"


def test_config_folder_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """--config wins over $POOL_CONFIG, which wins over ./config."""
    monkeypatch.delenv("POOL_CONFIG", raising=False)
    assert config_folder(None) == Path("config")
    monkeypatch.setenv("POOL_CONFIG", "/etc/pool")
    assert config_folder(None) == Path("/etc/pool")
    assert config_folder("/srv/pool") == Path("/srv/pool")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('kind = "public"', 'kind = "museum"'),
            "partners.toml: partner TBL: kind = 'museum': must be one of public, school",
        ),
        (
            ('code = "TBL"', 'code = "tbl"'),
            "partners.toml: partners[0] code = 'tbl': a code is 1 to 16 upper-case",
        ),
        (
            ("loan_days = 21", 'loan_days = "three weeks"'),
            "partners.toml: partner TBL: loan_days = 'three weeks': must be a whole number",
        ),
        (
            ('holdings = "852"', 'holdings = "999"'),
            "partners.toml: source tbl-books: holdings = '999': must be one of 852, 952, 990",
        ),
        (
            ('schedule = "0 2 * * *"', 'schedule = "nightly"'),
            "partners.toml: source tbl-books schedule = 'nightly': a cron expression has five",
        ),
        (
            ("lends_rare = false", "lends_rare = false\nlend = true"),
            "partners.toml: partner TBL: unknown key 'lend'",
        ),
        (
            ('path = "demo/tbl/*.mrc"', ""),
            "partners.toml: source tbl-books: a marc source needs path",
        ),
    ],
)
def test_bad_partner_values_are_named(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    """A bad value is refused with the file, the partner or source, the key and the value."""
    folder = write_config(tmp_path, PARTNER.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert str(caught.value).startswith(message)


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    """Source names are unique across the pool, since runs and locks go by name."""
    twice = (
        PARTNER + PARTNER.replace('code = "TBL"', 'code = "UNA"').split("[[partners.sources]]")[0]
    )
    twice += '[[partners.sources]]\nname = "tbl-books"\nkind = "marc"\npath = "x.mrc"\n'
    with pytest.raises(ConfigError, match="source name 'tbl-books' is used twice"):
        load_config(write_config(tmp_path, twice))


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    """Through the real CLI, a bad key is exit code 2 with the key and value on stderr."""
    folder = write_config(tmp_path, PARTNER.replace("loan_days = 21", "loan_days = -3"))
    result = pool("partners", "list", config=folder)
    assert result.returncode == 2
    assert "partner TBL: loan_days = -3: must be a whole number of at least 1" in result.stderr


def test_missing_config_folder_exits_2(tmp_path: Path) -> None:
    """A configuration folder that does not exist is exit 2 saying how to make one."""
    result = pool("partners", "list", config=tmp_path / "nowhere")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "pool init" in result.stderr


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    """A file that is not TOML is refused naming the file and the parser's complaint."""
    folder = write_config(tmp_path, "[[partners]\ncode = ")
    result = pool("partners", "list", config=folder)
    assert result.returncode == 2
    assert "partners.toml: not valid TOML" in result.stderr


@pytest.mark.database
def test_init_writes_a_starter_that_loads(tmp_path: Path) -> None:
    """`pool init DIR` writes commented files that load as they are, and never overwrites."""
    folder = tmp_path / "starter"
    result = pool("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in folder.iterdir()} >= {"pool.toml", "partners.toml", "flags.toml"}
    assert "# " in (folder / "partners.toml").read_text()
    listing = pool_json("partners", "list", config=folder)
    assert [p["code"] for p in listing] == ["LIB"]
    again = pool("init", str(folder))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def test_demo_flag_rules_are_the_shipped_defaults() -> None:
    """The demo's flags.toml is the rule file `pool init` writes, so the two never drift apart."""
    from resource_pool.cli import STARTER
    from tests.runpool import ROOT

    assert (ROOT / "config" / "flags.toml").read_bytes() == (STARTER / "flags.toml").read_bytes()
