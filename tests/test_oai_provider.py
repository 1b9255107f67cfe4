"""`pool serve`: OAI-PMH 2.0 over real HTTP, checked by the schema and the project's harvester."""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymarc
import pytest
import requests
from lxml import etree
from sqlalchemy import Engine, text

from harvesters.dublin_core import record_from_dc
from resource_pool.config import load_config
from resource_pool.db import open_pool
from resource_pool.harvest import harvest_source
from resource_pool.oai_provider import OaiProvider, ProviderSettings
from tests.runpool import ROOT, copy_database, database_for, pool_json, write_config

OAI = "{http://www.openarchives.org/OAI/2.0/}"
MARC = "{http://www.loc.gov/MARC21/slim}"
DC = "{http://purl.org/dc/elements/1.1/}"
SERVE_TOML = """
[serve]
page_size = 50
admin_email = "katalog@pool.example"
"""
GIFT_SOURCE = """
[[partners.sources]]
name = "tbm-hibah"
kind = "marc"
path = "hibah/*.xml"
"""
UPSTREAM_RULES = """
[[rule]]
id = "upstream-rare"
flag = "rare"
description = "The pool this record came from flagged it rare (987 $a)."
when = { tag = "987", subfield = "a", terms = ["rare"] }

[[rule]]
id = "upstream-online-course"
flag = "online-course"
description = "The pool this record came from flagged it an online course (987 $a)."
when = { tag = "987", subfield = "a", terms = ["online-course"] }
"""


# -- a served demo pool ----------------------------------------------------------------------


class Server:
    """`pool serve --port 0` in a child process; its URL is read from the line it prints."""

    def __init__(self, config: Path, database: str) -> None:
        self.command = [sys.executable, "-m", "resource_pool", "--config", str(config),
                        "--db", database, "serve", "--port", "0"]  # fmt: skip
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        # Drained for the server's whole life, so its log lines never fill the pipe.
        threading.Thread(target=self._drain, args=(self.process, self.lines), daemon=True).start()
        self.url = self._wait_for_url()

    @staticmethod
    def _drain(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put("")

    def _wait_for_url(self) -> str:
        seen = []
        while True:
            line = self.lines.get(timeout=120)
            seen.append(line)
            if "serving OAI-PMH at " in line:
                return line.split("serving OAI-PMH at ", 1)[1].strip()
            if line == "":
                raise AssertionError(f"pool serve exited: {''.join(seen)}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """Stop the server and start it again on the same pool (on a new port)."""
        self.stop()
        self.start()


def write_gifts(config: Path, titles: list[str]) -> None:
    """Invented donated books of the reading group, as a MARCXML file."""
    records = []
    for number, title in enumerate(titles, 1):
        record = pymarc.Record(leader="00000nam a2200000 i 4500")
        record.add_field(pymarc.Field(tag="001", data=f"H{number}"))
        record.add_field(
            pymarc.Field(
                tag="245",
                indicators=pymarc.Indicators("1", "0"),
                subfields=[pymarc.Subfield("a", title)],
            )
        )
        records.append(pymarc.record_to_xml(record))
    folder = config / "hibah"
    folder.mkdir(exist_ok=True)
    (folder / "hibah.xml").write_bytes(
        b"<collection xmlns='http://www.loc.gov/MARC21/slim'>"
        + b"".join(records)
        + b"</collection>"
    )


@pytest.fixture(scope="module")
def served(
    demo_pool: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Engine, Path]]:
    """The demo pool plus one tombstoned cluster, harvested and served: (server, engine, config)."""
    folder = tmp_path_factory.mktemp("served")
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "pool.toml").open("a") as handle:
        handle.write(SERVE_TOML)
    with (config / "partners.toml").open("a") as handle:
        handle.write(GIFT_SOURCE)
    write_gifts(config, ["Hikayat nelayan Asahan", "Resep masakan pesisir"])

    url = copy_database(demo_pool, folder)
    engine = open_pool(url)
    settings = load_config(config)
    assert harvest_source(engine, settings, settings.source("tbm-hibah")).added == 2
    write_gifts(config, ["Hikayat nelayan Asahan"])
    assert harvest_source(engine, settings, settings.source("tbm-hibah")).deleted == 1

    server = Server(config, url)
    yield server, engine, config
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def oai_schema(schemas: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schemas / "OAI-PMH.xsd")))


@pytest.fixture(scope="module")
def marc_schema(schemas: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schemas / "MARC21slim.xsd")))


def ask(url: str, schema: etree.XMLSchema, method: str = "GET", **params: str) -> etree._Element:
    """One request; the response must be valid OAI-PMH."""
    if method == "POST":
        response = requests.post(url, data=params, timeout=60)
    else:
        response = requests.get(url, params=params, timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = etree.fromstring(response.content)
    assert schema.validate(root), f"{params}: {schema.error_log.last_error}"
    return root


def error_code(root: etree._Element) -> str | None:
    error = root.find(f"{OAI}error")
    return None if error is None else error.get("code")


def walk(url: str, schema: etree.XMLSchema, verb: str, **params: str) -> list[etree._Element]:
    """Every response of a list request, following resumption tokens to the end."""
    pages = [ask(url, schema, verb=verb, **params)]
    while True:
        token = pages[-1].find(f".//{OAI}resumptionToken")
        if token is None or not (token.text or "").strip():
            return pages
        pages.append(ask(url, schema, verb=verb, resumptionToken=token.text or ""))


def headers(pages: list[etree._Element]) -> list[etree._Element]:
    return [header for page in pages for header in page.iter(f"{OAI}header")]


def union_id(header: etree._Element) -> int:
    return int((header.findtext(f"{OAI}identifier") or "").rsplit(":", 1)[1])


def scalar_rows(engine: Engine, query: str) -> list[Any]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text(query))]


# -- the verbs ------------------------------------------------------------------------------------


def test_identify_says_persistent_deletions_seconds_and_the_configured_contact(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """Identify names the pool, its base URL, its contact, persistent deletions and seconds."""
    server, _, _ = served
    identify = ask(server.url, oai_schema, verb="Identify").find(f"{OAI}Identify")

    assert identify is not None
    assert identify.findtext(f"{OAI}repositoryName") == "Pool Sumber Daya Perpustakaan Tanjungbalai"
    assert identify.findtext(f"{OAI}baseURL") == server.url
    assert identify.findtext(f"{OAI}adminEmail") == "katalog@pool.example"
    assert identify.findtext(f"{OAI}deletedRecord") == "persistent"
    assert identify.findtext(f"{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"


def test_formats_and_sets_name_marc21_oai_dc_the_flags_and_the_partners(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """ListMetadataFormats offers marc21 and oai_dc; ListSets the flags and every partner."""
    server, _, _ = served
    formats = ask(server.url, oai_schema, verb="ListMetadataFormats")
    assert [e.text for e in formats.iter(f"{OAI}metadataPrefix")] == ["marc21", "oai_dc"]
    one = ask(server.url, oai_schema, verb="ListMetadataFormats", identifier="oai:tblpool:1")
    assert len(list(one.iter(f"{OAI}metadataFormat"))) == 2

    sets = [e.text for e in ask(server.url, oai_schema, verb="ListSets").iter(f"{OAI}setSpec")]
    assert sets[:2] == ["flag", "partner"]
    assert {"flag:rare", "flag:online-course"} <= set(sets)
    assert {"partner:TBL", "partner:UNA", "partner:SMA1", "partner:TBM"} <= set(sets)


def test_list_identifiers_pages_through_every_cluster_once_in_id_order(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """Tokens walk every cluster, tombstones included, in id order; the last token is empty."""
    server, engine, _ = served
    pages = walk(server.url, oai_schema, "ListIdentifiers", metadataPrefix="marc21")

    ids = [union_id(h) for h in headers(pages)]
    assert ids == sorted(scalar_rows(engine, "SELECT id FROM cluster"))
    tokens = [page.find(f".//{OAI}resumptionToken") for page in pages]
    assert [int(t.get("cursor") or -1) for t in tokens if t is not None] == list(
        range(0, 50 * len(pages), 50)
    )
    assert tokens[-1] is not None and tokens[-1].text is None
    assert tokens[-1].get("completeListSize") == str(len(ids))


def test_list_records_marc21_holds_valid_marcxml_with_holdings_in_852(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema, marc_schema: etree.XMLSchema
) -> None:
    """Each marc21 record is valid MARCXML; 001 is the union id, 852 $a names a partner."""
    server, _, _ = served
    page = ask(server.url, oai_schema, verb="ListRecords", metadataPrefix="marc21")

    records = list(page.iter(f"{OAI}record"))
    assert len(records) == 50
    for record in records:
        marc = record.find(f"{OAI}metadata/{MARC}record")
        assert marc is not None
        assert marc_schema.validate(marc), marc_schema.error_log.last_error
        control = {c.get("tag"): c.text for c in marc.iter(f"{MARC}controlfield")}
        assert control["001"] == str(union_id(record.find(f"{OAI}header")))
        assert control["003"] == "TBLPOOL"
        partners = {
            s.text
            for f in marc.iter(f"{MARC}datafield")
            if f.get("tag") == "852"
            for s in f
            if s.get("code") == "a"
        }
        assert partners and partners <= {"TBL", "UNA", "SMA1", "TBM"}


def test_oai_dc_records_read_back_through_the_projects_dublin_core_crosswalk(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """oai_dc records carry a title, a type and creators; the harvester's crosswalk reads them."""
    server, _, _ = served
    page = ask(server.url, oai_schema, verb="ListRecords", metadataPrefix="oai_dc")

    payloads = [dc for dc in page.iter("{http://www.openarchives.org/OAI/2.0/oai_dc/}dc")]
    assert len(payloads) == 50
    titles = [record_from_dc(payload).title for payload in payloads]
    assert all(titles)
    assert all(payload.find(f"{DC}type") is not None for payload in payloads)
    assert any(payload.find(f"{DC}creator") is not None for payload in payloads)


def test_a_tombstoned_cluster_answers_as_deleted_everywhere(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """GetRecord, lists and set lists show a removed cluster as a deleted header, forever."""
    server, engine, _ = served
    [gone] = scalar_rows(engine, "SELECT id FROM cluster WHERE deleted")
    identifier = f"oai:tblpool:{gone}"

    record = ask(
        server.url, oai_schema, verb="GetRecord", identifier=identifier, metadataPrefix="marc21"
    ).find(f".//{OAI}record")
    assert record is not None and record.find(f"{OAI}metadata") is None
    assert record.find(f"{OAI}header").get("status") == "deleted"
    in_set = headers(
        walk(server.url, oai_schema, "ListIdentifiers", metadataPrefix="oai_dc", set="flag:rare")
    )
    assert [h.get("status") for h in in_set if union_id(h) == gone] == ["deleted"]
    formats = ask(server.url, oai_schema, verb="ListMetadataFormats", identifier=identifier)
    assert error_code(formats) == "noMetadataFormats"


def test_sets_select_the_flagged_and_the_held_clusters(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """set=flag:rare lists the rare clusters; set=partner:SMA1 those the school holds."""
    server, engine, _ = served
    rare = headers(
        walk(server.url, oai_schema, "ListIdentifiers", metadataPrefix="marc21", set="flag:rare")
    )
    live = [h for h in rare if h.get("status") != "deleted"]
    expected = scalar_rows(engine, "SELECT DISTINCT cluster_id FROM flag WHERE flag = 'rare'")
    assert sorted(union_id(h) for h in live) == sorted(expected)
    assert all("flag:rare" in [s.text for s in h.iter(f"{OAI}setSpec")] for h in live)

    school = headers(
        walk(server.url, oai_schema, "ListIdentifiers", metadataPrefix="marc21", set="partner:SMA1")
    )
    assert all(
        "partner:SMA1" in [s.text for s in h.iter(f"{OAI}setSpec")]
        for h in school
        if h.get("status") != "deleted"
    )
    assert len(school) > 50


def test_from_and_until_select_by_datestamp_in_either_granularity(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """from after every change matches nothing; until today (a day) matches everything."""
    server, engine, _ = served
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    later = ask(
        server.url,
        oai_schema,
        verb="ListIdentifiers",
        metadataPrefix="marc21",
        **{"from": tomorrow},
    )
    assert error_code(later) == "noRecordsMatch"

    everything = str(len(scalar_rows(engine, "SELECT id FROM cluster")))
    for until in (datetime.now(UTC).strftime("%Y-%m-%d"), "9999-12-31"):
        listing = ask(
            server.url, oai_schema, verb="ListIdentifiers", metadataPrefix="marc21", until=until
        )
        token = listing.find(f".//{OAI}resumptionToken")
        assert token is not None and token.get("completeListSize") == everything
    past = ask(
        server.url,
        oai_schema,
        verb="ListRecords",
        metadataPrefix="marc21",
        until="2000-01-01T00:00:00Z",
    )
    assert error_code(past) == "noRecordsMatch"


BAD_REQUESTS = [
    ({}, "badVerb"),
    ({"verb": "ListThings"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "set": "rare"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": "oai:tblpool:1"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21", "from": "2026-13-01"}, "badArgument"),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "marc21",
            "from": "2026-01-01",
            "until": "2026-02-01T00:00:00Z",
        },
        "badArgument",
    ),
    (
        {
            "verb": "ListRecords",
            "metadataPrefix": "marc21",
            "from": "2026-02-01",
            "until": "2026-01-01",
        },
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": ["marc21", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListIdentifiers", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "mods"}, "cannotDisseminateFormat"),
    (
        {"verb": "GetRecord", "identifier": "oai:tblpool:1", "metadataPrefix": "marcxml"},
        "cannotDisseminateFormat",
    ),
    (
        {"verb": "GetRecord", "identifier": "oai:tblpool:999999", "metadataPrefix": "marc21"},
        "idDoesNotExist",
    ),
    (
        {"verb": "GetRecord", "identifier": "oai:elsewhere:1", "metadataPrefix": "marc21"},
        "idDoesNotExist",
    ),
    ({"verb": "ListMetadataFormats", "identifier": "oai:tblpool:999999"}, "idDoesNotExist"),
    (
        {
            "verb": "GetRecord",
            "identifier": "oai:tblpool:99999999999999999999",
            "metadataPrefix": "oai_dc",
        },
        "idDoesNotExist",
    ),
    (
        {"verb": "ListRecords", "metadataPrefix": "marc21", "set": "flag:no-such-flag"},
        "noRecordsMatch",
    ),
]


@pytest.mark.parametrize(("params", "code"), BAD_REQUESTS)
def test_each_error_code_comes_in_a_valid_response_with_the_request_echoed_as_required(
    served: tuple[Server, Engine, Path],
    oai_schema: etree.XMLSchema,
    params: dict[str, Any],
    code: str,
) -> None:
    """Errors are OAI-PMH documents; after badVerb or badArgument <request> has no attributes."""
    server, _, _ = served
    root = ask(server.url, oai_schema, **params)

    assert error_code(root) == code
    request = root.find(f"{OAI}request")
    assert request is not None and request.text == server.url
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}
    else:
        assert request.get("verb") == params["verb"]


def test_post_is_answered_like_get(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """A form-encoded POST gets the same answer as the GET (OAI-PMH 2.0 section 3.1.1.2)."""
    server, _, _ = served
    posted = ask(
        server.url,
        oai_schema,
        "POST",
        verb="GetRecord",
        identifier="oai:tblpool:2",
        metadataPrefix="oai_dc",
    )
    fetched = ask(
        server.url,
        oai_schema,
        verb="GetRecord",
        identifier="oai:tblpool:2",
        metadataPrefix="oai_dc",
    )
    assert etree.tostring(posted.find(f"{OAI}GetRecord")) == etree.tostring(
        fetched.find(f"{OAI}GetRecord")
    )


def test_a_forged_or_borrowed_resumption_token_is_refused(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """A token whose position was edited, or one issued for another verb, is badResumptionToken."""
    import base64
    import json

    server, _, _ = served
    first = ask(server.url, oai_schema, verb="ListIdentifiers", metadataPrefix="marc21")
    token = first.findtext(f".//{OAI}resumptionToken") or ""
    payload, signature = token.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    position["a"] = 0
    edited = base64.urlsafe_b64encode(json.dumps(position).encode()).rstrip(b"=").decode()

    forged = ask(
        server.url, oai_schema, verb="ListIdentifiers", resumptionToken=f"{edited}.{signature}"
    )
    assert error_code(forged) == "badResumptionToken"
    borrowed = ask(server.url, oai_schema, verb="ListRecords", resumptionToken=token)
    assert error_code(borrowed) == "badResumptionToken"
    honest = ask(server.url, oai_schema, verb="ListIdentifiers", resumptionToken=token)
    assert error_code(honest) is None


def test_a_resumption_token_survives_a_server_restart(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """A token issued before a restart resumes at the same place after it."""
    server, _, _ = served
    first = ask(server.url, oai_schema, verb="ListIdentifiers", metadataPrefix="marc21")
    token = first.findtext(f".//{OAI}resumptionToken") or ""
    before = ask(server.url, oai_schema, verb="ListIdentifiers", resumptionToken=token)
    old_url = server.url

    server.restart()
    after = ask(server.url, oai_schema, verb="ListIdentifiers", resumptionToken=token)

    assert server.url != old_url, "a new process on a new port"
    assert [union_id(h) for h in headers([after])] == [union_id(h) for h in headers([before])]
    assert min(union_id(h) for h in headers([after])) > max(union_id(h) for h in headers([first]))


# -- the harvester's own round trip ----------------------------------------------------------------


def downstream_config(folder: Path, upstream: Path, url: str) -> Path:
    """A pool that knows the upstream partners and harvests the upstream pool over OAI-PMH."""
    partners = []
    for partner in load_config(upstream).partners:
        special = ", ".join(f'"{location}"' for location in partner.special_locations)
        partners.append(
            f'[[partners]]\ncode = "{partner.code}"\nname = "{partner.name}"\n'
            f'kind = "{partner.kind}"\nspecial_locations = [{special}]\n'
        )
    partners.append(
        '[[partners]]\ncode = "POOL"\nname = "Pool Tanjungbalai"\nkind = "network"\n\n'
        f'[[partners.sources]]\nname = "pool"\nkind = "oai"\nurl = "{url}"\n'
        'metadata_prefix = "marc21"\nholdings = "852"\n'
    )
    config = write_config(folder, "\n".join(partners))
    rules = (upstream / "flags.toml").read_text() + UPSTREAM_RULES
    (config / "flags.toml").write_text(rules)
    return config


def catalogue_of(engine: Engine, cluster_of: str) -> dict[int, tuple[Counter[Any], frozenset[str]]]:
    """Per cluster: holdings (partner, location, call number, barcode, collection) and flags."""
    holdings: dict[int, Counter[Any]] = {}
    query = (
        f"SELECT {cluster_of}, p.code, h.location, h.call_number, h.barcode, h.collection "
        "FROM holding h JOIN source_record sr ON sr.id = h.source_record_id "
        "JOIN partner p ON p.id = h.partner_id WHERE NOT sr.deleted"
    )
    flags: dict[int, set[str]] = {}
    with engine.connect() as connection:
        for key, *holding in connection.execute(text(query)):
            holdings.setdefault(int(key), Counter())[tuple(holding)] += 1
        flag_query = (
            f"SELECT DISTINCT {cluster_of}, f.flag FROM flag f "
            "JOIN source_record sr ON sr.cluster_id = f.cluster_id WHERE NOT sr.deleted"
        )
        for key, flag in connection.execute(text(flag_query)):
            flags.setdefault(int(key), set()).add(flag)
    return {key: (found, frozenset(flags.get(key, ()))) for key, found in holdings.items()}


def test_the_projects_harvester_copies_the_pool_with_its_clusters_holdings_and_flags(
    served: tuple[Server, Engine, Path], tmp_path: Path
) -> None:
    """`pool harvest` of `pool serve` into an empty pool: the same clusters, holdings, flags."""
    server, upstream, upstream_config = served
    config = downstream_config(tmp_path / "downstream", upstream_config, server.url)
    url = database_for(tmp_path)

    summary = pool_json("harvest", "--all", config=config, db=url)
    assert summary[0]["status"] == "ok", summary
    downstream = open_pool(url)

    members = scalar_rows(downstream, "SELECT COUNT(*) FROM source_record GROUP BY cluster_id")
    assert set(members) == {1}, "every upstream cluster stays one cluster downstream"
    # Downstream, a record's local id is POOL:oai:tblpool:<union id>.
    union_of = "CAST(substr(sr.local_id, length('POOL:oai:tblpool:') + 1) AS INTEGER)"
    copied, original = catalogue_of(downstream, union_of), catalogue_of(upstream, "sr.cluster_id")
    [live] = scalar_rows(upstream, "SELECT COUNT(*) FROM cluster WHERE NOT deleted")
    assert len(original) == live and copied == original
    assert sum(1 for _, flags in copied.values() if "rare" in flags) > 0
    assert scalar_rows(downstream, "SELECT COUNT(*) FROM cluster WHERE NOT deleted") == [live]
    downstream.dispose()


# -- what needs no HTTP: sets switched off, and PostgreSQL ---------------------------------------


def test_without_sets_the_set_verbs_answer_no_set_hierarchy(
    served: tuple[Server, Engine, Path], oai_schema: etree.XMLSchema
) -> None:
    """With [serve] sets = false, ListSets and a set argument answer noSetHierarchy."""
    _, engine, config = served
    provider = OaiProvider(engine, load_config(config), ProviderSettings(sets=False))

    for pairs in (
        [("verb", "ListSets")],
        [("verb", "ListRecords"), ("metadataPrefix", "marc21"), ("set", "flag:rare")],
    ):
        root = etree.fromstring(provider.respond(pairs, "http://127.0.0.1/oai"))
        assert oai_schema.validate(root), oai_schema.error_log.last_error
        assert error_code(root) == "noSetHierarchy"


SMALL_SOURCE = """
[[partners]]
code = "TBM"
name = "Taman Bacaan Masyarakat Pelita Pesisir"
kind = "community"

[[partners.sources]]
name = "tbm-hibah"
kind = "marc"
path = "hibah/*.xml"
"""


def test_tokens_and_sets_work_on_both_databases_and_across_provider_instances(
    tmp_path: Path, database_url: str, oai_schema: etree.XMLSchema
) -> None:
    """On SQLite and PostgreSQL, a new provider (a restart) resumes another one's token."""
    config_folder = write_config(tmp_path / "config", SMALL_SOURCE)
    write_gifts(config_folder, [f"Buku sumbangan nomor {n}" for n in range(1, 8)])
    engine = open_pool(database_url)
    config = load_config(config_folder)
    assert harvest_source(engine, config, config.source("tbm-hibah")).added == 7

    def listing(provider: OaiProvider, *pairs: tuple[str, str]) -> etree._Element:
        root = etree.fromstring(
            provider.respond([("verb", "ListIdentifiers"), *pairs], "http://h/oai")
        )
        assert oai_schema.validate(root), oai_schema.error_log.last_error
        return root

    small_pages = ProviderSettings(page_size=3)
    first = listing(
        OaiProvider(engine, config, small_pages),
        ("metadataPrefix", "oai_dc"),
        ("set", "partner:TBM"),
    )
    token = first.findtext(f".//{OAI}resumptionToken") or ""
    restarted = OaiProvider(engine, config, small_pages)
    second = listing(restarted, ("resumptionToken", token))

    ids = [union_id(h) for h in headers([first, second])]
    assert ids == sorted(scalar_rows(engine, "SELECT id FROM cluster"))[:6]
    keys = scalar_rows(engine, "SELECT COUNT(*) FROM provider_key")
    assert keys == [1], "both providers share the one key kept in the database"
    engine.dispose()
