"""Write docs/cli.md from the `pool` command's own help, so the two never disagree.

    .venv/bin/python scripts/cli_reference.py          # rewrite docs/cli.md
    .venv/bin/python scripts/cli_reference.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"

HEADER = """# Command reference

Generated from `pool --help` by `scripts/cli_reference.py`; a test fails when
this page and the command disagree. Global options go before the command:
`pool --config DIR --db URL --json --lang id COMMAND`.

Exit codes: 0 success; 1 a source that could not be harvested (or a nightly
step that failed); 2 bad usage or bad configuration, with a message naming
the option or the configuration key at fault.
"""


def commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from commands(sub, [*path, name])


def render() -> str:
    os.environ["COLUMNS"] = "100"
    os.environ["NO_COLOR"] = "1"
    os.environ["TERM"] = "dumb"
    # The reference is English whatever the locale: the language must be set
    # before Typer and the command modules load, since they read help then.
    from resource_pool.i18n import set_language

    set_language("en")
    import typer
    from typer.testing import CliRunner

    from resource_pool.cli import app

    runner = CliRunner()
    parts = [HEADER]
    for path, _ in commands(typer.main.get_command(app), ["pool"]):
        result = runner.invoke(app, [*path[1:], "--help"], prog_name="pool", terminal_width=100)
        text = "\n".join(line.rstrip() for line in result.output.strip().splitlines())
        parts.append(f"## {' '.join(path)}\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main(arguments: list[str]) -> int:
    text = render()
    if "--check" in arguments:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run .venv/bin/python scripts/cli_reference.py")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
