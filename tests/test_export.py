"""Exports for the OPAC: formats read back by other tools, merged records, targets, limits."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymarc
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import Engine, text

from harvesters.errors import ConfigError
from resource_pool.config import PoolConfig, load_config
from resource_pool.db import open_pool
from resource_pool.export import (
    MAX_FIELD_BYTES,
    MemberRecord,
    RecordLayout,
    UnionFlag,
    UnionHolding,
    UnionRecord,
    _decode,
    export_catalogue,
    export_settings,
    export_target,
    iso2709,
    merge_record,
)
from resource_pool.harvest import harvest_source
from tests.runpool import ROOT, copy_database, database_for, pool, pool_json, write_config

YAZ_MARCDUMP = shutil.which("yaz-marcdump")


# -- the harvested demo pool, shared by the tests that only read it --------------------------


def copy_demo(folder: Path) -> Path:
    """The demo configuration folder, copied with its files; its exports land in folder/var."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    return config


def harvest_all(engine: Engine, config: PoolConfig) -> None:
    for source in config.sources:
        summary = harvest_source(engine, config, source)
        assert summary.status == "ok", summary.error


@pytest.fixture(scope="module")
def demo(
    demo_pool: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, Engine]]:
    """The run's harvested demo pool, read only, beside a copy of its configuration:
    (config folder, URL, engine)."""
    config_folder = copy_demo(tmp_path_factory.mktemp("demo"))
    engine = open_pool(demo_pool)
    yield config_folder, demo_pool, engine
    engine.dispose()


def rows(engine: Engine, query: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(query)))


def live_clusters(engine: Engine) -> set[int]:
    return {row[0] for row in rows(engine, "SELECT id FROM cluster WHERE NOT deleted")}


def holdings_by_cluster(engine: Engine) -> dict[int, Counter[tuple[str, str, str, str]]]:
    found: dict[int, Counter[tuple[str, str, str, str]]] = {}
    query = (
        "SELECT sr.cluster_id, p.code, h.location, h.call_number, h.barcode FROM holding h "
        "JOIN source_record sr ON sr.id = h.source_record_id JOIN partner p ON p.id = h.partner_id"
    )
    for cluster_id, *holding in rows(engine, query):
        found.setdefault(cluster_id, Counter())[tuple(holding)] += 1
    return found


def flags_by_cluster(engine: Engine) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    for cluster_id, flag, rule in rows(engine, "SELECT cluster_id, flag, rule FROM flag"):
        found.setdefault(cluster_id, set()).add((flag, rule))
    return found


def read_marc(path: Path) -> list[pymarc.Record]:
    with path.open("rb") as handle:
        reader = pymarc.MARCReader(handle, to_unicode=True, force_utf8=True)
        records = list(reader)
    assert all(record is not None for record in records), "pymarc could not read a record"
    return [record for record in records if record is not None]


def subfield(field: pymarc.Field, code: str) -> str:
    values = field.get_subfields(code)
    return values[0] if values else ""


# -- the formats, read back by other tools -------------------------------------------------


def test_marc_export_reads_back_in_pymarc_with_every_holding_and_flag(
    demo: tuple[Path, str, Engine], tmp_path: Path
) -> None:
    """Every live cluster is one ISO 2709 record: union id, pool code, members, holdings, flags."""
    config, url, engine = demo
    out = tmp_path / "pool.mrc"
    summary = pool_json("export", "--format", "marc", "--out", str(out), config=config, db=url)

    records = read_marc(out)
    assert summary["records"] == len(records) == len(live_clusters(engine))
    assert {int(r["001"].data) for r in records} == live_clusters(engine)
    assert {r["003"].data for r in records} == {"TBLPOOL"}
    assert all(len(r["005"].data) == 16 and r.leader[9] == "a" for r in records)

    holdings, flags = holdings_by_cluster(engine), flags_by_cluster(engine)
    members = member_ids_by_cluster(engine)
    for record in records:
        union_id = int(record["001"].data)
        exported = Counter(
            (subfield(f, "a"), subfield(f, "b"), subfield(f, "h"), subfield(f, "p"))
            for f in record.get_fields("852")
        )
        assert exported == holdings[union_id]
        assert {(subfield(f, "a"), subfield(f, "b")) for f in record.get_fields("987")} == (
            flags.get(union_id, set())
        )
        assert members[union_id] <= {f["a"] for f in record.get_fields("035")}


def member_ids_by_cluster(engine: Engine) -> dict[int, set[str]]:
    """Each cluster's members as the 035 writes them: "(TBL)1021"."""
    found: dict[int, set[str]] = {}
    query = (
        "SELECT sr.cluster_id, p.code, sr.local_id FROM source_record sr "
        "JOIN source s ON s.id = sr.source_id JOIN partner p ON p.id = s.partner_id "
        "WHERE NOT sr.deleted AND sr.cluster_id IS NOT NULL"
    )
    for cluster_id, partner, local_id in rows(engine, query):
        found.setdefault(cluster_id, set()).add(
            f"({partner}){local_id.removeprefix(partner + ':')}"
        )
    return found


def test_an_export_removes_what_killed_exports_left_and_keeps_what_a_live_one_writes(
    demo: tuple[Path, str, Engine], tmp_path: Path
) -> None:
    """Temporary files beside --out whose writer is gone are removed; one a running process
    is writing (this test's own) is left alone."""
    config, url, _ = demo
    out = tmp_path / "opac" / "pool.mrc"
    out.parent.mkdir()
    abandoned = out.parent / f".pool.mrc.{ended_pid()}.k1ll3d"
    writing = out.parent / f".pool.mrc.{os.getpid()}.l1v3"
    for leftover in (abandoned, writing):
        leftover.write_bytes(b"half a record")

    pool_json("export", "--format", "marc", "--out", str(out), config=config, db=url)

    assert sorted(path.name for path in out.parent.iterdir()) == [writing.name, "pool.mrc"]


def ended_pid() -> int:
    """The id of a process that has run and ended, so no process has it now."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.skipif(YAZ_MARCDUMP is None, reason="yaz-marcdump not installed (apt-get install yaz)")
def test_marc_export_reads_back_in_yaz_marcdump_without_a_complaint(
    demo: tuple[Path, str, Engine], tmp_path: Path
) -> None:
    """yaz-marcdump, a reader independent of the project, parses every exported record."""
    config, url, engine = demo
    out = tmp_path / "pool.mrc"
    export_catalogue(engine, load_config(config), "marc", out)

    assert YAZ_MARCDUMP is not None
    dumped = subprocess.run(
        [YAZ_MARCDUMP, "-i", "marc", "-o", "line", "-l", "9=97", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert dumped.returncode == 0, dumped.stderr
    assert dumped.stderr == ""
    assert dumped.stdout.count("\n001 ") == len(live_clusters(engine))


def test_marcxml_export_is_valid_against_marc21slim(
    demo: tuple[Path, str, Engine], tmp_path: Path, schemas: Path
) -> None:
    """The MARCXML collection validates against MARC21slim.xsd and holds every live cluster."""
    config, url, engine = demo
    out = tmp_path / "pool.xml"
    summary = export_catalogue(engine, load_config(config), "marcxml", out)

    schema = etree.XMLSchema(etree.parse(str(schemas / "MARC21slim.xsd")))
    document = etree.parse(str(out))
    assert schema.validate(document), schema.error_log.last_error
    assert summary.records == len(document.getroot()) == len(live_clusters(engine))


def test_jsonl_export_has_one_line_per_cluster_with_facts_and_marc_in_json(
    demo: tuple[Path, str, Engine],
) -> None:
    """Each line holds id, title, year, members, holdings, flags and a MARC-in-JSON record."""
    config, url, engine = demo
    buffer = io.BytesIO()
    summary = export_catalogue(engine, load_config(config), "jsonl", buffer)

    lines = [json.loads(line) for line in buffer.getvalue().decode("utf-8").splitlines()]
    assert summary.records == len(lines) == len(live_clusters(engine))
    first = lines[0]
    assert set(first) >= {"id", "title", "year", "members", "holdings", "flags", "marc"}
    assert set(first["members"][0]) >= {"source", "local_id"}
    assert set(first["holdings"][0]) >= {"partner", "location", "call_number"}
    flagged = next(line for line in lines if line["flags"])
    assert set(flagged["flags"][0]) >= {"flag", "rule", "evidence"}

    records = pymarc.parse_json_to_array(io.StringIO(json.dumps([ln["marc"] for ln in lines])))
    assert [r["001"].data for r in records] == [str(line["id"]) for line in lines]


def test_koha_profile_writes_items_in_952_and_flag_filter_keeps_flagged_only(
    demo: tuple[Path, str, Engine],
) -> None:
    """Koha's layout puts each holding in 952 ($a, $b partner); --flag keeps only that flag."""
    config, url, engine = demo
    buffer = io.BytesIO()
    summary = export_catalogue(
        engine, load_config(config), "marc", buffer, flag="rare", profile="koha"
    )

    records = list(pymarc.MARCReader(io.BytesIO(buffer.getvalue()), to_unicode=True))
    rare = {cid for cid, flags in flags_by_cluster(engine).items() if "rare" in dict(flags)}
    assert summary.records == len(records) == len(rare) > 0
    assert all(record is not None and not record.get_fields("852") for record in records)
    items = [f for r in records if r is not None for f in r.get_fields("952")]
    assert items and all(subfield(f, "a") == subfield(f, "b") != "" for f in items)
    assert any(subfield(f, "7") == "1" for f in items), "UNA's not-for-loan items say so in $7"


def test_unknown_flag_is_refused_naming_the_option_and_the_known_flags(
    demo: tuple[Path, str, Engine], tmp_path: Path
) -> None:
    """A flag no rule raises is refused before anything is written, listing the flags that exist."""
    config, url, engine = demo
    with pytest.raises(ConfigError, match=r"--flag 'rarre': .*known: online-course, rare"):
        export_catalogue(engine, load_config(config), "marc", tmp_path / "x.mrc", flag="rarre")
    assert not (tmp_path / "x.mrc").exists()


# -- the merged record -------------------------------------------------------------------


def member(record_id: int, partner: str, local: str, fields: list[dict[str, Any]]) -> MemberRecord:
    marc = {"leader": "00000cam a2200000 i 4500", "fields": fields}
    return MemberRecord(record_id, f"{partner.lower()}-books", partner, f"{partner}:{local}", marc)


def data(tag: str, *pairs: str, ind1: str = " ", ind2: str = " ") -> dict[str, Any]:
    subfields = [{pairs[i]: pairs[i + 1]} for i in range(0, len(pairs), 2)]
    return {tag: {"ind1": ind1, "ind2": ind2, "subfields": subfields}}


def union(*members: MemberRecord, holdings: list[UnionHolding] | None = None) -> UnionRecord:
    from datetime import UTC, datetime

    moment = datetime(2026, 5, 17, 8, 30, 15, 250_000, tzinfo=UTC)
    return UnionRecord(
        42,
        "Laskar pelangi /",
        "2005",
        moment,
        moment,
        False,
        list(members),
        holdings or [],
        [UnionFlag("rare", "rare-genre", "655 $a = 'Naskah kuno'")],
    )


def test_merged_record_takes_the_fullest_member_and_wraps_it_in_pool_fields() -> None:
    """The base is the member with most subfields; 001/003/005, 035s, 852s and 987 surround it."""
    thin = member(7, "TBL", "1021", [{"001": "1021"}, data("245", "a", "Laskar pelangi")])
    full = member(
        9,
        "UNA",
        "2368",
        [
            {"001": "2368"},
            {"008": "050101s2005    io            000 f ind d"},
            data("245", "a", "Laskar pelangi /", "c", "Andrea Hirata."),
            data("100", "a", "Hirata"),
            data("952", "a", "UNA", "p", "3000"),
            data("999", "c", "2368"),
        ],
    )
    holding = UnionHolding("UNA", "UMUM", "899.221 HIR l", "3000", "REF", False)
    marc = merge_record(union(thin, full, holdings=[holding]), RecordLayout("TBLPOOL"))

    tags = [next(iter(field)) for field in marc["fields"]]
    assert tags == ["001", "003", "005", "008", "035", "035", "100", "245", "852", "987"]
    values = [next(iter(field.values())) for field in marc["fields"]]
    assert values[:3] == ["42", "TBLPOOL", "20260517083015.2"]
    assert [v["subfields"] for v in values[4:6]] == [[{"a": "(TBL)1021"}], [{"a": "(UNA)2368"}]]
    assert values[7]["subfields"][1] == {"c": "Andrea Hirata."}
    assert values[8]["subfields"] == [
        {"a": "UNA"},
        {"b": "UMUM"},
        {"c": "REF"},
        {"h": "899.221 HIR l"},
        {"p": "3000"},
    ]
    assert values[9]["subfields"] == [{"a": "rare"}, {"b": "rare-genre"}]
    assert marc["leader"] == "00000cam a2200000 i 4500"


def test_merged_record_breaks_ties_by_the_first_stored_member_and_cleans_what_xml_forbids() -> None:
    """Equal members: the lower record id wins; bad indicators, codes and control bytes go."""
    later = member(12, "TBM", "5", [data("245", "a", "Later", "b", "two subfields")])
    stored = member(
        3, "TBL", "9", [data("245", "a", "Ear\x01lier", ind1="#"), data("650", "@", "x")]
    )
    earlier = MemberRecord(3, "tbl", "TBL", "TBL:9", _decode(json.dumps(stored.marc), "TBL:9"))
    marc = merge_record(union(later, earlier), RecordLayout("P", holdings_tag="952"))

    title = next(f["245"] for f in marc["fields"] if "245" in f)
    assert title == {"ind1": " ", "ind2": " ", "subfields": [{"a": "Earlier"}]}
    assert not any("650" in f for f in marc["fields"]), "a field without a valid code is dropped"


def test_koha_items_carry_not_for_loan_and_the_configured_item_type() -> None:
    """952: $a, $b partner, $c location, $8 collection, $o call number, $7 not for loan, $y."""
    holding = UnionHolding("UNA", "REF", "R 030 KAM", "3001", "REF", False)
    layout = RecordLayout("P", holdings_tag="952", item_type="BK")
    marc = merge_record(
        union(member(1, "UNA", "1", [data("245", "a", "X")]), holdings=[holding]), layout
    )

    item = next(f["952"] for f in marc["fields"] if "952" in f)
    assert item["subfields"] == [
        {"a": "UNA"},
        {"b": "UNA"},
        {"c": "REF"},
        {"8": "REF"},
        {"o": "R 030 KAM"},
        {"p": "3001"},
        {"7": "1"},
        {"y": "BK"},
    ]


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFF), max_size=40
)
_TAGS = st.from_regex(r"[1-9][0-9]{2}", fullmatch=True)
_CODES = st.sampled_from(list("abcdefghpz0123456789"))


@settings(max_examples=60, deadline=None)
@given(
    controls=st.lists(st.tuples(st.sampled_from(["001", "005", "008"]), _TEXT), max_size=3),
    fields=st.lists(
        st.tuples(
            _TAGS,
            st.sampled_from(" 0123"),
            st.lists(st.tuples(_CODES, _TEXT), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_iso2709_fast_path_reads_back_in_pymarc_field_for_field(
    controls: list[tuple[str, str]], fields: list[tuple[str, str, list[tuple[str, str]]]]
) -> None:
    """Records written without pymarc read back in pymarc with the same fields and values."""
    marc = {
        "leader": "00000nam a2200000 i 4500",
        "fields": [{tag: value} for tag, value in controls]
        + [
            {tag: {"ind1": ind, "ind2": " ", "subfields": [{c: v} for c, v in subs]}}
            for tag, ind, subs in fields
        ],
    }
    record = next(iter(pymarc.MARCReader(io.BytesIO(iso2709(marc)), to_unicode=True)))

    assert record is not None
    read = [
        (f.tag, f.data if f.is_control_field() else [(s.code, s.value) for s in f.subfields])
        for f in record.fields
    ]
    assert read == [(t, v) for t, v in controls] + [(t, list(s)) for t, _, s in fields]


# -- records ISO 2709 cannot hold ----------------------------------------------------------


def marcxml_file(path: Path, records: list[pymarc.Record]) -> None:
    path.write_bytes(
        b"<collection xmlns='http://www.loc.gov/MARC21/slim'>"
        + b"".join(pymarc.record_to_xml(record) for record in records)
        + b"</collection>"
    )


def book(number: str, title: str, *extra: pymarc.Field) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 i 4500")
    record.add_field(pymarc.Field(tag="001", data=number))
    record.add_field(pymarc.Field(tag="008", data="200101s2020    io            000 0 ind d"))
    record.add_field(
        pymarc.Field(
            tag="020",
            indicators=pymarc.Indicators(" ", " "),
            subfields=[pymarc.Subfield("a", f"97860200{number:0>5}")],
        )
    )
    record.add_field(
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("1", "0"),
            subfields=[pymarc.Subfield("a", title)],
        )
    )
    for field in extra:
        record.add_field(field)
    return record


def note(size: int) -> pymarc.Field:
    return pymarc.Field(
        tag="500",
        indicators=pymarc.Indicators(" ", " "),
        subfields=[pymarc.Subfield("a", "Catatan panjang. " * (size // 17))],
    )


ONE_SOURCE = """
[[partners]]
code = "TBL"
name = "Perpustakaan Kota Tanjungbalai"

[[partners.sources]]
name = "tbl-books"
kind = "marc"
path = "books.xml"
"""


@pytest.mark.database
def test_records_too_big_for_iso2709_are_reported_not_broken_and_kept_in_marcxml(
    tmp_path: Path, schemas: Path
) -> None:
    """A record over 99,999 bytes or with a field over 9,999 is listed, never written broken."""
    config_folder = write_config(tmp_path / "config", ONE_SOURCE)
    marcxml_file(
        config_folder / "books.xml",
        [
            book("1", "Buku biasa"),
            book("2", "Buku dengan catatan raksasa", *[note(9000) for _ in range(12)]),
            book("3", "Buku dengan satu catatan terlalu panjang", note(MAX_FIELD_BYTES + 500)),
        ],
    )
    url = database_for(tmp_path)
    engine = open_pool(url)
    harvest_all(engine, load_config(config_folder))

    result = pool(
        "export", "--format", "marc", "--out", str(tmp_path / "x.mrc"), config=config_folder, db=url
    )
    assert result.returncode == 0, result.stderr
    assert "2 records were not written" in result.stderr
    assert "bytes; ISO 2709 allows 99,999 a record" in result.stderr
    assert "field 500 is" in result.stderr and "ISO 2709 allows 9,999" in result.stderr
    assert [r["245"]["a"] for r in read_marc(tmp_path / "x.mrc")] == ["Buku biasa"]

    summary = export_catalogue(engine, load_config(config_folder), "marcxml", tmp_path / "x.xml")
    schema = etree.XMLSchema(etree.parse(str(schemas / "MARC21slim.xsd")))
    assert summary.records == 3 and summary.oversized == []
    assert schema.validate(etree.parse(str(tmp_path / "x.xml"))), schema.error_log.last_error
    engine.dispose()


# -- targets ----------------------------------------------------------------------------------


TARGET_TOML = """
[pool]
name = "Test pool"
code = "TEST"
database = "pool.sqlite"

[[export.targets]]
name = "opac"
format = "marc"
path = "out/opac-{stamp}.mrc"
profile = "vufind"
"""


def union_ids(path: Path) -> dict[str, int]:
    """Member id ("(TBL)7") to union id, from an exported MARC file."""
    found = {}
    for record in read_marc(path):
        for field in record.get_fields("035"):
            found[field["a"]] = int(record["001"].data)
    return found


def write_books(folder: Path, numbers: list[int], changed: int | None = None) -> None:
    records = []
    for number in numbers:
        title = f"Sejarah Tanjungbalai jilid {number}"
        records.append(book(str(number), title + (" (edisi revisi)" if number == changed else "")))
    marcxml_file(folder / "books.xml", records)


def test_target_writes_exactly_what_changed_and_a_deletes_file_of_removed_clusters(
    tmp_path: Path, database_url: str
) -> None:
    """After a harvest that changes, adds and deletes, the target writes those and deletes those."""
    config_folder = write_config(tmp_path / "config", ONE_SOURCE, TARGET_TOML)
    engine = open_pool(database_url)
    write_books(config_folder, list(range(1, 11)))
    harvest_all(engine, load_config(config_folder))

    first = export_target(engine, load_config(config_folder), "opac")
    assert first.full and first.records == 10 and first.deleted == 0
    assert first.path is not None and first.deletes_path is None
    before = union_ids(Path(first.path))

    write_books(config_folder, [1, 2, 4, 5, 6, 7, 8, 9, 10, 11], changed=2)
    harvest_all(engine, load_config(config_folder))
    second = export_target(engine, load_config(config_folder), "opac")

    assert not second.full and second.path is not None and second.deletes_path is not None
    written = union_ids(Path(second.path))
    assert set(written) == {"(TBL)2", "(TBL)11"}
    assert written["(TBL)2"] == before["(TBL)2"], "a changed record keeps its union id"
    assert Path(second.deletes_path).read_text() == f"{before['(TBL)3']}\n"
    assert Path(second.deletes_path).name == Path(second.path).stem + ".delete"

    third = export_target(engine, load_config(config_folder), "opac")
    assert (third.records, third.deleted, third.path, third.deletes_path) == (0, 0, None, None)
    assert sorted(p.suffix for p in (config_folder / "out").iterdir()) == [
        ".delete",
        ".mrc",
        ".mrc",
    ]
    engine.dispose()


@pytest.mark.database
def test_a_failed_target_run_leaves_no_file_and_keeps_its_mark(tmp_path: Path) -> None:
    """A run that cannot write says where and why, leaves no temporary file, and moves no mark."""
    blocked = TARGET_TOML.replace("out/opac-{stamp}.mrc", "blocker/opac.mrc")
    config_folder = write_config(tmp_path / "config", ONE_SOURCE, blocked)
    (config_folder / "blocker").write_text("a file where a folder should be")
    write_books(config_folder, [1, 2, 3])
    engine = open_pool(database_for(tmp_path))
    harvest_all(engine, load_config(config_folder))

    with pytest.raises(ConfigError, match=r"export target 'opac' path: cannot write .*blocker"):
        export_target(engine, load_config(config_folder), "opac")
    status = rows(engine, "SELECT last_status, mark FROM export_target WHERE name = 'opac'")
    assert [tuple(row) for row in status] == [("failed", None)]

    write_config(tmp_path / "config", ONE_SOURCE, TARGET_TOML)
    retried = export_target(engine, load_config(config_folder), "opac")
    assert retried.full and retried.records == 3
    assert [p.name for p in (config_folder / "out").iterdir()] == [Path(retried.path or "").name]
    engine.dispose()


def test_target_from_the_cli_writes_a_stamped_file_then_nothing_new(
    demo: tuple[Path, str, Engine], tmp_path: Path
) -> None:
    """`pool export --target vufind` of the demo writes pool-<stamp>.mrc, then nothing new."""
    config, original, engine = demo
    url = copy_database(original, tmp_path)

    first = pool_json("export", "--target", "vufind", config=config, db=url)
    assert first["full"] and first["records"] == len(live_clusters(engine))
    assert Path(first["path"]).name.startswith("pool-20") and Path(first["path"]).exists()
    copy_engine = open_pool(url)
    second = export_target(copy_engine, load_config(config), "vufind")
    assert (second.records, second.path, second.full) == (0, None, False)
    copy_engine.dispose()
    shutil.rmtree(config.parent / "var" / "export")


def test_a_target_takes_no_format_out_or_flag_from_the_command_line() -> None:
    """--target with --format, --out, --flag or --profile is a usage error naming the option."""
    # The command modules register on the app, so the app is imported first.
    from resource_pool import cli  # noqa: F401
    from resource_pool.cli_export import _refuse_with_target

    _refuse_with_target(None, None, None, "generic")
    for arguments, option in [
        (("jsonl", None, None, "generic"), "--format"),
        ((None, "x.mrc", None, "generic"), "--out"),
        ((None, None, "rare", "generic"), "--flag"),
        ((None, None, None, "koha"), "--profile"),
    ]:
        with pytest.raises(typer.BadParameter, match=option):
            _refuse_with_target(*arguments)


@pytest.mark.parametrize(
    ("export_toml", "message"),
    [
        ("[export]\nflag_tags = '987'\n", "pool.toml [export]: unknown key 'flag_tags'"),
        ("[export]\nflag_tag = '852'\n", "flag_tag = '852': must be a local 9XX tag"),
        ("[export]\nflag_tag = '952'\n", "that tag holds Koha's items"),
        ("[[export.targets]]\nname = 'a'\nformat = 'iso'\npath = 'x'\n", "format = 'iso'"),
        ("[[export.targets]]\nname = 'a'\nformat = 'marc'\npath = 'x-{date}.mrc'\n", "{stamp}"),
        (
            "[[export.targets]]\nname = 'a'\nformat = 'marc'\npath = 'x'\nitem_type = 'BK'\n",
            "item_type = 'BK': only profile koha uses it",
        ),
        (
            "[[export.targets]]\nname = 'a'\nformat = 'marc'\npath = 'x'\n" * 2,
            "name 'a' is used twice",
        ),
    ],
)
def test_export_table_errors_name_pool_toml_the_key_and_the_value(
    tmp_path: Path, export_toml: str, message: str
) -> None:
    """A wrong [export] table is refused with a message that says what to fix."""
    pool_toml = '[pool]\nname = "T"\ncode = "T"\n' + export_toml
    config = load_config(write_config(tmp_path, ONE_SOURCE, pool_toml))
    with pytest.raises(ConfigError) as error:
        export_settings(config)
    assert message in str(error.value)


def test_exported_union_ids_are_the_cluster_ids_kept_in_the_database(
    demo: tuple[Path, str, Engine],
) -> None:
    """001 is cluster.id itself, so ids survive reclustering exactly as the clusters keep them."""
    config, url, engine = demo
    buffer = io.BytesIO()
    export_catalogue(engine, load_config(config), "jsonl", buffer)
    by_member = {
        m["local_id"]: line["id"]
        for line in map(json.loads, buffer.getvalue().splitlines())
        for m in line["members"]
    }
    stored = dict(
        rows(
            engine,
            "SELECT local_id, cluster_id FROM source_record "
            "WHERE NOT deleted AND cluster_id IS NOT NULL",
        )
    )
    assert by_member == stored
