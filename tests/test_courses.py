"""Course feeds (Open edX, MOOChub, CSV) from files and from a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harvesters.courses import CourseHarvester
from harvesters.errors import SourceError, TransientError
from harvesters.records import Page
from resource_pool.flags import FlagContext, Member, evaluate, load_rules

ROOT = Path(__file__).resolve().parent.parent

OPENEDX_PAGE_1 = {
    "pagination": {"next": "/api/courses/v1/courses/?page=2", "count": 2, "num_pages": 2},
    "results": [
        {
            "blocks_url": "https://courses.edx.org/api/courses/v1/blocks/?course_id=course-v1%3AHarvardX%2BCS50%2BX",
            "course_id": "course-v1:HarvardX+CS50+X",
            "id": "course-v1:HarvardX+CS50+X",
            "name": "CS50's Introduction to Computer Science",
            "org": "HarvardX",
            "short_description": "An introduction to <b>computer science</b>.",
            "start": "2023-01-01T00:00:00Z",
            "end": "2025-12-31T23:59:00Z",
        }
    ],
}
OPENEDX_PAGE_2 = {
    "pagination": {"next": None},
    "results": [
        {
            "course_id": "course-v1:UI+PP101+2024",
            "course_url": "https://courses.indonesiax.co.id/courses/course-v1:UI+PP101+2024/about",
            "name": "Pengantar Perpustakaan Digital",
            "org": "UI",
            "start": "2024-09-02T00:00:00Z",
            "end": None,
            "language": "id",
        }
    ],
}
MOOCHUB = {
    "links": {"next": None},
    "data": [
        {
            "type": "courses",
            "id": "hpi-java2024",
            "attributes": {
                "name": "Java für Einsteiger",
                "url": "https://open.hpi.de/courses/javaeinstieg2024",
                "description": "<p>Objektorientierte Programmierung.</p>",
                "languages": ["de"],
                "startDate": ["2024-03-06T08:00:00+00:00"],
                "endDate": ["2024-04-10T22:00:00+00:00"],
                "moocProvider": {"name": "openHPI"},
            },
        },
        {"type": "courses", "id": "no-name", "attributes": {"url": "https://open.hpi.de/x"}},
    ],
}
CSV = (
    "title,provider,url,language,start,end,description,subjects\n"
    "Pengantar Ilmu Komputer,Universitas Indonesia,"
    "https://spada.kemdikbud.go.id/course/view.php?id=4512,id,2024-02-05,2024-06-14,"
    '"Algoritma, struktur data.",Ilmu komputer;Pemrograman\n'
    "Kursus tanpa tautan,ICE Institute,ftp://icei.ac.id/x,id,,,,\n"
    "Manajemen Keuangan,Universitas Terbuka,https://icei.ac.id/course/mk,id,1 Maret 2024,,,\n"
)


class _Feeds(BaseHTTPRequestHandler):
    """Serves the feeds above; /broken answers 503 and /missing 404."""

    routes = {
        "/api/courses/v1/courses/": ("application/json", json.dumps(OPENEDX_PAGE_1)),
        "/api/courses/v1/courses/?page=2": ("application/json", json.dumps(OPENEDX_PAGE_2)),
        "/moochub": ("application/vnd.api+json", json.dumps(MOOCHUB)),
        "/courses.csv": ("text/csv", CSV),
    }

    def do_GET(self) -> None:  # noqa: N802 (the http.server hook's name)
        if self.path == "/broken":
            self.send_error(503)
            return
        if self.path not in self.routes:
            self.send_error(404)
            return
        kind, body = self.routes[self.path]
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving course feeds."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def harvest(harvester: CourseHarvester) -> list[Page]:
    """Every page of one run."""
    return list(harvester.pages(None))


def test_openedx_feed_follows_next_over_http(server: str) -> None:
    """An Open edX list is read over HTTP, following pagination.next to the last page."""
    pages = harvest(CourseHarvester("edx", "USU", url=f"{server}/api/courses/v1/courses/"))
    records = [r for page in pages for r in page.records]
    assert [r.local_id for r in records] == [
        "USU:course-v1:HarvardX+CS50+X",
        "USU:course-v1:UI+PP101+2024",
    ]
    assert pages[-1].complete and pages[-1].full

    first = records[0].marc
    assert first is not None
    assert first["856"]["u"] == ("https://courses.edx.org/courses/course-v1:HarvardX+CS50+X/about")
    assert first["520"]["a"] == "An introduction to computer science."
    assert json.loads(records[0].original)["org"] == "HarvardX"


def test_course_record_is_an_online_resource(server: str) -> None:
    """The crosswalk writes Leader/06 m, 007 cr, 008/23 o, 264, 041/546 and 655 Online courses."""
    pages = harvest(CourseHarvester("edx", "USU", url=f"{server}/api/courses/v1/courses/"))
    marc = pages[-1].records[-1].marc
    assert marc is not None
    assert marc.leader[6:8] == "mm"
    assert marc["007"].data.startswith("cr")
    assert marc["008"].data[23] == "o" and marc["008"].data[7:11] == "2024"
    assert marc["008"].data[35:38] == "ind" and len(marc["008"].data) == 40
    assert marc["041"]["a"] == "ind" and marc["546"]["a"] == "In Indonesian."
    assert marc["264"]["b"] == "UI" and marc["264"]["c"] == "2024"
    assert marc["655"]["a"] == "Online courses" and marc["655"]["2"] == "local"
    assert tuple(marc["856"].indicators) == ("4", "0")


def test_moochub_feed_over_http_rejects_a_course_without_name(server: str) -> None:
    """MOOChub items become records; an item with no name becomes a Rejection naming it."""
    pages = harvest(CourseHarvester("hpi", "UNIMED", url=f"{server}/moochub"))
    records = [r for page in pages for r in page.records]
    rejections = [r for page in pages for r in page.rejections]
    assert [r.local_id for r in records] == ["UNIMED:hpi-java2024"]
    assert records[0].marc is not None and records[0].marc["500"]["a"] == (
        "Course runs from 2024-03-06 to 2024-04-10."
    )
    assert [(r.position, r.reason) for r in rejections] == [
        ("item 2", "item 2: the course has no title")
    ]
    assert b'"no-name"' in rejections[0].original


def test_csv_feed_over_http_and_from_a_file(server: str, tmp_path: Path) -> None:
    """A CSV feed gives the same records from a URL and from a file; bad rows are rejected."""
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "courses.csv").write_text(CSV, encoding="utf-8")
    by_url = harvest(CourseHarvester("spada", "TBL", url=f"{server}/courses.csv"))
    by_file = harvest(
        CourseHarvester("spada", "TBL", path="feeds/courses.csv", base_folder=tmp_path)
    )

    for pages in (by_url, by_file):
        [page] = pages
        assert [r.local_id for r in page.records] == [
            "TBL:https://spada.kemdikbud.go.id/course/view.php?id=4512"
        ]
        assert [r.reason for r in page.rejections] == [
            "row 3: course 'Kursus tanpa tautan': url 'ftp://icei.ac.id/x' is not http(s)",
            "row 4: course 'Manajemen Keuangan': start '1 Maret 2024' is not a date (YYYY-MM-DD)",
        ]
    marc = by_file[0].records[0].marc
    assert marc is not None
    assert [f["a"] for f in marc.get_fields("653")] == ["Ilmu komputer", "Pemrograman"]
    assert by_file[0].records[0].original.startswith(b"Pengantar Ilmu Komputer,")


def test_json_feed_from_a_file_is_flagged_by_the_default_rules() -> None:
    """Courses from the labelled Open edX file carry online-course and are not rare."""
    rules = load_rules(ROOT / "config" / "flags.toml")
    folder = ROOT / "benchmarks" / "labelled_flags"
    pages = harvest(CourseHarvester("edx", "USU", path="courses-openedx.json", base_folder=folder))
    for harvested in pages[-1].records:
        assert harvested.marc is not None
        found = evaluate(rules, FlagContext([Member(harvested.marc, "courses", "USU")]))
        assert {hit.flag for hit in found} == {"online-course"}
        assert "course-feed" in {hit.rule for hit in found}


def test_resume_after_a_stored_page(tmp_path: Path) -> None:
    """With a checkpoint the harvester skips the courses already stored."""
    rows = "".join(f"Course {n},P,https://example.org/c{n},en,,,,\n" for n in range(5))
    (tmp_path / "c.csv").write_text(
        "title,provider,url,language,start,end,description,subjects\n" + rows
    )
    harvester = CourseHarvester("c", "TBL", path="c.csv", base_folder=tmp_path, page_size=2)
    pages = harvest(harvester)
    assert [len(p.records) for p in pages] == [2, 2, 1]
    resumed = list(harvester.pages(pages[0].checkpoint))
    assert [r.local_id for p in resumed for r in p.records][0] == "TBL:https://example.org/c2"


def test_server_errors_and_bad_documents(server: str, tmp_path: Path) -> None:
    """503 is transient, 404 is a source error, and a document of neither shape says so."""
    with pytest.raises(TransientError, match="answered HTTP 503"):
        harvest(CourseHarvester("x", "TBL", url=f"{server}/broken"))
    with pytest.raises(SourceError, match="answered HTTP 404"):
        harvest(CourseHarvester("x", "TBL", url=f"{server}/missing"))

    (tmp_path / "odd.json").write_text('{"courses": []}', encoding="utf-8")
    with pytest.raises(SourceError, match="neither an Open edX list"):
        harvest(CourseHarvester("x", "TBL", path="odd.json", base_folder=tmp_path))
    with pytest.raises(SourceError, match="cannot read course feed"):
        harvest(CourseHarvester("x", "TBL", path="gone.csv", base_folder=tmp_path))
