"""Run the real `pool` command line in a child process, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def pool(
    *args: str,
    config: Path | None = None,
    db: str | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`pool [--config C] [--db URL] ARGS...`; returns the finished process."""
    command = [sys.executable, "-m", "resource_pool"]
    if config is not None:
        command += ["--config", str(config)]
    if db is not None:
        command += ["--db", db]
    command += list(args)
    # The caller's own POOL_* settings must not leak into a test's pool.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("POOL_DATABASE")}
    environment = {**inherited, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=ROOT
    )


def pool_json(*args: str, **options: Any) -> Any:
    """`pool --json ARGS...`, parsed; fails the test with stderr when it exits non-zero."""
    result = pool("--json", *args, **options)
    assert result.returncode == 0, (
        f"pool {' '.join(args)} exited {result.returncode}: {result.stderr}"
    )
    return json.loads(result.stdout)


def write_config(folder: Path, partners: str, pool_toml: str | None = None) -> Path:
    """A configuration folder with the given partners.toml and a minimal pool.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pool.toml").write_text(
        pool_toml or '[pool]\nname = "Test pool"\ncode = "TEST"\ndatabase = "pool.sqlite"\n'
    )
    (folder / "partners.toml").write_text(partners)
    return folder
