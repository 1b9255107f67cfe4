"""Partner copies and hard negatives written from real catalogue records.

A partner copy describes the same edition as its original the way another
library's system would: ISBN-10 for ISBN-13, other punctuation and case,
subfields left out, a Dublin Core record crosswalked back to MARC, local
fields. A hard negative describes something else that a careless matcher
would take for the original: the e-book, another volume of the set, a
reprint, the next edition. Every function returns a new record.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import pymarc
from lxml import etree

from harvesters.dublin_core import record_from_dc
from resource_pool.matching import carrier, normalise_isbn, publication_year

Variant = Callable[[pymarc.Record, int], pymarc.Record]

_DC = "http://purl.org/dc/elements/1.1/"
_OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
_DC_TYPES = {"i": "Sound", "j": "Sound", "g": "MovingImage", "k": "StillImage",
             "m": "Software", "e": "StillImage map", "r": "PhysicalObject"}
_ISBD_ENDINGS = re.compile(r"\s*[:;/=,.]\s*$")


# --------------------------------------------------------------------------
# Partner copies: the same edition


def isbn_forms(original: pymarc.Record, serial: int) -> pymarc.Record:
    """ISBN-13s written as hyphenated ISBN-10s (and the reverse), with a qualifier."""
    copied = _local_copy(original, serial)
    for field in copied.get_fields("020"):
        for subfield in list(field.subfields):
            if subfield.code == "a":
                _replace(field, subfield, "a", _other_isbn_form(subfield.value) + " (pbk.)")
    return copied


def punctuation_and_case(original: pymarc.Record, serial: int) -> pymarc.Record:
    """Title in capitals without ISBD punctuation; "&" and "and" swapped in the imprint."""
    copied = _local_copy(original, serial)
    for field in copied.get_fields("245"):
        for subfield in list(field.subfields):
            if subfield.code in "abnp":
                plain = _ISBD_ENDINGS.sub("", subfield.value).upper()
                _replace(field, subfield, subfield.code, plain)
    for field in copied.get_fields("260", "264"):
        for subfield in list(field.subfields):
            swapped = subfield.value.replace("&", "and") if "&" in subfield.value else (
                subfield.value.replace(" and ", " & "))
            _replace(field, subfield, subfield.code, _ISBD_ENDINGS.sub("", swapped))
    return copied


def missing_subfields(original: pymarc.Record, serial: int) -> pymarc.Record:
    """A brief record: no subtitle, statement of responsibility, place, illustrations or size."""
    copied = _local_copy(original, serial)
    dropped = {"245": "bc", "260": "ae", "264": "a", "300": "bc", "020": "cq"}
    for tag, codes in dropped.items():
        for field in copied.get_fields(tag):
            for code in codes:
                field.delete_subfield(code)
    copied.remove_fields("504", "500", "650", "651", "655", "700")
    return copied


def dublin_core_copy(original: pymarc.Record, serial: int) -> pymarc.Record:
    """What a system offering only oai_dc publishes, crosswalked back to MARC."""
    return record_from_dc(_dublin_core(original, serial))


def local_fields(original: pymarc.Record, serial: int) -> pymarc.Record:
    """The original with the partner's control number, notes, holdings and items."""
    copied = _local_copy(original, serial)
    copied.add_ordered_field(_field("590", "a", "Hadiah dari Dinas Pendidikan Kota."))
    copied.add_ordered_field(_field("852", "a", "TBL", "b", "Umum", "h", f"823 AUS p{serial}"))
    copied.add_ordered_field(_field("999", "a", f"B{serial:06d}", "l", "Rak 3"))
    return copied


def slims_copy(original: pymarc.Record, serial: int) -> pymarc.Record:
    """A small library's export: ISBN-10, no 008, title in capitals, 260 for 264, "hlm."."""
    copied = punctuation_and_case(isbn_forms(original, serial), serial)
    copied.remove_fields("008", "040", "042", "050", "082")
    for field in copied.get_fields("264"):
        field.tag = "260"
    for field in copied.get_fields("300"):
        for subfield in list(field.subfields):
            _replace(field, subfield, subfield.code, re.sub(r"\bp(ages)?\b\.?", "hlm.",
                                                            subfield.value))
    return copied


PARTNER_COPIES: dict[str, Variant] = {
    "isbn-forms": isbn_forms,
    "punctuation-and-case": punctuation_and_case,
    "missing-subfields": missing_subfields,
    "dublin-core": dublin_core_copy,
    "local-fields": local_fields,
    "slims-export": slims_copy,
}


# --------------------------------------------------------------------------
# Hard negatives: something else


def other_carrier(original: pymarc.Record, serial: int) -> pymarc.Record:
    """The e-book of a print record, or the print edition of an e-book."""
    if carrier(original) == "electronic":
        return print_edition(original, serial)
    return ebook(original, serial)


def print_edition(original: pymarc.Record, serial: int) -> pymarc.Record:
    """The printed book an e-book record was made from, under the same ISBN.

    Whatever says electronic goes, the general material designation in
    245 $h ("[electronic resource]") included: a print record never says it.
    """
    copied = _local_copy(original, serial)
    copied.remove_fields("006", "007", "300", "337", "338", "533", "856")
    for field in copied.get_fields("245"):
        field.delete_subfield("h")
    copied.add_ordered_field(_field("300", "a", "xii, 240 p. ;", "c", "24 cm"))
    copied.add_ordered_field(_field("338", "a", "volume", "b", "nc", "2", "rdacarrier"))
    return copied


def ebook(original: pymarc.Record, serial: int) -> pymarc.Record:
    """The e-book edition, which lists the print ISBN beside its own, as many do."""
    copied = _local_copy(original, serial)
    copied.remove_fields("007", "300", "337", "338")
    copied.add_ordered_field(pymarc.Field(tag="007", data="cr |n|||||||||"))
    copied.add_ordered_field(_field("300", "a", "1 online resource"))
    copied.add_ordered_field(_field("337", "a", "computer", "b", "c", "2", "rdamedia"))
    copied.add_ordered_field(_field("338", "a", "online resource", "b", "cr", "2", "rdacarrier"))
    copied.add_ordered_field(_field("856", "u", f"https://ebook.example.org/{serial}"))
    for field in copied.get_fields("020"):
        field.add_subfield("q", "print")
    return copied


def volume(number: int) -> Variant:
    """One volume of a multi-volume set; the set's ISBN stays in 020."""
    def make(original: pymarc.Record, serial: int) -> pymarc.Record:
        copied = _local_copy(original, serial)
        for field in copied.get_fields("245")[:1]:
            field.add_subfield("n", f"Vol. {number}.", pos=_after_title(field))
        for field in copied.get_fields("020"):
            field.add_subfield("q", "set")
        return copied
    return make


def reprint(original: pymarc.Record, serial: int) -> pymarc.Record:
    """A later printing under the same ISBN: 008 type r, the reprint's year in 260 $c."""
    copied = _local_copy(original, serial)
    year = (publication_year(original) or 1990) + 7
    _set_dates(copied, "r", year, publication_year(original))
    for field in copied.get_fields("260", "264"):
        for subfield in list(field.subfields):
            if subfield.code == "c":
                _replace(field, subfield, "c", f"{year} [reprint]")
    return copied


def next_edition(original: pymarc.Record, serial: int) -> pymarc.Record:
    """The next edition, three years on, which still carries the old ISBN beside its own."""
    copied = _local_copy(original, serial)
    year = (publication_year(original) or 1990) + 3
    _set_dates(copied, "s", year, None)
    copied.remove_fields("250")
    copied.add_ordered_field(_field("250", "a", "2nd rev. ed."))
    for field in copied.get_fields("260", "264"):
        for subfield in list(field.subfields):
            if subfield.code == "c":
                _replace(field, subfield, "c", str(year))
    return copied


HARD_NEGATIVES: dict[str, tuple[Variant, ...]] = {
    "other-carrier": (other_carrier,),
    "volumes": (volume(1), volume(2)),
    "reprint": (reprint,),
    "next-edition": (next_edition,),
}


# --------------------------------------------------------------------------
# Helpers


def _local_copy(original: pymarc.Record, serial: int) -> pymarc.Record:
    """A copy under the partner's own control number and record id."""
    copied = copy.deepcopy(original)
    copied.remove_fields("001", "003", "005")
    copied.add_ordered_field(pymarc.Field(tag="001", data=f"TBL{serial:07d}"))
    copied.add_ordered_field(pymarc.Field(tag="003", data="TBL"))
    copied.add_ordered_field(_field("035", "a", f"(TBL){serial}"))
    return copied


def _other_isbn_form(text: str) -> str:
    """ISBN-13 as a hyphenated ISBN-10 where there is one, else ISBN-10 as ISBN-13."""
    isbn = normalise_isbn(text)
    if isbn is None:
        return text
    if isbn.startswith("978") and len(re.sub(r"[^0-9Xx]", "", text.split()[0])) == 13:
        body = isbn[3:12]
        check = -sum(w * int(d) for w, d in zip(range(10, 1, -1), body, strict=True)) % 11
        ten = body + ("X" if check == 10 else str(check))
        return f"{ten[0]}-{ten[1:4]}-{ten[4:9]}-{ten[9]}"
    return f"{isbn[:3]}-{isbn[3:4]}-{isbn[4:7]}-{isbn[7:12]}-{isbn[12]}"


def _dublin_core(original: pymarc.Record, serial: int) -> etree._Element:
    """oai_dc for a record, as a library system's OAI-PMH server would publish it."""
    root = etree.Element(f"{{{_OAI_DC}}}dc", nsmap={"oai_dc": _OAI_DC, "dc": _DC})
    title = original.get("245")
    if title is not None:
        words = [_ISBD_ENDINGS.sub("", text) for text in title.get_subfields("a", "b")]
        _dc(root, "title", " : ".join(words))
    for field in original.get_fields("100", "700"):
        _dc(root, "creator", _ISBD_ENDINGS.sub("", field.get("a") or ""))
    for field in original.get_fields("260", "264"):
        for name in field.get_subfields("b"):
            _dc(root, "publisher", _ISBD_ENDINGS.sub("", name))
        for date in field.get_subfields("c"):
            _dc(root, "date", date)
    for field in original.get_fields("020"):
        for isbn in field.get_subfields("a"):
            _dc(root, "identifier", f"ISBN {isbn.split()[0]}")
    _dc(root, "identifier", f"https://opac.example.org/detail/{serial}")
    _dc(root, "type", _DC_TYPES.get(original.leader[6:7], "Text"))
    return root


def _dc(root: etree._Element, name: str, value: str) -> None:
    if value.strip():
        etree.SubElement(root, f"{{{_DC}}}{name}").text = value


def _set_dates(record: pymarc.Record, kind: str, date1: int, date2: int | None) -> None:
    fixed = record.get("008")
    data = fixed.data if fixed is not None else None
    if fixed is None or data is None or len(data) < 15:
        return
    second = str(date2) if date2 else "    "
    fixed.data = data[:6] + kind + str(date1) + second + data[15:]


def _after_title(field: pymarc.Field) -> int:
    codes = [subfield.code for subfield in field.subfields]
    return codes.index("c") if "c" in codes else len(codes)


def _replace(field: pymarc.Field, old: pymarc.Subfield, code: str, value: str) -> None:
    index = field.subfields.index(old)
    field.subfields[index] = pymarc.Subfield(code, value)


def _field(tag: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(code, value)
                 for code, value in zip(pairs[::2], pairs[1::2], strict=True)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "), subfields=subfields)
