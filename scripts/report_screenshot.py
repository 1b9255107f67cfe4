"""Draw the forum report of the demo pool and photograph it in headless Chromium.

    .venv/bin/python scripts/report_screenshot.py                  # docs/img/report.png
    .venv/bin/python scripts/report_screenshot.py --lang id --out /tmp/laporan.png

The demo partners in config/ are harvested into a fresh SQLite pool in a
temporary folder, a few requests are made between them (so the loan charts
have something to show), `pool report` writes the page, and Chromium takes
the picture. Nothing is fetched from the network: the page draws its charts
itself, and Chromium runs with its background services switched off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POOL = ROOT / ".venv" / "bin" / "pool"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class Pool:
    """The `pool` command line on one configuration and one database."""

    def __init__(self, folder: Path, language: str) -> None:
        self.database = folder / "pool.sqlite"
        self.prefix = [
            str(POOL),
            "--config",
            str(ROOT / "config"),
            "--db",
            f"sqlite:///{self.database}",
            "--lang",
            language,
        ]

    def run(self, *arguments: str) -> str:
        done = subprocess.run(
            [*self.prefix, *arguments], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"pool {' '.join(arguments)} failed:\n{done.stderr}")
        return done.stdout

    def request(self, *arguments: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.run("--json", "request", *arguments))
        return shown


def lendable_clusters(database: Path, requester: str) -> list[int]:
    """Clusters `requester` does not hold and two or more partners lend, not rare."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT sr.cluster_id, p.code, h.lendable FROM holding h "
            "JOIN source_record sr ON sr.id = h.source_record_id "
            "JOIN partner p ON p.id = h.partner_id "
            "WHERE sr.deleted = 0 AND sr.cluster_id IS NOT NULL"
        ).fetchall()
        rare = {row[0] for row in connection.execute("SELECT cluster_id FROM flag")}
    held: dict[int, set[str]] = {}
    lenders: dict[int, set[str]] = {}
    for cluster_id, code, lendable in rows:
        held.setdefault(cluster_id, set()).add(code)
        if lendable:
            lenders.setdefault(cluster_id, set()).add(code)
    return sorted(
        cluster_id
        for cluster_id, codes in lenders.items()
        if requester not in held[cluster_id] and cluster_id not in rare and len(codes) >= 2
    )


def make_requests(pool: Pool) -> None:
    """Loans supplied at once, one turned down and supplied by the next lender, one open."""
    for requester in ("SMA1", "TBM"):
        first, second, third = lendable_clusters(pool.database, requester)[:3]
        for cluster_id in (first, second):
            loan = pool.request("new", "--as", requester, "--item", str(cluster_id))
            pool.request("will-supply", str(loan["id"]), "--as", loan["lender"])
            pool.request("ship", str(loan["id"]), "--as", loan["lender"])
        asked = pool.request("new", "--as", requester, "--item", str(third))
        moved = pool.request(
            "unfilled", str(asked["id"]), "--as", asked["lender"], "--reason", "NotOnShelf"
        )
        if requester == "SMA1":
            pool.request("will-supply", str(moved["id"]), "--as", moved["lender"])
            pool.request("ship", str(moved["id"]), "--as", moved["lender"])


def photograph(page: Path, picture: Path, width: int, height: int, chromium: str) -> None:
    """One screenshot of `page`; Chromium's profile lives and dies in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={picture}",
                f"--window-size={width},{height}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or not picture.exists():
        raise SystemExit(f"{chromium} made no screenshot:\n{done.stderr}")


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report.png")
    parser.add_argument("--lang", choices=("en", "id"), default="en")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=3350)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--keep-html", type=Path, help="also keep the HTML page here")
    options = parser.parse_args(arguments)

    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        pool = Pool(Path(folder), options.lang)
        pool.run("harvest", "--all")
        make_requests(pool)
        page = Path(folder) / "report.html"
        pool.run("report", "--out", str(page))
        if options.keep_html:
            shutil.copyfile(page, options.keep_html)

        options.out.parent.mkdir(parents=True, exist_ok=True)
        photograph(page, options.out.resolve(), options.width, options.height, options.chromium)
    print(f"wrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
