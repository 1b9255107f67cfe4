"""The oai_dc to MARC crosswalk, on a full hand-made record and on real pages."""

from __future__ import annotations

from pathlib import Path

import pymarc
import pytest
from lxml import etree

from harvesters.dublin_core import record_from_dc
from harvesters.errors import RecordError
from harvesters.xmlsafe import parse_xml

OAI_DC = (
    '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/">{}</oai_dc:dc>'
)
FULL = OAI_DC.format(
    "<dc:title>Sejarah Kota Tanjungbalai</dc:title><dc:title>History of Tanjungbalai</dc:title>"
    "<dc:creator>Siregar, Ahmad</dc:creator><dc:creator>Dinas Perpustakaan</dc:creator>"
    "<dc:contributor>Lubis, Sari</dc:contributor><dc:subject>Sejarah lokal</dc:subject>"
    "<dc:subject>959.81</dc:subject><dc:description>Kisah kota pelabuhan.</dc:description>"
    "<dc:publisher>Pustaka Asahan</dc:publisher><dc:date>2019-05-01</dc:date>"
    "<dc:type>Text</dc:type><dc:format>application/pdf</dc:format>"
    "<dc:identifier>978-602-1234-56-7</dc:identifier>"
    "<dc:identifier>https://perpustakaan.example/item/7</dc:identifier>"
    "<dc:identifier>oai:perpustakaan.example:7</dc:identifier>"
    "<dc:source>Arsip daerah</dc:source><dc:language>id</dc:language>"
    "<dc:relation>Seri sejarah Sumatera Utara</dc:relation>"
    "<dc:coverage>Sumatera Utara</dc:coverage><dc:rights>CC BY 4.0</dc:rights>"
)


def crosswalk(xml: str, **options: object) -> pymarc.Record:
    return record_from_dc(etree.fromstring(xml.encode()), **options)  # type: ignore[arg-type]


def values(record: pymarc.Record, tag: str, code: str) -> list[str]:
    return [value for field in record.get_fields(tag) for value in field.get_subfields(code)]


def test_every_dc_element_lands_in_its_crosswalk_field() -> None:
    """Each of the fifteen elements goes where the Library of Congress crosswalk sends it."""
    record = crosswalk(FULL, datestamp="2024-03-05T10:00:00Z")

    assert values(record, "245", "a") == ["Sejarah Kota Tanjungbalai"]
    assert values(record, "246", "a") == ["History of Tanjungbalai"]
    assert values(record, "100", "a") == ["Siregar, Ahmad"]
    assert values(record, "720", "a") == ["Dinas Perpustakaan"]
    assert values(record, "700", "a") == ["Lubis, Sari"]
    assert values(record, "653", "a") == ["Sejarah lokal"]
    assert values(record, "082", "a") == ["959.81"]
    assert values(record, "520", "a") == ["Kisah kota pelabuhan."]
    assert values(record, "260", "b") == ["Pustaka Asahan"]
    assert values(record, "260", "c") == ["2019-05-01"]
    assert values(record, "655", "a") == ["Text"] and values(record, "655", "2") == ["local"]
    assert values(record, "856", "q") == ["application/pdf"]
    assert values(record, "020", "a") == ["9786021234567"]
    assert values(record, "856", "u") == ["https://perpustakaan.example/item/7"]
    assert values(record, "024", "a") == ["oai:perpustakaan.example:7"]
    assert values(record, "786", "n") == ["Arsip daerah"]
    assert values(record, "546", "a") == ["id"] and values(record, "041", "a") == ["ind"]
    assert values(record, "787", "n") == ["Seri sejarah Sumatera Utara"]
    assert values(record, "500", "a") == ["Sumatera Utara"]
    assert values(record, "540", "a") == ["CC BY 4.0"]
    assert values(record, "042", "a") == ["dc"]


def test_leader_and_008_are_coded_from_type_date_and_language() -> None:
    """Leader/06-07 come from dc:type, 008 carries entry date, year and language in 40 bytes."""
    record = crosswalk(FULL, datestamp="2024-03-05T10:00:00Z")
    fixed = record["008"].data

    assert record.leader[6:8] == "am"
    assert len(fixed) == 40
    assert fixed[0:6] == "240305" and fixed[6:11] == "s2019" and fixed[35:38] == "ind"
    assert fixed[23] == "o"


def test_indicators_follow_the_crosswalk() -> None:
    """856 for a URL is 40, 024 for another identifier is 8_, 655 is _7, 245 is 00."""
    record = crosswalk(FULL)
    indicators = {tag: "".join(record[tag].indicators) for tag in ("856", "024", "655", "245")}
    assert indicators == {"856": "40", "024": "8 ", "655": " 7", "245": "00"}


@pytest.mark.parametrize(("kind", "expected"), [("image", "km"), ("Sound", "im"),
                                                ("Dataset", "mm"), ("journal article", "ab"),
                                                ("MovingImage", "gm"), ("", "am")])
def test_dc_type_sets_leader_type_and_level(kind: str, expected: str) -> None:
    """dc:type words choose Leader/06 and /07; no type means a book."""
    record = crosswalk(OAI_DC.format(f"<dc:title>T</dc:title><dc:type>{kind}</dc:type>"))
    assert record.leader[6:8] == expected


def test_a_record_with_neither_title_nor_identifier_is_rejected() -> None:
    """An oai_dc record with nothing to identify it raises RecordError."""
    with pytest.raises(RecordError, match="neither dc:title nor dc:identifier"):
        crosswalk(OAI_DC.format("<dc:subject>kosong</dc:subject>"))


def test_aliases_bring_non_dc_elements_in() -> None:
    """An alias maps a server's own element (identifier_isbn) to an ISBN in 020."""
    xml = OAI_DC.format("<dc:title>Buku</dc:title><dc:identifier_isbn>979-3062-79-7"
                        "</dc:identifier_isbn>")
    record = crosswalk(xml, aliases={"identifier_isbn": "isbn"})
    assert values(record, "020", "a") == ["9793062797"]


def test_real_traject_page_crosswalks_every_record(corpora: Path) -> None:
    """All 10 oai_dc records of the science-history page get a 245 equal to their dc:title."""
    page = parse_xml((corpora / "github-traject" / "sample-oai-pmh.xml").read_bytes(), "traject")
    dc_ns = "{http://purl.org/dc/elements/1.1/}"
    payloads = page.findall(".//{http://www.openarchives.org/OAI/2.0/oai_dc/}dc")

    assert len(payloads) == 10
    for payload in payloads:
        record = record_from_dc(payload)
        assert record["245"]["a"] == payload.findtext(f"{dc_ns}title").strip()
        assert len(record["008"].data) == 40
