"""Set up and run every check CI runs: ruff, mypy, then the test suite on
SQLite and on a PostgreSQL server the tests start themselves.

python3 scripts/test.py            # everything
python3 scripts/test.py -k oai     # arguments go to both pytest passes

The PostgreSQL pass runs only the tests that open a pool database (see
tests/conftest.py). Without PostgreSQL's binaries it is skipped, saying so
and how to install them. The two passes run side by side: each spends most
of its time in one process at a time, so together they fill two cores.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bootstrap import ROOT, ensure_environment

# pytest's exit code when nothing ran: a selection with no database test in
# it leaves the PostgreSQL pass nothing to do.
NO_TESTS = 5


def shown(step: list[str]) -> str:
    return " ".join([Path(step[0]).name, *step[1:]])


def run(step: list[str], name: str) -> int:
    """Run one step from the project folder, echoing it and its wall time."""
    print("$", shown(step), flush=True)
    started = time.monotonic()
    code = subprocess.run(step, cwd=ROOT).returncode
    print(f"({name} took {time.monotonic() - started:.0f} s)", flush=True)
    return code


def postgres_missing(python: Path) -> str | None:
    """Why the PostgreSQL pass cannot run here (tests.pgserver decides), or None."""
    ask = "from tests.pgserver import missing_reason; print(missing_reason() or '')"
    answer = subprocess.run([str(python), "-c", ask], cwd=ROOT, capture_output=True, text=True)
    if answer.returncode:
        return f"could not ask tests.pgserver: {answer.stderr.strip()}"
    return answer.stdout.strip() or None


def both_passes(pytest: str, arguments: list[str], postgres: bool) -> int:
    """The SQLite pass on the terminal; the PostgreSQL pass beside it, its output after."""
    second = [pytest, "--backend", "postgresql", *arguments]
    with tempfile.TemporaryFile("w+") as log:
        started = time.monotonic()
        background = (
            subprocess.Popen(second, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            if postgres
            else None
        )
        sqlite_code = run([pytest, "--backend", "sqlite", *arguments], "the SQLite pass")
        if background is None:
            return sqlite_code

        postgres_code = background.wait()
        log.seek(0)
        print("$", shown(second), flush=True)
        sys.stdout.write(log.read())
        print(f"(the PostgreSQL pass took {time.monotonic() - started:.0f} s)", flush=True)
    if postgres_code == NO_TESTS:
        print("PostgreSQL pass: the selection holds no database test", flush=True)
        postgres_code = 0
    return sqlite_code or postgres_code


def main(arguments: list[str]) -> int:
    bin_folder = ensure_environment("test")
    for check in ([str(bin_folder / "ruff"), "check", "."], [str(bin_folder / "mypy")]):
        code = run(check, shown(check[:1]))
        if code:
            return code

    reason = postgres_missing(bin_folder / "python")
    if reason is not None:
        print(f"PostgreSQL pass skipped: {reason}", flush=True)
    return both_passes(str(bin_folder / "pytest"), arguments, postgres=reason is None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
