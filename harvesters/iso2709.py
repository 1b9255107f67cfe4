"""Decode one ISO 2709 record permissively, deciding its character set.

pymarc's decoder trusts the leader's record length, base address and
directory, and logs raw bytes when they lie. Partner files lie often
(RESEARCH.md: lying leaders, broken directories, MARC-8 marked as UTF-8),
so this decoder checks each part, repairs what is unambiguous, and raises
`RecordError` with a reason a librarian can read for the rest.
"""

from __future__ import annotations

import contextlib
import io
import re

import pymarc
from pymarc.marc8 import MARC8ToUnicode

from harvesters.errors import RecordError

FIELD_END = 0x1E
RECORD_END = b"\x1d"
SUBFIELD_MARK = b"\x1f"
LEADER_LENGTH = 24
ENTRY_LENGTH = 12
_ENTRY = re.compile(rb"([0-9A-Za-z]{3})(\d{4})(\d{5})")


def decode_record(chunk: bytes) -> pymarc.Record:
    """Turn the bytes of one record (its terminator removed) into a pymarc Record."""
    if len(chunk) < LEADER_LENGTH + 1:
        raise RecordError(f"only {len(chunk)} bytes: too short for a leader and a directory")
    leader = _leader(chunk)

    fields = _plain_fields(chunk, leader)
    if fields is None:
        fields = _checked_fields(chunk, leader)
    return pymarc.Record(leader=leader[:9] + "a" + leader[10:], fields=fields)


def control_number(chunk: bytes) -> str | None:
    """The 001 where the directory places it, without decoding the record.

    "" when the directory lists no 001; None when it cannot be read or the
    bytes are not printable ASCII. For a well-formed record this is the text
    `decode_record` gives its 001; a malformed one may decode differently, so
    the answer is fit for looking a record up, not for naming it.
    """
    base = chunk.find(FIELD_END, LEADER_LENGTH) + 1
    if base == 0:
        return None
    # The 001 comes first in nearly every directory; where it does, the entry
    # found first is the one the search below would find first too.
    first = _ENTRY.match(chunk, LEADER_LENGTH, base - 1)
    entries = [first.groups()] if first and first.group(1) == b"001" else None
    for tag, length, offset in entries or _ENTRY.findall(chunk, LEADER_LENGTH, base - 1):
        if tag == b"001":
            start = base + int(offset)
            data = chunk[start : start + int(length) - 1]
            return data.decode("ascii") if _PRINTABLE_ASCII.fullmatch(data) else None
    return ""


_PRINTABLE_ASCII = re.compile(b"[\x20-\x7e]*")


def _checked_fields(chunk: bytes, leader: str) -> list[pymarc.Field]:
    """Every field, each part of the record checked and repaired where that is unambiguous."""
    base = _base_address(chunk)
    entries = _directory(chunk, base)
    raw_fields = _field_data(chunk, base, entries)

    encoding = _encoding(leader, raw_fields)
    try:
        return [_field(tag, data, encoding) for tag, data in raw_fields]
    except UnicodeDecodeError:
        # A multi-byte character cut by a subfield mark, or Latin-1 bytes in
        # a record marked UTF-8: MARC-8 is the only other reading we try.
        return [_field(tag, data, "marc-8") for tag, data in raw_fields]


# The plain path: most records are well formed UTF-8 (all of a Library of
# Congress file). For them the directory only has to be confirmed, the text
# is decoded once, and the fields come from splitting it. Anything unusual
# returns None and goes the checked way, which gives the same fields for
# the records both can read.


def _plain_fields(chunk: bytes, leader: str) -> list[pymarc.Field] | None:
    base = chunk.find(FIELD_END, LEADER_LENGTH) + 1
    directory = chunk[LEADER_LENGTH : base - 1]
    entries = _ENTRY.findall(directory)
    if base == 0 or len(entries) * ENTRY_LENGTH != len(directory):
        return None

    body = _contiguous_body(chunk[base:], entries)
    if body is None or (leader[9] != "a" and b"\x1b" in body) or _ODD_CODE.search(body):
        return None
    try:
        texts = body.decode("utf-8").split("\x1e")
    except UnicodeDecodeError:
        return None

    fields = []
    for (tag, _, _), text in zip(entries, texts, strict=False):
        field = _plain_field(tag.decode("ascii"), text)
        if field is None:
            return None
        fields.append(field)
    return fields


def _contiguous_body(data: bytes, entries: list[tuple[bytes, bytes, bytes]]) -> bytes | None:
    """The field data when the directory lists the fields end to end, in order, each
    closed by its terminator and holding no other; else None."""
    position = 0
    for _, length, offset in entries:
        size = int(length)
        if int(offset) != position or size == 0:
            return None
        position += size
        if position > len(data) or data[position - 1] != FIELD_END:
            return None
    body = data[:position]
    return body if body.count(FIELD_END) == len(entries) else None


# A subfield code outside ASCII is read as "?" by the checked path.
_ODD_CODE = re.compile(b"\x1f[\x80-\xff]")


def _plain_field(tag: str, text: str) -> pymarc.Field | None:
    if tag < "010" and tag.isdigit():
        field = _new_field(pymarc.Field)
        field.tag, field.control_field, field.data, field._indicators = tag, True, text, None
        field.subfields = []
        return field
    head, *parts = text.split("\x1f")
    indicators = _INDICATORS.get(head) or _indicators(head)
    if indicators is None:
        return None
    subfields = [new_subfield(pymarc.Subfield, (part[0], part[1:])) for part in parts if part]
    return data_field(tag, indicators, subfields)


# pymarc's Field.__init__ checks and converts each argument, which cost as
# much as the rest of decoding. The readers check tags, indicators and codes
# themselves, so their fields are filled in directly, as the constructor would.
_new_field = object.__new__

new_subfield = tuple.__new__
"""Builds a Subfield (a named tuple) without the Python call named tuples make
for each one: `new_subfield(pymarc.Subfield, (code, value))`."""


def data_field(
    tag: str, indicators: pymarc.Indicators, subfields: list[pymarc.Subfield]
) -> pymarc.Field:
    """The data field pymarc's constructor would make, from values already checked."""
    field = _new_field(pymarc.Field)
    field.tag, field.control_field, field.data = tag, False, None
    field._indicators = indicators
    field.subfields = subfields
    return field


def indicator_pair(pair: str) -> pymarc.Indicators:
    """pymarc's Indicators for two characters, made once for each pair seen."""
    found = _INDICATORS.get(pair)
    if found is None:
        found = pymarc.Indicators(pair[0], pair[1])
        # Bounded: odd input cannot grow it for the whole harvest.
        if len(_INDICATORS) < 1024:
            _INDICATORS[pair] = found
    return found


def _indicators(head: str) -> pymarc.Indicators | None:
    """The indicators written before a field's first subfield; None if not ASCII."""
    if not head.isascii():
        return None
    return indicator_pair(head.ljust(2)[:2])


_INDICATORS: dict[str, pymarc.Indicators] = {}


def _leader(chunk: bytes) -> str:
    try:
        leader = chunk[:LEADER_LENGTH].decode("ascii")
    except UnicodeDecodeError:
        raise RecordError(
            f"leader {chunk[:LEADER_LENGTH]!r} holds bytes that are not ASCII"
        ) from None
    if not leader[:5].isdigit() and not leader[12:17].isdigit():
        raise RecordError(f"leader {leader!r} has neither a record length nor a base address")
    # Leader/20-23 are always "4500" in MARC 21; a control character in a
    # coded position is read as blank (undefined) rather than losing the record.
    coded = leader[:20]
    if not coded.isprintable():
        coded = "".join(c if c.isprintable() else " " for c in coded)
    return coded + "4500"


def _base_address(chunk: bytes) -> int:
    """Leader/12-16, or the end of the directory when the leader is wrong about it."""
    directory_end = chunk.find(FIELD_END, LEADER_LENGTH)
    if directory_end < 0:
        raise RecordError("no field terminator after the leader: directory is missing")
    stated = chunk[12:17]
    if stated.isdigit() and int(stated) == directory_end + 1:
        return int(stated)
    return directory_end + 1


def _directory(chunk: bytes, base: int) -> list[tuple[str, int, int]]:
    directory = chunk[LEADER_LENGTH : base - 1]
    if len(directory) % ENTRY_LENGTH:
        raise RecordError(f"directory is {len(directory)} bytes, not a multiple of {ENTRY_LENGTH}")
    entries = []
    for start in range(0, len(directory), ENTRY_LENGTH):
        match = _ENTRY.fullmatch(directory[start : start + ENTRY_LENGTH])
        if not match:
            entry = directory[start : start + ENTRY_LENGTH]
            raise RecordError(f"directory entry {start // ENTRY_LENGTH + 1} {entry!r} is malformed")
        tag, length, offset = match.groups()
        entries.append((tag.decode("ascii"), int(length), int(offset)))
    return entries


def _field_data(
    chunk: bytes, base: int, entries: list[tuple[str, int, int]]
) -> list[tuple[str, bytes]]:
    """Each field's bytes, by the directory, repaired where the directory lies."""
    data = chunk[base:]
    fields = []
    for tag, length, offset in entries:
        end = offset + length
        if end > len(data) or data[end - 1] != FIELD_END:
            return _fields_by_start(data, entries) or _fields_by_terminator(data, entries)
        fields.append((tag, data[offset : end - 1]))
    return fields


def _fields_by_start(data: bytes, entries: list[tuple[str, int, int]]) -> list[tuple[str, bytes]]:
    # Lengths counted in characters instead of bytes (common in MARC-8
    # exports from Alma) leave every start right: each field then runs to
    # the first terminator after its start.
    fields = []
    for tag, _, offset in entries:
        starts_a_field = offset == 0 or (offset < len(data) and data[offset - 1] == FIELD_END)
        if not starts_a_field:
            return []
        end = data.find(FIELD_END, offset)
        fields.append((tag, data[offset : end if end >= 0 else len(data)]))
    return fields


def _fields_by_terminator(
    data: bytes, entries: list[tuple[str, int, int]]
) -> list[tuple[str, bytes]]:
    # A directory whose offsets are wrong too (marc4j's bad_hathi records)
    # still lists the tags in order; the field terminators then say where
    # each field really ends.
    parts = data.split(bytes([FIELD_END]))
    if parts and parts[-1] == b"":
        parts.pop()
    if len(parts) != len(entries):
        raise RecordError(
            f"directory lists {len(entries)} fields but the data holds {len(parts)}; "
            "the record cannot be rebuilt"
        )
    return [(tag, part) for (tag, _, _), part in zip(entries, parts, strict=True)]


def _encoding(leader: str, fields: list[tuple[str, bytes]]) -> str:
    """UTF-8 or MARC-8, from Leader/09 checked against the bytes themselves."""
    body = b"\x1e".join(data for _, data in fields)
    if leader[9] == "a":
        return "utf-8" if _is_utf8(body) else "marc-8"
    # Leader/09 blank means MARC-8, but catalogues often write UTF-8 without
    # setting it (openlibrary#10955). MARC-8 diacritics are bytes 0xE0-0xFE
    # followed by an ASCII letter, which is never valid UTF-8.
    if b"\x1b" not in body and _is_utf8(body) and any(byte > 0x7F for byte in body):
        return "utf-8"
    return "marc-8"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(data: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        return data.decode("utf-8")
    if data.isascii() and b"\x1b" not in data:
        return data.decode("ascii")
    complaints = io.StringIO()
    try:
        # Escape sequences reset at every field (MARC 21 character sets,
        # "Alternate character set technique"), so a fresh converter per field.
        # pymarc reports a cut multi-byte character on stderr and carries on
        # with a blank; such text is corrupt, so the record is quarantined.
        with contextlib.redirect_stderr(complaints):
            text = str(MARC8ToUnicode(quiet=True).translate(_designate_high_sets_as_g1(data)))
    except (IndexError, TypeError, KeyError, ValueError):
        raise RecordError(f"cannot convert MARC-8 text {data[:40]!r}") from None
    if complaints.getvalue():
        raise RecordError(f"MARC-8 text {data[:40]!r}: {complaints.getvalue().strip()}")
    return text


# pymarc keys Extended Arabic (4), Extended Cyrillic (Q) and ANSEL (E) by
# their G1 bytes (0xA1-0xFE). Designated into G0 (ESC ( Q), the same letters
# arrive as 0x21-0x7E and would come out as blanks: Serbian "rešenja" lost
# its nje. Re-designating such a set as G1 and shifting its bytes up by 0x80
# is the same text in the form pymarc reads (MARC 21 character sets, part 2).
_G1_KEYED = frozenset(b"4QE")
_DESIGNATE_G0 = b"\x1b("


def _designate_high_sets_as_g1(data: bytes) -> bytes:
    if b"\x1b(" not in data:
        return data
    out = bytearray()
    shifted = False
    position = 0
    while position < len(data):
        if data.startswith(_DESIGNATE_G0, position) and position + 2 < len(data):
            final = data[position + 2]
            shifted = final in _G1_KEYED
            out += b"\x1b)" if shifted else _DESIGNATE_G0
            out.append(final)
            position += 3
            continue
        byte = data[position]
        if byte == 0x1B:
            shifted = False
        out.append(byte + 0x80 if shifted and 0x21 <= byte <= 0x7E else byte)
        position += 1
    return bytes(out)


def _field(tag: str, data: bytes, encoding: str) -> pymarc.Field:
    if tag < "010" and tag.isdigit():
        return pymarc.Field(tag=tag, data=_text(data, encoding))
    parts = data.split(SUBFIELD_MARK)
    indicators = parts[0].decode("ascii", "replace").ljust(2)[:2]
    subfields = []
    for part in parts[1:]:
        if not part:
            continue
        code = chr(part[0]) if part[0] < 0x80 else "?"
        subfields.append(pymarc.Subfield(code=code, value=_text(part[1:], encoding)))
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*indicators), subfields=subfields)
