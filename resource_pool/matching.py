"""Match keys and clusters: which source records describe the same edition.

Every source record gets a match profile: its identifier keys (ISBN-13, ISSN,
LCCN, OCLC number, the link of an online resource), a GoldRush 2024 composite
key, title keys for thin records, and the guard attributes that keep apart
records which share a key yet describe different things (another year,
edition, carrier, volume or part, another OCLC record). `cluster` turns the
profiles of a set of records connected through shared keys into clusters,
and says for every member which key brought it in. It reads no database: the
caller finds the connected set by following shared keys, so a changed record
costs only the records around it.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import pymarc

KeyKind = str
Key = tuple[KeyKind, str]

ISBN, ISSN, LCCN, OCLC, LINK = "isbn", "issn", "lccn", "oclc", "link"
GOLDRUSH, IMPRINT, AUTHOR_TITLE = "goldrush", "imprint", "author-title"

# Stronger evidence first: a member's reason is the strongest key it shares.
_KEY_STRENGTH = {
    OCLC: 0, LCCN: 1, ISBN: 2, ISSN: 3, LINK: 4, GOLDRUSH: 5, IMPRINT: 6, AUTHOR_TITLE: 7,
}

# Keys that do not pin one book by themselves: an ISBN or ISSN that another
# book shares by mistake or as a set, a platform's front page typed as the
# link, a title key holding only the title proper. The whole titles of the
# records sharing one must agree as well.
_DESCRIPTIVE_KEYS = frozenset((ISBN, ISSN, LINK, IMPRINT, AUTHOR_TITLE))

# With the publisher (or author) beside it and the guards behind it, even a
# short title proper ("Online", "Pulang") picks one book; under four letters
# and digits it is an initialism or a number.
_SHORTEST_KEY_TITLE = 4

# An identifier carried by this many differently described records joins
# nothing: it is a publisher's reused block or a default typed into a form.
_MOST_DESCRIPTIONS_PER_KEY = 64

# Titles this alike (difflib ratio) are the same title written differently.
_SAME_TITLE_RATIO = 0.7

# RecordManager treats page counts more than 10 apart as different books;
# short pamphlets also need to stay within a tenth of each other.
_PAGE_TOLERANCE = 10


@dataclass(frozen=True, slots=True)
class MatchProfile:
    """What matching needs from one source record: its keys and its guards.

    A guard left as None (year, edition, carrier, pages) or empty (the OCLC
    numbers, the names) is unknown and blocks nothing; `parts` is compared as
    written, so a whole set and one of its volumes never meet. `names` holds
    the surnames of the people the record names, `title` the whole title.
    """

    isbns: frozenset[str] = frozenset()
    issns: frozenset[str] = frozenset()
    lccns: frozenset[str] = frozenset()
    oclc_numbers: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()
    goldrush: str | None = None
    imprint: str | None = None
    year: int | None = None
    edition: str | None = None
    carrier: str | None = None
    parts: tuple[str, ...] = ()
    pages: int | None = None
    title: str = ""
    author_title: str | None = None
    names: frozenset[str] = frozenset()

    @property
    def keys(self) -> frozenset[Key]:
        """Every (kind, value) pair this record can be found by."""
        pairs = [(ISBN, value) for value in self.isbns]
        pairs += [(ISSN, value) for value in self.issns]
        pairs += [(LCCN, value) for value in self.lccns]
        pairs += [(OCLC, value) for value in self.oclc_numbers]
        pairs += [(LINK, value) for value in self.links]
        if self.goldrush is not None:
            pairs.append((GOLDRUSH, self.goldrush))
        if self.imprint is not None:
            pairs.append((IMPRINT, self.imprint))
        if self.author_title is not None:
            pairs.append((AUTHOR_TITLE, self.author_title))
        return frozenset(pairs)


@dataclass(frozen=True, slots=True)
class MatchReason:
    """Why a record is in its cluster: the key it shares, and with which member."""

    member: int
    key: Key | None = None
    shared_with: int | None = None

    def describe(self, name: Callable[[int], str] = str) -> str:
        """Say the reason in a librarian's words; `name` turns a record id into a label."""
        if self.key is None or self.shared_with is None:
            return "first record of this cluster"
        kind, value = self.key
        other = name(self.shared_with)
        if kind == GOLDRUSH:
            return f"same title, author, publisher, year, pages and edition as {other}"
        if kind == IMPRINT:
            return f"same title and publisher as {other}"
        if kind == AUTHOR_TITLE:
            return f"same title and author as {other}, neither naming a publisher"
        return f"same {_KEY_WORDS[kind]} {value} as {other}"


_KEY_WORDS = {
    ISBN: "ISBN", ISSN: "ISSN", LCCN: "LCCN", OCLC: "OCLC number", LINK: "web address",
}


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """One cluster: its member record ids in ascending order and why each is there."""

    members: tuple[int, ...]
    reasons: Mapping[int, MatchReason]

    def describe(self, name: Callable[[int], str] = str) -> dict[int, str]:
        """Every member's reason in words, keyed by record id."""
        return {member: self.reasons[member].describe(name) for member in self.members}


# --------------------------------------------------------------------------
# Profiles


def match_profile(
    record: pymarc.Record, *, ignore_isbns: frozenset[str] = frozenset()
) -> MatchProfile:
    """Build the match profile of one record.

    `ignore_isbns` lists known bad ISBNs (as `normalise_isbn` returns them, or
    as bare digits); they are left out of the keys.
    """
    record = _ByTag(record)
    isbns = {isbn for isbn in record_isbns(record) if isbn not in ignore_isbns}
    isbns -= {isbn for isbn in isbns if _isbn10_of(isbn) in ignore_isbns}

    return MatchProfile(
        isbns=frozenset(isbns),
        issns=frozenset(record_issns(record)),
        lccns=frozenset(record_lccns(record)),
        oclc_numbers=frozenset(record_oclc_numbers(record)),
        links=frozenset(record_links(record)),
        goldrush=_specific_enough(goldrush_key(record)),
        imprint=_imprint_key(record),
        author_title=_author_title_key(record),
        year=publication_year(record),
        edition=edition_number(record),
        carrier=carrier(record),
        parts=volume_parts(record),
        pages=page_count(record),
        title=comparable_title(record),
        names=frozenset(personal_surnames(record)),
    )


class _ByTag(pymarc.Record):
    """A record whose fields are looked up by tag in a table built once.

    A profile asks for some forty tags; pymarc walks every field for each
    one. The fields are shared with the record, not copied, and pymarc's own
    set-up (which parses nothing here) is skipped.
    """

    __slots__ = ("_by_tag",)

    def __init__(self, record: pymarc.Record) -> None:  # noqa: PLW0231 (see the docstring)
        self.leader = record.leader
        self.fields = record.fields
        by_tag: dict[str, list[pymarc.Field]] = {}
        for field in record.fields:
            if field.tag in by_tag:
                by_tag[field.tag].append(field)
            else:
                by_tag[field.tag] = [field]
        self._by_tag = by_tag

    def get_fields(self, *args: str | list[str]) -> list[pymarc.Field]:  # type: ignore[override]
        if len(args) == 1 and args[0].__class__ is str:
            return self._by_tag.get(args[0], [])
        return super().get_fields(*args)  # type: ignore[arg-type]

    def get(self, tag: str, default: pymarc.Field | None = None) -> pymarc.Field | None:
        found = self._by_tag.get(tag)
        return found[0] if found else default


def _imprint_key(record: pymarc.Record) -> str | None:
    """Main title, publisher and kind of material: the key a thin record
    (crosswalked Dublin Core, a brief partner record) still shares with the
    full one when it has lost the identifiers, the subtitle, the extent and
    the main entry the GoldRush key is built from.

    The year is left out of the key: a copy without a date must still find
    its original, and the year guard keeps dated editions apart.
    """
    title, publisher = main_title(record), _goldrush_publisher(record).strip("_")
    if len(title) < _SHORTEST_KEY_TITLE or not publisher:
        return None
    return f"{title[:70]}/{publisher}/{kind_of_material(record)}"


def _author_title_key(record: pymarc.Record) -> str | None:
    """Main title, author and kind of material, for a record naming no
    publisher (a manuscript, a thesis, a privately printed book), which has
    no imprint key."""
    title, author = main_title(record), main_entry_surname(record)
    publisher = _goldrush_publisher(record).strip("_")
    if len(title) < _SHORTEST_KEY_TITLE or publisher or author is None:
        return None
    return f"{title[:70]}/{author}/{kind_of_material(record)}"


# --------------------------------------------------------------------------
# Identifiers

_ISBN_CANDIDATE = re.compile(r"[0-9][0-9-]{8,16}[0-9Xx]")
_ISSN_CANDIDATE = re.compile(r"(?<![0-9])([0-9]{4})-?([0-9]{3}[0-9Xx])(?![0-9])")
_LCCN_SHAPE = re.compile(r"[a-z]{0,3}[0-9]{8,10}")
_LINK = re.compile(r"(?:https?|ftp)://([^/?#\s]+)(\S*)$", re.IGNORECASE)
_OCLC_NUMBER = re.compile(r"(?:ocm|ocn|on)?0*([1-9][0-9]*)")
_OCLC_PREFIX = re.compile(r"(ocm|ocn|on)[0-9]")
_NOT_ISBN_DIGIT = re.compile(r"[^0-9Xx]")


def record_isbns(record: pymarc.Record) -> list[str]:
    """ISBN-13s from 020 $a; $z holds cancelled or invalid numbers and is skipped."""
    found = []
    for field in record.get_fields("020"):
        for text in field.get_subfields("a"):
            found += [isbn for isbn in map(normalise_isbn, _ISBN_CANDIDATE.findall(text)) if isbn]
    return found


def normalise_isbn(text: str) -> str | None:
    """The ISBN-13 for an ISBN-10 or ISBN-13, or None when the check digit is wrong.

    An ISBN-10 gets the 978 prefix and a recomputed check digit (ISO 2108);
    a number failing its own check is a typing error and identifies nothing.
    """
    digits = _NOT_ISBN_DIGIT.sub("", text).upper()
    if len(digits) == 10 and _isbn10_valid(digits):
        body = "978" + digits[:9]
        return body + _isbn13_check_digit(body)
    if len(digits) == 13 and digits[:3] in ("978", "979") and digits.isdigit():
        return digits if _isbn13_check_digit(digits[:12]) == digits[12] else None
    return None


def _isbn10_valid(digits: str) -> bool:
    if not digits[:9].isdigit() or not (digits[9].isdigit() or digits[9] == "X"):
        return False
    values = [int(digit) for digit in digits[:9]] + [10 if digits[9] == "X" else int(digits[9])]
    weighted = zip(range(10, 0, -1), values, strict=True)
    return sum(weight * value for weight, value in weighted) % 11 == 0


def _isbn13_check_digit(body: str) -> str:
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return str(-total % 10)


def _isbn10_of(isbn13: str) -> str:
    """The ISBN-10 form of a 978 ISBN-13, so an ignore list may use either form."""
    if not isbn13.startswith("978"):
        return isbn13
    body = isbn13[3:12]
    weighted = zip(range(10, 1, -1), body, strict=True)
    check = -sum(weight * int(digit) for weight, digit in weighted) % 11
    return body + ("X" if check == 10 else str(check))


def record_issns(record: pymarc.Record) -> list[str]:
    """Valid ISSNs from 022 $a, written NNNN-NNNC (ISO 3297)."""
    found = []
    for field in record.get_fields("022"):
        for text in field.get_subfields("a"):
            for head, tail in _ISSN_CANDIDATE.findall(text):
                if _issn_valid(head + tail.upper()):
                    found.append(f"{head}-{tail.upper()}")
    return found


def _issn_valid(digits: str) -> bool:
    weighted = zip(range(8, 1, -1), digits[:7], strict=True)
    total = sum(weight * int(digit) for weight, digit in weighted)
    check = -total % 11
    return digits[7] == ("X" if check == 10 else str(check))


def record_lccns(record: pymarc.Record) -> list[str]:
    """LCCNs from 010 $a, normalised as the Library of Congress prescribes."""
    found = []
    for field in record.get_fields("010"):
        found += [lccn for lccn in map(normalise_lccn, field.get_subfields("a")) if lccn]
    return found


def normalise_lccn(text: str) -> str | None:
    """Normalise an LCCN (LC's "LCCN normalization" rules): drop blanks and
    anything after a slash, and zero-pad the serial after a hyphen to six digits."""
    value = "".join(text.split()).split("/")[0].lower()
    if "-" in value:
        head, serial = value.split("-", 1)
        value = head + serial.zfill(6) if serial.isdigit() else head + serial
    return value if _LCCN_SHAPE.fullmatch(value) else None


def record_oclc_numbers(record: pymarc.Record) -> list[str]:
    """OCLC numbers from 035 $a and $z, from 019 $a and from an 001 whose 003
    says OCoLC.

    The number comes as "(OCoLC)ocm00012345", "(OCoLC)ocn...", "(OCoLC)on..."
    or bare with the ocm/ocn/on prefix; leading zeros are dropped. Other
    prefixes such as (OCoLC-M) name other numbering and are not used. 035 $z
    and OCLC's 019 hold the numbers of records WorldCat merged into this
    one: a copy taken before the merge still carries one of them.
    """
    found = [number for number in map(_oclc_number, _oclc_candidates(record)) if number]
    return found


def _oclc_candidates(record: pymarc.Record) -> Iterator[str]:
    for field in record.get_fields("035"):
        for text in field.get_subfields("a", "z"):
            stripped = text.strip()
            if stripped.startswith("(OCoLC)"):
                yield stripped[len("(OCoLC)"):]
            elif _OCLC_PREFIX.match(stripped):
                yield stripped
    yield from _subfields(record, ("019", "a"))
    if _control_field(record, "003").strip() == "OCoLC":
        yield _control_field(record, "001")


def record_links(record: pymarc.Record) -> list[str]:
    """Addresses of the resource itself: 856 $u where the second indicator
    is 0 (MARC 21: "Resource"), without the scheme, "www." or a trailing
    slash, so http and https copies of one course page agree. A link to a
    related resource (a publisher's description, the online version of a
    print book) names something else and is not read."""
    links = [value for field in record.get_fields("856") if field.indicator2 == "0"
             for value in field.get_subfields("u")]
    return [link for link in map(normalise_link, links) if link]


def normalise_link(url: str) -> str | None:
    """A URL as a comparable key: host lower-cased, scheme, "www." and fragment dropped."""
    found = _LINK.match(url.strip())
    if not found:
        return None
    host, rest = found.group(1).lower(), found.group(2).split("#")[0].rstrip("/")
    return host.removeprefix("www.") + rest


def _oclc_number(text: str) -> str | None:
    found = _OCLC_NUMBER.fullmatch(text.strip())
    return found.group(1) if found else None


# --------------------------------------------------------------------------
# Guards

_YEAR = re.compile(r"(?<![0-9])(1[0-9]{3}|20[0-9]{2})(?![0-9])")
# An imprint year before printing with movable type, followed by a later one,
# is another calendar's ("1440 H / 2019 M", "1376 [1997]"): the later is the
# Gregorian year ISBD asks the cataloguer to add.
_FIRST_PRINTED_YEAR = 1450
_PRINTING = re.compile(
    r"\b(?:cetakan|cet)\b\.?\s*(?:ke\b)?\s*-?\s*\w*"
    r"|\b\w+\s+(?:printing|impression)\b"
)
_ORDINALS = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
    "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10",
    "pertama": "1", "kedua": "2", "ketiga": "3", "keempat": "4", "kelima": "5",
    "keenam": "6", "ketujuh": "7", "kedelapan": "8", "kesembilan": "9", "kesepuluh": "10",
}
_PAGES = re.compile(
    r"([0-9]+)\]?\s*(?:p\b|pp\b|pages?\b|hlm\b|halaman\b|h\.|leaves\b|sivua\b|s\.|seiten\b)",
    re.IGNORECASE,
)
# 300 $a opens with the number and kind of physical units (MARC 21 300):
# "3 v.", "2 jilid", "4 äänikas", "1 sound disc".
_UNITS = re.compile(r"\b[0-9]+\s*(?:v\b|[^\W\d_]{3,})")
# SLiMS and other systems with one title field write the volume at the end
# of it: "Tafsir al-Azhar jilid 1", "Matematika SMA kelas X" (grade X).
_FOLDED_PART = re.compile(
    r"[\s,.;]+((?:jilid|jil|jld|vol|volume|kelas|bagian|buku|part)\.?\s+"
    r"(?:[0-9]+|[ivx]{1,4}))\W*$",
    re.IGNORECASE,
)
_PART_FILLERS = frozenset((
    "v", "vol", "vols", "volume", "part", "pt", "no", "nr", "number", "jilid", "jil", "jld",
    "bagian", "bag", "buku", "book", "band", "bd", "tome", "t", "teil", "heft", "issue",
))
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "satu": "1", "dua": "2", "tiga": "3",
    "empat": "4", "lima": "5", "enam": "6", "tujuh": "7", "delapan": "8", "sembilan": "9",
    "sepuluh": "10", **_ORDINALS,
}
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
_TITLE_PROPER_END = re.compile(r"\s*:|\s+[=/]\s")
_KINDS_OF_MATERIAL = {
    "i": "sound", "j": "sound", "e": "image", "f": "image", "g": "image", "k": "image",
    "m": "file", "r": "object",
}
_DIGITS = re.compile(r"[0-9]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_LOWER_WORD = re.compile(r"[a-z]+")
_WORD = re.compile(r"[^\W_]+")
_REVISED = re.compile(r"\brevi")
_ELECTRONIC_WORDS = re.compile(r"electronic|elektronik|online.?res|daring", re.IGNORECASE)
_ELECTRONIC_REPRODUCTION = re.compile(r"electronic reproduction", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(
    r"^(?:the|a|an|der|die|das|ein|eine|le|la|les|l'|un|une|el|los|las|il|lo|gli|het|een)\s+"
)


def publication_year(record: pymarc.Record) -> int | None:
    """The year of publication as the imprint states it (264 $c, 260 $c),
    else as 008 Date1 codes it (MARC 21 008/07-10).

    The imprint comes first because every partner system keeps it: a SLiMS
    export without 008 and a record crosswalked from Dublin Core (dc:date
    comes from 260 $c) read the same year as the full record even where its
    008 says otherwise. A reprint states its own year, so reprints stay apart.
    """
    for text in _imprint_dates(record):
        years = [int(year) for year in _YEAR.findall(text)]
        if years:
            return next((year for year in years if year >= _FIRST_PRINTED_YEAR), years[0])

    date1 = _control_field(record, "008")[7:11]
    return int(date1) if _YEAR.fullmatch(date1) else None


def _imprint_dates(record: pymarc.Record) -> Iterator[str]:
    publication = [f for f in record.get_fields("264") if f.indicator2 == "1"]
    for field in publication + record.get_fields("264") + record.get_fields("260"):
        yield from field.get_subfields("c")


def edition_number(record: pymarc.Record) -> str | None:
    """The edition from 250 $a as a number ("2nd ed.", "Edisi kedua" give "2").

    A printing (Indonesian "cetakan", "3rd printing") is not an edition and
    is set aside; numbers of four digits are years, not editions. A revised
    edition without a number is "revised"; anything else is unknown.
    """
    statement = _first_subfield(record, "250", "a")
    if statement is None:
        return None

    text = _PRINTING.sub(" ", _unaccent(statement).lower())
    for number in _DIGITS.findall(text):
        if len(number) < 4:
            return str(int(number))

    for word in _LOWER_WORD.findall(text):
        if word in _ORDINALS:
            return _ORDINALS[word]
    return "revised" if _REVISED.search(text) else None


def carrier(record: pymarc.Record) -> str | None:
    """"electronic" or "physical" (print, microform, disc, cassette), or None
    when the record cannot say.

    MARC 21 says so wherever a resource is electronic (Leader/06 m, 007/00 c,
    245 $h, 300, 337/338, 533), while nothing needs saying of a printed book:
    a MARC record silent about its carrier describes a physical one. A record
    of unknown encoding level (Leader/17 u), such as the Dublin Core
    crosswalk writes, had no way to say and stays unknown. 008/23 (form of
    item) is not read: that crosswalk sets it to online whenever a record
    carries a link, and a print book's catalogue page is a link too.
    """
    if _electronic(record):
        return "electronic"
    if _physical(record) or record.leader[17:18] != "u":
        return "physical"
    return None


def _electronic(record: pymarc.Record) -> bool:
    described = " ".join(_subfields(record, ("245", "h"), ("300", "a")))
    if _ELECTRONIC_WORDS.search(described):
        return True

    reproduction = " ".join(_subfields(record, ("533", "a"), ("590", "a")))
    if _ELECTRONIC_REPRODUCTION.search(reproduction):
        return True

    media = _subfields(record, ("337", "b"), ("338", "b"))
    if any(code.startswith("c") for code in media):
        return True
    return record.leader[6] == "m" or _physical_form(record) == "c"


def _physical(record: pymarc.Record) -> bool:
    """A carrier in hand: an 007 other than computer file, a 338 "n" (unmediated)
    carrier, pages or volumes, or dimensions in 300 $c."""
    if _physical_form(record) not in ("", "c") or "nc" in _subfields(record, ("338", "b")):
        return True
    if _subfields(record, ("300", "c")):
        return True
    extent = _unaccent(" ".join(_subfields(record, ("300", "a"))))
    return bool(_PAGES.search(extent) or _UNITS.search(extent))


def _physical_form(record: pymarc.Record) -> str:
    """007/00, the category of material, of the first 007."""
    return _control_field(record, "007")[:1]


def volume_parts(record: pymarc.Record) -> tuple[str, ...]:
    """The number and name of the part (245 $n $p), normalised so that
    "v. 2", "Vol. II" and "Jilid 2" all read "2".

    A record without $n and $p may carry the volume at the end of 245 $a
    instead, as systems with a single title field (SLiMS) write it.
    """
    title = record.get("245")
    if title is None:
        return ()
    parts = [text for text in title.get_subfields("n", "p") if text.strip()]
    if not parts:
        folded = _FOLDED_PART.search(_first_subfield(record, "245", "a") or "")
        parts = [folded.group(1)] if folded else []
    return tuple(_part_words(text) for text in parts)


def _part_words(text: str) -> str:
    words = _WORD.findall(_unaccent(text).lower())
    kept = [word for word in words if word not in _PART_FILLERS] or words
    return " ".join(_NUMBER_WORDS.get(word) or _roman_number(word) or word for word in kept)


def _roman_number(word: str) -> str | None:
    if not word or any(letter not in _ROMAN for letter in word):
        return None
    values = [_ROMAN[letter] for letter in word]
    total = sum(-v if v < nxt else v for v, nxt in zip(values, values[1:] + [0], strict=True))
    return str(total)


def page_count(record: pymarc.Record) -> int | None:
    """The largest count of pages or leaves in 300 $a ("xxiii, 278 p." gives 278)."""
    extent = _first_subfield(record, "300", "a") or ""
    counts = [int(number) for number in _PAGES.findall(extent)]
    return max(counts) if counts else None


def comparable_title(record: pymarc.Record) -> str:
    """245 $a $b as letters and digits only, case-folded, without accents or a
    leading article, so two ways of writing one title compare equal."""
    title = record.get("245")
    if title is None:
        return ""
    return _comparable(" ".join(title.get_subfields("a", "b")))


def main_title(record: pymarc.Record) -> str:
    """The title proper (245 $a up to the first ISBD ":", " = " or " / ",
    without a volume written into it), comparable as `comparable_title` makes it.

    A Dublin Core title holds the subtitle after " : " inside one element
    and a brief record leaves it out; the title proper is what both keep.
    """
    text = _TITLE_PROPER_END.split(_first_subfield(record, "245", "a") or "", maxsplit=1)[0]
    return _comparable(_FOLDED_PART.sub("", text))


def _comparable(text: str) -> str:
    folded = _LEADING_ARTICLE.sub("", _unaccent(text).casefold().strip())
    return "".join(filter(str.isalnum, folded))


def kind_of_material(record: pymarc.Record) -> str:
    """Leader/06 as coarse as a Dublin Core record can say it, so that its
    crosswalk agrees with the full record: sound, image (maps, pictures and
    films: the DCMI Type Vocabulary has Image, StillImage, MovingImage, no
    map), computer file, object, and text for the rest (a score is Text to
    DCMI). A book and its audiobook or film still differ here."""
    return _KINDS_OF_MATERIAL.get(record.leader[6:7], "text")


def main_entry_surname(record: pymarc.Record) -> str | None:
    """The surname of the personal main entry (100 $a)."""
    return _surname(_first_field_subfield(record, "100", "a") or "")


def personal_surnames(record: pymarc.Record) -> list[str]:
    """Surnames of every person named in 100, 700 and 720 $a.

    A crosswalk from Dublin Core cannot tell the main entry from the other
    creators (it makes the first inverted name the 100), so two records
    agree on their people when they share any surname, not only the first.
    """
    names = [_surname(name) for name in _subfields(record, ("100", "a"), ("700", "a"),
                                                        ("720", "a"))]
    return [name for name in names if name]


def _surname(name: str) -> str | None:
    """Before the comma of an inverted name, else the last word, so "Hirata,
    Andrea" and "Andrea Hirata" (INLISLite writes direct order) agree."""
    head = name.split(",")[0] if "," in name.strip(" ,.") else name
    words = _comparable_words(head)
    return words[-1] if words else None


def _comparable_words(text: str) -> list[str]:
    return _WORD.findall(_unaccent(text).casefold())


def titles_agree(first: str, second: str) -> bool:
    """False only when two comparable titles are clearly different.

    A title cut short (a copy without its subtitle) agrees with the whole;
    titles carrying different numbers ("Laporan tahunan 2019", "... 2020")
    do not agree, however alike the rest.
    """
    if not first or not second:
        return True

    first_numbers, second_numbers = _DIGITS.findall(first), _DIGITS.findall(second)
    if first_numbers and second_numbers and first_numbers != second_numbers:
        return False

    shorter, longer = sorted((first, second), key=len)
    if len(shorter) >= 4 and longer.startswith(shorter):
        return True
    return SequenceMatcher(None, first[:80], second[:80]).ratio() >= _SAME_TITLE_RATIO


# --------------------------------------------------------------------------
# The GoldRush 2024 composite key

_GOLDRUSH_PUNCTUATION = frozenset(' !"#$()*+,-./:;<=>?@[\\]^_`|~\u00a9')
_GOLDRUSH_ARTICLES = (re.compile(r"^ *[aA] +"), re.compile(r"^ *[aA]n +"),
                      re.compile(r"^ *[tT]he +"))
_GOLDRUSH_YEAR_DIGITS = re.compile(r"[1-9][0-9]{3}")
_GOLDRUSH_EDITION_DIGITS = re.compile(r"[0-9]{1,3}")
_GOLDRUSH_EDITION_WORD = re.compile(r"[a-zA-Z]{3}")
_NOT_ASCII_ALNUM = re.compile(r"[^a-zA-Z0-9]")
_SPACES = re.compile(r" +")
_GOLDRUSH_EDITION_WORDS = {
    "fir": "1", "sec": "2", "thi": "3", "fou": "4", "fif": "5",
    "six": "6", "sev": "7", "eig": "8", "nin": "9", "ten": "10",
}
# Where the parts sit in the key, for judging whether a key says enough.
_GOLDRUSH_TITLE = slice(0, 70)
_GOLDRUSH_YEAR = slice(70, 74)
_GOLDRUSH_PUBLISHER = slice(81, 86)
_GOLDRUSH_AUTHOR = slice(127, 132)


def goldrush_key(record: pymarc.Record) -> str:
    """The GoldRush 2024 match key (Colorado Alliance specification, December 2024).

    Fixed-width parts, lower case, padded with "_": title 70, year 4,
    pagination 4, edition 3, publisher 5, type of record 1, further title
    parts 30, part number 10, author 5, inclusive dates 15, then the
    government document number unpadded and "e" or "p" for the format.
    """
    parts = (
        _goldrush_title(record),
        _goldrush_year(record),
        _pad(_first_match(r"[0-9]{4}", _first_subfield(record, "300", "a")), 4),
        _pad(_goldrush_edition(_first_subfield(record, "250", "a")), 3),
        _goldrush_publisher(record),
        record.leader[6:7],
        _goldrush_title_parts(record),
        _pad(_goldrush_strip(_first_subfield(record, "245", "n") or "", "_"), 10),
        _goldrush_author(record),
        _goldrush_inclusive_dates(_first_subfield(record, "245", "f")),
        _goldrush_document_number(_first_subfield(record, "086", "a")),
        "e" if _goldrush_electronic(record) else "p",
    )
    return "".join(parts).lower()


def _goldrush_title(record: pymarc.Record) -> str:
    pieces = [_first_subfield(record, "245", code) for code in ("a", "b", "p")]
    joined = "".join(_goldrush_strip(piece, " ").strip() for piece in pieces if piece)
    return _pad(_unaccent("".join(joined.split())), 70)


def _goldrush_year(record: pymarc.Record) -> str:
    """Date2 before Date1, as the reference implementation reads 008; but Date1
    first for a reprint (008/06 r, as the specification says) and for a
    detailed date (e), whose Date2 holds a month and day."""
    fixed = _control_field(record, "008")
    dates = [fixed[11:15], fixed[7:11]] if len(fixed) > 6 else []
    if fixed[6:7] in ("r", "e"):
        dates.reverse()

    candidates = dates + [_first_subfield(record, tag, "c") or "" for tag in ("264", "260")]
    for text in candidates:
        digits = _NOT_DIGIT.sub("", text)
        if _GOLDRUSH_YEAR_DIGITS.search(digits) and digits != "9999":
            return _pad(digits, 4)
    return "0000"


def _goldrush_edition(statement: str | None) -> str:
    """Leading digits of 250 $a, or the number a leading "first" to "tenth"
    stands for; anything else, or nothing, counts as the first edition."""
    text = _unaccent(statement or "").strip()
    digits = _GOLDRUSH_EDITION_DIGITS.match(text)
    if digits:
        return digits.group()
    word = _GOLDRUSH_EDITION_WORD.match(text)
    return _GOLDRUSH_EDITION_WORDS.get(word.group().lower(), "1") if word else "1"


def _goldrush_publisher(record: pymarc.Record) -> str:
    name = _first_subfield(record, "264", "b") or _first_subfield(record, "260", "b") or ""
    stripped = _goldrush_strip(_unaccent(name).lower(), " ")
    return _pad(stripped.replace(" ", ""), 5)


def _goldrush_title_parts(record: pymarc.Record) -> str:
    """Every 245 $p after the first, ten characters each."""
    names = [text for field in record.get_fields("245")
             for text in field.get_subfields("p") if text]
    pieces = [_goldrush_strip(_unaccent(name).strip(), "_")[:10] for name in names[1:]]
    return _pad("".join(pieces), 30)


def _goldrush_author(record: pymarc.Record) -> str:
    names = [_first_field_subfield(record, tag, "a") for tag in ("100", "110", "111", "130")]
    joined = "".join(_unaccent(_goldrush_strip(name, "")) for name in names if name)
    return _pad(_NOT_ASCII_ALNUM.sub("", joined), 5)


def _goldrush_inclusive_dates(dates: str | None) -> str:
    return _pad(_goldrush_strip((dates or "").replace(" ", ""), "_"), 15)


def _goldrush_document_number(number: str | None) -> str:
    return _unaccent(_goldrush_strip(number or "", "_"))[:32000]


def _goldrush_electronic(record: pymarc.Record) -> bool:
    """The specification's tests for an electronic resource, in its order."""
    tests = (
        (_first_subfield(record, "245", "h"), r"\belectronic resource\b"),
        (_first_subfield(record, "590", "a"), r"\belectronic reproduction\b"),
        (_first_subfield(record, "533", "a"), r"\belectronic reproduction\b"),
        (_first_subfield(record, "300", "a"), r"\bonline resource\b"),
    )
    if any(text and re.search(pattern, _unaccent(text), re.IGNORECASE) for text, pattern in tests):
        return True

    if _physical_form(record) == "c":
        return True
    if (_first_field_subfield(record, "337", "a") or "").startswith("c"):
        return True
    return bool(record.get_fields("086") and record.get_fields("856"))


def _goldrush_strip(text: str, replacement: str) -> str:
    """GoldRush punctuation handling: leading English articles go, "&" becomes
    "and", apostrophes and braces vanish, other punctuation becomes `replacement`."""
    text = text.replace("%22", replacement).replace("%", replacement)
    for article in _GOLDRUSH_ARTICLES:
        text = article.sub("", text)
    return text.translate(_goldrush_table(replacement))


def _goldrush_table(replacement: str) -> dict[int, str | None]:
    """One pass of str.translate: apostrophes and braces go, "&" reads "and",
    the rest of the punctuation becomes `replacement`. None of those is
    punctuation itself, so the order of the replacements does not matter."""
    table = _GOLDRUSH_TABLES.get(replacement)
    if table is None:
        table = {ord(char): replacement for char in _GOLDRUSH_PUNCTUATION}
        table.update({ord("'"): None, ord("{"): None, ord("}"): None, ord("&"): "and"})
        _GOLDRUSH_TABLES[replacement] = table
    return table


_GOLDRUSH_TABLES: dict[str, dict[int, str | None]] = {}


def _pad(text: str, width: int) -> str:
    collapsed = _SPACES.sub("_", text)
    return collapsed[:width].ljust(width, "_")


def _specific_enough(key: str) -> str | None:
    """The key, when it names a title, a year and an author or publisher.

    A key without them ("Laporan tahunan", no date, no publisher) is shared
    by unrelated records and would tie them together.
    """
    if not key[_GOLDRUSH_TITLE].strip("_") or key[_GOLDRUSH_YEAR] == "0000":
        return None
    if not (key[_GOLDRUSH_PUBLISHER].strip("_") or key[_GOLDRUSH_AUTHOR].strip("_")):
        return None
    return key


# --------------------------------------------------------------------------
# Clusters


Adjacency = dict[int, dict[int, Key]]

_GUARDS = ("carrier", "edition", "year", "pages")

# An OCLC number names one WorldCat record: records carrying different ones
# were judged different editions by WorldCat, and a record carrying none must
# not bridge them. LCCNs are not used so: the Library of Congress cancels a
# number and issues another for the same book (010 $z keeps the old one).
_CATALOGUE_NUMBERS = ("oclc_numbers",)

# Keys built from the description alone, which an ISBN can contradict.
_TITLE_KEYS = frozenset((GOLDRUSH, IMPRINT, AUTHOR_TITLE))


def cluster(profiles: Mapping[int, MatchProfile]) -> list[ClusterResult]:
    """Group records into clusters of one edition each, in order of lowest member id.

    Records sharing a key are joined unless a guard tells them apart. Where
    records of unknown year (or edition, carrier, pages, OCLC record) bridge
    records that differ, the bridging record goes where most of its known
    neighbours are and stays out where there is no majority. The result
    depends only on the profiles given, never on their order.
    """
    adjacency = _guarded_edges(profiles)

    results = []
    for component in _components(sorted(profiles), adjacency):
        for part in _split(component, profiles, adjacency, _GUARDS + _CATALOGUE_NUMBERS):
            results.append(_explain(part, adjacency))
    return sorted(results, key=lambda result: result.members[0])


def compatible(first: MatchProfile, second: MatchProfile, kind: KeyKind = ISBN) -> bool:
    """Whether two records sharing a key of `kind` may share a cluster.

    No guard may tell them apart (year, edition, carrier, pages, parts, OCLC
    record). A key that does not pin one book by itself also needs titles
    that agree (see `_DESCRIPTIVE_KEYS`); the title keys need a person in
    common where both records name people; the keys built from the
    description alone need ISBNs that do not contradict them. OCLC numbers
    and LCCNs name one catalogue record each and are trusted as they stand.
    """
    if not _guards_agree(first, second):
        return False
    if kind in _TITLE_KEYS and _other_isbns(first, second):
        return False
    if kind in (IMPRINT, AUTHOR_TITLE) and _disjoint(first.names, second.names):
        return False
    return kind not in _DESCRIPTIVE_KEYS or titles_agree(first.title, second.title)


def _guards_agree(first: MatchProfile, second: MatchProfile) -> bool:
    """No guard tells the two apart; an unknown value blocks nothing."""
    for guard in _GUARDS:
        ours, theirs = getattr(first, guard), getattr(second, guard)
        if ours is None or theirs is None or ours == theirs:
            continue
        if guard == "pages" and _pages_agree(ours, theirs):
            continue
        return False

    if first.parts != second.parts:
        return False
    numbers = _CATALOGUE_NUMBERS
    return not any(_disjoint(getattr(first, name), getattr(second, name)) for name in numbers)


def _other_isbns(first: MatchProfile, second: MatchProfile) -> bool:
    """Different ISBNs that the extent does not vouch for.

    ISO 2108 gives each edition and each product form its own ISBN. The
    hardback and paperback of one edition have the same pages; without page
    counts to compare, different ISBNs may as well be different editions.
    """
    if not _disjoint(first.isbns, second.isbns):
        return False
    if first.pages is None or second.pages is None:
        return True
    return not _pages_agree(first.pages, second.pages)


def _disjoint(first: frozenset[str], second: frozenset[str]) -> bool:
    """Both hold numbers of one kind and share none."""
    return bool(first and second and first.isdisjoint(second))


def _pages_agree(first: int, second: int) -> bool:
    return abs(first - second) <= min(_PAGE_TOLERANCE, max(first, second) // 10)


def _guarded_edges(profiles: Mapping[int, MatchProfile]) -> Adjacency:
    holders: dict[Key, list[int]] = defaultdict(list)
    for record_id in sorted(profiles):
        for key in profiles[record_id].keys:
            holders[key].append(record_id)

    adjacency: Adjacency = defaultdict(dict)
    for key, record_ids in holders.items():
        if len(record_ids) > 1:
            _link_holders(key, record_ids, profiles, adjacency)
    return adjacency


def _link_holders(
    key: Key, record_ids: list[int], profiles: Mapping[int, MatchProfile], adjacency: Adjacency
) -> None:
    """Join the holders of one key.

    Holders described alike (same guards, numbers, title and names) are chained;
    each pair of descriptions is compared once, and when they agree every
    holder of each is linked to the lowest holder of the other, so that a
    record's neighbours count the records it agrees with (see `_follow`)
    while a key held by many copies of one book costs little.
    """
    descriptions: dict[MatchProfile, list[int]] = defaultdict(list)
    for record_id in record_ids:
        descriptions[_description(profiles[record_id])].append(record_id)
    if len(descriptions) > _MOST_DESCRIPTIONS_PER_KEY:
        return

    alike = list(descriptions.values())
    for group in alike:
        for first, second in zip(group, group[1:], strict=False):
            _add_edge(adjacency, first, second, key)

    for index, group in enumerate(alike):
        for other in alike[index + 1:]:
            if compatible(profiles[group[0]], profiles[other[0]], key[0]):
                for member in group:
                    _add_edge(adjacency, member, other[0], key)
                for member in other:
                    _add_edge(adjacency, group[0], member, key)


def _description(profile: MatchProfile) -> MatchProfile:
    """The profile without its keys: what `compatible` compares."""
    return MatchProfile(
        isbns=profile.isbns, lccns=profile.lccns, oclc_numbers=profile.oclc_numbers,
        year=profile.year, edition=profile.edition, carrier=profile.carrier,
        parts=profile.parts, pages=profile.pages, title=profile.title, names=profile.names,
    )


def _add_edge(adjacency: Adjacency, first: int, second: int, key: Key) -> None:
    """Record an edge, keeping the strongest key when two records share several."""
    current = adjacency[first].get(second)
    if current is None or _strength(key) < _strength(current):
        adjacency[first][second] = key
        adjacency[second][first] = key


def _strength(key: Key) -> tuple[int, str]:
    return _KEY_STRENGTH[key[0]], key[1]


def _components(record_ids: Iterable[int], adjacency: Adjacency) -> Iterator[list[int]]:
    """Connected components over the edges among `record_ids`, each sorted."""
    members = set(record_ids)
    seen: set[int] = set()
    for start in sorted(members):
        if start in seen:
            continue
        seen.add(start)
        stack, component = [start], []
        while stack:
            current = stack.pop()
            component.append(current)
            for neighbour in adjacency.get(current, {}):
                if neighbour in members and neighbour not in seen:
                    seen.add(neighbour)
                    stack.append(neighbour)
        yield sorted(component)


def _split(
    component: list[int],
    profiles: Mapping[int, MatchProfile],
    adjacency: Adjacency,
    guards: Sequence[str],
) -> list[list[int]]:
    """Split a component holding members that a guard tells apart.

    The first guard with two known values divides the members by value;
    members not knowing it follow their neighbours (see `_follow`). Each
    group's connected parts are then checked against the remaining guards.
    """
    conflicting = [guard for guard in guards
                   if len(set(_known(component, profiles, guard).values())) > 1]
    if not conflicting:
        return [component]

    guard, rest = conflicting[0], guards[guards.index(conflicting[0]) + 1:]
    parts = []
    for group in _follow(component, profiles, adjacency, guard):
        for part in _components(group, adjacency):
            parts += _split(part, profiles, adjacency, rest)
    return parts


def _known(
    component: list[int], profiles: Mapping[int, MatchProfile], guard: str
) -> dict[int, object]:
    """Each member's value of a guard, where known. Page counts become the
    band of counts that agree with their neighbours (312 and 310 pages are
    one); catalogue numbers become the group of numbers that records carry
    together (a record listing an old and a new OCLC number joins both)."""
    values = {member: getattr(profiles[member], guard) for member in component}
    known = {member: value for member, value in values.items()
             if value is not None and value != frozenset()}
    if guard == "pages":
        bands = _page_bands(set(known.values()))
        return {member: bands[value] for member, value in known.items()}
    if guard in _CATALOGUE_NUMBERS:
        return _number_groups(known)
    return known


def _number_groups(numbers: Mapping[int, frozenset[str]]) -> dict[int, object]:
    """Label each member with the lowest number of its group: numbers found
    in one record are one group, and groups sharing a number merge."""
    parent: dict[str, str] = {}

    def root(number: str) -> str:
        while parent.setdefault(number, number) != number:
            number = parent[number]
        return number

    for held in numbers.values():
        first, *rest = sorted(held)
        for number in rest:
            low, high = sorted((root(first), root(number)))
            parent[high] = low
    return {member: root(min(held)) for member, held in numbers.items()}


def _page_bands(counts: set[int]) -> dict[int, int]:
    """Map each count to the lowest of its band: counts in ascending order,
    a new band wherever a count is too far from the one before."""
    bands: dict[int, int] = {}
    previous: int | None = None
    for count in sorted(counts):
        if previous is None or not _pages_agree(previous, count):
            start = count
        bands[count], previous = start, count
    return bands


def _follow(
    component: list[int], profiles: Mapping[int, MatchProfile], adjacency: Adjacency, guard: str
) -> list[list[int]]:
    """Divide by a guard's value; members of unknown value join their neighbours.

    Rounds run outward from the members that know the value. A member takes
    the value held by more than half of its placed neighbours (an undated
    copy linked to the print record and two copies of it, and to one e-book,
    is print); without such a majority it belongs to no group and stays out,
    with any member reachable only through it. Each round looks only at the
    previous round's state, so the result does not depend on the order
    members are visited in.
    """
    label = _known(component, profiles, guard)
    waiting, fresh = set(component) - set(label), set(label)
    while fresh:
        heard = {neighbour for member in fresh for neighbour in adjacency.get(member, {})
                 if neighbour in waiting}
        decided = {member: _majority(member, adjacency, label) for member in heard}
        waiting -= heard
        fresh = {member for member, value in decided.items() if value is not None}
        label.update({member: decided[member] for member in fresh})

    groups: dict[object, list[int]] = defaultdict(list)
    for member, value in label.items():
        groups[value].append(member)
    undecided = [member for member in component if member not in label]
    return [sorted(group) for group in groups.values()] + ([undecided] if undecided else [])


def _majority(member: int, adjacency: Adjacency, label: Mapping[int, object]) -> object | None:
    """The value more than half of a member's placed neighbours hold, if any."""
    votes = Counter(label[n] for n in adjacency.get(member, {}) if n in label)
    value, count = max(votes.items(), key=lambda vote: vote[1])
    return value if 2 * count > sum(votes.values()) else None


def _explain(members: list[int], adjacency: Adjacency) -> ClusterResult:
    """Give every member the strongest key linking it to a member already placed,
    growing outward from the lowest record id."""
    inside = set(members)
    reasons = {members[0]: MatchReason(members[0])}
    frontier: list[tuple[tuple[int, str], int, int, Key]] = []
    _push_neighbours(frontier, members[0], adjacency, inside)

    while frontier:
        _, member, via, key = heapq.heappop(frontier)
        if member in reasons:
            continue
        reasons[member] = MatchReason(member, key, via)
        _push_neighbours(frontier, member, adjacency, inside)
    return ClusterResult(members=tuple(members), reasons=reasons)


def _push_neighbours(
    frontier: list[tuple[tuple[int, str], int, int, Key]],
    member: int,
    adjacency: Adjacency,
    inside: set[int],
) -> None:
    for neighbour, key in adjacency.get(member, {}).items():
        if neighbour in inside:
            heapq.heappush(frontier, (_strength(key), neighbour, member, key))


# --------------------------------------------------------------------------
# Reading MARC


def _control_field(record: pymarc.Record, tag: str) -> str:
    field = record.get(tag)
    return field.data if field is not None and field.data else ""


def _first_subfield(record: pymarc.Record, tag: str, code: str) -> str | None:
    """The first non-empty `code` in the first `tag` field that has one."""
    for field in record.get_fields(tag):
        for value in field.get_subfields(code):
            if value:
                return str(value)
    return None


def _first_field_subfield(record: pymarc.Record, tag: str, code: str) -> str | None:
    """The first non-empty `code` of the first `tag` field only."""
    fields = record.get_fields(tag)
    if not fields or fields[0].is_control_field():
        return None
    return next((str(value) for value in fields[0].get_subfields(code) if value), None)


def _subfields(record: pymarc.Record, *wanted: tuple[str, str]) -> list[str]:
    return [value for tag, code in wanted for field in record.get_fields(tag)
            for value in field.get_subfields(code)]


def _first_match(pattern: str, text: str | None) -> str:
    found = re.search(pattern, text or "")
    return found.group() if found else ""


def _unaccent(text: str) -> str:
    """Text without diacritics: decompose (NFD) and drop the combining marks."""
    if text.isascii():
        # Most text is ASCII, which has nothing to decompose.
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
