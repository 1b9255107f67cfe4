"""Each partner system's documented quirks, served over HTTP and read through its profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymarc
import pytest
from lxml import etree

from harvesters.errors import ConfigError, RecordError
from harvesters.oai import OaiHarvester
from harvesters.oai_profiles import PROFILES, profile_named
from harvesters.records import Page
from tests.oaiserver import QUICK_CLIENT, OaiServer, Replay, Reply, SyntheticRepository

OAI = '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">{}</OAI-PMH>'
DC = ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/">{}</oai_dc:dc>')


def identify(deleted: str = "persistent", granularity: str = "YYYY-MM-DDThh:mm:ssZ") -> Reply:
    return Reply(OAI.format(
        "<responseDate>2025-02-01T03:04:05Z</responseDate><request>x</request><Identify>"
        "<repositoryName>r</repositoryName><baseURL>x</baseURL><protocolVersion>2.0"
        "</protocolVersion><earliestDatestamp>2000-01-01</earliestDatestamp>"
        f"<deletedRecord>{deleted}</deletedRecord><granularity>{granularity}</granularity>"
        "</Identify>").encode())


def list_records(*records: str, prefix: str = "") -> Reply:
    body = OAI.format("<responseDate>2025-02-01T03:04:05Z</responseDate><request>x</request>"
                      f"<ListRecords>{''.join(records)}</ListRecords>")
    return Reply((prefix + body).encode())


def record(identifier: str, metadata: str, datestamp: str = "2025-01-01") -> str:
    stamp = f"<datestamp>{datestamp}</datestamp>" if datestamp else "<datestamp/>"
    return (f"<record><header><identifier>{identifier}</identifier>{stamp}</header>"
            f"<metadata>{metadata}</metadata></record>")


def repository(listing: Reply, deleted: str = "persistent", prefix: str = "oai_dc") -> Replay:
    return (Replay().route({"verb": "Identify"}, identify(deleted))
            .route({"verb": "ListRecords", "metadataPrefix": prefix}, listing))


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with OaiServer() as running:
        yield running


def harvest(url: str, partner: str = "TBL", **options: Any) -> list[Page]:
    settings = {**QUICK_CLIENT, **options}
    return list(OaiHarvester("test", partner, url, **settings).pages(None))


def test_every_documented_system_has_a_profile() -> None:
    """generic, slims, inlislite, koha, ojs, eprints and dspace exist; others are a ConfigError."""
    assert set(PROFILES) == {"generic", "slims", "inlislite", "koha", "ojs", "eprints", "dspace"}
    with pytest.raises(ConfigError, match="profile = 'senayan' is not one of generic"):
        profile_named("senayan")


# -- SLiMS ----------------------------------------------------------------------------


def test_slims_offers_only_oai_dc_and_needs_periodic_full_harvests() -> None:
    """SLiMS datestamps are creation dates, so the profile says a full harvest is needed."""
    slims = profile_named("slims")
    assert slims.prefixes == ("oai_dc",)
    assert "do not change when a record is edited" in slims.full_harvest_reason("persistent")


def test_slims_text_before_prolog_is_stripped_and_isbn_kept(server: OaiServer) -> None:
    """An old SLiMS page with a notice before the prolog parses; dc:identifier_isbn becomes 020."""
    slims_record = DC.format("<dc:title>Hikayat Raja Pasai</dc:title>"
                             "<dc:identifier_isbn>979-3062-79-7</dc:identifier_isbn>")
    listing = list_records(record("oai:perpustakaan.example:slims-12", slims_record),
                           prefix='Notice: Undefined index: from\n<?xml version="1.0"?>\n')
    pages = harvest(server.add("slims", repository(listing)), profile="slims")

    marc = pages[0].records[0].marc
    assert marc is not None and marc["020"]["a"] == "9793062797"
    with pytest.raises(Exception, match="not well-formed|cannot be parsed"):
        harvest(server.add("generic", repository(listing)), metadata_prefix="oai_dc",
                retries=0)


def test_slims_legacy_shared_prefix_is_namespaced_and_no_datestamp_is_none(
        server: OaiServer) -> None:
    """Two installs of legacy oai.php both say oai:slims/7; partner codes keep them apart."""
    listing = list_records(record("oai:slims/7", DC.format("<dc:title>Buku</dc:title>"),
                                  datestamp=""))
    url = server.add("legacy", repository(listing))
    first, second = harvest(url, "TBL", profile="slims"), harvest(url, "ASA", profile="slims")

    assert first[0].records[0].local_id == "TBL:oai:slims/7"
    assert second[0].records[0].local_id == "ASA:oai:slims/7"
    assert first[0].records[0].datestamp is None


def test_slims_incremental_window_overlaps_a_day(server: OaiServer) -> None:
    """SLiMS writes local time with a Z, so the next window opens a day before the saved date."""
    url = server.add("slims-inc", SyntheticRepository(records=3))
    list(OaiHarvester("test", "TBL", url, profile="slims", **QUICK_CLIENT)
         .pages({"next_from": "2025-02-01T03:04:05Z"}))
    assert server.requests_to("slims-inc")[-1]["from"] == "2025-01-31T03:04:05Z"


# -- INLISLite --------------------------------------------------------------------------

INLISLITE_V3 = (
    '<record xmlns="http://www.loc.gov/MARC21/slim ">'
    '<controlfield tag="001">INLIS000000000001234</controlfield>'
    '<datafield tag="001" ind1="#" ind2="#"><subfield code="$">INLIS000000000001234</subfield>'
    '</datafield><datafield tag="008" ind1="#" ind2="#">'
    '<subfield code="$">240101s2019    io            000 0 ind  </subfield></datafield>'
    '<datafield tag="245" ind1="1" ind2="#"><subfield code="a">Adat Melayu Asahan</subfield>'
    '</datafield><datafield tag="990" ind1="#" ind2="#"><subfield code="a">TB-000123</subfield>'
    "</datafield></record>"
)


def test_inlislite_v3_marcxml_is_repaired(server: OaiServer) -> None:
    """No leader, '#' indicators, control fields as data fields, 990 items: all read."""
    listing = list_records(record("oai:inlislite:1234", INLISLITE_V3, datestamp=""))
    url = server.add("inlis", repository(listing, deleted="no", prefix="marcxml"))
    pages = harvest(url, profile="inlislite", metadata_prefix="marcxml")

    harvested = pages[0].records[0]
    assert harvested.marc is not None
    assert harvested.marc["001"].data == "INLIS000000000001234"
    assert harvested.marc["008"].data.startswith("240101s2019")
    assert len(harvested.marc.get_fields("001")) == 1
    assert list(harvested.marc["245"].indicators) == ["1", " "]
    assert [holding.barcode for holding in harvested.holdings] == ["TB-000123"]
    assert harvested.datestamp is None


def test_the_generic_profile_rejects_inlislite_marcxml_naming_the_fix(server: OaiServer) -> None:
    """Read as generic, the record (namespace tidied) is a Rejection naming 'inlislite'."""
    tidied = INLISLITE_V3.replace("MARC21/slim ", "MARC21/slim")
    listing = list_records(record("oai:inlislite:1234", tidied))
    url = server.add("inlis", repository(listing, prefix="marcxml"))
    pages = harvest(url, metadata_prefix="marcxml")

    assert pages[0].records == []
    assert "'inlislite' does" in pages[0].rejections[0].reason
    assert pages[0].rejections[0].local_id == "TBL:oai:inlislite:1234"


def test_inlislite_reports_no_deletions_and_v33_offers_marc21(server: OaiServer) -> None:
    """deletedRecord=no calls for full harvests; v3.3's marc21 is chosen over oai_dc."""
    url = server.add("inlis33", SyntheticRepository(records=4, deleted_record="no"))
    harvester = OaiHarvester("test", "TBL", url, profile="inlislite", **QUICK_CLIENT)
    harvester.identify()

    assert harvester.pick_prefix() == "marc21"
    assert harvester.full_harvest_reason()


# -- Koha, OJS, EPrints, DSpace -------------------------------------------------------

KOHA_RECORD = (
    '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00300nam a2200109 a 4500</leader>'
    '<controlfield tag="001">77</controlfield><datafield tag="245" ind1="0" ind2="0">'
    '<subfield code="a">Pantun Melayu</subfield></datafield>'
    '<datafield tag="952" ind1=" " ind2=" "><subfield code="a">TBL</subfield>'
    '<subfield code="o">398.8 PAN</subfield><subfield code="p">3900077</subfield>'
    '<subfield code="7">1</subfield></datafield></record>'
)


def test_koha_items_come_from_952_and_default_ids_do_not_collide(server: OaiServer) -> None:
    """Koha's 952 gives call number, barcode and not-for-loan; KOHA-OAI-TEST ids stay apart."""
    listing = list_records(record("KOHA-OAI-TEST:77", KOHA_RECORD))
    url = server.add("koha", repository(listing, prefix="marcxml"))
    first = harvest(url, "TBL", profile="koha", metadata_prefix="marcxml")
    second = harvest(url, "UNIMED", profile="koha", metadata_prefix="marcxml")

    holding = first[0].records[0].holdings[0]
    assert (holding.call_number, holding.barcode, holding.lendable) == ("398.8 PAN", "3900077",
                                                                        False)
    assert first[0].records[0].local_id != second[0].records[0].local_id


OJS_RECORD = (
    '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>     nab a22     7a 4500</leader>'
    '<controlfield tag="008">"250101 2025                  eng  "</controlfield>'
    '<dataField tag="245" ind1="#" ind2="#"><subfield code="a">Jurnal Ilmu Perpustakaan'
    "</subfield></dataField></record>"
)


def test_ojs_marcxml_case_and_quotes_are_repaired(server: OaiServer) -> None:
    """OJS's <dataField>, quoted 008 and '#' indicators read cleanly with the ojs profile."""
    listing = list_records(record("oai:ojs.example:article/5", OJS_RECORD))
    url = server.add("ojs", repository(listing, prefix="marcxml"))
    marc = harvest(url, profile="ojs", metadata_prefix="marcxml")[0].records[0].marc

    assert marc is not None
    assert marc["008"].data == "250101 2025                  eng  "
    assert marc["245"]["a"] == "Jurnal Ilmu Perpustakaan"
    assert list(marc["245"].indicators) == [" ", " "]


def test_generic_refuses_ojs_element_case_naming_the_profile() -> None:
    """The generic profile turns <dataField> into a RecordError that points at 'ojs'."""
    with pytest.raises(RecordError, match="'ojs' does"):
        profile_named("generic").decode_marcxml(etree.fromstring(OJS_RECORD.encode()))


def test_eprints_set_specs_are_sent_in_hex(server: OaiServer) -> None:
    """A set named type=article goes out as 74797065=61727469636C65 and reads back."""
    eprints = profile_named("eprints")
    assert eprints.set_spec("type=article") == "74797065=61727469636C65"
    assert eprints.set_name("74797065=61727469636C65") == "type=article"

    url = server.add("eprints", SyntheticRepository(records=4, set_of=lambda n:
                                                    "74797065=61727469636C65"))
    pages = harvest(url, profile="eprints", sets=["type=article"])
    assert server.requests_to("eprints")[-1]["set"] == "74797065=61727469636C65"
    assert len(pages[0].records) == 4


def test_dspace_deletions_are_transient(server: OaiServer) -> None:
    """A withdrawn DSpace item arrives as deleted, yet the profile still asks for full harvests."""
    deleted = ('<record><header status="deleted"><identifier>oai:dspace.example:123/9'
               "</identifier><datestamp>2025-01-01T00:00:00Z</datestamp></header></record>")
    url = server.add("dspace", repository(list_records(deleted), deleted="transient"))
    harvester = OaiHarvester("test", "TBL", url, profile="dspace", metadata_prefix="oai_dc",
                             **QUICK_CLIENT)
    pages = list(harvester.pages(None))

    assert pages[0].records[0].deleted and pages[0].records[0].marc is None
    assert "transient" in harvester.full_harvest_reason()
    assert profile_named("generic").full_harvest_reason("persistent") == ""


FIELD_ORDERS = [
    ["001", "008", "245", "650"],
    ["245", "100", "008", "650", "020"],
    ["001", "245", "9XX", "100", "650", "AVA", "020"],
    ["AVA", "001", "245", "100"],
    ["650", "650", "100", "650", "245"],
]


@pytest.mark.parametrize("tags", FIELD_ORDERS, ids="-".join)
def test_fields_are_placed_as_pymarcs_ordered_insertion_places_them(tags: list[str]) -> None:
    """In order or not, with tags that are not numbers among them, each field lands where
    pymarc's add_ordered_field puts it (the reader skips that scan when the answer is known)."""
    fields = "".join(
        f'<controlfield tag="{tag}">c{position}</controlfield>'
        if tag < "010"
        else f'<datafield tag="{tag}" ind1=" " ind2=" "><subfield code="a">d{position}</subfield>'
        "</datafield>"
        for position, tag in enumerate(tags)
    )
    payload = etree.fromstring(
        '<record xmlns="http://www.loc.gov/MARC21/slim">'
        f"<leader>00000nam a2200000 a 4500</leader>{fields}</record>"
    )
    record = profile_named("generic").decode_marcxml(payload)

    expected = pymarc.Record()
    for position, tag in enumerate(tags):
        if tag < "010":
            expected.add_ordered_field(pymarc.Field(tag=tag, data=f"c{position}"))
        else:
            subfields = [pymarc.Subfield("a", f"d{position}")]
            blank = pymarc.Indicators(" ", " ")
            field = pymarc.Field(tag=tag, indicators=blank, subfields=subfields)
            expected.add_ordered_field(field)
    assert [str(field) for field in record.fields] == [str(field) for field in expected.fields]
