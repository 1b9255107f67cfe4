"""Set everything up, harvest the demo partners into SQLite, print the summary.

python3 scripts/demo.py
"""

from __future__ import annotations

import subprocess
import sys

from bootstrap import ROOT, ensure_environment


def main() -> int:
    bin_folder = ensure_environment()
    pool = [str(bin_folder / "pool"), "--config", str(ROOT / "config")]
    harvest = subprocess.run([*pool, "harvest", "--all"], cwd=ROOT)
    stats = subprocess.run([*pool, "catalog", "stats"], cwd=ROOT)
    return harvest.returncode or stats.returncode


if __name__ == "__main__":
    sys.exit(main())
