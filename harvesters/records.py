"""What every harvester hands to the pool: records, rejects and checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pymarc

Checkpoint = dict[str, Any]
"""JSON-serialisable state from which a harvester resumes after the last stored page."""


@dataclass(slots=True)
class HoldingData:
    """One copy of an item at a partner, as the source describes it."""

    location: str = ""
    call_number: str = ""
    barcode: str = ""
    collection: str = ""
    lendable: bool = True
    partner_code: str | None = None
    """A holding field may name another partner (a network's shared catalogue)."""


@dataclass(slots=True)
class HarvestedRecord:
    """One record from a source, decoded to MARC.

    `local_id` is already namespaced by partner code ("TBL:12345"), so ids
    never collide across installs that share numbering or OAI identifiers.
    A deleted record carries no MARC and no bytes.
    """

    source: str
    local_id: str
    format: str
    original: bytes = b""
    marc: pymarc.Record | None = None
    datestamp: str | None = None
    deleted: bool = False
    holdings: list[HoldingData] = field(default_factory=list)
    prepared: Any = None
    """What the pool stores of `marc`, when it was worked out before the page reached
    the store (in a second process); the store then needs no `marc`."""

    digest: str = ""
    """`content_hash` once worked out (or handed over by the harvester, which had it)."""

    @property
    def content_hash(self) -> str:
        """Hash of the original bytes: an unchanged delivery changes nothing."""
        if not self.digest:
            self.digest = hashlib.sha1(self.original).hexdigest()
        return self.digest


@dataclass(slots=True)
class Rejection:
    """A record that could not be read, kept with where it was and why."""

    source: str
    location: str
    position: str
    reason: str
    original: bytes = b""
    local_id: str | None = None


@dataclass(slots=True)
class Page:
    """A unit of storage: its records, its rejects and where to resume after it.

    `complete` is true on the last page of a run; for a full delivery it
    allows the pool to mark records it did not see as deleted.
    """

    records: list[HarvestedRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    checkpoint: Checkpoint = field(default_factory=dict)
    complete: bool = False
    full: bool = False
    cleaned: int = 0
    retried: int = 0
    label: str = ""


class Harvester(Protocol):
    """Turns a source into pages; resumes from the checkpoint of the last stored page."""

    def pages(self, checkpoint: Checkpoint | None) -> Iterator[Page]: ...
