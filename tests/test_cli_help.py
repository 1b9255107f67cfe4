"""Every command explains itself, and the CLI reference in docs/ is its help, current."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer

from resource_pool.cli import app
from tests.runpool import ROOT, pool


def all_commands() -> list[tuple[str, Any]]:
    found = []

    def walk(command: Any, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "pool")
    return found


def test_every_command_has_help_with_an_example() -> None:
    """A command or group whose help lacks an example fails here, naming it."""
    missing = [path for path, command in all_commands() if "Example" not in (command.help or "")]
    assert not missing, f"commands without an example in their help: {missing}"


def test_every_option_and_argument_has_help() -> None:
    """Each option and argument says what it is for."""
    bare = [
        f"{path} {param.name}"
        for path, command in all_commands()
        for param in command.params
        if not getattr(param, "help", None) and param.name != "help"
    ]
    assert not bare, f"options without help: {bare}"


def test_help_runs_through_the_real_cli() -> None:
    """`pool --help` and a subcommand's help work from the installed entry point."""
    result = pool("--help")
    assert result.returncode == 0 and "harvest" in result.stdout
    result = pool("catalog", "search", "--help")
    assert result.returncode == 0 and "Example" in result.stdout


def test_cli_reference_is_current() -> None:
    """docs/cli.md is what scripts/cli_reference.py writes from the help today."""
    check = subprocess.run(
        [sys.executable, "scripts/cli_reference.py", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
