"""Match keys and clusters: which source records describe the same edition.

Every source record gets a match profile: its identifier keys (ISBN-13, ISSN,
LCCN, OCLC number), a GoldRush 2024 composite key, and the guard attributes
that keep apart records which share a key yet describe different things
(another year, edition, carrier, volume or part). `cluster` turns the
profiles of a set of records connected through shared keys into clusters,
and says for every member which key brought it in. It reads no database: the
caller finds the connected set by following shared keys, so a changed record
costs only the records around it.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import pymarc

KeyKind = str
Key = tuple[KeyKind, str]

ISBN, ISSN, LCCN, OCLC = "isbn", "issn", "lccn", "oclc"
GOLDRUSH, IMPRINT = "goldrush", "imprint"

# Stronger evidence first: a member's reason is the strongest key it shares.
_KEY_STRENGTH = {OCLC: 0, LCCN: 1, ISBN: 2, ISSN: 3, GOLDRUSH: 4, IMPRINT: 5}

# Titles shorter than this ("Poems", "Annual report") name too many books
# for title, year and publisher alone to pick one.
_SHORTEST_IMPRINT_TITLE = 12

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

    A guard left as None (year, edition, carrier, pages) is unknown and
    blocks nothing; `parts` is compared as written, so a whole set and one of
    its volumes never meet.
    """

    isbns: frozenset[str] = frozenset()
    issns: frozenset[str] = frozenset()
    lccns: frozenset[str] = frozenset()
    oclc_numbers: frozenset[str] = frozenset()
    goldrush: str | None = None
    imprint: str | None = None
    year: int | None = None
    edition: str | None = None
    carrier: str | None = None
    parts: tuple[str, ...] = ()
    pages: int | None = None
    title: str = ""

    @property
    def keys(self) -> frozenset[Key]:
        """Every (kind, value) pair this record can be found by."""
        pairs = [(ISBN, value) for value in self.isbns]
        pairs += [(ISSN, value) for value in self.issns]
        pairs += [(LCCN, value) for value in self.lccns]
        pairs += [(OCLC, value) for value in self.oclc_numbers]
        if self.goldrush is not None:
            pairs.append((GOLDRUSH, self.goldrush))
        if self.imprint is not None:
            pairs.append((IMPRINT, self.imprint))
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
            return f"same title, publisher and year as {other}"
        return f"same {_KEY_WORDS[kind]} {value} as {other}"


_KEY_WORDS = {ISBN: "ISBN", ISSN: "ISSN", LCCN: "LCCN", OCLC: "OCLC number"}


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
    isbns = {isbn for isbn in record_isbns(record) if isbn not in ignore_isbns}
    isbns -= {isbn for isbn in isbns if _isbn10_of(isbn) in ignore_isbns}
    title, year = comparable_title(record), publication_year(record)

    return MatchProfile(
        isbns=frozenset(isbns),
        issns=frozenset(record_issns(record)),
        lccns=frozenset(record_lccns(record)),
        oclc_numbers=frozenset(record_oclc_numbers(record)),
        goldrush=_specific_enough(goldrush_key(record)),
        imprint=_imprint_key(title, year, record),
        year=year,
        edition=edition_number(record),
        carrier=carrier(record),
        parts=volume_parts(record),
        pages=page_count(record),
        title=title,
    )


def _imprint_key(title: str, year: int | None, record: pymarc.Record) -> str | None:
    """Title, year, publisher and type of record (Leader/06): the key a thin
    record (crosswalked Dublin Core, a brief partner record) still has when it
    lacks identifiers, the author's main entry and the extent the GoldRush
    key is built from. The type keeps a book from its audiobook."""
    publisher = _goldrush_publisher(record).strip("_")
    if len(title) < _SHORTEST_IMPRINT_TITLE or year is None or not publisher:
        return None
    return f"{title[:70]}/{year}/{publisher}/{record.leader[6:7]}"


# --------------------------------------------------------------------------
# Identifiers

_ISBN_CANDIDATE = re.compile(r"[0-9][0-9-]{8,16}[0-9Xx]")
_ISSN_CANDIDATE = re.compile(r"(?<![0-9])([0-9]{4})-?([0-9]{3}[0-9Xx])(?![0-9])")
_LCCN_SHAPE = re.compile(r"[a-z]{0,3}[0-9]{8,10}")
_OCLC_NUMBER = re.compile(r"(?:ocm|ocn|on)?0*([1-9][0-9]*)")


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
    digits = re.sub(r"[^0-9Xx]", "", text).upper()
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
    """OCLC numbers from 035 $a and from an 001 whose 003 says OCoLC.

    The number comes as "(OCoLC)ocm00012345", "(OCoLC)ocn...", "(OCoLC)on..."
    or bare with the ocm/ocn/on prefix; leading zeros are dropped. Other
    prefixes such as (OCoLC-M) name other numbering and are not used.
    """
    found = [number for number in map(_oclc_number, _oclc_candidates(record)) if number]
    return found


def _oclc_candidates(record: pymarc.Record) -> Iterator[str]:
    for field in record.get_fields("035"):
        for text in field.get_subfields("a"):
            stripped = text.strip()
            if stripped.startswith("(OCoLC)"):
                yield stripped[len("(OCoLC)"):]
            elif re.match(r"(ocm|ocn|on)[0-9]", stripped):
                yield stripped
    if _control_field(record, "003").strip() == "OCoLC":
        yield _control_field(record, "001")


def _oclc_number(text: str) -> str | None:
    found = _OCLC_NUMBER.fullmatch(text.strip())
    return found.group(1) if found else None


# --------------------------------------------------------------------------
# Guards

_YEAR = re.compile(r"(?<![0-9])(1[0-9]{3}|20[0-9]{2})(?![0-9])")
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
_LEADING_ARTICLE = re.compile(
    r"^(?:the|a|an|der|die|das|ein|eine|le|la|les|l'|un|une|el|los|las|il|lo|gli|het|een)\s+"
)


def publication_year(record: pymarc.Record) -> int | None:
    """The year of publication: 008 Date1 (MARC 21 008/07-10), else 264 $c, else 260 $c.

    Date1 is the year of this publication for every type of date, including
    a reprint's (008/06 r), which is why reprints stay apart.
    """
    date1 = _control_field(record, "008")[7:11]
    if _YEAR.fullmatch(date1):
        return int(date1)

    for text in _imprint_dates(record):
        found = _YEAR.search(text)
        if found:
            return int(found.group(1))
    return None


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
    for number in re.findall(r"[0-9]+", text):
        if len(number) < 4:
            return str(int(number))

    for word in re.findall(r"[a-z]+", text):
        if word in _ORDINALS:
            return _ORDINALS[word]
    return "revised" if re.search(r"\brevi", text) else None


def carrier(record: pymarc.Record) -> str | None:
    """"electronic" or "physical" (print, microform, disc, cassette), or None
    when the record does not say.

    008/23 (form of item) is not read: crosswalked Dublin Core sets it to
    online whenever a record carries a link, and a print book's catalogue
    page is a link too.
    """
    if _electronic(record):
        return "electronic"
    if _physical(record):
        return "physical"
    return None


def _electronic(record: pymarc.Record) -> bool:
    described = " ".join(_subfields(record, ("245", "h"), ("300", "a")))
    if re.search(r"electronic|elektronik|online.?res|daring", described, re.IGNORECASE):
        return True

    reproduction = " ".join(_subfields(record, ("533", "a"), ("590", "a")))
    if re.search(r"electronic reproduction", reproduction, re.IGNORECASE):
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
    extent = " ".join(_subfields(record, ("300", "a")))
    return bool(_PAGES.search(extent) or re.search(r"\b(?:v|jil|jilid)\b", extent))


def _physical_form(record: pymarc.Record) -> str:
    """007/00, the category of material, of the first 007."""
    return _control_field(record, "007")[:1]


def volume_parts(record: pymarc.Record) -> tuple[str, ...]:
    """The number and name of the part (245 $n $p), normalised so that
    "v. 2", "Vol. II" and "Jilid 2" all read "2"."""
    title = record.get("245")
    if title is None:
        return ()
    return tuple(_part_words(text) for text in title.get_subfields("n", "p") if text.strip())


def _part_words(text: str) -> str:
    words = re.findall(r"[^\W_]+", _unaccent(text).lower())
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
    """245 $a $b as letters and digits only, lower case, without accents or a
    leading article, so two ways of writing one title compare equal."""
    title = record.get("245")
    if title is None:
        return ""
    text = _unaccent(" ".join(title.get_subfields("a", "b"))).lower().strip()
    text = _LEADING_ARTICLE.sub("", text)
    return "".join(char for char in text if char.isalnum())


def titles_agree(first: str, second: str) -> bool:
    """False only when two comparable titles are clearly different.

    A title cut short (a copy without its subtitle) agrees with the whole;
    titles carrying different numbers ("Laporan tahunan 2019", "... 2020")
    do not agree, however alike the rest.
    """
    if not first or not second:
        return True

    first_numbers, second_numbers = re.findall(r"[0-9]+", first), re.findall(r"[0-9]+", second)
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
        digits = re.sub(r"[^0-9]", "", text)
        if re.search(r"[1-9][0-9]{3}", digits) and digits != "9999":
            return _pad(digits, 4)
    return "0000"


def _goldrush_edition(statement: str | None) -> str:
    """Leading digits of 250 $a, or the number a leading "first" to "tenth"
    stands for; anything else, or nothing, counts as the first edition."""
    text = _unaccent(statement or "").strip()
    digits = re.match(r"[0-9]{1,3}", text)
    if digits:
        return digits.group()
    word = re.match(r"[a-zA-Z]{3}", text)
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
    return _pad(re.sub(r"[^a-zA-Z0-9]", "", joined), 5)


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
    text = re.sub(r"['{}]", "", text).replace("&", "and")
    return "".join(replacement if char in _GOLDRUSH_PUNCTUATION else char for char in text)


def _pad(text: str, width: int) -> str:
    collapsed = re.sub(r" +", "_", text)
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


def cluster(profiles: Mapping[int, MatchProfile]) -> list[ClusterResult]:
    """Group records into clusters of one edition each, in order of lowest member id.

    Records sharing a key are joined unless a guard tells them apart. Where
    records of unknown year (or edition, carrier, pages) bridge records that
    differ, the bridging record goes where its known neighbours agree and
    stays out of every group where they do not. The result depends only on
    the profiles given, never on their order.
    """
    adjacency = _guarded_edges(profiles)

    results = []
    for component in _components(sorted(profiles), adjacency):
        for part in _split(component, profiles, adjacency, _GUARDS):
            results.append(_explain(part, adjacency))
    return sorted(results, key=lambda result: result.members[0])


def compatible(first: MatchProfile, second: MatchProfile, kind: KeyKind = ISBN) -> bool:
    """Whether two records sharing a key of `kind` may share a cluster.

    No guard may tell them apart. An ISBN or ISSN also needs titles that
    agree: set ISBNs and mistyped numbers tie different books together. OCLC
    numbers and LCCNs name one catalogue record each and are trusted as
    they stand; the composite key carries the title itself.
    """
    for guard in _GUARDS:
        ours, theirs = getattr(first, guard), getattr(second, guard)
        if ours is None or theirs is None or ours == theirs:
            continue
        if guard == "pages" and _pages_agree(ours, theirs):
            continue
        return False

    if first.parts != second.parts:
        return False
    return kind not in (ISBN, ISSN) or titles_agree(first.title, second.title)


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

    Holders described alike (same guards, same title) are chained; each pair
    of descriptions is compared once, through its lowest record ids, so a
    key held by many copies of one book costs little.
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
                _add_edge(adjacency, group[0], other[0], key)


def _description(profile: MatchProfile) -> MatchProfile:
    """The profile without its keys: what guards and titles compare."""
    return MatchProfile(
        year=profile.year, edition=profile.edition, carrier=profile.carrier,
        parts=profile.parts, pages=profile.pages, title=profile.title,
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
    conflicting = [guard for guard in guards if _known_values(component, profiles, guard) > 1]
    if not conflicting:
        return [component]

    guard, rest = conflicting[0], guards[guards.index(conflicting[0]) + 1:]
    parts = []
    for group in _follow(component, profiles, adjacency, guard):
        for part in _components(group, adjacency):
            parts += _split(part, profiles, adjacency, rest)
    return parts


def _known_values(component: list[int], profiles: Mapping[int, MatchProfile], guard: str) -> int:
    return len({getattr(profiles[member], guard) for member in component} - {None})


def _follow(
    component: list[int], profiles: Mapping[int, MatchProfile], adjacency: Adjacency, guard: str
) -> list[list[int]]:
    """Divide by a guard's value; members of unknown value join their neighbours.

    Rounds run outward from the members that know the value. A member whose
    resolved neighbours all hold one value takes it; one that sees two values
    belongs to neither and stays out, with any member reachable only through
    it. Each round looks only at the previous round's state, so the result
    does not depend on the order members are visited in.
    """
    label: dict[int, object] = {}
    for member in component:
        value = getattr(profiles[member], guard)
        if value is not None:
            label[member] = value

    waiting = set(component) - set(label)
    while True:
        heard = {member: {label[n] for n in adjacency.get(member, {}) if n in label}
                 for member in waiting}
        decided = {member: values for member, values in heard.items() if values}
        if not decided:
            break
        for member, values in decided.items():
            waiting.discard(member)
            if len(values) == 1:
                label[member] = next(iter(values))

    groups: dict[object, list[int]] = defaultdict(list)
    for member, value in label.items():
        groups[value].append(member)
    undecided = [member for member in component if member not in label]
    return [sorted(group) for group in groups.values()] + ([undecided] if undecided else [])


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
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
