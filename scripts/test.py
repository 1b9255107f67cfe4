"""Set up and run every check CI runs: ruff, mypy, then the test suite.

python3 scripts/test.py            # everything
python3 scripts/test.py -k oai     # arguments go to pytest
"""

from __future__ import annotations

import subprocess
import sys

from bootstrap import ROOT, ensure_environment


def main(arguments: list[str]) -> int:
    bin_folder = ensure_environment("test")
    steps = [
        [str(bin_folder / "ruff"), "check", "."],
        [str(bin_folder / "mypy")],
        [str(bin_folder / "pytest"), *arguments],
    ]
    for step in steps:
        print("$", " ".join(step[:1]).rsplit("/", 1)[-1], *step[1:], flush=True)
        result = subprocess.run(step, cwd=ROOT)
        if result.returncode:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
