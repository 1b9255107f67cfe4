"""Online-course catalogues (Open edX, MOOChub or CSV) crosswalked to MARC records.

Course platforms such as SPADA or the ICE Institute publish no OAI-PMH, but
they do publish course lists: the Open edX courses API (`results` with a
`pagination.next` link), MOOChub's JSON:API (`data` items with `attributes`,
`links.next`), or a CSV file with the columns title, provider, url,
language, start, end, description and subjects.

A feed is a full delivery: every run reads the whole list, so courses that
left it can be marked deleted once the run is complete.

Each course becomes a MARC 21 record for an online resource. Leader/06 is
"m" (computer file), the type MARC 21 gives to interactive multimedia, which
is what a course with lectures, exercises and quizzes is; 008/23 "o" and
007 "cr" say it is online; 655 _7 "Online courses" says what it is.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from gettext import gettext
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pymarc
import requests

from harvesters.errors import RecordError, SourceError, TransientError
from harvesters.records import Checkpoint, HarvestedRecord, Page, Rejection

log = logging.getLogger(__name__)

KIND = "courses"

# ISO 639-1 codes that feeds use, as MARC language codes and names (MARC Code List for Languages).
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("eng", "English"),
    "id": ("ind", "Indonesian"),
    "ms": ("may", "Malay"),
    "jv": ("jav", "Javanese"),
    "su": ("sun", "Sundanese"),
    "ar": ("ara", "Arabic"),
    "de": ("ger", "German"),
    "fr": ("fre", "French"),
    "es": ("spa", "Spanish"),
    "nl": ("dut", "Dutch"),
    "pt": ("por", "Portuguese"),
    "zh": ("chi", "Chinese"),
    "ja": ("jpn", "Japanese"),
    "ko": ("kor", "Korean"),
    "hi": ("hin", "Hindi"),
    "it": ("ita", "Italian"),
    "ru": ("rus", "Russian"),
    "tr": ("tur", "Turkish"),
}
_MARC_CODES = {code: name for code, name in LANGUAGES.values()}

_TAG = re.compile(r"<[^>]+>")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CSV_COLUMNS = ("title", "provider", "url", "language", "start", "end", "description", "subjects")


@dataclass(frozen=True, slots=True)
class Course:
    """One course as every feed shape describes it, before the crosswalk."""

    course_id: str
    title: str
    provider: str = ""
    url: str = ""
    languages: tuple[str, ...] = ()
    start: str = ""
    end: str = ""
    description: str = ""
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Item:
    """A course as delivered: its shape, where it was, its original bytes and fields."""

    shape: str
    position: str
    original: bytes
    fields: Any


@dataclass
class CourseHarvester:
    """Reads a course feed from a file or an http(s) URL, page by page."""

    source: str
    partner: str
    path: str | None = None
    url: str | None = None
    base_folder: Path = Path(".")
    page_size: int = 500
    timeout: float = 60.0
    max_documents: int = 1000
    """The most `next` links followed in one run; a feed that loops stops here."""

    kind = KIND

    def pages(self, checkpoint: Checkpoint | None) -> Iterator[Page]:
        """Yield the feed's courses as pages; resume after the position in `checkpoint`."""
        skip = int((checkpoint or {}).get("position", 0))
        page = Page(label=self._where())
        position = 0

        for item in self._items():
            position += 1
            if position <= skip:
                continue
            self._add(page, item)
            if len(page.records) + len(page.rejections) >= self.page_size:
                page.checkpoint = {"position": position}
                yield page
                page = Page(label=self._where())

        page.checkpoint, page.complete, page.full = {}, True, True
        log.info(gettext("course feed read: source=%s courses=%d"), self.source, position)
        yield page

    def _where(self) -> str:
        return self.url or str(self._file())

    def _file(self) -> Path:
        path = Path(self.path or "")
        return path if path.is_absolute() else self.base_folder / path

    # ------------------------------------------------------------------ reading

    def _items(self) -> Iterator[_Item]:
        if self.url:
            yield from self._url_items(self.url)
            return
        location = self._file()
        try:
            body = location.read_bytes()
        except OSError as error:
            raise SourceError(
                gettext("{source}: cannot read course feed {location}: {reason}").format(
                    source=self.source, location=location, reason=error.strerror
                )
            ) from error
        items, _ = _decode(body, str(location), self.source)
        yield from items

    def _url_items(self, url: str) -> Iterator[_Item]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url and len(seen) < self.max_documents:
            if next_url in seen:
                log.warning(
                    gettext("course feed repeats a next link: source=%s url=%s"),
                    self.source,
                    next_url,
                )
                return
            seen.add(next_url)
            body = self._fetch(next_url)
            items, following = _decode(body, next_url, self.source)
            yield from items
            next_url = urljoin(next_url, following) if following else None

    def _fetch(self, url: str) -> bytes:
        try:
            response = requests.get(url, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientError(
                gettext("{source}: course feed {url} did not answer: {error}").format(
                    source=self.source, url=url, error=error
                )
            ) from error
        except requests.RequestException as error:
            raise SourceError(
                gettext("{source}: course feed {url} failed: {error}").format(
                    source=self.source, url=url, error=error
                )
            ) from error

        if response.status_code in (429, 503) or response.status_code >= 500:
            raise TransientError(
                gettext("{source}: course feed {url} answered HTTP {status}").format(
                    source=self.source, url=url, status=response.status_code
                )
            )
        if response.status_code >= 400:
            raise SourceError(
                gettext("{source}: course feed {url} answered HTTP {status}").format(
                    source=self.source, url=url, status=response.status_code
                )
            )
        return response.content

    # ------------------------------------------------------------------ records

    def _add(self, page: Page, item: _Item) -> None:
        try:
            course = _course(item)
            record = course_record(course)
        except RecordError as error:
            page.rejections.append(
                Rejection(self.source, page.label, item.position, error.reason, item.original)
            )
            return
        page.records.append(
            HarvestedRecord(
                source=self.source,
                local_id=f"{self.partner}:{course.course_id}",
                format=item.shape,
                original=item.original,
                marc=record,
            )
        )


# ---------------------------------------------------------------------- feed shapes


def _decode(body: bytes, where: str, source: str) -> tuple[list[_Item], str | None]:
    """Split one document into course items and the link to the next document."""
    text = body.decode("utf-8-sig", errors="replace")
    if text.lstrip()[:1] not in ("{", "["):
        return _csv_items(text, where, source), None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(
            gettext("{source}: course feed {location} is not valid JSON: {error}").format(
                source=source, location=where, error=error
            )
        ) from error

    if isinstance(document, dict) and isinstance(document.get("results"), list):
        following = (document.get("pagination") or {}).get("next") or document.get("next")
        return _json_items("openedx", document["results"]), _link(following)
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        following = (document.get("links") or {}).get("next")
        return _json_items("moochub", document["data"]), _link(following)
    raise SourceError(
        gettext(
            "{source}: course feed {location} is neither an Open edX list ('results') "
            "nor a MOOChub list ('data')"
        ).format(source=source, location=where)
    )


def _link(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("href")
    return value if isinstance(value, str) and value else None


def _json_items(shape: str, entries: list[Any]) -> list[_Item]:
    items = []
    for number, entry in enumerate(entries, 1):
        original = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8")
        items.append(_Item(shape, f"item {number}", original, entry))
    return items


def _csv_items(text: str, where: str, source: str) -> list[_Item]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if not {"title", "url"} <= columns:
        raise SourceError(
            gettext(
                "{source}: course feed {location} has columns {columns}; "
                "a CSV feed needs at least title and url (of {known})"
            ).format(
                source=source,
                location=where,
                columns=sorted(columns),
                known=", ".join(_CSV_COLUMNS),
            )
        )

    items = []
    for row in reader:
        fields = {(key or "").strip().lower(): (value or "") for key, value in row.items()}
        line = io.StringIO()
        csv.writer(line).writerow(row.get(name, "") for name in reader.fieldnames or [])
        items.append(
            _Item("csv", f"row {reader.line_num}", line.getvalue().encode("utf-8"), fields)
        )
    return items


def _course(item: _Item) -> Course:
    if not isinstance(item.fields, dict):
        raise RecordError(f"{item.position}: a course must be an object; got {item.fields!r:.60}")
    read = {"openedx": _openedx, "moochub": _moochub, "csv": _csv_course}[item.shape]
    course = read(item.fields)

    if not course.title:
        raise RecordError(f"{item.position}: the course has no title")
    if not course.course_id:
        raise RecordError(f"{item.position}: course {course.title!r} has neither an id nor a url")
    if course.url and urlsplit(course.url).scheme not in ("http", "https"):
        raise RecordError(
            f"{item.position}: course {course.title!r}: url {course.url!r} is not http(s)"
        )
    for name in ("start", "end"):
        value = getattr(course, name)
        if value and not _DATE.match(value):
            raise RecordError(
                f"{item.position}: course {course.title!r}: {name} {value!r} "
                "is not a date (YYYY-MM-DD)"
            )
    return course


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("name") or value.get("value") or ""
    # Tags become spaces so "<p>a</p><p>b</p>" keeps its words apart; then tidy before punctuation.
    text = " ".join(unescape(_TAG.sub(" ", str(value or ""))).split())
    return _SPACE_BEFORE_STOP.sub(r"\1", text)


def _openedx(fields: Mapping[str, Any]) -> Course:
    course_id = _text(fields.get("course_id") or fields.get("id"))
    url = _text(fields.get("course_url"))
    if not url and course_id and fields.get("blocks_url"):
        # The courses API gives no about page; the LMS serves one at /courses/<id>/about.
        url = urljoin(_text(fields["blocks_url"]), f"/courses/{course_id}/about")
    return Course(
        course_id=course_id or url,
        title=_text(fields.get("name")),
        provider=_text(fields.get("org")),
        url=url,
        languages=_languages(fields.get("language")),
        start=_text(fields.get("start")),
        end=_text(fields.get("end")),
        description=_text(fields.get("short_description")),
    )


def _moochub(fields: Mapping[str, Any]) -> Course:
    attributes = fields.get("attributes") or {}
    url = _text(attributes.get("url"))
    keywords = attributes.get("keywords") or []
    return Course(
        course_id=_text(fields.get("id") or attributes.get("courseCode")) or url,
        title=_text(attributes.get("name")),
        provider=_text(attributes.get("moocProvider")),
        url=url,
        languages=_languages(attributes.get("languages") or attributes.get("inLanguage")),
        start=_text(attributes.get("startDate")),
        end=_text(attributes.get("endDate")),
        description=_text(attributes.get("description") or attributes.get("abstract")),
        subjects=tuple(_text(k) for k in keywords if _text(k))
        if isinstance(keywords, list)
        else (),
    )


def _csv_course(fields: Mapping[str, str]) -> Course:
    url = fields.get("url", "").strip()
    subjects = re.split(r"[;|]", fields.get("subjects", ""))
    return Course(
        course_id=fields.get("id", "").strip() or url,
        title=_text(fields.get("title")),
        provider=_text(fields.get("provider")),
        url=url,
        languages=_languages(re.split(r"[;|,]", fields.get("language", ""))),
        start=fields.get("start", "").strip(),
        end=fields.get("end", "").strip(),
        description=_text(fields.get("description")),
        subjects=tuple(s.strip() for s in subjects if s.strip()),
    )


def _languages(value: Any) -> tuple[str, ...]:
    """Feed language codes ("en", "id-ID", "ind") as MARC language codes."""
    items = value if isinstance(value, list) else [value]
    codes = []
    for item in items:
        text = _text(item).lower().replace("_", "-").split("-")[0]
        code = LANGUAGES[text][0] if text in LANGUAGES else text
        if code in _MARC_CODES and code not in codes:
            codes.append(code)
    return tuple(codes)


# ---------------------------------------------------------------------- crosswalk


def course_record(course: Course) -> pymarc.Record:
    """The MARC 21 record of an online course."""
    record = pymarc.Record(force_utf8=True, leader="00000nmm a2200000 i 4500")
    control = [
        pymarc.Field(tag="001", data=course.course_id),
        pymarc.Field(tag="007", data="cr |||||||||||"),
        pymarc.Field(tag="008", data=_fixed_data(course)),
    ]
    record.fields.extend(control + _data_fields(course))
    return record


def _fixed_data(course: Course) -> str:
    """008 for a computer file: Date1 from the start, 008/23 "o" online, 008/26 "i" interactive."""
    found = _DATE.match(course.start)
    entered = f"{found.group(1)[2:]}{found.group(2)}{found.group(3)}" if found else "||||||"
    dates = f"s{found.group(1)}    " if found else "nuuuuuuuu"
    language = course.languages[0] if course.languages else "und"
    # 008/18-34 for computer files: 22 audience, 23 form of item, 26 type of file.
    computer_file = "    " + " " + "o" + "  " + "i" + " " + " " + "      "
    return f"{entered}{dates}xx {computer_file}{language} d"


def _subfield(code: str, value: str) -> pymarc.Subfield:
    return pymarc.Subfield(code=code, value=value)


def _field(tag: str, indicators: str, *pairs: tuple[str, str]) -> pymarc.Field:
    subfields = [_subfield(code, value) for code, value in pairs if value]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*indicators), subfields=subfields)


def _data_fields(course: Course) -> list[pymarc.Field]:
    fields = []
    if course.languages:
        fields.append(_field("041", "0 ", *(("a", code) for code in course.languages)))
    fields.append(_field("245", "00", ("a", course.title)))

    year = course.start[:4] if _DATE.match(course.start) else ""
    if course.provider or year:
        fields.append(_field("264", " 1", ("b", course.provider), ("c", year)))
    fields.append(_field("337", "  ", ("a", "computer"), ("b", "c")))
    fields.append(_field("338", "  ", ("a", "online resource"), ("b", "cr")))

    dates = _dates_note(course)
    if dates:
        fields.append(_field("500", "  ", ("a", dates)))
    if course.description:
        fields.append(_field("520", "  ", ("a", course.description)))
    if course.languages:
        names = ", ".join(_MARC_CODES[code] for code in course.languages)
        fields.append(_field("546", "  ", ("a", f"In {names}.")))

    fields.extend(_field("653", "  ", ("a", subject)) for subject in course.subjects)
    fields.append(_field("655", " 7", ("a", "Online courses"), ("2", "local")))
    if course.provider:
        fields.append(_field("710", "2 ", ("a", course.provider)))
    if course.url:
        fields.append(_field("856", "40", ("u", course.url), ("y", "Course page")))
    return fields


def _dates_note(course: Course) -> str:
    start, end = course.start[:10], course.end[:10]
    if start and end:
        return f"Course runs from {start} to {end}."
    if start:
        return f"Course starts {start}."
    return f"Course ends {end}." if end else ""
