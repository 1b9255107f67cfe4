"""`pool report`: the forum report on the harvested demo, through the real CLI.

The demo configuration is copied with two hostile names (the pool's and one
partner's), harvested with `pool harvest --all`, and given four requests
through `pool request`: a loan, a loan the first lender turns down, a copy of
a rare item, and a request still waiting for an answer. The report's figures
are then checked against the database with SQL of their own.

Both passes run these tests: `pytest` on SQLite, `pytest --backend postgresql`
on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree, html
from sqlalchemy import Engine, create_engine, text, update

from resource_pool.exchange_models import ExchangeRequest
from resource_pool.models import HarvestRun
from tests import runpool
from tests.runpool import ROOT, pool, pool_json

HOSTILE_PARTNER = '<script>alert("TBM")</script> & Pelita "Pesisir"'
HOSTILE_POOL = "Pool <b>Tanjungbalai</b> & mitra"
TODAY = datetime.now(UTC).date()


@dataclass
class Demo:
    """The harvested demo with its requests: where its configuration and database are."""

    config: Path
    url: str
    folder: Path

    def report(self, *args: str) -> tuple[str, dict[str, Any]]:
        """The HTML page and the JSON figures of one `pool --json report` run."""
        page = self.folder / f"report-{len(list(self.folder.glob('report-*')))}.html"
        figures = pool_json("report", "--out", str(page), *args, config=self.config, db=self.url)
        return page.read_text(encoding="utf-8"), figures

    def rows(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(query), params)]
        finally:
            engine.dispose()

    def engine(self) -> Engine:
        return create_engine(self.url)


def hostile_config(folder: Path) -> Path:
    """The demo configuration, with a pool name and a partner name full of markup."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    partners = (config / "partners.toml").read_text(encoding="utf-8")
    partners = partners.replace(
        'name = "Taman Bacaan Masyarakat Pelita Pesisir"',
        f"name = '{HOSTILE_PARTNER}'",
    )
    (config / "partners.toml").write_text(partners, encoding="utf-8")
    settings = (config / "pool.toml").read_text(encoding="utf-8")
    settings = re.sub(r'(?m)^name = ".*"$', f'name = "{HOSTILE_POOL}"', settings, count=1)
    (config / "pool.toml").write_text(settings, encoding="utf-8")
    return config


def request(demo: Demo, *args: str) -> dict[str, Any]:
    """One `pool request` step through the CLI, as JSON."""
    shown: dict[str, Any] = pool_json("request", *args, config=demo.config, db=demo.url)
    return shown


def lendable_clusters(demo: Demo, requester: str, *, rare: bool) -> list[int]:
    """Clusters `requester` does not hold, with two or more lendable holders."""
    rows = demo.rows(
        "SELECT sr.cluster_id, p.code, h.lendable FROM holding h "
        "JOIN source_record sr ON sr.id = h.source_record_id "
        "JOIN partner p ON p.id = h.partner_id "
        "WHERE sr.deleted = false AND sr.cluster_id IS NOT NULL"
    )
    flagged = {row[0] for row in demo.rows("SELECT cluster_id FROM flag WHERE flag = 'rare'")}
    holders: dict[int, set[str]] = {}
    held_by: dict[int, set[str]] = {}
    for cluster_id, code, lendable in rows:
        held_by.setdefault(cluster_id, set()).add(code)
        if lendable:
            holders.setdefault(cluster_id, set()).add(code)
    return sorted(
        cluster_id
        for cluster_id, codes in holders.items()
        if requester not in held_by[cluster_id]
        and (cluster_id in flagged) == rare
        and len(codes) >= (1 if rare else 2)
    )


def make_requests(demo: Demo) -> None:
    """A loan supplied at once, one supplied by the second lender, a copy, one still open."""
    first, second, waiting = lendable_clusters(demo, "SMA1", rare=False)[:3]
    loan = request(demo, "new", "--as", "SMA1", "--item", str(first))
    request(demo, "will-supply", str(loan["id"]), "--as", loan["lender"])
    request(demo, "ship", str(loan["id"]), "--as", loan["lender"])

    turned_down = request(demo, "new", "--as", "SMA1", "--item", str(second))
    moved_on = request(
        demo,
        "unfilled",
        str(turned_down["id"]),
        "--as",
        turned_down["lender"],
        "--reason",
        "NotOnShelf",
    )
    request(demo, "will-supply", str(moved_on["id"]), "--as", moved_on["lender"])
    request(demo, "ship", str(moved_on["id"]), "--as", moved_on["lender"])

    rare = lendable_clusters(demo, "TBM", rare=True)[0]
    copy = request(demo, "new", "--as", "TBM", "--item", str(rare), "--service", "copy")
    request(demo, "copy-done", str(copy["id"]), "--as", copy["lender"])

    request(demo, "new", "--as", "SMA1", "--item", str(waiting))


def build_demo(folder: Path, url: str) -> Demo:
    config = hostile_config(folder)
    harvested = pool("harvest", "--all", config=config, db=url)
    assert harvested.returncode == 0, harvested.stderr
    demo = Demo(config, url, folder)
    make_requests(demo)
    return demo


@pytest.fixture(scope="module")
def demo(
    pool_databases: runpool.Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The hostile demo, harvested and with its requests, shared by the module's tests."""
    folder = tmp_path_factory.mktemp("report")
    yield build_demo(folder, runpool.database_for(folder))


@pytest.fixture(scope="module")
def report(demo: Demo) -> tuple[str, dict[str, Any]]:
    """The page and figures of `pool --json report --out FILE` on the demo, with no --since."""
    return demo.report()


def by_code(rows: list[dict[str, Any]], key: str = "code") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


# The figures against the database


def test_catalogue_figures_match_the_database(demo: Demo, report: tuple[str, Any]) -> None:
    """Records, clusters held, titles held alone, rare and course flags per partner agree
    with SQL counts of live records and the clusters they sit in."""
    _page, figures = report
    partners = by_code(figures["partners"])
    held = (
        "SELECT DISTINCT p.code, sr.cluster_id FROM source_record sr "
        "JOIN source s ON s.id = sr.source_id JOIN partner p ON p.id = s.partner_id "
        "WHERE sr.deleted = false AND sr.cluster_id IS NOT NULL"
    )
    records = dict(
        demo.rows(
            "SELECT p.code, COUNT(*) FROM source_record sr JOIN source s ON s.id = sr.source_id "
            "JOIN partner p ON p.id = s.partner_id WHERE sr.deleted = false GROUP BY p.code"
        )
    )
    clusters = dict(demo.rows(f"SELECT code, COUNT(*) FROM ({held}) h GROUP BY code"))
    alone = dict(
        demo.rows(
            f"SELECT code, COUNT(*) FROM ({held}) h WHERE cluster_id IN "
            f"(SELECT cluster_id FROM ({held}) x GROUP BY cluster_id HAVING COUNT(*) = 1) "
            "GROUP BY code"
        )
    )
    flagged = {
        (code, flag): count
        for code, flag, count in demo.rows(
            f"SELECT h.code, f.flag, COUNT(DISTINCT f.cluster_id) FROM ({held}) h "
            "JOIN flag f ON f.cluster_id = h.cluster_id GROUP BY h.code, f.flag"
        )
    }

    assert set(partners) == {"SMA1", "TBL", "TBM", "UNA"}
    for code, row in partners.items():
        assert row["records"] == records.get(code, 0), code
        assert row["clusters"] == clusters.get(code, 0), code
        assert row["unique_clusters"] == alone.get(code, 0), code
        assert row["rare"] == flagged.get((code, "rare"), 0), code
        assert row["online_courses"] == flagged.get((code, "online-course"), 0), code
    assert figures["records"] == sum(records.values())
    (live,) = demo.rows("SELECT COUNT(*) FROM cluster WHERE deleted = false")[0]
    assert figures["clusters"] == live
    assert partners["TBM"]["name"] == HOSTILE_PARTNER


def test_overlap_matrix_counts_shared_clusters(demo: Demo, report: tuple[str, Any]) -> None:
    """Each cell is the number of clusters both partners hold; the diagonal what one holds."""
    _page, figures = report
    held: dict[str, set[int]] = {}
    for code, cluster_id in demo.rows(
        "SELECT p.code, sr.cluster_id FROM source_record sr JOIN source s ON s.id = sr.source_id "
        "JOIN partner p ON p.id = s.partner_id "
        "WHERE sr.deleted = false AND sr.cluster_id IS NOT NULL"
    ):
        held.setdefault(code, set()).add(cluster_id)
    overlap = figures["overlap"]

    codes = overlap["partners"]
    assert codes == sorted(held)
    for i, one in enumerate(codes):
        for j, other in enumerate(codes):
            assert overlap["shared"][i][j] == len(held[one] & held[other]), (one, other)
    assert any(overlap["shared"][i][j] for i in range(4) for j in range(4) if i != j)


def test_harvest_health_counts_runs_and_rejects(demo: Demo, report: tuple[str, Any]) -> None:
    """Runs, failed runs and rejected records per source agree with harvest_run and
    rejected_record; the two damaged TBM records show up as rejects."""
    _page, figures = report
    runs = {
        name: (count, failed)
        for name, count, failed in demo.rows(
            "SELECT s.name, COUNT(r.id), "
            "SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) "
            "FROM source s LEFT JOIN harvest_run r ON r.source_id = s.id GROUP BY s.name"
        )
    }
    rejects = dict(
        demo.rows(
            "SELECT s.name, COUNT(*) FROM rejected_record x JOIN source s ON s.id = x.source_id "
            "GROUP BY s.name"
        )
    )

    sources = by_code(figures["sources"], "source")
    assert set(sources) == set(runs)
    for name, row in sources.items():
        assert (row["runs"], row["failed_runs"]) == (runs[name][0], runs[name][1] or 0), name
        assert row["rejected_records"] == rejects.get(name, 0), name
    assert sources["tbm-books"]["rejected_records"] == 2
    by_day = [(d["day"], d["source"], d["runs"], d["rejected_records"]) for d in figures["health"]]
    assert (TODAY.isoformat(), "tbm-books", 1, 2) in by_day


def test_loans_follow_the_requests_made(demo: Demo, report: tuple[str, Any]) -> None:
    """Lent, borrowed, asked, unfilled and the fill rate agree with the rota entries, and
    with the four requests the fixture made."""
    _page, figures = report
    loans = by_code(figures["loans"])
    lent = dict(
        demo.rows(
            "SELECT partner, COUNT(*) FROM rota_entry WHERE supplied IS NOT NULL GROUP BY partner"
        )
    )
    asked = dict(
        demo.rows(
            "SELECT partner, COUNT(*) FROM rota_entry WHERE asked IS NOT NULL GROUP BY partner"
        )
    )
    borrowed = dict(
        demo.rows(
            "SELECT r.requester, COUNT(*) FROM exchange_request r "
            "JOIN rota_entry e ON e.request_id = r.id WHERE e.supplied IS NOT NULL "
            "GROUP BY r.requester"
        )
    )

    for code, row in loans.items():
        assert row["lent"] == lent.get(code, 0), code
        assert row["asked"] == asked.get(code, 0), code
        assert row["borrowed"] == borrowed.get(code, 0), code
        expected_rate = round(lent.get(code, 0) / asked[code], 4) if asked.get(code) else None
        assert row["fill_rate"] == expected_rate, code
    # A lender that was asked and said no has a fill rate of 0, not "never asked".
    assert any(row["asked"] and not row["lent"] and row["fill_rate"] == 0 for row in loans.values())
    assert figures["requests"] == 4
    assert (loans["SMA1"]["requested"], loans["SMA1"]["borrowed"]) == (3, 2)
    assert (loans["TBM"]["requested"], loans["TBM"]["borrowed"]) == (1, 1)
    assert sum(row["lent"] for row in loans.values()) == 3
    assert sum(row["unfilled"] for row in loans.values()) == 1
    supplied = [row for row in loans.values() if row["lent"]]
    assert all(row["median_turnaround_days"] is not None for row in supplied)


def test_growth_ends_at_todays_totals(demo: Demo, report: tuple[str, Any]) -> None:
    """The running totals end, for each partner and for the clusters, at today's counts."""
    _page, figures = report
    partners = by_code(figures["partners"])
    for series in figures["growth"]:
        assert series["points"][-1] == {
            "day": TODAY.isoformat(),
            "total": partners[series["name"]]["records"],
        }
    assert figures["cluster_growth"]["points"][-1]["total"] == figures["clusters"]


# The page


def test_page_is_self_contained_and_parses(report: tuple[str, Any]) -> None:
    """The page loads nothing from anywhere: no scripts, style sheets, images or fonts by
    URL; it parses as HTML, and every chart is inline SVG with a title."""
    page, _figures = report
    document = html.fromstring(page)

    assert document.tag == "html"
    assert document.get("lang") == "en"
    for element in document.iter():
        for attribute in ("src", "href"):
            value = element.get(attribute)
            assert value is None or not value.lower().startswith(("http:", "https:", "//"))
    assert not document.xpath("//script | //link | //img | //iframe | //object")
    assert "@import" not in page and "url(" not in page
    charts = document.xpath("//svg")
    assert len(charts) >= 9
    assert all(chart.xpath("./title") for chart in charts)


def test_untrusted_names_are_escaped(report: tuple[str, Any]) -> None:
    """A partner or pool name with markup appears as text, never as elements."""
    page, _figures = report
    document = html.fromstring(page)

    assert "<script>" not in page and "<b>Tanjungbalai" not in page
    assert not document.xpath("//script | //b")
    assert document.xpath("//h1")[0].text_content() == HOSTILE_POOL
    assert any(cell.text_content() == HOSTILE_PARTNER for cell in document.xpath("//td"))
    # Each chart is well-formed XML on its own, so nothing broke out of a label.
    for chart in re.findall(r"<svg .*?</svg>", page, re.DOTALL):
        assert etree.fromstring(chart.encode()).tag == "{http://www.w3.org/2000/svg}svg"


def test_page_tables_show_the_json_figures(report: tuple[str, Any]) -> None:
    """The numbers in the page's tables are the numbers --json prints."""
    page, figures = report
    document = html.fromstring(page)
    tables = {
        section.get("id"): [
            [cell.text_content() for cell in row.xpath("./td")]
            for row in section.xpath(".//table/tbody/tr")
        ]
        for section in document.xpath("//section")
    }

    catalogue = tables["catalogue"]
    assert [row[0] for row in catalogue] == [p["code"] for p in figures["partners"]]
    for row, partner in zip(catalogue, figures["partners"], strict=True):
        assert row[2:] == [
            str(partner["records"]),
            str(partner["clusters"]),
            str(partner["unique_clusters"]),
        ]
    loans = tables["loans"]
    for row, partner in zip(loans, figures["loans"], strict=True):
        assert row[:6] == [
            partner["code"],
            *(str(partner[key]) for key in ("requested", "borrowed", "asked", "lent", "unfilled")),
        ]
    header = document.xpath("//div[@class='tile']/span[@class='number']")
    assert [tile.text for tile in header] == [
        str(len(figures["partners"])),
        str(figures["records"]),
        str(figures["clusters"]),
        str(figures["requests"]),
    ]


def test_page_speaks_the_chosen_language(demo: Demo) -> None:
    """`pool --lang id report` writes a page whose html element says lang="id"."""
    page = demo.folder / "bahasa.html"
    result = pool("--lang", "id", "report", "--out", str(page), config=demo.config, db=demo.url)

    assert result.returncode == 0, result.stderr
    assert html.fromstring(page.read_text(encoding="utf-8")).get("lang") == "id"
    assert f"menulis {page}; mitra: 4, cantuman: " in result.stdout


# Options


def test_since_limits_activity_but_not_the_catalogue(demo: Demo, report: tuple[str, Any]) -> None:
    """--since leaves out runs, rejects and requests before the day, and starts the running
    totals there with what came before; the catalogue figures stay as they stand."""
    _page, everything = report
    engine = demo.engine()
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with engine.begin() as connection:
        connection.execute(
            update(HarvestRun).where(HarvestRun.id == 1).values(started=long_ago)  # type: ignore[arg-type]
        )
        connection.execute(
            update(ExchangeRequest).where(ExchangeRequest.id == 4).values(created=long_ago)  # type: ignore[arg-type]
        )
    engine.dispose()
    (moved_source,) = demo.rows(
        "SELECT s.name FROM harvest_run r JOIN source s ON s.id = r.source_id WHERE r.id = 1"
    )[0]

    _page, recent = demo.report("--since", (TODAY - timedelta(days=7)).isoformat())
    _page, tomorrow = demo.report("--since", (TODAY + timedelta(days=1)).isoformat())

    assert recent["partners"] == everything["partners"]
    assert recent["overlap"] == everything["overlap"]
    runs = {row["source"]: row["runs"] for row in recent["sources"]}
    assert runs[moved_source] == 0
    assert sum(runs.values()) == sum(row["runs"] for row in everything["sources"]) - 1
    assert recent["requests"] == 3
    assert by_code(recent["loans"])["SMA1"]["requested"] == 2
    first_day = (TODAY - timedelta(days=7)).isoformat()
    assert all(series["points"][0]["day"] == first_day for series in recent["growth"])

    assert tomorrow["requests"] == 0
    assert all(row["runs"] == 0 and row["rejected_records"] == 0 for row in tomorrow["sources"])
    assert tomorrow["health"] == []
    for series, partner in zip(tomorrow["growth"], tomorrow["partners"], strict=True):
        assert series["points"] == [
            {"day": (TODAY + timedelta(days=1)).isoformat(), "total": partner["records"]}
        ]


def test_bad_since_is_refused_naming_the_value(demo: Demo) -> None:
    """A --since that is not a day exits 2 and quotes what was given."""
    result = pool(
        "report",
        "--out",
        str(demo.folder / "x.html"),
        "--since",
        "03/12/2026",
        config=demo.config,
        db=demo.url,
    )

    assert result.returncode == 2
    assert "'03/12/2026' is not a day" in result.stderr
    assert not (demo.folder / "x.html").exists()


def test_out_is_required_without_json(demo: Demo) -> None:
    """Without --json there is nothing to print, so the command asks for --out."""
    result = pool("report", config=demo.config, db=demo.url)

    assert result.returncode == 2
    assert "--out" in result.stderr


def test_json_without_out_prints_the_figures(demo: Demo, report: tuple[str, Any]) -> None:
    """`pool --json report` alone prints the same figures, and writes no file."""
    printed = pool_json("report", config=demo.config, db=demo.url)
    _page, figures = report

    for key in ("partners", "overlap", "cluster_growth", "growth"):
        assert printed[key] == figures[key], key
    assert json.dumps(printed, ensure_ascii=False)
    assert date.fromisoformat(printed["cluster_growth"]["points"][-1]["day"]) == TODAY
