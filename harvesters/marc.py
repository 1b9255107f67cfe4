"""MARC files (ISO 2709 or MARCXML, gzip or not) from a glob or an http(s) URL.

A file source is a full delivery: every run reads every file, so records
that disappeared from the files can be marked deleted once the run is
complete. The checkpoint names the file and the byte offset (ISO 2709) or
record number (MARCXML) after the last stored page, so a killed run resumes
there instead of starting over.

Most of a repeated delivery is unchanged. Given a way to ask the pool
(`unchanged`), an ISO 2709 record the pool already holds with the very same
bytes is passed on undecoded: the run then costs a hash per record, not a
parse.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from gettext import gettext
from pathlib import Path
from typing import IO, cast

import pymarc
import requests
from lxml import etree

from harvesters.errors import RecordError, SourceError
from harvesters.holdings import holdings_from
from harvesters.iso2709 import (
    RECORD_END,
    control_number,
    data_field,
    decode_record,
    indicator_pair,
    new_subfield,
)
from harvesters.records import Checkpoint, HarvestedRecord, Page, Rejection
from harvesters.xmlsafe import refuse_doctype

log = logging.getLogger(__name__)

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
_READ_SIZE = 1 << 20

IdentityCheck = Callable[[list[tuple[str, str]]], set[tuple[str, str]]]
"""Given (local id, content hash) pairs, those the pool holds as live records."""


@dataclass
class MarcFileHarvester:
    """Reads every file of a marc source, page by page."""

    source: str
    partner: str
    path: str | None = None
    url: str | None = None
    base_folder: Path = Path(".")
    holdings_tag: str = "852"
    page_size: int = 1000
    timeout: float = 60.0
    max_bytes: int = 8 << 30
    """The most a file may hold once uncompressed; a gzip bomb stops here."""
    unchanged: IdentityCheck | None = None
    """Asks the pool which records it holds already, byte for byte (see the module's note)."""

    def pages(self, checkpoint: Checkpoint | None) -> Iterator[Page]:
        files = self._files()
        start_file = int((checkpoint or {}).get("file_index", 0))
        for index, location in enumerate(files):
            if index < start_file:
                continue
            resume = dict(checkpoint or {}) if index == start_file else {}
            yield from self._file_pages(index, location, resume)
        yield Page(checkpoint={}, complete=True, full=True, label=gettext("end of delivery"))

    def _files(self) -> list[str]:
        if self.url:
            return [self.url]
        assert self.path is not None
        pattern = self.path if Path(self.path).is_absolute() else str(self.base_folder / self.path)
        files = sorted(glob.glob(pattern, recursive=True))
        if not files:
            raise SourceError(
                gettext(
                    "source {source}: no file matches path {path!r} (looked in {folder})"
                ).format(source=self.source, path=self.path, folder=self.base_folder)
            )
        return files

    def _file_pages(self, index: int, location: str, resume: Checkpoint) -> Iterator[Page]:
        with self._open(location) as stream:
            head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
            if head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<"):
                refuse_doctype(stream.peek(_READ_SIZE), f"source {self.source}: {location}")
                pages = self._marcxml_pages(stream, location, int(resume.get("record", 0)))
            else:
                pages = self._iso2709_pages(stream, location, int(resume.get("offset", 0)))
            for page in pages:
                page.checkpoint = {"file_index": index, **page.checkpoint}
                page.full = True
                yield page
        log.info(gettext("source=%s file=%s read"), self.source, location)

    # Opening: local or downloaded, gzip or plain, always size-capped.

    def _open(self, location: str) -> _CappedReader:
        raw: IO[bytes]
        if location.startswith(("http://", "https://")):
            raw = self._download(location)
        else:
            try:
                raw = open(location, "rb")  # noqa: SIM115 (closed by the capped reader)
            except OSError as error:
                raise SourceError(
                    gettext("source {source}: cannot open {location}: {error}").format(
                        source=self.source, location=location, error=error
                    )
                ) from None
        buffered = _peekable(raw)
        if buffered.peek(2)[:2] == b"\x1f\x8b":
            buffered = _peekable(cast(IO[bytes], gzip.GzipFile(fileobj=buffered)))
        return _CappedReader(buffered, self.max_bytes, location, self.source)

    def _download(self, url: str) -> IO[bytes]:
        """Fetch the whole file first: a resumed run then seeks in a local copy."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller)
        try:
            with requests.get(url, stream=True, timeout=self.timeout) as response:
                response.raise_for_status()
                size = 0
                for block in response.iter_content(_READ_SIZE):
                    size += len(block)
                    if size > self.max_bytes:
                        raise SourceError(
                            gettext("source {source}: {url} is larger than {limit} bytes").format(
                                source=self.source, url=url, limit=self.max_bytes
                            )
                        )
                    spool.write(block)
        except requests.RequestException as error:
            spool.close()
            raise SourceError(
                gettext("source {source}: cannot fetch {url}: {error}").format(
                    source=self.source, url=url, error=error
                )
            ) from None
        spool.seek(0)
        return spool

    # ISO 2709: split on the record terminator, so a lying leader length
    # costs one record, not the rest of the file.

    def _iso2709_pages(self, stream: _CappedReader, location: str, offset: int) -> Iterator[Page]:
        stream.skip(offset)
        page, pending = Page(), []
        for start, chunk in _split_records(stream, offset):
            if not chunk.lstrip(_PADDING):
                continue
            pending.append(_Chunk(start, chunk, _cut_off(chunk, start, stream.position)))
            if len(pending) >= self.page_size:
                self._add_iso2709(page, pending, location)
                page.checkpoint = {"offset": start + len(chunk) + 1}
                page.label = gettext("{file} @ byte {offset}").format(
                    file=Path(location).name, offset=start
                )
                yield page
                page, pending = Page(), []
        if pending:
            self._add_iso2709(page, pending, location)
            page.checkpoint = {"offset": stream.position}
            page.label = gettext("{file} @ end").format(file=Path(location).name)
            yield page

    def _add_iso2709(self, page: Page, pending: list[_Chunk], location: str) -> None:
        held = self._held_unchanged(pending)
        read = {
            item.start: self._read(item, location) for item in pending if item.start not in held
        }

        # A record decoded here may share its id with one the pool holds: that
        # one is decoded too, so the store sees both and tells them apart.
        named = {
            outcome.local_id for outcome in read.values() if isinstance(outcome, HarvestedRecord)
        }
        for item in pending:
            outcome = read.get(item.start)
            if outcome is None and held[item.start][0] in named:
                outcome = self._read(item, location)
            elif outcome is None:
                outcome = self._undecoded(held[item.start], item)
            if isinstance(outcome, Rejection):
                page.rejections.append(outcome)
            else:
                page.records.append(outcome)

    def _read(self, item: _Chunk, location: str) -> HarvestedRecord | Rejection:
        position = f"byte {item.start}"
        if item.cut_off:
            return Rejection(self.source, location, position, item.cut_off, item.chunk)
        body = item.chunk.lstrip(_PADDING)
        try:
            record = decode_record(body)
        except RecordError as error:
            return Rejection(self.source, location, position, error.reason, item.chunk)
        return self._harvested(record, body + RECORD_END, "marc")

    def _held_unchanged(self, pending: list[_Chunk]) -> dict[int, tuple[str, str]]:
        """Start offset -> (local id, content hash) of each record the pool holds with these
        very bytes.

        The id is read from the directory without decoding. A pair the pool
        holds names bytes it stored under that id, so decoding them again would
        give the same id back: a misread id can only miss, never mislead.
        """
        if self.unchanged is None:
            return {}
        identities = {}
        for item in pending:
            body = item.chunk.lstrip(_PADDING)
            number = None if item.cut_off else control_number(body)
            if number is not None:
                original = body + RECORD_END
                identities[item.start] = (self._local_id(number, original), _sha1(original))
        held = self.unchanged(list(identities.values()))
        return {start: pair for start, pair in identities.items() if pair in held}

    def _undecoded(self, identity: tuple[str, str], item: _Chunk) -> HarvestedRecord:
        # Neither MARC nor holdings: the store only moves an unchanged record's seen mark.
        original = item.chunk.lstrip(_PADDING) + RECORD_END
        local_id, digest = identity
        return HarvestedRecord(
            source=self.source, local_id=local_id, format="marc", original=original, digest=digest
        )

    # MARCXML: streamed with iterparse; each record is cleared once read.
    # libxml2's recover mode repairs a broken document and goes on; a record
    # in which it had to repair something is rejected with the parser's
    # message, so nothing is silently altered.

    def _marcxml_pages(self, stream: _CappedReader, location: str, skip: int) -> Iterator[Page]:
        events = etree.iterparse(
            stream,
            events=("end",),
            tag=(f"{{{MARCXML_NS}}}record", "record"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
            recover=True,
            remove_blank_text=True,
        )
        page = Page()
        number = 0
        pending: _XmlRecord | None = None
        for _, element in events:
            number += 1
            if number == 1:
                self._refuse_late_doctype(element, location)
            current = (
                _XmlRecord(number, element.sourceline or 0, element) if number > skip else None
            )
            _release(element)
            if pending is not None:
                self._add_marcxml(page, pending, location, _errors(events, pending.line, current))
                pending = None
            pending = current
            if len(page.records) + len(page.rejections) >= self.page_size:
                page.checkpoint = {"record": number - (pending is not None)}
                page.label = gettext("{file} record {number}").format(
                    file=Path(location).name, number=number
                )
                yield page
                page = Page()
        if pending is not None:
            self._add_marcxml(page, pending, location, _errors(events, pending.line, None))
        page.checkpoint = {"record": number}
        page.label = gettext("{file} @ end").format(file=Path(location).name)
        yield page

    def _refuse_late_doctype(self, element: etree._Element, location: str) -> None:
        """Refuse a DTD the first look missed, behind a long prolog.

        Entities stay unresolved either way; the refusal is what stops libxml2
        from ending the file early at its amplification limit, which would drop
        every record after that point without a word.
        """
        docinfo = element.getroottree().docinfo
        if docinfo.internalDTD is not None:
            declaration = f"<!DOCTYPE {docinfo.root_name}>".encode()
            refuse_doctype(declaration, f"source {self.source}: {location}")

    def _add_marcxml(self, page: Page, item: _XmlRecord, location: str, errors: list[str]) -> None:
        position = f"record {item.number} (line {item.line})"
        if errors:
            reason = "XML is not well-formed: " + "; ".join(errors)
            page.rejections.append(
                Rejection(self.source, location, position, reason, item.original)
            )
            return
        if isinstance(item.record, RecordError):
            page.rejections.append(
                Rejection(self.source, location, position, item.record.reason, item.original)
            )
            return
        page.records.append(self._harvested(item.record, item.original, "marcxml"))

    def _harvested(self, record: pymarc.Record, original: bytes, format: str) -> HarvestedRecord:
        return HarvestedRecord(
            source=self.source,
            local_id=f"{self.partner}:{local_id_of(record, original)}",
            format=format,
            original=original,
            marc=record,
            holdings=holdings_from(record, self.holdings_tag),
        )

    def _local_id(self, number: str, original: bytes) -> str:
        return f"{self.partner}:{number.strip() or _content_name(original)}"


def local_id_of(record: pymarc.Record, original: bytes) -> str:
    """The record's 001; records without one (SLiMS exports) are named by their content."""
    fields = record.get_fields("001")
    if fields and fields[0].data and fields[0].data.strip():
        return str(fields[0].data.strip())
    return _content_name(original)


def _content_name(original: bytes) -> str:
    return "sha1:" + _sha1(original)[:20]


def _sha1(original: bytes) -> str:
    return hashlib.sha1(original).hexdigest()


def record_from_marcxml(element: etree._Element) -> pymarc.Record:
    """Build a pymarc Record from a MARCXML <record>, namespaced or not."""
    record = pymarc.Record()
    for child in element:
        name = _local_name(child)
        if name == "leader":
            record.leader = pymarc.Leader(_leader_text(child.text or ""))
        elif name == "controlfield":
            record.add_field(pymarc.Field(tag=_tag(child), data=child.text or ""))
        elif name == "datafield":
            record.add_field(_datafield(child))
    if not record.fields:
        raise RecordError("record has no fields")
    return record


def _local_name(element: etree._Element) -> str:
    """The element's name without namespace or prefix; "" for comments and the like.

    Not etree.QName: in recover mode libxml2 keeps names such as "arc:subfield"
    (an undeclared prefix), which QName refuses with a ValueError.
    """
    tag = element.tag
    known = _MARCXML_NAMES.get(tag) if tag.__class__ is str else None
    if known is not None:
        return known
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


# The names a MARCXML record is made of, looked up before any splitting:
# a record holds some fifty of them.
_MARCXML_NAMES = {
    form.format(name): name
    for name in ("leader", "controlfield", "datafield", "subfield")
    for form in ("{{" + MARCXML_NS + "}}{}", "{}")
}


def _leader_text(text: str) -> str:
    if len(text) != 24:
        raise RecordError(f"leader {text!r} is {len(text)} characters, not 24")
    return text[:9] + "a" + text[10:]


def _tag(element: etree._Element) -> str:
    tag = (element.get("tag") or "").strip()
    if len(tag) != 3 or not tag.isalnum():
        raise RecordError(f"field tag {tag!r} is not three letters or digits")
    return tag


def _datafield(element: etree._Element) -> pymarc.Field:
    indicators = [
        (element.get(name) or " ").replace("#", " ")[:1] or " " for name in ("ind1", "ind2")
    ]
    subfields = [
        new_subfield(pymarc.Subfield, ((sub.get("code") or "?")[:1], sub.text or ""))
        for sub in element
        if _local_name(sub) == "subfield"
    ]
    tag = _tag(element)
    if tag < "010" and tag.isdigit():
        # A data field under a control field's tag: pymarc makes it a control field.
        return pymarc.Field(tag=tag, indicators=pymarc.Indicators(*indicators), subfields=subfields)
    # The tag is checked above; the rest is already plain text.
    return data_field(tag, indicator_pair("".join(indicators)), subfields)


class _XmlRecord:
    """A parsed MARCXML record waiting to learn whether the parser repaired it."""

    def __init__(self, number: int, line: int, element: etree._Element) -> None:
        self.number = number
        self.line = line
        self.original = etree.tostring(element, encoding="utf-8")
        self.record: pymarc.Record | RecordError
        try:
            self.record = record_from_marcxml(element)
        except RecordError as error:
            self.record = error


def _errors(events: etree.iterparse, first_line: int, following: _XmlRecord | None) -> list[str]:
    """The parser's complaints between this record's start and the next one's."""
    last_line = following.line if following else 1 << 62
    return [
        f"line {entry.line}: {entry.message}"
        for entry in events.error_log  # type: ignore[attr-defined]
        if first_line <= entry.line < last_line
    ]


def _release(element: etree._Element) -> None:
    """Free a parsed record and the siblings before it: memory stays flat."""
    # lxml-stubs do not know clear()'s keep_tail argument yet.
    element.clear(keep_tail=True)  # type: ignore[call-arg]
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


def _split_records(stream: _CappedReader, offset: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset, record bytes without terminator) for every record in the stream.

    Bytes after the last terminator come last, terminator and all missing:
    the caller decides whether they are a whole record or a cut-off one.
    """
    buffer = b""
    position = offset
    while True:
        block = stream.read(_READ_SIZE)
        if not block:
            break
        buffer += block
        start = 0
        while (end := buffer.find(RECORD_END, start)) >= 0:
            yield position, buffer[start:end]
            position += end - start + 1
            start = end + 1
        buffer = buffer[start:]
    if buffer.strip(b"\r\n\x00\x1a "):
        yield position, buffer


_PADDING = b"\r\n\x00\x1a "
"""Bytes some exports put between records: line ends, NULs, a DOS end-of-file mark."""


@dataclass(slots=True)
class _Chunk:
    """One record's bytes, where they start in the file, and why they are cut off if they are."""

    start: int
    chunk: bytes
    cut_off: str


def _cut_off(chunk: bytes, start: int, read_so_far: int) -> str:
    """Why the last bytes of a file are not a whole record; empty when they are one."""
    stated = _stated_length(chunk)
    if start + len(chunk) != read_so_far or stated <= len(chunk) + 1:
        return ""
    return f"the file ends inside this record: {len(chunk)} bytes found, its leader says {stated}"


def _stated_length(chunk: bytes) -> int:
    """The record length Leader/00-04 claims, or 0 when it holds no number."""
    stated = chunk.lstrip(_PADDING)[:5]
    return int(stated) if stated.isdigit() else 0


def _peekable(raw: IO[bytes]) -> io.BufferedReader:
    """A reader that can look at the first bytes (gzip magic, XML) without consuming them."""
    if isinstance(raw, io.BufferedReader):
        return raw
    return io.BufferedReader(cast(io.RawIOBase, raw))


class _CappedReader:
    """A file-like reader that refuses to go past `limit` bytes (a gzip bomb)."""

    def __init__(self, raw: io.BufferedReader, limit: int, location: str, source: str) -> None:
        self.raw = raw
        self.limit = limit
        self.location = location
        self.source = source
        self.position = 0

    def __enter__(self) -> _CappedReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.raw.close()

    def peek(self, size: int) -> bytes:
        return bytes(self.raw.peek(size))

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.position += len(data)
        if self.position > self.limit:
            raise SourceError(
                gettext(
                    "source {source}: {location} holds more than {limit} bytes "
                    "once uncompressed; refusing to read on"
                ).format(source=self.source, location=self.location, limit=self.limit)
            )
        return data

    def skip(self, offset: int) -> None:
        while self.position < offset:
            if not self.read(min(_READ_SIZE, offset - self.position)):
                break


__all__ = ["MarcFileHarvester", "record_from_marcxml", "local_id_of"]
