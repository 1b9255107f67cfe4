"""The demo partners' files: regenerated identically, readable, valid, and as designed."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pymarc
import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "config" / "demo"
ISO_FILES = {"tbl/koleksi.mrc": "TBL", "sma1/inlislite.mrc": "SMA1", "tbm/tbm.mrc": "TBM"}
XML_FILE = "una/katalog.xml"

# The design, as docs/demo.md states it.
RECORDS = {"TBL": 164, "UNA": 169, "SMA1": 89, "TBM": 64}
BROKEN_TBM = ["RecordDirectoryInvalid", "TruncatedRecord"]
EDITIONS = 286
SHARED_EDITIONS = 142
FEED_COURSES = 15
CSV_COURSES = 8


def load_generator() -> ModuleType:
    """Import scripts/make_demo.py, which is a script and not part of the package."""
    spec = importlib.util.spec_from_file_location("make_demo", ROOT / "scripts" / "make_demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The generator module, imported once."""
    return load_generator()


def read_iso(path: Path) -> tuple[list[pymarc.Record], list[str]]:
    """Every record pymarc can read, and the exception names of those it cannot."""
    good, bad = [], []
    with path.open("rb") as handle:
        reader = pymarc.MARCReader(handle, permissive=True)
        for record in reader:
            if record is None:
                bad.append(type(reader.current_exception).__name__)
            else:
                good.append(record)
    return good, bad


def all_records() -> dict[str, list[pymarc.Record]]:
    """The readable records of every demo MARC file, by partner code."""
    records = {code: read_iso(DEMO / name)[0] for name, code in ISO_FILES.items()}
    records["UNA"] = pymarc.parse_xml_to_array(str(DEMO / XML_FILE))
    return records


def values(record: pymarc.Record, tag: str, code: str) -> list[str]:
    """Every value of subfield `code` in every `tag` field of the record."""
    return [v for fld in record.get_fields(tag) for v in fld.get_subfields(code)]


def isbn_is_valid(text: str) -> bool:
    """True when the ISBN-10 or ISBN-13 at the start of `text` has the right check digit."""
    digits = "".join(ch for ch in text.split(" (")[0] if ch.isdigit() or ch in "Xx").upper()
    if len(digits) == 13:
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
        return total % 10 == 0
    if len(digits) == 10:
        values = [10 if d == "X" else int(d) for d in digits]
        return sum(v * (10 - i) for i, v in enumerate(values)) % 11 == 0
    return False


def test_generator_is_deterministic(generator: ModuleType, tmp_path: Path) -> None:
    """Running the generator into a fresh folder gives the committed files byte for byte."""
    generator.write_demo(tmp_path)

    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(DEMO) for p in DEMO.rglob("*") if p.is_file())
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name


def test_iso_files_read_with_expected_counts() -> None:
    """pymarc reads every ISO 2709 record but the two damaged ones in the TBM file."""
    for name, code in ISO_FILES.items():
        good, bad = read_iso(DEMO / name)

        assert len(good) == RECORDS[code], name
        assert bad == (BROKEN_TBM if code == "TBM" else []), name


def test_marcxml_reads_with_expected_count() -> None:
    """The Koha MARCXML export holds the university's records, each with items in 952."""
    records = pymarc.parse_xml_to_array(str(DEMO / XML_FILE))

    assert len(records) == RECORDS["UNA"]
    assert all(record.get_fields("952") for record in records)


def test_marcxml_is_valid_against_schema(schemas: Path) -> None:
    """The MARCXML file validates against the Library of Congress MARC21slim schema."""
    schema = etree.XMLSchema(etree.parse(str(schemas / "MARC21slim.xsd")))
    document = etree.parse(str(DEMO / XML_FILE))

    assert schema.validate(document), schema.error_log


def test_every_isbn_has_a_valid_check_digit() -> None:
    """Every ISBN in 020 $a and 776 $z, in any of its written forms, has a correct check digit."""
    seen = 0
    for code, records in all_records().items():
        for record in records:
            for value in values(record, "020", "a") + values(record, "776", "z"):
                seen += 1
                assert isbn_is_valid(value), (code, record.get("001"), value)
    assert seen > 300


def test_every_record_is_utf8_with_a_well_formed_008() -> None:
    """Leader/09 says UTF-8 and every 008 has its 40 positions with a real Date1."""
    for code, records in all_records().items():
        for record in records:
            assert record.leader[9] == "a", code
            fixed = record["008"].data
            assert len(fixed) == 40, (code, fixed)
            assert fixed[7:11].isdigit(), (code, fixed)


def test_editions_shared_between_partners_are_as_designed(generator: ModuleType) -> None:
    """The design holds 286 editions, 142 of them at two or more partners, matching the files."""
    holders = generator.edition_holders()
    per_partner = Counter(code for codes in holders.values() for code in codes)

    assert len(holders) == EDITIONS
    assert sum(1 for codes in holders.values() if len(codes) >= 2) == SHARED_EDITIONS
    broken = len(generator.BROKEN_IN_TBM)
    assert per_partner["TBM"] - broken == RECORDS["TBM"]
    assert {code: n for code, n in per_partner.items() if code != "TBM"} == {
        code: n for code, n in RECORDS.items() if code != "TBM"
    }


def test_rare_and_online_items_are_present() -> None:
    """Manuscripts, old imprints, courses and e-books are all there, and e-books are not courses."""
    records = [r for rs in all_records().values() for r in rs]
    manuscripts = [r for r in records if r.leader[6] == "t"]
    early = [r for r in records if r["008"].data[7:11] < "1910"]
    courses = [r for r in records if "Kursus daring" in values(r, "655", "a")]
    ebook_terms = {"Electronic books", "Buku elektronik"}
    ebooks = [r for r in records if ebook_terms & set(values(r, "655", "a"))]

    assert len({r["245"]["a"] for r in manuscripts}) >= 16
    assert any("Bahasa Melayu, aksara Jawi." in values(r, "546", "a") for r in manuscripts)
    assert len(early) >= 30
    assert len(courses) >= 5
    assert all(r["856"]["u"].startswith("https://spada.kemdikbud.go.id/") for r in courses)
    assert ebooks and not any("Kursus daring" in values(r, "655", "a") for r in ebooks)


def test_course_feed_and_csv_are_well_formed() -> None:
    """The course feed has the Open edX list shape and the CSV has the agreed columns."""
    feed = json.loads((DEMO / "courses" / "una-courses.json").read_text(encoding="utf-8"))
    with (DEMO / "courses" / "kursus.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert len(feed["results"]) == feed["pagination"]["count"] == FEED_COURSES
    for course in feed["results"]:
        assert {"name", "org", "course_id", "short_description", "start", "end",
                "course_url", "blocks_url", "media"} <= course.keys()
    assert len(rows) == CSV_COURSES
    assert list(rows[0]) == ["title", "provider", "url", "language", "start", "end",
                             "description", "subjects"]
