"""Holdings from the field each partner system puts its items in.

- 852 (MARC 21 holdings, the default): $a institution, $b location,
  $c shelving location, $h/$i call number, $p barcode.
- 952 (Koha items): $a home branch, $c shelving location, $8 collection,
  $o call number, $p barcode, $7 not-for-loan (anything but 0 means no).
- 990 (INLISLite): $a the item's registration number, $b location.
"""

from __future__ import annotations

import pymarc

from harvesters.errors import ConfigError
from harvesters.records import HoldingData

HOLDINGS_TAGS = ("852", "952", "990")


def _first(field: pymarc.Field, code: str) -> str:
    values = field.get_subfields(code)
    return values[0].strip() if values else ""


def _from_852(field: pymarc.Field) -> HoldingData:
    call_number = " ".join(v.strip() for v in field.get_subfields("h", "i") if v.strip())
    return HoldingData(
        location=_first(field, "b"),
        collection=_first(field, "c"),
        call_number=call_number,
        barcode=_first(field, "p"),
        partner_code=_first(field, "a") or None,
    )


def _from_952(field: pymarc.Field) -> HoldingData:
    not_for_loan = _first(field, "7")
    return HoldingData(
        location=_first(field, "c") or _first(field, "a"),
        collection=_first(field, "8"),
        call_number=_first(field, "o"),
        barcode=_first(field, "p"),
        lendable=not_for_loan in ("", "0"),
    )


def _from_990(field: pymarc.Field) -> HoldingData:
    return HoldingData(location=_first(field, "b"), barcode=_first(field, "a"))


_READERS = {"852": _from_852, "952": _from_952, "990": _from_990}


def holdings_from(record: pymarc.Record, tag: str) -> list[HoldingData]:
    """Read the holdings in `tag`; an empty list when the record has none."""
    if tag not in _READERS:
        raise ConfigError(f"holdings = {tag!r} is not one of {', '.join(HOLDINGS_TAGS)}")
    read = _READERS[tag]
    return [read(field) for field in record.get_fields(tag)]
