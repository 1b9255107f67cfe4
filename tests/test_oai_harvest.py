"""OAI-PMH harvests over real HTTP: recorded real servers, then scripted faults."""

from __future__ import annotations

import logging
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvesters.errors import SourceError, TransientError
from harvesters.oai import OaiHarvester, retry_after_seconds
from harvesters.records import Page
from tests.oaiserver import (
    QUICK_CLIENT,
    OaiServer,
    Replay,
    Reply,
    SyntheticRepository,
    replay_cassettes,
)

POD_TOKEN = "MzM5OzE7Ozt2MS4w"
TRAJECT_TOKEN = "oai_dc.f(2018-05-03T18:09:08Z).u(2018-06-15T19:25:21Z).t(6387):100"


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with OaiServer() as running:
        yield running


def harvest(url: str, checkpoint: dict[str, Any] | None = None, **options: Any) -> list[Page]:
    settings = {**QUICK_CLIENT, **options}
    return list(OaiHarvester("test", "TBL", url, **settings).pages(checkpoint))


def counts(pages: list[Page]) -> tuple[int, int, int]:
    records = [record for page in pages for record in page.records]
    deleted = sum(1 for record in records if record.deleted)
    return len(records), deleted, sum(len(page.rejections) for page in pages)


def local_ids(pages: list[Page]) -> list[str]:
    return [record.local_id for page in pages for record in page.records]


def sickle_identify(corpora: Path) -> Path:
    return corpora / "github-mloesch-sickle" / "sample_data" / "Identify.xml"


def zenodo(corpora: Path) -> Replay:
    cassettes = corpora / "github-oaipmh-scythe" / "cassettes"
    return replay_cassettes(cassettes / "identify.yaml", cassettes / "list_metadata_formats.yaml",
                            cassettes / "list_records.yaml")


# -- recorded real servers ----------------------------------------------------------


def test_zenodo_chain_delivers_every_record_and_saves_the_servers_clock(
        server: OaiServer, corpora: Path) -> None:
    """Zenodo's recorded oai_dc chain gives 9 records over 3 pages, 1 deleted, ending complete."""
    pages = harvest(server.add("zenodo", zenodo(corpora)), metadata_prefix="oai_dc")

    assert counts(pages) == (9, 1, 0)
    assert [page.complete for page in pages] == [False, False, True]
    assert all(page.full for page in pages)
    assert pages[-1].checkpoint == {"next_from": "2026-08-10T08:56:30Z"}
    assert all(record.local_id.startswith("TBL:oai:zenodo.org:") for record in pages[0].records)
    assert pages[0].checkpoint["token"].startswith(".eJwlzEuOgjAAANC7dG0mbcEPJrOQ")


def test_zenodo_records_keep_their_xml_and_decode_to_marc(
        server: OaiServer, corpora: Path) -> None:
    """Each live record keeps its oai_dc bytes and carries a crosswalked 245 and its datestamp."""
    pages = harvest(server.add("zenodo", zenodo(corpora)), metadata_prefix="oai_dc")

    live = [record for page in pages for record in page.records if not record.deleted]
    assert len(live) == 8
    for record in live:
        assert record.original.startswith(b"<oai_dc:dc")
        assert record.marc is not None and record.marc["245"]["a"]
        assert record.datestamp and record.datestamp.endswith("Z")
        assert record.format == "oai_dc"


def test_best_prefix_is_marc21_before_oai_dc(server: OaiServer, corpora: Path) -> None:
    """From zenodo's real ListMetadataFormats the harvester picks marc21 over oai_dc."""
    url = server.add("zenodo", zenodo(corpora))
    assert OaiHarvester("zenodo", "ZEN", url, **QUICK_CLIENT).pick_prefix() == "marc21"


def test_no_records_match_is_an_empty_complete_page(server: OaiServer, corpora: Path) -> None:
    """Zenodo's noRecordsMatch (sent with HTTP 422) is one complete page with no records."""
    pages = harvest(server.add("zenodo", zenodo(corpora)), metadata_prefix="oai_dc",
                    from_="2030-01-01")

    assert counts(pages) == (0, 0, 0)
    assert len(pages) == 1 and pages[0].complete and not pages[0].full


def test_other_oai_errors_stop_the_run_naming_code_and_url(
        server: OaiServer, corpora: Path) -> None:
    """Zenodo's badArgument for an unknown prefix fails the run with the code and the URL."""
    url = server.add("zenodo", zenodo(corpora))
    with pytest.raises(SourceError, match=r"badArgument.*") as raised:
        harvest(url, metadata_prefix="XXX")
    assert "metadataPrefix=XXX" in str(raised.value)


def test_pod_pages_with_a_repeated_token_end_with_a_warning(
        server: OaiServer, corpora: Path, caplog: pytest.LogCaptureFixture) -> None:
    """POD's real pages repeat their token: 5 records (2 deleted), then the loop ends, not full."""
    folio = corpora / "github-folio-mod-reservoir"
    replay = (Replay().route({"verb": "Identify"}, sickle_identify(corpora))
              .route({"verb": "ListRecords", "metadataPrefix": "marc21", "set": "339"},
                     folio / "oai-response-1.xml")
              .route({"verb": "ListRecords", "resumptionToken": POD_TOKEN},
                     folio / "oai-response-3.xml"))
    with caplog.at_level(logging.WARNING, logger="harvesters.oai"):
        pages = harvest(server.add("pod", replay), metadata_prefix="marc21", sets=["339"])

    assert counts(pages) == (5, 2, 0)
    assert sum(1 for page in pages for r in page.records if r.marc is not None) == 3
    assert pages[-1].complete and not pages[-1].full
    assert pages[-1].checkpoint == {"next_from": None}
    assert "came back again" in caplog.text


def test_a_page_that_cannot_be_parsed_fails_with_url_and_token(
        server: OaiServer, corpora: Path) -> None:
    """POD's truncated page fails the run naming URL and token, after the good page was given."""
    folio = corpora / "github-folio-mod-reservoir"
    replay = (Replay().route({"verb": "Identify"}, sickle_identify(corpora))
              .route({"verb": "ListRecords", "metadataPrefix": "marc21"},
                     folio / "oai-response-1.xml")
              .route({"verb": "ListRecords", "resumptionToken": POD_TOKEN},
                     folio / "oai-response-5.xml"))
    harvester = OaiHarvester("pod", "POD", server.add("pod", replay), metadata_prefix="marc21",
                             **QUICK_CLIENT)
    pages = harvester.pages(None)

    first = next(pages)
    assert first.checkpoint["token"] == POD_TOKEN and len(first.records) == 4
    with pytest.raises(SourceError) as raised:
        next(pages)
    assert f"resumptionToken={POD_TOKEN}" in str(raised.value)
    assert "cannot be parsed" in str(raised.value)


def test_alma_marc21_page_and_a_record_in_no_known_format(
        server: OaiServer, corpora: Path) -> None:
    """Alma's 100 MARC records load; the next page's non-MARC record is rejected, not fatal."""
    vufind = corpora / "github-vufindharvest"
    replay = (Replay().route({"verb": "Identify"}, vufind / "identify_response.xml")
              .route({"verb": "ListRecords", "metadataPrefix": "marc21",
                      "set": "TESTING_DIGI_TEST"}, vufind / "marc.xml")
              .route({"verb": "ListRecords", "resumptionToken": "fakeresumptiontoken"},
                     vufind / "list_records_response.xml"))
    pages = harvest(server.add("alma", replay), metadata_prefix="marc21",
                    sets=["TESTING_DIGI_TEST"])

    assert counts(pages) == (101, 1, 1)
    assert len(set(local_ids(pages[:1]))) == 100
    rejection = pages[1].rejections[0]
    assert rejection.local_id == "TBL:fake:foo2"
    assert "neither MARCXML nor oai_dc" in rejection.reason
    assert "fakeresumptiontoken" in rejection.position
    assert pages[-1].checkpoint == {"next_from": "2016-07-12T16:19:54Z"}


def test_traject_chain_ends_at_an_empty_token(server: OaiServer, corpora: Path) -> None:
    """A science-history oai_dc page, then a page whose empty <resumptionToken> ends the list."""
    traject = corpora / "github-traject"
    replay = (Replay().route({"verb": "Identify"}, sickle_identify(corpora))
              .route({"verb": "ListRecords", "metadataPrefix": "oai_dc"},
                     traject / "sample-oai-pmh.xml")
              .route({"verb": "ListRecords", "resumptionToken": TRAJECT_TOKEN},
                     traject / "oai-pmh-one-record-2.xml"))
    pages = harvest(server.add("traject", replay), metadata_prefix="oai_dc")

    assert counts(pages) == (11, 0, 0)
    assert len(set(local_ids(pages))) == 10
    assert [page.complete for page in pages] == [False, True]


def test_sickle_chain_rejects_a_header_without_identifier(
        server: OaiServer, corpora: Path) -> None:
    """sickle's 4-page chain: 7 records (3 deleted) and 1 rejected header, 2 distinct ids."""
    sample = corpora / "github-mloesch-sickle" / "sample_data"
    replay = (Replay().route({"verb": "Identify"}, sample / "Identify.xml")
              .route({"verb": "ListMetadataFormats"}, sample / "ListMetadataFormats.xml")
              .route({"verb": "ListRecords", "metadataPrefix": "oai_dc"},
                     sample / "ListRecords.xml"))
    for number in (2, 3, 4):
        replay.route({"verb": "ListRecords", "resumptionToken": f"ListRecords{number}.xml"},
                     sample / f"ListRecords{number}.xml")
    pages = harvest(server.add("sickle", replay))

    assert counts(pages) == (7, 3, 1)
    assert set(local_ids(pages)) == {"TBL:oai:test.example.com:1585310",
                                     "TBL:oai:test.example.com:1585322"}
    assert pages[-1].rejections[0].reason == "record header has no identifier"


def test_pennstate_page_with_bad_bytes_is_cleaned_and_one_record_rejected(
        server: OaiServer, corpora: Path) -> None:
    """Penn State's 300-record page: 2 bad bytes cleaned, 298 records, 2 records rejected."""
    folio = corpora / "github-folio-mod-reservoir"
    replay = (Replay().route({"verb": "Identify"}, sickle_identify(corpora))
              .route({"verb": "ListRecords", "metadataPrefix": "marc21", "set": "RESHARE"},
                     folio / "pennstate-bad-rec-20221216.xml")
              .route({"verb": "ListRecords", "resumptionToken": "75948_aaeta"},
                     folio / "oai-response-2.xml"))
    pages = harvest(server.add("psu", replay), metadata_prefix="marc21", sets=["RESHARE"])

    assert counts(pages) == (298, 0, 2)
    assert pages[0].cleaned == 2
    reasons = sorted(rejection.reason for rejection in pages[0].rejections)
    assert "subfield code '\ufffd' in field 505" in reasons[0]
    assert "no leader" in reasons[1]


# -- scripted faults ----------------------------------------------------------------


def test_every_fault_is_survived_and_every_record_delivered_once(server: OaiServer) -> None:
    """503, 429, 500, reset, drop, stall, truncation, expiry, bad characters: 95 ids, each once."""
    faults = {2: "503", 4: "reset", 6: "drop", 8: "timeout", 10: "truncated", 12: "expired",
              14: "429", 16: "500", 18: "503-date", 20: "control-characters", 22: "reset"}
    repository = SyntheticRepository(records=95, page_size=10, faults=faults, stall=0.8)
    pages = harvest(server.add("faulty", repository), timeout=0.3)

    ids = local_ids(pages)
    assert sorted(set(ids)) == sorted(f"TBL:oai:synthetic:{n}" for n in range(95))
    assert sum(page.retried for page in pages) == 9
    assert sum(page.cleaned for page in pages) == 2
    assert pages[-1].complete and pages[-1].full
    assert not repository.faults


def test_resumption_tokens_with_plus_slash_and_equals_arrive_intact(server: OaiServer) -> None:
    """Base64 tokens ('+', '/', '=') are URL-encoded so the server reads them back unchanged."""
    repository = SyntheticRepository(records=30, page_size=10)
    url = server.add("b64", repository)
    pages = harvest(url)

    sent = [params["resumptionToken"] for params in server.requests_to("b64")
            if "resumptionToken" in params]
    assert sent == [page.checkpoint["token"] for page in pages[:-1]]
    assert all(set("+/=") <= set(token) for token in sent)
    assert counts(pages) == (30, 0, 0)


def test_retry_after_in_seconds_is_honoured(server: OaiServer) -> None:
    """A 503 with Retry-After: 1 makes the harvester wait a second, not the short backoff."""
    repository = SyntheticRepository(records=5, page_size=10, faults={1: "503"}, retry_after=1)
    started = time.monotonic()
    pages = harvest(server.add("slow", repository), retry_cap=5.0)

    assert time.monotonic() - started >= 1.0
    assert pages[0].retried == 1 and counts(pages) == (5, 0, 0)


def test_retry_after_as_an_http_date_is_honoured(server: OaiServer) -> None:
    """A 503 whose Retry-After is an HTTP date about 2 s ahead makes the harvester wait for it."""
    repository = SyntheticRepository(records=5, page_size=10, faults={1: "503-date"},
                                     retry_after=1)
    started = time.monotonic()
    pages = harvest(server.add("dated", repository), retry_cap=5.0)

    assert time.monotonic() - started >= 0.9
    assert pages[0].retried == 1


def test_retry_after_reader_takes_both_forms_and_rejects_junk() -> None:
    """Retry-After parses as seconds or HTTP date; junk gives None so backoff applies."""
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_server_that_stays_down_fails_as_transient_with_the_url(server: OaiServer) -> None:
    """Six 503s in a row exhaust five retries: TransientError naming the URL and the attempts."""
    faults = {number: "503" for number in range(1, 7)}
    url = server.add("down", SyntheticRepository(records=5, faults=faults))
    with pytest.raises(TransientError, match=r"/down\?verb=ListRecords.*HTTP 503.*6 attempts"):
        harvest(url)


def test_a_killed_harvest_resumes_from_the_last_stored_page(server: OaiServer) -> None:
    """Stopping after page 3 and resuming from its checkpoint equals one uninterrupted harvest."""
    url = server.add("resume", SyntheticRepository(records=73, page_size=10))
    stored: list[Page] = []
    for page in OaiHarvester("test", "TBL", url, **QUICK_CLIENT).pages(None):
        stored.append(page)
        if len(stored) == 3:
            break
    rest = harvest(url, stored[-1].checkpoint)

    assert rest[0].checkpoint["page"] == 4
    assert sorted(local_ids(stored + rest)) == sorted(local_ids(harvest(url)))
    assert len(local_ids(stored + rest)) == 73
    assert all(page.full for page in rest)


def test_incremental_harvest_starts_at_the_servers_clock(server: OaiServer) -> None:
    """The next run sends from = the last run's responseDate and gets only what changed since."""
    repository = SyntheticRepository(records=40, page_size=10)
    url = server.add("incremental", repository)
    first = harvest(url)
    opened_at = first[-1].checkpoint["next_from"]

    repository.clock = repository.clock.replace(year=repository.clock.year + 1)
    repository.touch(3, 4)
    repository.touch(5, deleted=True)
    second = harvest(url, first[-1].checkpoint)

    assert server.requests_to("incremental")[-1]["from"] == opened_at
    assert counts(second) == (3, 1, 0)
    assert not second[-1].full
    assert second[-1].checkpoint == {"next_from": repository.clock.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_from_is_written_in_the_servers_granularity(server: OaiServer) -> None:
    """A day-granular server gets from=YYYY-MM-DD, which it would refuse with a time part."""
    repository = SyntheticRepository(records=10, granularity="YYYY-MM-DD")
    url = server.add("daily", repository)
    pages = harvest(url, {"next_from": "2024-01-01T05:06:07Z"})

    assert server.requests_to("daily")[-1]["from"] == "2024-01-01"
    assert counts(pages) == (10, 0, 0)


def test_full_overrides_the_incremental_window(server: OaiServer) -> None:
    """With full=True a checkpoint's next_from is ignored and the pages say full."""
    url = server.add("full", SyntheticRepository(records=12, page_size=5))
    pages = harvest(url, {"next_from": "2099-01-01T00:00:00Z"}, full=True)

    assert "from" not in server.requests_to("full")[-1]
    assert counts(pages) == (12, 0, 0) and all(page.full for page in pages)


def test_sets_are_harvested_one_after_another(server: OaiServer) -> None:
    """Two sets are walked in turn; the page between them checkpoints the second set's start."""
    url = server.add("sets", SyntheticRepository(records=20, page_size=5))
    pages = harvest(url, sets=["even", "odd"])

    assert counts(pages) == (20, 0, 0)
    switch = next(page for page in pages if page.checkpoint.get("set_index") == 1)
    assert switch.checkpoint["token"] is None
    assert [params.get("set") for params in server.requests_to("sets")
            if "metadataPrefix" in params and params["verb"] == "ListRecords"] == ["even", "odd"]


def test_prefetch_off_gives_the_same_pages(server: OaiServer) -> None:
    """Harvesting without the background prefetch yields the same records and checkpoints."""
    url = server.add("plain", SyntheticRepository(records=33, page_size=10))
    with_prefetch, without = harvest(url), harvest(url, prefetch=False)

    assert local_ids(with_prefetch) == local_ids(without)
    assert [p.checkpoint for p in with_prefetch][:-1] == [p.checkpoint for p in without][:-1]


def test_one_log_line_per_page_names_source_and_counts(
        server: OaiServer, caplog: pytest.LogCaptureFixture) -> None:
    """Each page logs one line on 'harvesters.oai' with source, page number, records and token."""
    url = server.add("logged", SyntheticRepository(records=25, page_size=10))
    with caplog.at_level(logging.INFO, logger="harvesters.oai"):
        harvest(url)

    lines = [r.getMessage() for r in caplog.records if "page=" in r.getMessage()]
    assert lines == [
        "source=test page=1 records=10 deleted=0 rejected=0 cleaned=0 retried=0 token=yes",
        "source=test page=2 records=10 deleted=0 rejected=0 cleaned=0 retried=0 token=yes",
        "source=test page=3 records=5 deleted=0 rejected=0 cleaned=0 retried=0 token=no",
    ]


# -- hostile XML ----------------------------------------------------------------------


class _Hostile:
    """Identify answers normally; ListRecords answers with the given body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.plain = SyntheticRepository(records=1)

    def reply(self, params: dict[str, str]) -> Reply:
        if params.get("verb") == "ListRecords":
            return Reply(self.body)
        return self.plain.reply(params)


def test_external_entities_are_never_resolved(server: OaiServer, tmp_path: Path) -> None:
    """A response whose DTD points an entity at a local file fails without reading the file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PASSWORD")
    body = (f'<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY leak SYSTEM "file://{secret}">]>'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>'
            "<identifier>&leak;</identifier></header></record></ListRecords></OAI-PMH>")
    url = server.add("xxe", _Hostile(body.encode()))
    with pytest.raises(SourceError, match="DTD") as raised:
        harvest(url, metadata_prefix="oai_dc")
    assert "TOP-SECRET" not in str(raised.value)


def test_entity_expansion_fails_cleanly_in_bounded_memory(server: OaiServer) -> None:
    """A billion-laughs response is refused with a clear error while memory stays small."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">'
        for n in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE OAI-PMH [{entities}]>'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header>'
            "<identifier>&lol9;</identifier></header></record></ListRecords></OAI-PMH>")
    url = server.add("laughs", _Hostile(body.encode()))
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="DTDs are refused"):
            harvest(url, metadata_prefix="oai_dc")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
