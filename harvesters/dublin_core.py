"""Simple Dublin Core (oai_dc) to MARC 21, after the Library of Congress crosswalk.

Most small library systems offer only oai_dc, so its records must become
MARC before they can be matched with everyone else's. The mapping follows
the Library of Congress "Dublin Core to MARC Crosswalk"; where it leaves a
choice open, the choice is said beside the code. The harvester keeps the
original XML, so nothing said here is lost for good.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pymarc
from lxml import etree

from harvesters.errors import RecordError

_TYPES = (
    # (words in dc:type, Leader/06 type of record, Leader/07 bibliographic level)
    (("article", "journal article"), "a", "b"),
    (("periodical", "journal", "serial", "majalah", "jurnal"), "a", "s"),
    (("collection",), "p", "c"),
    (("moving image", "movingimage", "video", "film"), "g", "m"),
    (("sound", "audio", "music"), "i", "m"),
    (("still image", "stillimage", "image", "photograph", "map"), "k", "m"),
    (("software", "dataset", "data set", "interactive resource"), "m", "m"),
    (("physical object", "physicalobject", "realia"), "r", "m"),
)
_LANGUAGES = {
    "id": "ind", "in": "ind", "ind": "ind", "indonesia": "ind", "indonesian": "ind",
    "bahasa indonesia": "ind", "en": "eng", "eng": "eng", "english": "eng", "inggris": "eng",
    "ms": "may", "may": "may", "msa": "may", "melayu": "may", "malay": "may",
    "jv": "jav", "jav": "jav", "jawa": "jav", "javanese": "jav", "su": "sun", "sun": "sun",
    "sunda": "sun", "ar": "ara", "ara": "ara", "arab": "ara", "arabic": "ara",
    "nl": "dut", "nld": "dut", "dut": "dut", "belanda": "dut", "dutch": "dut",
    "de": "ger", "deu": "ger", "ger": "ger", "german": "ger", "fr": "fre", "fra": "fre",
    "fre": "fre", "french": "fre", "es": "spa", "spa": "spa", "spanish": "spa",
    "zh": "chi", "zho": "chi", "chi": "chi", "chinese": "chi", "ja": "jpn", "jpn": "jpn",
    "japanese": "jpn", "ko": "kor", "kor": "kor", "it": "ita", "ita": "ita", "pt": "por",
    "por": "por", "ru": "rus", "rus": "rus", "la": "lat", "lat": "lat", "latin": "lat",
}
_ISBN = re.compile(r"^(?:urn:isbn:|isbn:?\s*)?([0-9][0-9\- ]{8,15}[0-9Xx])(?:\s*\(.*\))?$",
                   re.IGNORECASE)
_URL = re.compile(r"^(?:https?|ftp)://\S+$", re.IGNORECASE)
_YEAR = re.compile(r"(?<![0-9])(1[0-9]{3}|2[0-9]{3})(?![0-9])")
_DDC = re.compile(r"^[0-9]{3}(?:\.[0-9]+)?$")
_SPACES = re.compile(r"\s+")


@dataclass(slots=True)
class _Description:
    """The Dublin Core elements of one record, in document order."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def get(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def first(self, name: str) -> str:
        found = self.get(name)
        return found[0] if found else ""


def record_from_dc(
    payload: etree._Element,
    *,
    datestamp: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> pymarc.Record:
    """Crosswalk one <oai_dc:dc> element to a MARC record.

    `aliases` maps non-DC element names some servers emit (SLiMS's
    `identifier_isbn`) onto the names used here ("isbn", "issn"), and
    `datestamp` fills 008/00-05 (date entered on file).
    """
    description = _read(payload, aliases or {})
    if not description.get("title") and not description.get("identifier"):
        raise RecordError("oai_dc record has neither dc:title nor dc:identifier")

    kind, level = _type_codes(description.get("type"))
    language = _language_code(description.get("language"))
    record = pymarc.Record(leader=f"00000n{kind}{level} a2200000uu 4500")
    fixed = _fixed_data(description, datestamp, language)
    record.add_ordered_field(pymarc.Field(tag="008", data=fixed))
    for build in (_identifiers, _titles, _names, _publication, _notes, _subjects, _links):
        for built in build(description, language):
            record.add_ordered_field(built)
    return record


def _read(payload: etree._Element, aliases: Mapping[str, str]) -> _Description:
    description = _Description()
    for element in payload.iter():
        if element is payload or not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        value = _SPACES.sub(" ", "".join(str(text) for text in element.itertext())).strip()
        if value:
            description.add(aliases.get(name, name), value)
    return description


def _type_codes(types: list[str]) -> tuple[str, str]:
    words = " ".join(types).lower()
    for names, kind, level in _TYPES:
        if any(name in words for name in names):
            return kind, level
    return "a", "m"


def _language_code(languages: list[str]) -> str:
    for language in languages:
        code = _LANGUAGES.get(language.strip().lower())
        if code:
            return code
    return ""


def _year(description: _Description) -> str:
    for date in description.get("date"):
        found = _YEAR.search(date)
        if found:
            return found.group(1)
    return ""


def _fixed_data(description: _Description, datestamp: str | None, language: str) -> str:
    """008 for any type: dates and language coded, the rest left as fill characters."""
    entered = re.sub(r"[^0-9]", "", datestamp or "")[2:8].ljust(6, "0")
    year = _year(description)
    dates = f"s{year}    " if year else "nuuuuuuuu"
    form = "o" if any(_URL.match(value) for value in description.get("identifier")) else "|"
    material = "|" * 5 + form + "|" * 11
    return f"{entered}{dates}xx {material}{language or '|||'} d"


def _identifiers(description: _Description, language: str) -> list[pymarc.Field]:
    fields = [_field("020", "  ", "a", _isbn_digits(value)) for value in description.get("isbn")]
    fields += [_field("022", "  ", "a", value) for value in description.get("issn")]
    for value in description.get("identifier"):
        isbn = _ISBN.match(value)
        if isbn and len(_isbn_digits(isbn.group(1))) in (10, 13):
            fields.append(_field("020", "  ", "a", _isbn_digits(isbn.group(1))))
        elif not _URL.match(value):
            fields.append(_field("024", "8 ", "a", value))
    fields.append(_field("042", "  ", "a", "dc"))
    if language:
        fields.append(_field("041", "  ", "a", language))
    return fields


def _isbn_digits(value: str) -> str:
    return re.sub(r"[^0-9Xx]", "", value).upper()


def _titles(description: _Description, language: str) -> list[pymarc.Field]:
    titles = description.get("title")
    if not titles:
        return []
    fields = [_field("245", "00", "a", titles[0])]
    return fields + [_field("246", "3 ", "a", title) for title in titles[1:]]


def _names(description: _Description, language: str) -> list[pymarc.Field]:
    """Creators and contributors.

    The crosswalk sends names to 720 (uncontrolled name) unless the kind of
    name is known. An inverted "Surname, Forename" is taken as a personal
    name: the first such creator becomes the 100, the other inverted names 700.
    """
    fields: list[pymarc.Field] = []
    main_taken = False
    for role, names in (("author", description.get("creator")),
                        ("contributor", description.get("contributor"))):
        for name in names:
            personal = "," in name
            if personal and role == "author" and not main_taken:
                fields.append(_field("100", "1 ", "a", name, "e", role))
                main_taken = True
            elif personal:
                fields.append(_field("700", "1 ", "a", name, "e", role))
            else:
                fields.append(_field("720", "  ", "a", name, "e", role))
    return fields


def _publication(description: _Description, language: str) -> list[pymarc.Field]:
    publishers, dates = description.get("publisher"), description.get("date")
    if not publishers and not dates:
        return []
    subfields = [pymarc.Subfield("b", publisher) for publisher in publishers]
    if dates:
        subfields.append(pymarc.Subfield("c", dates[0]))
    return [pymarc.Field(tag="260", indicators=pymarc.Indicators(" ", " "), subfields=subfields)]


def _notes(description: _Description, language: str) -> list[pymarc.Field]:
    fields = [_field("500", "  ", "a", value) for value in description.get("coverage")]
    fields += [_field("520", "  ", "a", value) for value in description.get("description")]
    fields += [_field("540", "  ", "a", value) for value in description.get("rights")]
    fields += [_field("546", "  ", "a", value) for value in description.get("language")]
    return fields


def _subjects(description: _Description, language: str) -> list[pymarc.Field]:
    fields: list[pymarc.Field] = []
    for subject in description.get("subject"):
        if _DDC.match(subject):
            fields.append(_field("082", "04", "a", subject))
        else:
            fields.append(_field("653", "  ", "a", subject))
    fields += [_field("655", " 7", "a", value, "2", "local") for value in description.get("type")]
    return fields


def _links(description: _Description, language: str) -> list[pymarc.Field]:
    fields = [_field("786", "0 ", "n", value) for value in description.get("source")]
    fields += [_field("787", "0 ", "n", value) for value in description.get("relation")]
    fields += [_field("856", "40", "u", value) for value in description.get("identifier")
               if _URL.match(value)]
    fields += [_field("856", "  ", "q", value) for value in description.get("format")]
    return fields


def _field(tag: str, indicators: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(code, value) for code, value in zip(pairs[::2], pairs[1::2],
                                                                     strict=True)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(indicators[0], indicators[1]),
                        subfields=subfields)
