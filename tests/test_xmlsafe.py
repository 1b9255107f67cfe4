"""The safe XML parser and the invalid-character cleaner."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from harvesters.errors import SourceError
from harvesters.xmlsafe import clean_xml, declared_encoding, parse_xml


def test_control_bytes_and_bad_references_are_removed_and_counted() -> None:
    """Raw control bytes and references like &#1; and &#x1F; go; each one is counted."""
    cleaned, removed = clean_xml(b"<a>x&#1;y&#x1F;z\x01\x1f&#65;&#x9;</a>")
    assert cleaned == b"<a>xyz&#65;&#x9;</a>"
    assert removed == 4


def test_clean_input_comes_back_untouched() -> None:
    """A clean document is returned as the same object with a count of zero."""
    data = "<a>Perpustakaan Kota Tanjungbalai – ꦗꦮ</a>".encode()
    cleaned, removed = clean_xml(data)
    assert cleaned is data and removed == 0


def test_bytes_invalid_in_the_encoding_become_replacement_characters() -> None:
    """Bytes that are not UTF-8 become U+FFFD and are counted, so the page still parses."""
    cleaned, removed = clean_xml(b'<a code="\xce">\xbei</a>')
    assert removed == 2
    assert parse_xml(cleaned, "test").text == "\ufffdi"


def test_a_declared_legacy_encoding_is_cleaned_and_rewritten_as_utf8() -> None:
    """An ISO-8859-1 document with a control byte comes back as UTF-8 with its declaration fixed."""
    cleaned, removed = clean_xml(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>caf\xe9\x02</a>')
    assert removed == 1
    assert declared_encoding(cleaned) == "utf-8"
    assert parse_xml(cleaned, "test").text == "café"


def test_real_marcxml_with_character_references_to_control_codes(corpora: Path) -> None:
    """mod-reservoir's marc1-delete.xml fails as it is and parses once its &#1; is removed."""
    data = (corpora / "github-folio-mod-reservoir" / "marc1-delete.xml").read_bytes()
    with pytest.raises(SourceError, match="not well-formed"):
        parse_xml(data, "marc1-delete.xml")
    cleaned, removed = clean_xml(data)
    assert removed == data.count(b"&#1;") == 1
    assert len(parse_xml(cleaned, "marc1-delete.xml")) == 1


def test_a_doctype_with_an_external_entity_is_refused_unread(tmp_path: Path) -> None:
    """A DTD naming a local file is refused before parsing; the file's text appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    with pytest.raises(SourceError, match="carries a DTD") as raised:
        parse_xml(data, "partner.xml")
    assert "TOP-SECRET" not in str(raised.value) and "partner.xml" in str(raised.value)


def test_billion_laughs_is_refused_in_bounded_memory() -> None:
    """Nested entity declarations are refused before expansion; peak memory stays under 5 MB."""
    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    data = f'<?xml version="1.0"?>\n<!-- x --><!DOCTYPE r [{entities}]><r>&a9;</r>'.encode()
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="DTDs are refused"):
            parse_xml(data, "laughs.xml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_undeclared_entities_fail_as_not_well_formed() -> None:
    """Without a DTD an entity reference cannot be resolved, so the document is refused."""
    with pytest.raises(SourceError, match="not well-formed"):
        parse_xml(b"<r>&x;</r>", "test")


def test_huge_text_nodes_parse() -> None:
    """A text node past libxml2's default 10 MB limit parses because huge_tree is on."""
    data = b"<r>" + b"a" * 11_000_000 + b"</r>"
    assert len(parse_xml(data, "big").text or "") == 11_000_000
