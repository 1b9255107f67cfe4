"""Read and prepare a source's pages in a second process while the pool stores them.

Decoding, match profiles and MARC-in-JSON cost as much as storing and
reclustering, and neither needs the other's state: a forked process runs
the harvester and works out each record's stored form (`store.Prepared`)
while this one stores the page before. Pages travel through a pipe in
order, one at a time, so the reader is at most one page ahead and memory
stays flat. Checkpoints are unaffected: each page is still stored with its
own, and a page read ahead but not stored is read again on resuming.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import marshal
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from multiprocessing.connection import Connection
from typing import Any

import pymarc

from harvesters.errors import SourceError
from harvesters.records import Checkpoint, HarvestedRecord, Harvester, HoldingData, Page, Rejection
from resource_pool.flags import RecordView
from resource_pool.matching import MatchProfile
from resource_pool.store import Prepared, prepare_record

log = logging.getLogger(__name__)

ProfileFunction = Callable[[pymarc.Record], MatchProfile]


def read_ahead_possible(harvester: Harvester) -> bool:
    """Whether a second process may run this harvester.

    It needs a second core, a process that can fork safely (no other
    thread, which might hold a lock the child would inherit held), and a
    harvester that asks the pool nothing while reading.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        (cores or 1) > 1
        and threading.active_count() == 1
        and "fork" in multiprocessing.get_all_start_methods()
        and getattr(harvester, "unchanged", None) is None
    )


def prepared_pages(
    harvester: Harvester,
    checkpoint: Checkpoint | None,
    profile_function: ProfileFunction | None,
    tags: frozenset[str] | None,
) -> Iterator[Page]:
    """The harvester's pages, each record's stored form worked out in a second process.

    An error the harvester raises there is raised here, after the pages
    before it have been handed over.
    """
    receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
    reader = multiprocessing.get_context("fork").Process(
        target=_read,
        args=(receiving, sending, os.getpid(), harvester, checkpoint, profile_function, tags),
        name="pool-reader",
        daemon=True,
    )
    reader.start()
    sending.close()
    try:
        while True:
            try:
                message = receiving.recv_bytes()
            except EOFError:
                raise SourceError(
                    f"the process reading the source ended without a word "
                    f"(exit code {reader.exitcode})"
                ) from None
            kind, body = message[:1], message[1:]
            if kind in (_PAGE, _PICKLED_PAGE):
                yield _page_of(kind, body)
            elif kind == _ERROR:
                raise pickle.loads(body)
            else:
                return
    finally:
        receiving.close()
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _page_of(kind: bytes, body: bytes) -> Page:
    """The page a message holds.

    The cycle collector is held off meanwhile: a page is some hundred thousand
    new tuples and strings without a cycle among them, and the collector would
    walk them, and everything the process holds, several times over.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _unpacked(marshal.loads(body) if kind == _PAGE else pickle.loads(body))
    finally:
        if collecting:
            gc.enable()


def _read(
    receiving: Connection,
    sending: Connection,
    pool_pid: int,
    harvester: Harvester,
    checkpoint: Checkpoint | None,
    profile_function: ProfileFunction | None,
    tags: frozenset[str] | None,
) -> None:
    # The pool's end of the pipe, inherited by the fork, is closed here: then a
    # pool that dies (killed, say) breaks the pipe, and this process ends with it.
    receiving.close()
    _end_with(pool_pid)
    _collect_once_a_page()
    try:
        for page in harvester.pages(checkpoint):
            for record in page.records:
                if record.marc is not None:
                    record.prepared = prepare_record(record.marc, profile_function, tags)
                    # The pool needs only the stored form: leaving the pymarc
                    # objects behind halves what crosses the pipe.
                    record.marc = None
            sending.send_bytes(_message(page))
            del page
            gc.collect()
        sending.send_bytes(_END)
    except (BrokenPipeError, KeyboardInterrupt):
        # The pool stopped listening (it failed, or was stopped): nothing to tell.
        pass
    except Exception as error:  # noqa: BLE001 (handed to the pool, which decides)
        sending.send_bytes(_ERROR + pickle.dumps(_sendable(error)))
    finally:
        sending.close()


def _collect_once_a_page() -> None:
    """Collect cycles after each page instead of every so many allocations.

    A page's records are some hundred thousand objects without cycles, freed
    as soon as the page is sent. Collecting while they live walks them again
    and again: with the pool's raised threshold it still took 40% of reading
    the records (2.2 s of 5.0 s over 50,000 Library of Congress records).
    What the process inherited from the pool is frozen, so the collection
    after each page walks only what the page left, and cycles are still
    freed within a page of being made.
    """
    gc.freeze()
    gc.disable()


def _end_with(pool_pid: int) -> None:
    """Have the kernel kill this process the moment the pool's process ends.

    A broken pipe alone would stop it only at its next page, and until then
    it would hold what it inherited: the PostgreSQL connection whose advisory
    lock marks the source as being harvested, so a resume straight after a
    kill would find the source still locked.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The pool may have ended before the line above took effect.
    if os.getppid() != pool_pid:
        os._exit(0)


_PR_SET_PDEATHSIG = 1

# What each message from the reader holds, by its first byte.
_PAGE, _PICKLED_PAGE, _ERROR, _END = b"m", b"p", b"e", b"."


def _message(page: Page) -> bytes:
    """A page as bytes: marshal, several times quicker than pickle on plain values;
    pickle when a harvester put something else in a page."""
    packed = _packed(page)
    try:
        return _PAGE + marshal.dumps(packed)
    except ValueError:
        return _PICKLED_PAGE + pickle.dumps(packed, pickle.HIGHEST_PROTOCOL)


# Slotted dataclasses pickle through `dataclasses.fields` on every object,
# which cost more than the rest of the pickling; pages cross the pipe as
# tuples of their values instead.
_PAGE_SLOTS = tuple(f.name for f in fields(Page) if f.name not in ("records", "rejections"))
_RECORD_SLOTS = tuple(field.name for field in fields(HarvestedRecord))
_PREPARED_SLOTS = tuple(field.name for field in fields(Prepared))
_HOLDING_SLOTS = tuple(field.name for field in fields(HoldingData))
_PROFILE_SLOTS = tuple(field.name for field in fields(MatchProfile))
_REJECTION_SLOTS = tuple(field.name for field in fields(Rejection))
_HOLDINGS = _RECORD_SLOTS.index("holdings")
_PREPARED = _RECORD_SLOTS.index("prepared")
_PROFILE = _PREPARED_SLOTS.index("profile")


def _packed(page: Page) -> tuple[Any, ...]:
    records = [_values(record, _RECORD_SLOTS) for record in page.records]
    for values, record in zip(records, page.records, strict=True):
        values[_HOLDINGS] = [_values(holding, _HOLDING_SLOTS) for holding in record.holdings]
        if record.prepared is not None:
            view, profile = record.prepared.view, record.prepared.profile
            prepared = _values(record.prepared, _PREPARED_SLOTS)
            prepared[-1] = (view.leader, view.controls, view.fields, view.tags)
            prepared[_PROFILE] = profile and _values(profile, _PROFILE_SLOTS)
            values[_PREPARED] = prepared
    rejections = [_values(rejection, _REJECTION_SLOTS) for rejection in page.rejections]
    return _values(page, _PAGE_SLOTS), records, rejections


def _unpacked(packed: tuple[Any, ...]) -> Page:
    page_values, records, rejections = packed
    page = Page(**dict(zip(_PAGE_SLOTS, page_values, strict=True)))
    page.rejections = [Rejection(*values) for values in rejections]
    for values in records:
        values[_HOLDINGS] = [HoldingData(*holding) for holding in values[_HOLDINGS]]
        if values[_PREPARED] is not None:
            *prepared, view = values[_PREPARED]
            if prepared[_PROFILE]:
                prepared[_PROFILE] = MatchProfile(*prepared[_PROFILE])
            prepared.append(RecordView(*view))
            values[_PREPARED] = Prepared(**dict(zip(_PREPARED_SLOTS, prepared, strict=True)))
        page.records.append(HarvestedRecord(*values))
    return page


def _values(item: Any, names: tuple[str, ...]) -> list[Any]:
    return [getattr(item, name) for name in names]


def _sendable(error: Exception) -> Exception:
    """The error itself when it survives pickling, else a SourceError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 (any failure to pickle)
        return SourceError(f"{type(error).__name__}: {error}")
    return error


__all__ = ["prepared_pages", "read_ahead_possible"]
