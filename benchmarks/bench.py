"""Measure the pool against pymarc, yaz, and sickle on 250,000 real records, in one run.

Run from the project root (`make bench` does this):

    .venv/bin/python -m benchmarks.bench [--only a,b,c] [--records N] [--json PATH]

Steps, each in child processes so that every figure includes what a user
waits for (interpreter start, imports, opening the pool):

    a  pymarc reading the ISO 2709 file; yaz-marcdump on it (the C reference)
    b  `pool harvest` of the file into a fresh SQLite pool; the first 50,000
       records alone; the whole file into PostgreSQL
    c  the same harvest again, nothing changed
    d  the file as MARCXML: pymarc reading it, `pool harvest` of it
    e  OAI-PMH over loopback, 500 records a page: sickle iterating, `pool harvest`
    f  `pool export` of the whole pool as MARC and as MARCXML
    g  `pool flags recompute` over the whole pool

The corpus is fetched once into $POOL_BENCH_CACHE (else
~/.cache/resource-pool/bench). Figures go to a table on the terminal and to
a JSON file (var/bench.json). The machine is shared and noisy, so each
target is a ratio of two figures measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_corpus import (
    CORPUS_RECORDS,
    YAZ_MARCDUMP,
    cache_folder,
    corpus,
    count_records,
    first_records,
    marcxml_of,
)

ROOT = Path(__file__).resolve().parent.parent
STEPS = "abcdefg"
SMALL_HARVEST = 50_000
OAI_RECORDS = 50_000
OAI_PAGE_SIZE = 500


class BenchError(Exception):
    """A measured command failed; the message carries its command line and stderr."""


@dataclass
class Run:
    """One finished child process: wall time, peak resident memory, standard output."""

    seconds: float
    peak_mb: float
    output: str


@dataclass
class Result:
    """One measured row of the table."""

    step: str
    name: str
    records: int
    seconds: float
    peak_mb: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class Target:
    """A ratio or figure with the goal it is held to; `met` is None when there is no goal."""

    name: str
    value: float
    unit: str
    goal: str
    met: bool | None


@dataclass
class Bench:
    """What one run needs: where the corpus and workspace are, which code, which steps."""

    cache: Path
    workspace: Path
    records: int
    steps: str
    code: Path | None = None
    results: list[Result] = field(default_factory=list)
    pools: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)

    def python(self, module: str, *args: str) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def pool(self, config: Path, db: str, *args: str) -> list[str]:
        """The real `pool` console script, as cron would run it."""
        script = Path(sys.executable).parent / "pool"
        return [str(script), "--config", str(config), "--db", db, "--json", "-q", *args]

    def pool_environment(self) -> dict[str, str]:
        """The environment for `pool`; --code puts another copy of the code first on the path."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("POOL_")}
        if self.code is not None:
            environment["PYTHONPATH"] = str(self.code)
        return environment


# -- running and measuring a child process --------------------------------------------


def measure(
    command: list[str], *, env: dict[str, str] | None = None, keep_output: bool = True
) -> Run:
    """Run a command to its end; its wall time and peak RSS come from wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(
            command,
            stdout=out if keep_output else subprocess.DEVNULL,
            stderr=errors,
            env=env,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)

        out.seek(0)
        errors.seek(0)
        if child.returncode != 0:
            tail = errors.read().decode("utf-8", "replace")[-2000:]
            raise BenchError(f"{' '.join(command)} exited {child.returncode}:\n{tail}")
        # ru_maxrss is in kilobytes on Linux.
        return Run(seconds, usage.ru_maxrss / 1024, out.read().decode("utf-8", "replace"))


def note(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def record(bench: Bench, result: Result) -> Result:
    # The load average beside each figure says how busy the shared machine was.
    result.detail["load_average"] = round(os.getloadavg()[0], 2)
    bench.results.append(result)
    note(
        f"{result.step} {result.name}: {result.records:,} records in {result.seconds:.1f}s, "
        f"{result.rate:,.0f}/s, peak {result.peak_mb:.0f} MB"
    )
    return result


# -- pools ----------------------------------------------------------------------------

FLAGS = ROOT / "config" / "flags.toml"


def write_config(folder: Path, source: dict[str, str]) -> Path:
    """A pool configuration with one partner (the Library of Congress) and one source."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pool.toml").write_text(
        '[pool]\nname = "Benchmark pool"\ncode = "BENCH"\ndatabase = "pool.sqlite"\n'
    )
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in source.items())
    (folder / "partners.toml").write_text(
        '[[partners]]\ncode = "LC"\nname = "Library of Congress"\nkind = "network"\n\n'
        f"[[partners.sources]]\n{lines}"
    )
    shutil.copyfile(FLAGS, folder / "flags.toml")
    return folder


def harvest(bench: Bench, step: str, name: str, config: Path, db: str) -> Result:
    """`pool harvest --all` into `db`; the records it accounted for, from its JSON summary."""
    run = measure(bench.pool(config, db, "harvest", "--all"), env=bench.pool_environment())
    summary = json.loads(run.output)[0]
    if summary["status"] != "ok":
        raise BenchError(f"{name}: harvest ended {summary['status']}: {summary['error']}")

    counted = ("added", "updated", "unchanged", "rejected")
    records = sum(int(summary[key]) for key in counted)
    detail = {key: summary[key] for key in (*counted, "deleted", "pages", "seconds")}
    return record(bench, Result(step, name, records, run.seconds, run.peak_mb, detail))


def fingerprint(bench: Bench, url: str) -> dict[str, Any]:
    """The pool's content in counts and digests (benchmarks/bench_pool.py), read in a child."""
    run = measure(bench.python("benchmarks.bench_pool", url))
    found: dict[str, Any] = json.loads(run.output)
    return found


def sqlite_url(bench: Bench, name: str) -> str:
    path = bench.workspace / f"{name}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def marc_source(path: Path) -> dict[str, str]:
    return {"name": "lc-books", "kind": "marc", "path": str(path)}


# -- the steps ------------------------------------------------------------------------


def step_a(bench: Bench, marc: Path) -> None:
    """pymarc's MARCReader and yaz-marcdump reading the same file."""
    run = measure(bench.python("benchmarks.bench_readers", "iso2709", str(marc)))
    record(bench, Result("a", "pymarc MARCReader", int(run.output), run.seconds, run.peak_mb))

    if not Path(YAZ_MARCDUMP).exists():
        note(f"a: {YAZ_MARCDUMP} is missing (apt-get install yaz); not measured")
        return
    run = measure([YAZ_MARCDUMP, str(marc)], keep_output=False)
    record(bench, Result("a", "yaz-marcdump", bench.records, run.seconds, run.peak_mb))


def step_b(bench: Bench, marc: Path) -> None:
    """Fresh harvests: the whole file, the first 50,000 records, the whole file on PostgreSQL."""
    config = write_config(bench.workspace / "iso2709", marc_source(marc))
    bench.pools["sqlite"] = sqlite_url(bench, "iso2709")
    harvest(bench, "b", "pool harvest, SQLite", config, bench.pools["sqlite"])
    bench.fingerprints["iso2709"] = fingerprint(bench, bench.pools["sqlite"])

    if bench.records > SMALL_HARVEST:
        small = first_records(marc, SMALL_HARVEST, bench.cache)
        config = write_config(bench.workspace / "small", marc_source(small))
        url = sqlite_url(bench, "small")
        harvest(bench, "b", f"pool harvest, SQLite, first {SMALL_HARVEST:,}", config, url)

    with postgres() as server:
        if server is None:
            note("b: no PostgreSQL binaries (apt-get install postgresql); not measured")
            return
        config = write_config(bench.workspace / "postgres", marc_source(marc))
        harvest(bench, "b", "pool harvest, PostgreSQL", config, server("bench"))


def step_c(bench: Bench, marc: Path) -> None:
    """The same harvest into the same pool again: nothing changed."""
    config = bench.workspace / "iso2709"
    harvest(bench, "c", "pool harvest again, unchanged", config, bench.pools["sqlite"])
    bench.fingerprints["iso2709 again"] = fingerprint(bench, bench.pools["sqlite"])


def step_d(bench: Bench, marc: Path) -> None:
    """The same records as MARCXML: pymarc's reader, then `pool harvest`."""
    if not Path(YAZ_MARCDUMP).exists():
        note(f"d: {YAZ_MARCDUMP} writes the MARCXML and is missing (apt-get install yaz)")
        return
    xml = marcxml_of(marc)
    run = measure(bench.python("benchmarks.bench_readers", "marcxml", str(xml)))
    record(bench, Result("d", "pymarc MARCXML reader", int(run.output), run.seconds, run.peak_mb))

    config = write_config(bench.workspace / "marcxml", marc_source(xml))
    url = sqlite_url(bench, "marcxml")
    harvest(bench, "d", "pool harvest MARCXML, SQLite", config, url)
    bench.fingerprints["marcxml"] = fingerprint(bench, url)


def step_e(bench: Bench, marc: Path) -> None:
    """OAI-PMH over loopback: sickle iterating the pages, then `pool harvest` of them."""
    records = min(OAI_RECORDS, bench.records)
    with oai_server(bench, marc, records) as url:
        run = measure(bench.python("benchmarks.bench_readers", "sickle", url))
        record(bench, Result("e", "sickle ListRecords", int(run.output), run.seconds, run.peak_mb))

        source = {"name": "lc-oai", "kind": "oai", "url": url, "metadata_prefix": "marc21"}
        config = write_config(bench.workspace / "oai", source)
        harvest(bench, "e", "pool harvest OAI-PMH, SQLite", config, sqlite_url(bench, "oai"))


def step_f(bench: Bench, marc: Path) -> None:
    """`pool export` of the whole pool, as MARC and as MARCXML."""
    config = bench.workspace / "iso2709"
    if not has_command(bench, config, "export"):
        note("f: this code has no `pool export`; not measured")
        return
    for name in ("marc", "marcxml"):
        out = bench.workspace / f"export.{name}"
        command = bench.pool(config, bench.pools["sqlite"], "export", "--format", name)
        run = measure([*command, "--out", str(out)], env=bench.pool_environment())
        written = int(json.loads(run.output)["records"])
        detail = {"bytes": out.stat().st_size}
        record(bench, Result("f", f"pool export {name}", written, run.seconds, run.peak_mb, detail))
        out.unlink()


def step_g(bench: Bench, marc: Path) -> None:
    """`pool flags recompute` over every cluster of the pool."""
    config = bench.workspace / "iso2709"
    if not has_command(bench, config, "flags", "recompute"):
        note("g: this code has no `pool flags recompute`; not measured")
        return
    command = bench.pool(config, bench.pools["sqlite"], "flags", "recompute")
    run = measure(command, env=bench.pool_environment())
    clusters = int(bench.fingerprints["iso2709"]["clusters"])
    detail = {"report": json.loads(run.output)}
    record(bench, Result("g", "pool flags recompute", clusters, run.seconds, run.peak_mb, detail))


def has_command(bench: Bench, config: Path, *words: str) -> bool:
    command = bench.pool(config, bench.pools["sqlite"], *words, "--help")
    found = subprocess.run(command, capture_output=True, env=bench.pool_environment(), cwd=ROOT)
    return found.returncode == 0


@contextmanager
def postgres() -> Iterator[Callable[[str], str] | None]:
    """A throwaway PostgreSQL server; yields a function making a database, or None."""
    from tests.pgserver import PostgresServer, postgres_bin

    if postgres_bin() is None:
        yield None
        return
    server = PostgresServer().start()
    try:
        yield server.create_database
    finally:
        server.stop()


@contextmanager
def oai_server(bench: Bench, marc: Path, records: int) -> Iterator[str]:
    """The benchmark's OAI-PMH repository in its own process; yields its base URL."""
    command = bench.python("benchmarks.bench_oai", str(marc), "--records", str(records))
    command += ["--page-size", str(OAI_PAGE_SIZE)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        if not url.startswith("http"):
            raise BenchError(f"the OAI-PMH server did not start: {url!r}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


STEP_FUNCTIONS: dict[str, Callable[[Bench, Path], None]] = {
    "a": step_a,
    "b": step_b,
    "c": step_c,
    "d": step_d,
    "e": step_e,
    "f": step_f,
    "g": step_g,
}


# -- targets and the table ------------------------------------------------------------

RSS_LIMIT_MB = 400
FLAT_MEMORY = 1.25
"""Peak RSS at the whole file may be this much above the 50,000-record harvest's."""


def find(bench: Bench, step: str, name: str) -> Result | None:
    return next((r for r in bench.results if r.step == step and r.name.startswith(name)), None)


def targets(bench: Bench) -> list[Target]:
    """Every ratio the targets name, from figures of this run only."""
    pymarc_read = find(bench, "a", "pymarc")
    yaz = find(bench, "a", "yaz")
    fresh = find(bench, "b", "pool harvest, SQLite")
    small = find(bench, "b", "pool harvest, SQLite, first")
    postgres_run = find(bench, "b", "pool harvest, PostgreSQL")
    found: list[Target] = []

    if pymarc_read and yaz:
        found.append(ratio("a: yaz-marcdump vs pymarc (records/s)", yaz.rate, pymarc_read.rate))
    if pymarc_read and fresh:
        found.append(ratio("b: harvest vs pymarc reading", fresh.rate, pymarc_read.rate, 1.0))
    if pymarc_read and small:
        found.append(ratio("b: harvest of 50,000 vs pymarc reading", small.rate, pymarc_read.rate))
    if pymarc_read and postgres_run:
        found.append(
            ratio("b: harvest on PostgreSQL vs pymarc reading", postgres_run.rate, pymarc_read.rate)
        )
    found += memory_targets(fresh, small)
    found += later_targets(bench, fresh)
    return found


def memory_targets(fresh: Result | None, small: Result | None) -> list[Target]:
    found = []
    if fresh:
        within = fresh.peak_mb <= RSS_LIMIT_MB
        found.append(
            Target("b: peak RSS, whole file", fresh.peak_mb, "MB", f"<= {RSS_LIMIT_MB}", within)
        )
    if fresh and small:
        growth = fresh.peak_mb / small.peak_mb
        found.append(
            Target(
                "b: peak RSS, whole file / 50,000",
                growth,
                "x",
                f"<= {FLAT_MEMORY}",
                growth <= FLAT_MEMORY,
            )
        )
    return found


def later_targets(bench: Bench, fresh: Result | None) -> list[Target]:
    found = []
    again = find(bench, "c", "pool harvest again")
    if fresh and again:
        found.append(
            ratio(
                "c: unchanged harvest speed-up over b",
                fresh.seconds,
                again.seconds,
                10.0,
                seconds=True,
            )
        )
    xml_read, xml_harvest = find(bench, "d", "pymarc"), find(bench, "d", "pool")
    if xml_read and xml_harvest:
        found.append(
            ratio(
                "d: MARCXML harvest vs pymarc MARCXML reading", xml_harvest.rate, xml_read.rate, 2.0
            )
        )
    sickle, oai = find(bench, "e", "sickle"), find(bench, "e", "pool")
    if sickle and oai:
        found.append(ratio("e: OAI-PMH harvest vs sickle iterating", oai.rate, sickle.rate, 1.0))
    export = find(bench, "f", "pool export marc")
    if export and export.name == "pool export marc":
        found.append(
            Target("f: MARC export", export.rate, "records/s", ">= 20000", export.rate >= 20_000)
        )
    return found


def ratio(
    name: str, value: float, base: float, goal: float | None = None, *, seconds: bool = False
) -> Target:
    """value / base; with `seconds`, how many times fewer seconds `base` took."""
    times = value / base if base else 0.0
    met = None if goal is None else times >= goal
    return Target(name, times, "x", f">= {goal}" if goal is not None else "", met)


def print_table(bench: Bench, found: list[Target]) -> None:
    print()
    print(f"{'step':4} {'what':42} {'records':>9} {'seconds':>8} {'records/s':>10} {'peak MB':>8}")
    for row in bench.results:
        print(
            f"{row.step:4} {row.name:42} {row.records:>9,} {row.seconds:>8.1f} "
            f"{row.rate:>10,.0f} {row.peak_mb:>8.0f}"
        )
    print()
    print(f"{'target':50} {'measured':>14} {'goal':>10} {'met':>4}")
    for target in found:
        met = {True: "yes", False: "NO", None: ""}[target.met]
        value = f"{target.value:,.2f} {target.unit}"
        print(f"{target.name:50} {value:>14} {target.goal:>10} {met:>4}")


# -- the machine and the code measured ------------------------------------------------


def machine() -> dict[str, Any]:
    """What a reader needs to judge the figures: processor, cores, memory, load, versions."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
    }
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            info["processor"] = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            info["memory_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    return info


def code_version(code: Path | None) -> dict[str, Any]:
    folder = code or ROOT
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return {"path": str(folder), "commit": commit, "uncommitted_changes": bool(changed)}


def write_json(bench: Bench, found: list[Target], path: Path, started: datetime) -> None:
    report = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_version(bench.code),
        "records": bench.records,
        "steps": bench.steps,
        "results": [{**asdict(r), "records_per_second": round(r.rate, 1)} for r in bench.results],
        "targets": [asdict(t) for t in found],
        "pools": bench.fingerprints,
        "measuring_process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


# -- the command line -----------------------------------------------------------------


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the pool against pymarc, yaz and sickle on real records.",
        epilog="Example: python -m benchmarks.bench --only a,b,c --records 20000",
    )
    parser.add_argument(
        "--only", default=",".join(STEPS), help="steps to run, e.g. a,b,c (default: all of a-g)"
    )
    parser.add_argument(
        "--records",
        type=int,
        default=CORPUS_RECORDS,
        help=f"use the first N records of the corpus (default {CORPUS_RECORDS})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "var" / "bench.json",
        help="where to write the figures (default var/bench.json)",
    )
    parser.add_argument(
        "--code",
        type=Path,
        help="measure the `pool` of another copy of the code, e.g. an older "
        "commit unpacked with git archive",
    )
    return parser.parse_args(argv)


def chosen_steps(only: str) -> str:
    steps = "".join(step.strip() for step in only.split(","))
    unknown = set(steps) - set(STEPS)
    if unknown or not steps:
        raise SystemExit(f"--only {only!r}: steps are letters among {','.join(STEPS)}")
    # c, f and g work on the pool that b fills.
    if set(steps) & set("cfg"):
        steps += "b"
    return "".join(step for step in STEPS if step in steps)


def main(argv: list[str]) -> int:
    options = arguments(argv)
    steps = chosen_steps(options.only)
    cache = cache_folder()
    started = datetime.now(UTC)

    marc = first_records(corpus(cache), options.records, cache)
    records = count_records(marc)
    note(f"{records:,} records in {marc}; steps {','.join(steps)}")
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as workspace:
        bench = Bench(cache, Path(workspace), records, steps, options.code)
        for step in steps:
            STEP_FUNCTIONS[step](bench, marc)

    found = targets(bench)
    print_table(bench, found)
    write_json(bench, found, options.json, started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
