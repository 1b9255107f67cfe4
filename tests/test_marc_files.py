"""Reading MARC files: every corpus file loads, bad records are quarantined with reasons."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest

from harvesters.errors import SourceError
from harvesters.marc import MarcFileHarvester


def read_all(path: Path, **options: object) -> tuple[list, list]:  # type: ignore[type-arg]
    """Every record and every rejection a harvester yields for one file."""
    harvester = MarcFileHarvester(
        source="s",
        partner="P",
        path=str(path),
        **options,  # type: ignore[arg-type]
    )
    records, rejections = [], []
    for page in harvester.pages(None):
        records += page.records
        rejections += page.rejections
    return records, rejections


def marc_files(corpora: Path) -> list[Path]:
    rows = csv.DictReader((corpora / "INVENTORY.tsv").open(), delimiter="\t")
    return [
        corpora / row["path"]
        for row in rows
        if row["format"] == "iso2709"
        or (row["format"] == "xml" and row["marc_records"] not in ("", "0"))
    ]


def test_every_corpus_file_loads_without_a_crash(corpora: Path) -> None:
    """Each ISO 2709 and MARCXML file in the corpora is read to its end: records or rejects."""
    files = marc_files(corpora)
    assert len(files) > 150
    totals: Counter[str] = Counter()
    for path in files:
        records, rejections = read_all(path)
        totals["records"] += len(records)
        totals["rejected"] += len(rejections)
        assert records or rejections or path.stat().st_size < 100, path
        for rejection in rejections:
            assert rejection.reason and rejection.position, (path, rejection)
    assert totals["records"] > 2500


@pytest.mark.parametrize(
    ("name", "loaded", "rejected", "reason"),
    [
        (
            "github-marc4j/test/resources/pride-and-prejudice-with-many-errors.mrc",
            367,
            16,
            "not a multiple of 12",
        ),
        (
            "github-marc4j/test/resources/bad_oversize_field_bad_directory.mrc",
            4,
            1,
            "directory is 217 bytes",
        ),
        ("github-marc4j/test/resources/008008027.mrc", 18, 1, "the file ends inside this record"),
        ("github-marc4j/test/resources/chinese_mangled_multibyte.mrc", 3, 1, "Multi-byte position"),
        ("github-marc4j/test/resources/incomplete_esc_seq.mrc", 0, 1, "MARC-8 text"),
        ("debsrc-libmarc-record-perl-2.0.7/t/baddir.usmarc", 0, 1, "directory entry 11"),
        ("debsrc-libmarc-record-perl-2.0.7/t/badldr.usmarc", 6, 1, "the file ends inside"),
        ("debsrc-libmarc-record-perl-2.0.7/t/cameleof.usmarc", 10, 0, ""),
        ("github-pear-File_MARC/bad_example.mrc", 0, 1, "directory entry 16"),
        ("github-pear-File_MARC/bad_example2.mrc", 0, 1, "not a multiple of 12"),
        ("github-pear-File_MARC/wronglen.mrc", 1, 0, ""),
        ("github-pear-File_MARC/bad_leader.xml", 0, 1, "is 26 characters, not 24"),
        ("github-traject/bad_utf_byte.utf8.marc", 1, 0, ""),
        ("github-Catmandu-MARC/bu_bibs.mrc", 92, 8, "the record cannot be rebuilt"),
        ("github-Catmandu-MARC/broken.xml", 10, 0, ""),
        ("github-ruby-marc/three-records-second-bad.xml", 2, 1, "invalid character in attribute"),
        (
            "github-folio-mod-reservoir/pennstate-bad-rec-20221216.xml",
            299,
            1,
            "Invalid bytes in character encoding",
        ),
        ("github-folio-mod-reservoir/marc1-delete.xml", 0, 1, "invalid xmlChar value 1"),
        ("github-folio-mod-reservoir/badleader.marc", None, None, None),
        ("github-NatLibFi-RecordManager/record/marc-broken.xml", 1, 0, ""),
    ],
)
def test_malformed_files_pin_loaded_and_rejected(
    corpora: Path, name: str, loaded: int | None, rejected: int | None, reason: str | None
) -> None:
    """For the broken files the corpora name, exactly how many load and why the rest do not."""
    path = corpora / name
    if not path.exists():
        matches = list(corpora.rglob(Path(name).name))
        assert matches, name
        path = matches[0]
    records, rejections = read_all(path)
    if loaded is None:
        assert records or rejections
        return
    assert (len(records), len(rejections)) == (loaded, rejected)
    if reason:
        assert all(reason in r.reason for r in rejections), [r.reason for r in rejections]


def test_nlnz_gives_1001_records(corpora: Path) -> None:
    """The National Library of New Zealand sample is 1,001 records, all readable."""
    records, rejections = read_all(
        corpora / "github-carpentries-pymarc_basics/NLNZ_1000_example_marc.marc"
    )
    assert (len(records), len(rejections)) == (1001, 0)
    assert len({r.local_id for r in records}) == 1001
    assert all(r.local_id.startswith("P:") for r in records)


@pytest.mark.parametrize(
    ("name", "tag", "expected"),
    [
        ("cjk1.marc", "880", "金田一 京助 と アイヌ語"),
        ("cjk1.marc", "880", "大正 十三造"),
        ("hebrew1.marc", "880", "בטאון איגוד כללי סופרים"),
        ("cyrillic.marc", "880", "Одлуке и решења Савезног уставног суда"),
        ("cyrillic.marc", "880", "Југославије"),
        ("cjk1.marc", "245", "Kindaichi Kyōsuke to Ainugo"),
    ],
)
def test_marc8_becomes_utf8(corpora: Path, name: str, tag: str, expected: str) -> None:
    """MARC-8 CJK, Hebrew and Cyrillic come out as the right Unicode text, leader marked UTF-8."""
    records, _ = read_all(corpora / "debsrc-libmarc-charset-perl-1.35/t" / name)
    record = records[0].marc
    assert record.leader[9] == "a"
    text = " ".join(field.value() for field in record.get_fields(tag))
    assert expected in text


def test_utf8_leader_lying_about_marc8_is_read_as_utf8(tmp_path: Path) -> None:
    """A record whose Leader/09 says MARC-8 but whose bytes are UTF-8 keeps its letters."""
    import pymarc

    record = pymarc.Record(force_utf8=True)
    record.add_field(pymarc.Field(tag="001", data="x1"))
    record.add_field(
        pymarc.Field(
            tag="245",
            indicators=pymarc.Indicators("0", "0"),
            subfields=[pymarc.Subfield("a", "Sejarah Tanjungbalai — Asahan")],
        )
    )
    data = bytearray(record.as_marc())
    data[9] = ord(" ")
    (tmp_path / "lying.mrc").write_bytes(bytes(data))
    records, rejections = read_all(tmp_path / "lying.mrc")
    assert not rejections
    assert records[0].marc["245"]["a"] == "Sejarah Tanjungbalai — Asahan"


def test_gzip_and_marcxml_give_the_same_records(corpora: Path, tmp_path: Path) -> None:
    """The traject test file reads the same as ISO 2709, gzip and MARCXML."""
    base = corpora / "github-traject"
    plain, _ = read_all(base / "test_data.utf8.mrc")
    zipped, _ = read_all(base / "test_data.utf8.mrc.gz")
    xml, _ = read_all(base / "test_data.utf8.marc.xml")
    assert len(plain) == len(zipped) == len(xml) == 30
    assert [r.local_id for r in plain] == [r.local_id for r in zipped] == [r.local_id for r in xml]
    assert [r.marc.title for r in plain] == [r.marc.title for r in xml]


def test_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    """A small gzip file that inflates past the size cap is refused, not read to the end."""
    bomb = tmp_path / "bomb.mrc.gz"
    with gzip.open(bomb, "wb") as handle:
        for _ in range(64):
            handle.write(b"0" * (1 << 20))
    with pytest.raises(SourceError, match="more than 16777216 bytes"):
        read_all(bomb, max_bytes=16 << 20)


def test_resume_from_checkpoint_continues_after_the_last_page(corpora: Path) -> None:
    """Resuming from a page's checkpoint yields exactly the records after that page."""
    path = corpora / "github-marc4j/test/resources/pride-and-prejudice-fixed.mrc"
    harvester = MarcFileHarvester(source="s", partner="P", path=str(path), page_size=100)
    pages = list(harvester.pages(None))
    all_ids = [r.local_id for p in pages for r in p.records]
    resumed = list(harvester.pages(pages[1].checkpoint))
    resumed_ids = [r.local_id for p in resumed for r in p.records]
    assert resumed_ids == all_ids[200:]


def test_no_matching_file_is_a_source_error(tmp_path: Path) -> None:
    """A glob that matches nothing fails the source, naming the pattern."""
    with pytest.raises(SourceError, match=r"no file matches path '.*nothing-\*\.mrc'"):
        read_all(tmp_path / "nothing-*.mrc")
