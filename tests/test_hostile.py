"""Hostile partner servers: floods, trickles, gzip bombs and lists that never end.

Each test runs the real `pool harvest` against a real HTTP server on
127.0.0.1 and pins the error or warning a librarian would read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from harvesters.errors import SourceError
from harvesters.marc import MarcFileHarvester
from tests import runpool
from tests.crash import database_of
from tests.oaiserver import Hostile, OaiServer, Reply, SyntheticRepository
from tests.runpool import ROOT, pool, pool_json, write_config

MEMORY_BOUND_KB = 300 * 1024
"""Peak resident memory a capped harvest stays under (ru_maxrss is in KiB on Linux)."""

_MEASURED = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[2:], capture_output=True, text=True)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak))\n"
    "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); sys.exit(done.returncode)\n"
)


def hostile_config(folder: Path, url: str, limits: str = "") -> Path:
    """One OAI-PMH source at `url`, with quick retries and the given limit keys."""
    partners = f"""
[[partners]]
code = "UNA"
name = "Perpustakaan Universitas Asahan"

[[partners.sources]]
name = "una-oai"
kind = "oai"
url = "{url}"
retries = 1
timeout = 5
{limits}
"""
    return write_config(folder, partners)


def measured_harvest(config: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """`pool harvest --all` in a child of its own, with that child's peak RSS in KiB."""
    peak_file = tmp_path / "peak-rss"
    command = [sys.executable, "-c", _MEASURED, str(peak_file), sys.executable, "-m",
               "resource_pool", "--config", str(config), "harvest", "--all"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POOL_DATABASE")}
    environment.update(runpool.databases.cli_environment(config))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env=environment)
    return result, int(peak_file.read_text())


def source_record_rows(config: Path) -> int:
    """How many source records the pool holds, counting any stored twice."""
    engine = create_engine(database_of(config))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM source_record")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.database
def test_an_endless_response_stops_at_the_size_cap_in_bounded_memory(tmp_path: Path) -> None:
    """An endless body fails the run at max_response_mb, naming URL and cap, in low memory."""
    with OaiServer() as server:
        url = server.add("flood", Hostile("endless"))
        config = hostile_config(tmp_path, url, "max_response_mb = 16")
        result, peak = measured_harvest(config, tmp_path)

    assert result.returncode != 0
    assert f"{url}?verb=ListRecords" in result.stderr
    assert "size cap of 16,777,216 bytes (max_response_mb = 16)" in result.stderr
    assert peak < MEMORY_BOUND_KB, f"peak RSS {peak} KiB"
    assert pool_json("runs", config=config)[0]["status"] == "failed"


@pytest.mark.database
def test_a_gzip_bomb_over_http_stops_at_the_size_cap_in_bounded_memory(tmp_path: Path) -> None:
    """1 GiB squeezed into a gzip response is refused at the cap on the unpacked size, unread."""
    bomb = Hostile("gzip-bomb")
    with OaiServer() as server:
        url = server.add("bomb", bomb)
        config = hostile_config(tmp_path, url, "max_response_mb = 16")
        result, peak = measured_harvest(config, tmp_path)

    assert len(bomb._gzip_bomb()) < 16 * 2**20, "the bomb itself must be under the cap"
    assert result.returncode != 0
    assert f"{url}?verb=ListRecords" in result.stderr
    assert "size cap of 16,777,216 bytes" in result.stderr
    assert peak < MEMORY_BOUND_KB, f"peak RSS {peak} KiB"


@pytest.mark.database
def test_the_default_size_cap_stops_an_endless_response(tmp_path: Path) -> None:
    """Without max_response_mb the cap is 100 MiB: an endless body still ends the run, named."""
    with OaiServer() as server:
        url = server.add("flood", Hostile("endless"))
        result = pool("harvest", "--all", config=hostile_config(tmp_path, url))

    assert result.returncode != 0
    assert "size cap of 104,857,600 bytes (max_response_mb = 100)" in result.stderr


@pytest.mark.database
def test_a_trickling_response_meets_the_deadline_not_only_the_read_timeout(
    tmp_path: Path,
) -> None:
    """One byte a second never trips the 5 s read timeout; response_deadline ends it, named."""
    with OaiServer() as server:
        url = server.add("trickle", Hostile("trickle"))
        config = hostile_config(tmp_path, url, "response_deadline = 3")
        result = pool("harvest", "--all", config=config, timeout=120)

    assert result.returncode != 0
    assert f"{url}?verb=ListRecords" in result.stderr
    assert "deadline of 3 s (response_deadline)" in result.stderr


@pytest.mark.database
def test_endless_new_tokens_over_the_same_records_end_the_list_with_a_warning(
    tmp_path: Path,
) -> None:
    """Fresh tokens over the same page end the list after 3 such pages; nothing stored twice."""
    repository = SyntheticRepository(records=30, page_size=10, circling=True)
    with OaiServer() as server:
        config = hostile_config(tmp_path, server.add("circle", repository))
        result = pool("--json", "harvest", "--all", config=config)
        list_requests = len([r for r in server.requests_to("circle")
                             if r.get("verb") == "ListRecords"])

    assert result.returncode == 0, result.stderr
    assert "3 pages in a row brought only records the list had already given" in result.stderr
    assert "ending the list here" in result.stderr
    assert list_requests == 4
    assert source_record_rows(config) == 10


@pytest.mark.database
def test_the_page_cap_ends_a_list_that_keeps_going(tmp_path: Path) -> None:
    """max_pages = 2 ends a 10-page list after 2 pages, with a warning and 20 records."""
    repository = SyntheticRepository(records=100, page_size=10)
    with OaiServer() as server:
        config = hostile_config(tmp_path, server.add("long", repository), "max_pages = 2")
        result = pool("harvest", "--all", config=config)

    assert result.returncode == 0, result.stderr
    assert "the list reached max_pages = 2 and still has a token" in result.stderr
    assert source_record_rows(config) == 20


@pytest.mark.parametrize("key, value", [("max_response_mb", "0"), ("response_deadline", '"x"'),
                                        ("max_pages", "-1")])
def test_a_bad_limit_is_refused_naming_the_key(tmp_path: Path, key: str, value: str) -> None:
    """A limit key that is not a positive whole number stops the load, naming key and value."""
    config = hostile_config(tmp_path, "http://127.0.0.1:9/oai", f"{key} = {value}")
    result = pool("partners", "list", config=config)
    assert result.returncode == 2
    assert f"{key} = " in result.stderr and "whole number of at least 1" in result.stderr


SECRET_LINE = "rahasia-perpustakaan-0600"


def secret_file(folder: Path) -> Path:
    """A local file an external entity would read, if anything resolved it."""
    path = folder / "secret.txt"
    path.write_text(SECRET_LINE + "\n")
    return path


def laughs(levels: int = 10) -> str:
    """Entity declarations that expand to 10**levels copies of one short word."""
    declared = ['<!ENTITY e0 "lol">']
    declared += [f'<!ENTITY e{n} "{f"&e{n - 1};" * 10}">' for n in range(1, levels)]
    return "".join(declared)


def marcxml_record(local_id: str, title: str) -> str:
    return (
        '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader>'
        f'<controlfield tag="001">{local_id}</controlfield><datafield tag="245" ind1="0" ind2="0">'
        f'<subfield code="a">{title}</subfield></datafield></record>'
    )


class EntityPage:
    """Identify as a synthetic repository; ListRecords a page whose DTD declares `entities`,
    with `title` (an entity reference) in its one record."""

    def __init__(self, entities: str, title: str) -> None:
        self.repository = SyntheticRepository()
        self.body = (
            f'<?xml version="1.0"?>\n<!DOCTYPE OAI-PMH [{entities}]>'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            "<responseDate>2024-01-01T00:00:00Z</responseDate><request>x</request><ListRecords>"
            "<record><header><identifier>oai:x:1</identifier>"
            "<datestamp>2024-01-01T00:00:00Z</datestamp></header>"
            f"<metadata>{marcxml_record('1', title)}</metadata></record>"
            "</ListRecords></OAI-PMH>"
        ).encode()

    def reply(self, params: dict[str, str]) -> Reply:
        if params.get("verb") != "ListRecords":
            return self.repository.reply(params)
        return Reply(self.body)


def everything_stored(config: Path) -> str:
    """All text of the stored and rejected records, to look for what must not be there."""
    engine = create_engine(database_of(config))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT marc, original FROM source_record UNION ALL "
                "SELECT reason, original FROM rejected_record"
            ))
            return "\n".join(f"{marc} {bytes(original)!r}" for marc, original in rows)
    finally:
        engine.dispose()


@pytest.mark.database
@pytest.mark.parametrize("attack", ["external entity", "entity expansion"])
def test_a_page_with_a_dtd_is_refused_unread_in_bounded_memory(
    tmp_path: Path, attack: str
) -> None:
    """An OAI-PMH page declaring an external entity (a local file) or a billion laughs fails
    the run naming the URL and the DTD; nothing is stored, nothing read, memory stays low."""
    secret = secret_file(tmp_path)
    if attack == "external entity":
        page = EntityPage(f'<!ENTITY x SYSTEM "file://{secret}">', "Buku &x;")
    else:
        page = EntityPage(laughs(), "Buku &e9;")
    with OaiServer() as server:
        url = server.add("entities", page)
        config = hostile_config(tmp_path / "config", url)
        result, peak = measured_harvest(config, tmp_path)

    assert result.returncode != 0
    assert f"{url}?verb=ListRecords" in result.stderr and "DTDs are refused" in result.stderr
    assert SECRET_LINE not in result.stdout + result.stderr
    assert source_record_rows(config) == 0
    assert peak < MEMORY_BOUND_KB, f"peak RSS {peak} KiB"


@pytest.mark.database
def test_a_marcxml_file_with_entities_loses_no_record_in_bounded_memory(tmp_path: Path) -> None:
    """A MARCXML file declaring an external entity and a billion laughs is refused whole,
    naming the file and its DTD, with the entity never read and memory low: no record is
    stored, so none can be silently lost after libxml2's amplification limit."""
    secret = secret_file(tmp_path)
    config = write_config(tmp_path / "config", """
[[partners]]
code = "TBL"
name = "Perpustakaan Kota Tanjungbalai"

[[partners.sources]]
name = "tbl-books"
kind = "marc"
path = "books.xml"
""")
    dtd = f'<!DOCTYPE collection [<!ENTITY x SYSTEM "file://{secret}">{laughs()}]>'
    records = [marcxml_record("1", "Buku &x;"), marcxml_record("2", "Buku &e9;"),
               marcxml_record("3", "Buku biasa")]
    (config / "books.xml").write_text(
        f'<?xml version="1.0"?>\n{dtd}<collection xmlns="http://www.loc.gov/MARC21/slim">'
        f'{"".join(records)}</collection>'
    )

    result, peak = measured_harvest(config, tmp_path)

    assert SECRET_LINE not in result.stdout + result.stderr + everything_stored(config)
    assert peak < MEMORY_BOUND_KB, f"peak RSS {peak} KiB"
    assert result.returncode != 0
    assert "books.xml" in result.stderr and "DTDs are refused" in result.stderr
    assert source_record_rows(config) == 0


def test_a_marcxml_dtd_behind_a_long_prolog_is_refused_too(tmp_path: Path) -> None:
    """A DTD after 100 KB of comments, past what the first look at a file sees, is still
    refused before the first record is handed over."""
    records = marcxml_record("1", "Buku &e9;") + marcxml_record("2", "Buku biasa")
    path = tmp_path / "books.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!-- {"x" * 100_000} -->\n<!DOCTYPE collection [{laughs()}]>'
        f'<collection xmlns="http://www.loc.gov/MARC21/slim">{records}</collection>'
    )
    harvester = MarcFileHarvester(source="tbl-books", partner="TBL", path=str(path))

    with pytest.raises(SourceError, match=r"source tbl-books: .*books\.xml.*DTDs are refused"):
        next(iter(harvester.pages(None)))
