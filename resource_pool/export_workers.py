"""Build an export's batches in several processes, and hand them back in order.

Merging and encoding records is pure Python and takes nearly all of an
export's time, while writing the bytes out takes almost none. With more
than one core, forked workers each read and encode every n-th batch of
cluster ids, and the exporting process writes their output in batch order:
the file is byte for byte what one process would write. `pool flags
recompute` evaluates its batches the same way.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine

from harvesters.errors import PoolError

log = logging.getLogger(__name__)

MOST_WORKERS = 4


@dataclass
class BatchOutput:
    """What one batch of clusters gave: the encoded records, the deletes, the counts."""

    records: bytes = b""
    deletes: bytes = b""
    written: int = 0
    deleted: int = 0
    clusters: int = 0
    oversized: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


BuildBatch = Callable[[list[int]], Any]
"""Cluster ids -> their output; runs in a worker with the engine made fresh for it."""


def worker_count(batches: int) -> int:
    """How many workers to fork for this many batches; 0 means build them in this process.

    Forking needs a second core, and a process without other threads, whose
    locks the workers would inherit held.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (
        (cores or 1) < 2
        or batches < 2
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 0
    return min(cores or 1, MOST_WORKERS, batches)


def batch_outputs(
    engine: Engine, batches: Sequence[list[int]], build: BuildBatch, workers: int
) -> Iterator[Any]:
    """Each batch's output, in order; worker k builds batches k, k + workers, and so on."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    try:
        for number in range(workers):
            receiving, sending = context.Pipe(duplex=False)
            pipes.append(receiving)
            process = context.Process(
                target=_work,
                args=(list(pipes), sending, engine, batches[number::workers], build),
                name=f"pool-export-{number}",
                daemon=True,
            )
            process.start()
            sending.close()
            processes.append(process)
        for index in range(len(batches)):
            yield _receive(pipes[index % workers], processes[index % workers])
    finally:
        for pipe in pipes:
            pipe.close()
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _receive(pipe: Connection, process: Any) -> Any:
    try:
        kind, payload = pickle.loads(pipe.recv_bytes())
    except EOFError:
        raise PoolError(
            f"export worker {process.name} ended without a word (exit code {process.exitcode})"
        ) from None
    if kind == "error":
        raise payload
    return payload


def _work(
    inherited: list[Connection],
    sending: Connection,
    engine: Engine,
    batches: list[list[int]],
    build: BuildBatch,
) -> None:
    # The exporting process's ends of the pipes, inherited by the fork, are
    # closed here: then an exporting process that dies breaks the pipes, and
    # the workers end with it.
    for pipe in inherited:
        pipe.close()
    # Connections inherited from the parent stay the parent's (SQLAlchemy's
    # advice for a forked process); this one opens its own.
    engine.dispose(close=False)
    try:
        for batch in batches:
            sending.send_bytes(pickle.dumps(("batch", build(batch)), pickle.HIGHEST_PROTOCOL))
    except (BrokenPipeError, KeyboardInterrupt):
        # The exporting process stopped listening: it failed or was stopped.
        pass
    except Exception as error:  # noqa: BLE001 (handed to the exporting process)
        sending.send_bytes(pickle.dumps(("error", _sendable(error))))
    finally:
        sending.close()


def _sendable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 (any failure to pickle)
        return PoolError(f"{type(error).__name__}: {error}")
    return error
