"""The one way the project parses XML it did not write.

Partner servers and files are untrusted: a document type declaration could
name an external entity (a local file, a URL) or nest entities until memory
runs out. OAI-PMH responses and MARCXML never need a DTD, so a document that
carries one is refused before lxml sees it, and the parser is set never to
resolve entities, load DTDs or touch the network in any case. `huge_tree`
stays on because real pages pass libxml2's default size limits (a page over
about 10 MB otherwise loses its resumption token without a word).

XML 1.0 (section 2.2, production [2] Char) allows only tab, newline, carriage
return and the ranges U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF, raw or as
character references. Catalogue exports often carry control bytes copied from
MARC (the 0x1F subfield delimiter, `&#1;`); `clean_xml` removes them and says
how many, so that a harvest can report what it changed.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from harvesters.errors import SourceError

_ALLOWED_RANGES = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
                   (0x10000, 0x10FFFF))

# Raw characters outside production [2]; the surrogates cannot survive decoding.
_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_INVALID_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_CHAR_REFERENCE = re.compile(r"&#(?:x([0-9a-fA-F]+)|([0-9]+));")
_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PROLOG = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_UTF8_NAMES = {"utf-8", "utf8"}
_REPLACEMENT = "\ufffd"


def safe_parser() -> etree.XMLParser:
    """A parser that resolves no entities, loads no DTD and never uses the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_blank_text=False,
    )


def is_xml_char(code: int) -> bool:
    """True when the code point may appear in an XML 1.0 document."""
    return any(low <= code <= high for low, high in _ALLOWED_RANGES)


def refuse_doctype(data: bytes, origin: str) -> None:
    """Raise when the prolog holds a document type declaration.

    Refusing the DTD outright is what makes entity expansion and external
    entities impossible: with `huge_tree` on, libxml2's own amplification
    guard is off, so the parser alone is not enough.
    """
    prolog = _PROLOG.match(data)
    start = prolog.end() if prolog else 0
    if data.startswith(b"<!DOCTYPE", start):
        declaration = data[start : start + 80].decode("utf-8", "replace")
        raise SourceError(
            f"{origin}: the document carries a DTD ({declaration!r}...); DTDs are refused "
            "so that entities can neither read files nor expand without bound"
        )


def parse_xml(data: bytes, origin: str) -> etree._Element:
    """Parse untrusted bytes into their root element, or raise SourceError naming `origin`."""
    refuse_doctype(data, origin)
    try:
        return etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as error:
        raise SourceError(f"{origin}: not well-formed XML: {error}") from error


def clean_xml(data: bytes) -> tuple[bytes, int]:
    """Remove characters XML 1.0 forbids; return the cleaned bytes and how many went.

    Bytes that are not valid in the declared encoding are replaced with
    U+FFFD and counted too, so one bad byte cannot make a whole page
    unreadable. Clean input is returned unchanged, without a copy.
    """
    encoding = declared_encoding(data)
    if encoding in _UTF8_NAMES and _looks_clean_utf8(data):
        return data, 0

    text, bad_bytes = _decode(data, encoding)
    text, bad_chars = _INVALID_CHARS.subn("", text)
    text, bad_references = _drop_bad_references(text)
    removed = bad_bytes + bad_chars + bad_references
    if removed == 0:
        return data, 0
    return _as_utf8(text, encoding), removed


def declared_encoding(data: bytes) -> str:
    """The encoding named in the XML declaration, lower-cased; UTF-8 when none is named."""
    declaration = _DECLARATION.match(data)
    if declaration is None:
        return "utf-8"
    named = _ENCODING.search(declaration.group(0))
    return named.group(1).decode("ascii").lower() if named else "utf-8"


def _looks_clean_utf8(data: bytes) -> bool:
    if _INVALID_BYTES.search(data) or b"&#" in data and _has_bad_reference(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_bad_reference(data: bytes) -> bool:
    text = data.decode("utf-8", "replace")
    return any(not is_xml_char(_reference_value(match)) for match in
               _CHAR_REFERENCE.finditer(text))


def _decode(data: bytes, encoding: str) -> tuple[str, int]:
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    text = data.decode(encoding, "replace")
    genuine = data.count(_REPLACEMENT.encode("utf-8")) if encoding in _UTF8_NAMES else 0
    return text, text.count(_REPLACEMENT) - genuine


def _drop_bad_references(text: str) -> tuple[str, int]:
    dropped = 0

    def keep_or_drop(match: re.Match[str]) -> str:
        nonlocal dropped
        if is_xml_char(_reference_value(match)):
            return match.group(0)
        dropped += 1
        return ""

    return _CHAR_REFERENCE.sub(keep_or_drop, text), dropped


def _reference_value(match: re.Match[str]) -> int:
    hexadecimal, decimal = match.group(1), match.group(2)
    try:
        return int(hexadecimal, 16) if hexadecimal else int(decimal)
    except ValueError:
        return -1


def _as_utf8(text: str, encoding: str) -> bytes:
    data = text.encode("utf-8")
    if encoding in _UTF8_NAMES:
        return data
    declaration = _DECLARATION.match(data)
    if declaration is None:
        return data
    rewritten = _ENCODING.sub(b'encoding="UTF-8"', declaration.group(0))
    return rewritten + data[declaration.end() :]
