"""`pool request` end to end: the real CLI on the harvested demo pool.

The demo is harvested once per run; each test works on a copy of that pool.
Preconditions that are not the point of a test are set up through the
exchange service on the same copy; the steps under test go through the CLI in
a child process, as staff run it. The last test runs the remaining verbs
in-process, which is enough to pin which step each one takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resource_pool import exchange
from resource_pool import iso18626 as iso
from resource_pool.cli import app
from resource_pool.config import PoolConfig, load_config
from resource_pool.db import open_pool
from resource_pool.exchange import NewRequest, StepInput
from tests.runpool import ROOT, copy_database, pool, pool_json
from tests.scheduling import query

pytestmark = pytest.mark.database

CONFIG = ROOT / "config"
TODAY = date.today()
Step = iso.Step


@dataclass
class Demo:
    """A copy of the harvested demo pool, with its configuration and holdings."""

    url: str
    config: PoolConfig

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return pool("request", *args, config=CONFIG, db=self.url)

    def json(self, *args: str) -> Any:
        return pool_json("request", *args, config=CONFIG, db=self.url)

    def new(self, requester: str, cluster: int, **options: Any) -> int:
        engine = open_pool(self.url)
        ask = NewRequest(requester, cluster, **options)
        request_id = exchange.new_request(engine, self.config, ask, TODAY).request_id
        engine.dispose()
        return request_id

    def step(self, request_id: int, step: Step, actor: str, **given: Any) -> None:
        engine = open_pool(self.url)
        exchange.take_step(engine, self.config, request_id, step, actor, StepInput(**given), TODAY)
        engine.dispose()

    def show(self, request_id: int) -> dict[str, Any]:
        engine = open_pool(self.url)
        shown = exchange.show_request(engine, request_id)
        engine.dispose()
        return shown

    def clusters(self, *, rare: bool, lenders: int | None = None) -> list[tuple[int, list[str]]]:
        """Clusters SMA1 does not hold, with their lendable holders (the rota of a fresh pool)."""
        holdings = query(
            self.url,
            "SELECT sr.cluster_id, p.code, MAX(CASE WHEN h.lendable THEN 1 ELSE 0 END) "
            "FROM holding h JOIN source_record sr ON sr.id = h.source_record_id "
            "JOIN partner p ON p.id = h.partner_id WHERE NOT sr.deleted "
            "GROUP BY sr.cluster_id, p.code ORDER BY sr.cluster_id, p.code",
        )
        flag_rows = query(self.url, "SELECT cluster_id FROM flag WHERE flag = 'rare'")
        flagged = {row[0] for row in flag_rows}
        holders: dict[int, dict[str, bool]] = {}
        for cluster_id, code, lendable in holdings:
            holders.setdefault(cluster_id, {})[code] = bool(lendable)
        return [
            (cluster_id, [code for code, lendable in held.items() if lendable])
            for cluster_id, held in holders.items()
            if "SMA1" not in held
            and (cluster_id in flagged) == rare
            and any(held.values())
            and (lenders is None or sum(held.values()) == lenders)
        ]


@pytest.fixture
def demo(demo_pool: str, tmp_path: Path) -> Iterator[Demo]:
    """A private copy of the harvested demo pool."""
    yield Demo(copy_database(demo_pool, tmp_path), load_config(CONFIG))


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The error text of a command that must have exited 2."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    return " ".join(result.stderr.split())


def test_a_loan_from_request_to_checkin(demo: Demo, schemas: Path, tmp_path: Path) -> None:
    """SMA1 borrows an item through every step; a wrong institution is refused on the way."""
    cluster, rota = demo.clusters(rare=False)[0]
    lender, due = rota[0], TODAY + timedelta(days=30)

    made = demo.run("new", "--as", "SMA1", "--item", str(cluster), "--patron-ref", "anggota-0815")
    assert made.stdout.startswith(
        f"request 1: loan of cluster {cluster} for SMA1; rota {', '.join(rota)}; "
        f"asked {lender} (RequestReceived)"
    )
    steps = [
        ("will-supply", lender, "request 1: WillSupply"),
        ("ship", lender, f"request 1: Loaned, due {due}"),
        ("receive", "SMA1", "request 1: Received"),
        ("return", "sma1", "request 1: ShippedReturn"),
    ]
    for verb, actor, expected in steps:
        extra = ["--due", due.isoformat()] if verb == "ship" else []
        assert demo.run(verb, "1", "--as", actor, *extra).stdout.strip() == expected
    wrong = refused(demo.run("checkin", "1", "--as", "SMA1"))
    done = demo.json("checkin", "1", "--as", lender)
    written = demo.json("messages", "1", "--out", str(tmp_path / "messages"))

    assert wrong == (
        "error: request 1: only the lender may checkin; SMA1 is the requester "
        f"(request is ShippedReturn); the lender is {lender}"
    )
    assert (done["status"], done["requester"], done["lender"], done["service"], done["due"]) == (
        "LoanCompleted",
        "SMA1",
        lender,
        "loan",
        due.isoformat(),
    )
    assert done["rota"][0] == done["rota"][0] | {"partner": lender, "status": "LoanCompleted"}
    assert [event["step"] for event in done["events"]] == [
        "new",
        "next-lender",
        "will-supply",
        "ship",
        "receive",
        "return",
        "checkin",
    ]
    assert len(written["written"]) == 6
    for path in written["written"]:
        assert iso.validate(Path(path).read_bytes(), schemas / "ISO-18626-v1_2.xsd") == [], path


def test_unfilled_moves_to_the_next_lender_until_the_rota_ends(demo: Demo) -> None:
    """The first lender's no asks the second; the second's no ends in EndOfRota."""
    cluster, (first, second) = demo.clusters(rare=False, lenders=2)[0]
    request_id = str(demo.new("SMA1", cluster))

    bad_code = refused(demo.run("unfilled", request_id, "--as", first, "--reason", "Busy"))
    moved = demo.run("unfilled", request_id, "--as", first, "--reason", "NotOnShelf")
    ended = demo.json("unfilled", request_id, "--as", second, "--reason", "NonCirculating")

    assert bad_code == (
        "error: --reason: unknown ReasonUnfilled 'Busy'; use one of: NonCirculating, "
        "NotAvailableForILL, NotHeld, NotOnShelf, PolicyProblem, PoorCondition"
    )
    assert moved.stdout.strip() == (
        f"request {request_id}: Unfilled at {first}; asked {second} (RequestReceived)"
    )
    assert (ended["status"], ended["lender"]) == ("EndOfRota", None)
    assert [(e["partner"], e["status"], e["reason"]) for e in ended["rota"]] == [
        (first, "Unfilled", "NotOnShelf"),
        (second, "Unfilled", "NonCirculating"),
    ]


def test_a_rare_item_is_refused_as_a_loan_and_supplied_as_a_copy(demo: Demo) -> None:
    """Nobody in the demo lends rare material: the loan is refused with the copy command."""
    cluster, rota = demo.clusters(rare=True)[0]

    loan = refused(demo.run("new", "--as", "SMA1", "--item", str(cluster)))
    copy = demo.run("new", "--as", "SMA1", "--item", str(cluster), "--service", "copy")
    done = demo.json("copy-done", "1", "--as", rota[0])

    assert "it is flagged rare" in loan
    assert f"pool request new --as SMA1 --item {cluster} --service copy" in loan
    assert copy.stdout.startswith(f"request 1: copy of cluster {cluster} for SMA1")
    assert (done["status"], done["service"], done["due"]) == ("CopyCompleted", "copy", None)


def test_a_renewal_granted_with_a_new_due_date(demo: Demo) -> None:
    """The requester asks for more time and the lender grants it to a later date."""
    cluster, rota = demo.clusters(rare=False)[0]
    request_id = demo.new("SMA1", cluster)
    demo.step(request_id, Step.WILL_SUPPLY, rota[0])
    demo.step(request_id, Step.SHIP, rota[0], due=TODAY + timedelta(days=7))
    demo.step(request_id, Step.RECEIVE, "SMA1")
    later = TODAY + timedelta(days=21)

    asked = demo.run("renew", str(request_id), "--as", "SMA1", "--note", "Tugas belum selesai")
    granted = demo.json(
        "renew-answer", str(request_id), "--as", rota[0], "--yes", "--due", later.isoformat()
    )

    assert asked.stdout.strip() == f"request {request_id}: RenewPending"
    assert (granted["status"], granted["due"]) == ("Received", later.isoformat())
    assert granted["events"][-2]["note"] == "Tugas belum selesai"


def test_an_overdue_loan_is_marked_by_the_overdue_run(demo: Demo) -> None:
    """A loan due yesterday (as of --today) is listed and moved to Overdue by the pool."""
    cluster, rota = demo.clusters(rare=False)[0]
    request_id = demo.new("SMA1", cluster)
    demo.step(request_id, Step.WILL_SUPPLY, rota[0])
    demo.step(request_id, Step.SHIP, rota[0], due=TODAY + timedelta(days=7))
    as_of = (TODAY + timedelta(days=8)).isoformat()

    rows = demo.json("overdue", "--mark", "--today", as_of)

    assert [(r["request_id"], r["state"], r["days_overdue"], r["marked"]) for r in rows] == [
        (request_id, "Overdue", 1, True)
    ]
    last = demo.show(request_id)["events"][-1]
    assert (last["actor"], last["step"], last["after"]) == ("pool", "overdue", "Overdue")


def test_two_processes_moving_one_request_at_once_one_wins(demo: Demo) -> None:
    """Cancel and ship started together: one exits 0, the other 2, and the history is whole."""
    cluster, rota = demo.clusters(rare=False)[0]
    request_id = str(demo.new("SMA1", cluster))
    demo.step(int(request_id), Step.WILL_SUPPLY, rota[0])
    commands = [["cancel", request_id, "--as", "SMA1"], ["ship", request_id, "--as", rota[0]]]
    base = [sys.executable, "-m", "resource_pool", "--config", str(CONFIG), "--db", demo.url]

    running = [
        subprocess.Popen(
            [*base, "request", *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = [(process.wait(timeout=120), process.communicate()) for process in running]

    assert sorted(code for code, _ in results) == [0, 2]
    loser = next(streams[1] for code, streams in results if code == 2)
    assert "its last step was" in " ".join(loser.split())
    shown = demo.show(int(request_id))
    assert shown["status"] in ("Cancelled", "Loaned")
    assert [event["sequence"] for event in shown["events"]] == [1, 2, 3, 4]


def test_a_partners_message_is_imported_and_confirmed(
    demo: Demo, schemas: Path, tmp_path: Path
) -> None:
    """The lender's WillSupply from another system moves the request; the reply validates."""
    cluster, rota = demo.clusters(rare=False)[0]
    request_id = demo.new("SMA1", cluster)
    lender = exchange.agency_of(demo.config.partner(rota[0]), demo.config.code)
    requester = exchange.agency_of(demo.config.partner("SMA1"), demo.config.code)
    header = iso.Header(lender, requester, datetime.now(UTC), f"TBLPOOL-{request_id}")
    transition = iso.apply(
        iso.RequestState.REQUEST_RECEIVED, Step.WILL_SUPPLY, iso.Role.LENDER, iso.ServiceType.LOAN
    )
    incoming = tmp_path / "will-supply.xml"
    incoming.write_bytes(iso.to_xml(iso.step_message(transition, header)))

    stranger = refused(
        demo.run("import", str(incoming), "--as", "TBM", "--reply", str(tmp_path / "no.xml"))
    )
    accepted = demo.run(
        "import", str(incoming), "--as", rota[0], "--reply", str(tmp_path / "ok.xml")
    )

    assert f"comes from TBLPOOL:{rota[0]}, but --as TBM is TBLPOOL:TBM" in stranger
    assert accepted.stdout.strip() == f"request {request_id}: WillSupply"
    for name, status in (("no.xml", "ERROR"), ("ok.xml", "OK")):
        reply = (tmp_path / name).read_bytes()
        assert iso.validate(reply, schemas / "ISO-18626-v1_2.xsd") == []
        assert f"<ill:messageStatus>{status}</ill:messageStatus>".encode() in reply


def test_purge_removes_the_patron_reference(demo: Demo) -> None:
    """A cancelled request loses its patron reference everywhere; the counts stay."""
    cluster, _ = demo.clusters(rare=False)[0]
    request_id = demo.new("SMA1", cluster, patron_reference="anggota-0815")
    demo.step(request_id, Step.CANCEL, "SMA1")
    tomorrow = (TODAY + timedelta(days=1)).isoformat()

    engine = open_pool(demo.url)
    stats = exchange.partner_stats(engine)
    engine.dispose()

    purged = demo.json("purge", "--closed-before", tomorrow)

    assert purged == {"purged": 1, "closed_before": tomorrow}
    assert demo.show(request_id)["patron_ref"] is None
    engine = open_pool(demo.url)
    messages = b"".join(xml for _, xml in exchange.request_messages(engine, request_id))
    assert exchange.partner_stats(engine) == stats
    engine.dispose()
    assert b"anggota" not in messages


def test_every_step_command_takes_the_step_it_is_named_after(demo: Demo) -> None:
    """The verbs not run above, in-process: retries, conditions, notes, recall, lost, views."""
    runner = CliRunner()

    def run(*args: str) -> str:
        command = ["--config", str(CONFIG), "--db", demo.url, *args]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout

    def status(*args: str) -> tuple[str, str | None]:
        shown = json.loads(run("--json", "request", *args))
        return shown["status"], shown["lender"]

    cluster, (first, second) = demo.clusters(rare=False, lenders=2)[0]
    request_id = str(demo.new("SMA1", cluster))
    walk = [
        (("expect", request_id, "--as", first), ("ExpectToSupply", first)),
        (("retry", request_id, "--as", first, "--reason", "OnLoan"), ("RetryPossible", first)),
        (("retry-request", request_id, "--as", "SMA1"), ("RequestReceived", first)),
        (("retry", request_id, "--as", first, "--reason", "AtBindery"), ("RetryPossible", first)),
        (("decline-retry", request_id, "--as", "SMA1"), ("RequestReceived", second)),
        (
            ("condition", request_id, "--as", second, "--code", "NoReproduction"),
            ("ConditionPending", second),
        ),
        (("accept-condition", request_id, "--as", "SMA1"), ("WillSupply", second)),
        (("note", request_id, "Kurir datang Kamis", "--as", "SMA1"), ("WillSupply", second)),
        (("ship", request_id, "--as", second), ("Loaned", second)),
        (("recall", request_id, "--as", second), ("Recalled", second)),
        (("lost", request_id, "--as", second), ("CompletedWithoutReturn", second)),
    ]
    for args, expected in walk:
        assert status(*args) == expected, args

    listed = json.loads(
        run("--json", "request", "list", "--as", "SMA1", "--status", "CompletedWithoutReturn")
    )
    shown = run("request", "show", request_id)
    stats = {row["partner"]: row for row in json.loads(run("--json", "request", "stats"))}

    assert [row["id"] for row in listed] == [int(request_id)]
    assert "Kurir datang Kamis" in shown and "condition NoReproduction" in shown
    assert (stats["SMA1"]["requested"], stats["SMA1"]["borrowed"]) == (1, 1)
    assert (stats[first]["asked"], stats[first]["lent"], stats[second]["lent"]) == (1, 0, 1)
