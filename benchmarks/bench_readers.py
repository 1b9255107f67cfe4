"""The reference readers the pool is measured against, each run in a child process.

    python -m benchmarks.bench_readers iso2709 FILE    pymarc's MARCReader
    python -m benchmarks.bench_readers marcxml FILE    pymarc's MARCXML reader (map_xml)
    python -m benchmarks.bench_readers sickle URL      sickle iterating ListRecords (marc21)

Each reads everything, keeps nothing, and prints the number of records read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pymarc
from sickle import Sickle


def read_iso2709(path: str) -> int:
    """Records pymarc decodes from an ISO 2709 file, with its default settings."""
    with open(path, "rb") as handle:
        return sum(1 for record in pymarc.MARCReader(handle) if record is not None)


def read_marcxml(path: str) -> int:
    """Records pymarc's streaming MARCXML reader builds from a file."""
    count = 0

    def seen(_record: pymarc.Record) -> None:
        nonlocal count
        count += 1

    pymarc.map_xml(seen, path)
    return count


def read_sickle(url: str) -> int:
    """Records sickle yields over every page of ListRecords, doing nothing with them."""
    client = Sickle(url, max_retries=3)
    return sum(1 for _ in client.ListRecords(metadataPrefix="marc21"))


READERS: dict[str, Callable[[str], int]] = {
    "iso2709": read_iso2709,
    "marcxml": read_marcxml,
    "sickle": read_sickle,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in READERS:
        print(f"usage: python -m benchmarks.bench_readers {'|'.join(READERS)} PATH-OR-URL")
        return 2
    print(READERS[argv[0]](argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
