"""The exchange service on the run's database (SQLite or PostgreSQL): rota, steps, audit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func
from sqlmodel import col, select

from resource_pool import exchange
from resource_pool import iso18626 as iso
from resource_pool.config import PoolConfig, load_config
from resource_pool.db import open_pool, session_scope
from resource_pool.errors import ConfigError, StepRefused
from resource_pool.exchange import NewRequest, StepInput
from resource_pool.exchange_models import ExchangeRequest, RequestEvent, RotaEntry
from resource_pool.models import Cluster, Flag, Holding, MatchKey, Partner, Source, SourceRecord
from resource_pool.partners import sync_partners
from tests.runpool import Databases, database_for, write_config

S = iso.RequestState
Step = iso.Step
TODAY = date(2025, 3, 3)
LOAN, COPY = iso.ServiceType.LOAN, iso.ServiceType.COPY

PARTNERS = """
[[partners]]
code = "REQ"
name = "Perpustakaan SMA Negeri 2"
kind = "school"
loan_days = 7

[[partners]]
code = "AAA"
name = "Perpustakaan Kota"
kind = "public"
loan_days = 14
agency_id = "ID-TblKT"

[[partners]]
code = "BBB"
name = "Perpustakaan Universitas"
kind = "university"
loan_days = 21
lends_rare = true

[[partners]]
code = "CCC"
name = "Perpustakaan Perusahaan"
kind = "company"
lends = false

[[partners]]
code = "DDD"
name = "Taman Bacaan"
kind = "community"

[[partners]]
code = "EEE"
name = "Perpustakaan Desa"
kind = "community"
"""

# cluster id: (title, rare, {partner: lendable}, isbn)
CATALOGUE = {
    1: ("Laskar Pelangi /", False, {"AAA": True, "BBB": True, "CCC": True, "DDD": False}, None),
    2: ("Hikayat Raja Pasai", True, {"AAA": True, "BBB": True}, None),
    3: ("Bumi Manusia", False, {"REQ": True, "AAA": True}, "9789799731234"),
    4: ("Naskah Syair Siti Zubaidah", True, {"AAA": True}, None),
}


@dataclass
class Pool:
    """A small pool: its configuration and an engine on a fresh database."""

    config: PoolConfig
    engine: Engine

    def new(self, requester: str = "REQ", cluster: int = 1, **options: Any) -> int:
        ask = NewRequest(requester, cluster, **options)
        return exchange.new_request(self.engine, self.config, ask, TODAY).request_id

    def step(
        self, request_id: int, step: Step, actor: str, given: StepInput | None = None
    ) -> exchange.Outcome:
        return exchange.take_step(self.engine, self.config, request_id, step, actor, given, TODAY)

    def show(self, request_id: int) -> dict[str, Any]:
        return exchange.show_request(self.engine, request_id)

    def lender(self, request_id: int) -> str:
        return str(self.show(request_id)["lender"])


def build_catalogue(engine: Engine, config: PoolConfig) -> None:
    """Partners, one source each, and the clusters of CATALOGUE with their holdings."""
    with session_scope(engine) as session:
        sync_partners(session, config)
        partners = {p.code: p.id for p in session.exec(select(Partner)).all()}
        sources = {
            code: Source(name=f"{code.lower()}-books", partner_id=pid, kind="marc")
            for code, pid in partners.items()
        }
        session.add_all(sources.values())
        for cluster_id, (title, rare, holders, isbn) in CATALOGUE.items():
            session.add(Cluster(id=cluster_id, title=title, members=len(holders)))
            session.flush()
            if rare:
                session.add(Flag(cluster_id=cluster_id, flag="rare", rule="test", evidence=""))
            for code, lendable in holders.items():
                record = SourceRecord(
                    source_id=sources[code].id or 0,
                    local_id=f"{code}:{cluster_id}",
                    content_hash="-",
                    format="marc",
                    title=title,
                    cluster_id=cluster_id,
                )
                session.add(record)
                session.flush()
                session.add(
                    Holding(
                        source_record_id=record.id or 0,
                        partner_id=partners[code] or 0,
                        lendable=lendable,
                    )
                )
                if isbn:
                    session.add(MatchKey(source_record_id=record.id or 0, kind="isbn", value=isbn))


def open_small_pool(url: str, folder: Path) -> Pool:
    """Open (and migrate) the database at `url` and fill in the small catalogue."""
    config = load_config(write_config(folder / "config", PARTNERS))
    engine = open_pool(url)
    build_catalogue(engine, config)
    return Pool(config, engine)


@pytest.fixture
def fresh_pool(database_url: str, tmp_path: Path) -> Iterator[Pool]:
    """A database of its own, migrated from empty, on the run's backend."""
    pool = open_small_pool(database_url, tmp_path)
    yield pool
    pool.engine.dispose()


@pytest.fixture(scope="module")
def catalogue_pool(
    pool_databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pool]:
    """One database for the module's tests that only need a clean exchange.

    Filling in a fresh catalogue for every test would cost more than the tests
    themselves; they share one and start from no requests instead.
    """
    folder = tmp_path_factory.mktemp("exchange")
    pool = open_small_pool(database_for(folder), folder)
    yield pool
    pool.engine.dispose()


@pytest.fixture
def pool(catalogue_pool: Pool) -> Pool:
    """The small catalogue with no requests in it yet."""
    with session_scope(catalogue_pool.engine) as session:
        for table in (RequestEvent, RotaEntry, ExchangeRequest):
            session.execute(delete(table))
    return catalogue_pool


def events_of(pool: Pool, request_id: int) -> list[RequestEvent]:
    """The request's events in order."""
    with session_scope(pool.engine, read_only=True) as session:
        return list(
            session.exec(
                select(RequestEvent)
                .where(col(RequestEvent.request_id) == request_id)
                .order_by(col(RequestEvent.sequence))
            ).all()
        )


def snapshot(pool: Pool) -> list[tuple[object, ...]]:
    """Every request, rota entry and event, to compare before and after a refused step."""
    with session_scope(pool.engine, read_only=True) as session:
        requests = [
            (r.id, r.state, r.version, r.lender, r.due, r.closed, r.loan_condition)
            for r in session.exec(select(ExchangeRequest).order_by(col(ExchangeRequest.id)))
        ]
        entries = [
            (e.id, e.status, e.reason, e.asked, e.supplied)
            for e in session.exec(select(RotaEntry).order_by(col(RotaEntry.id)))
        ]
        events = [e.id for e in session.exec(select(RequestEvent).order_by(col(RequestEvent.id)))]
    return [*requests, *entries, tuple(events)]


# ---------------------------------------------------------------- the rota


def test_rota_leaves_out_the_requester_non_lenders_and_unlendable_holdings(pool: Pool) -> None:
    """Cluster 1's rota holds AAA and BBB; CCC does not lend and DDD's copy is not lendable."""
    outcome = exchange.new_request(pool.engine, pool.config, NewRequest("REQ", 1), TODAY)

    assert outcome.rota == ("AAA", "BBB")
    assert outcome.left_out == (
        exchange.LeftOut("CCC", "does not lend (lends = false)"),
        exchange.LeftOut("DDD", "no holding marked lendable"),
    )
    assert (outcome.state, outcome.lender) == ("RequestReceived", "AAA")
    assert [event.note for event in events_of(pool, outcome.request_id)][0] == (
        "rota AAA, BBB; left out CCC (does not lend (lends = false)), "
        "DDD (no holding marked lendable)"
    )


def test_a_requester_that_holds_the_item_needs_force(pool: Pool) -> None:
    """REQ holds cluster 3: refused saying so, accepted with force, and left out of the rota."""
    with pytest.raises(StepRefused, match="REQ holds cluster 3 .Bumi Manusia. itself; .*--force"):
        pool.new("REQ", 3)

    request_id = pool.new("REQ", 3, force=True)

    assert [entry["partner"] for entry in pool.show(request_id)["rota"]] == ["AAA"]


def test_a_second_open_request_for_the_same_item_needs_force(pool: Pool) -> None:
    """The duplicate is refused naming the open request; force makes a second one."""
    first = pool.new("REQ", 1)

    with pytest.raises(StepRefused, match=f"REQ already has request {first} open for cluster 1"):
        pool.new("REQ", 1)

    assert pool.new("REQ", 1, force=True) == first + 1


def test_rare_items_are_lent_only_by_partners_that_lend_rare(pool: Pool) -> None:
    """A rare loan goes only to BBB (lends_rare); a copy may go to either holder."""
    loan = exchange.new_request(pool.engine, pool.config, NewRequest("REQ", 2), TODAY)
    copy = exchange.new_request(pool.engine, pool.config, NewRequest("EEE", 2, COPY), TODAY)

    assert loan.rota == ("BBB",)
    assert loan.left_out[0].partner == "AAA" and loan.left_out[0].why.startswith("rare:")
    assert copy.rota == ("AAA", "BBB")


def test_a_rare_loan_nobody_may_make_is_refused_with_a_copy_offered(pool: Pool) -> None:
    """Cluster 4 is rare and only AAA holds it: the loan is refused, the copy command offered."""
    with pytest.raises(StepRefused) as refusal:
        pool.new("REQ", 4)

    assert "it is flagged rare and AAA lends rare material as copies only" in str(refusal.value)
    assert "pool request new --as REQ --item 4 --service copy" in str(refusal.value)
    assert exchange.list_requests(pool.engine, TODAY) == []
    copy = pool.new("REQ", 4, service=COPY)
    assert [row["id"] for row in exchange.list_requests(pool.engine, TODAY)] == [copy]


def test_unknown_partner_cluster_and_past_dates_are_refused(pool: Pool) -> None:
    """Each bad input is named, with what would fix it, and nothing is stored."""
    with pytest.raises(ConfigError, match="no partner with code 'XYZ' in partners.toml"):
        pool.new("XYZ", 1)
    with pytest.raises(StepRefused, match="no cluster 99 in the catalogue"):
        pool.new("REQ", 99)
    with pytest.raises(StepRefused, match="needed-by date 2025-03-01 is already past"):
        pool.new("REQ", 1, needed_by=date(2025, 3, 1))

    assert exchange.list_requests(pool.engine, TODAY) == []


def test_lenders_who_lent_more_are_asked_later(pool: Pool) -> None:
    """After AAA supplies a loan, BBB comes first: balance ranks before code."""
    first = pool.new("REQ", 1)
    pool.step(first, Step.WILL_SUPPLY, "AAA")
    pool.step(first, Step.SHIP, "AAA")

    second = exchange.new_request(pool.engine, pool.config, NewRequest("EEE", 1), TODAY)

    assert second.rota == ("BBB", "AAA")


def test_borrowers_are_asked_first(pool: Pool) -> None:
    """A lender that has borrowed from the pool comes before one that has not."""
    borrowed = pool.new("BBB", 3)
    pool.step(borrowed, Step.WILL_SUPPLY, "AAA")
    pool.step(borrowed, Step.SHIP, "AAA")

    later = exchange.new_request(pool.engine, pool.config, NewRequest("EEE", 2, COPY), TODAY)

    assert later.rota == ("BBB", "AAA")


# ---------------------------------------------------------------- steps


def test_a_loan_runs_from_request_to_checkin(pool: Pool) -> None:
    """Every step of a loan lands where ISO 18626 says, with one event each."""
    request_id = pool.new("REQ", 1, patron_reference="anggota-0815")
    plan = [
        (Step.EXPECT, "AAA", S.EXPECT_TO_SUPPLY),
        (Step.WILL_SUPPLY, "AAA", S.WILL_SUPPLY),
        (Step.SHIP, "AAA", S.LOANED),
        (Step.RECEIVE, "REQ", S.RECEIVED),
        (Step.RETURN, "REQ", S.SHIPPED_RETURN),
        (Step.CHECKIN, "AAA", S.LOAN_COMPLETED),
    ]
    for step, actor, expected in plan:
        assert pool.step(request_id, step, actor).state == expected

    shown = pool.show(request_id)
    assert shown["closed"] is not None and shown["due"] == "2025-03-17"
    assert [event.step for event in events_of(pool, request_id)] == [
        "new",
        "next-lender",
        *(str(step) for step, _, _ in plan),
    ]


def test_unfilled_moves_to_the_next_lender_then_ends_the_rota(pool: Pool) -> None:
    """AAA says no, BBB is asked; BBB says no and the request ends in EndOfRota."""
    request_id = pool.new("REQ", 1)
    reason = StepInput(reason_unfilled=iso.ReasonUnfilled.NOT_ON_SHELF)

    moved = pool.step(request_id, Step.UNFILLED, "AAA", reason)
    ended = pool.step(request_id, Step.UNFILLED, "BBB", reason)

    assert (moved.state, moved.lender) == ("RequestReceived", "BBB")
    assert [s.step for s in moved.steps] == ["unfilled", "next-lender"]
    assert (ended.state, ended.lender) == ("EndOfRota", None)
    rota = pool.show(request_id)["rota"]
    assert [(e["partner"], e["status"], e["reason"]) for e in rota] == [
        ("AAA", "Unfilled", "NotOnShelf"),
        ("BBB", "Unfilled", "NotOnShelf"),
    ]


def test_a_declined_retry_moves_on_and_an_accepted_one_asks_again(pool: Pool) -> None:
    """RetryPossible: retry-request asks the same lender again, decline-retry the next."""
    request_id = pool.new("REQ", 1)
    later = StepInput(reason_retry=iso.ReasonRetry.ON_LOAN)

    pool.step(request_id, Step.RETRY, "AAA", later)
    again = pool.step(request_id, Step.RETRY_REQUEST, "REQ")
    pool.step(request_id, Step.RETRY, "AAA", later)
    declined = pool.step(request_id, Step.DECLINE_RETRY, "REQ")

    assert (again.state, again.lender) == ("RequestReceived", "AAA")
    assert (declined.state, declined.lender) == ("RequestReceived", "BBB")


def test_a_condition_is_accepted_and_shipped_with_the_loan(pool: Pool, schemas: Path) -> None:
    """The lender's condition waits for the requester, then travels in the shipping message."""
    request_id = pool.new("REQ", 1)
    condition = StepInput(loan_condition=iso.LoanCondition.LIBRARY_USE_ONLY)

    assert pool.step(request_id, Step.CONDITION, "AAA", condition).state == "ConditionPending"
    with pytest.raises(StepRefused, match="ship is refused from ConditionPending"):
        pool.step(request_id, Step.SHIP, "AAA")
    pool.step(request_id, Step.ACCEPT_CONDITION, "REQ")
    pool.step(request_id, Step.SHIP, "AAA")

    shipped = events_of(pool, request_id)[-1]
    assert shipped.message is not None
    assert iso.parse_message(shipped.message.encode()).loan_condition == "LibraryUseOnly"


def test_a_copy_request_takes_the_short_road_and_refuses_loan_steps(pool: Pool) -> None:
    """A copy ends in CopyCompleted; shipping it as a loan is refused."""
    request_id = pool.new("REQ", 1, service=COPY)

    with pytest.raises(StepRefused, match="it is a loan step and this is a copy request"):
        pool.step(request_id, Step.SHIP, "AAA")
    done = pool.step(request_id, Step.COPY_DONE, "AAA")

    assert done.state == "CopyCompleted"


def test_the_wrong_institution_is_refused_naming_who_may(pool: Pool) -> None:
    """A requester shipping, or a third partner noting, is refused and nothing changes."""
    request_id = pool.new("REQ", 1)
    pool.step(request_id, Step.WILL_SUPPLY, "AAA")
    before = snapshot(pool)

    with pytest.raises(StepRefused) as by_requester:
        pool.step(request_id, Step.SHIP, "REQ")
    with pytest.raises(StepRefused) as by_stranger:
        pool.step(request_id, Step.NOTE, "BBB", StepInput(note="halo"))

    assert str(by_requester.value) == (
        f"request {request_id}: only the lender may ship; REQ is the requester "
        "(request is WillSupply); the lender is AAA"
    )
    assert "BBB is neither the requester nor the lender" in str(by_stranger.value)
    assert "the lender is AAA and the requester is REQ" in str(by_stranger.value)
    assert snapshot(pool) == before


def test_cancel_after_shipping_is_refused_and_nothing_follows_the_end(pool: Pool) -> None:
    """Cancel is refused once Loaned; after checkin every step is refused as closed."""
    request_id = pool.new("REQ", 1)
    pool.step(request_id, Step.WILL_SUPPLY, "AAA")
    pool.step(request_id, Step.SHIP, "AAA")

    with pytest.raises(StepRefused, match="the item has shipped, so it can no longer be cancelled"):
        pool.step(request_id, Step.CANCEL, "REQ")
    pool.step(request_id, Step.LOST, "AAA")
    with pytest.raises(StepRefused, match=r"the request is closed \(CompletedWithoutReturn\)"):
        pool.step(request_id, Step.NOTE, "REQ", StepInput(note="maaf"))


def test_ship_defaults_to_the_lenders_loan_days_and_refuses_a_past_due_date(pool: Pool) -> None:
    """Without --due a loan from BBB is due in 21 days; a due date before today is refused."""
    request_id = pool.new("REQ", 1)
    pool.step(request_id, Step.UNFILLED, "AAA")
    pool.step(request_id, Step.WILL_SUPPLY, "BBB")

    with pytest.raises(StepRefused, match="due date 2025-03-02 is already past"):
        pool.step(request_id, Step.SHIP, "BBB", StepInput(due=date(2025, 3, 2)))
    shipped = pool.step(request_id, Step.SHIP, "BBB")

    assert shipped.due == TODAY + timedelta(days=21)


def test_a_renewal_extends_the_loan_or_leaves_it(pool: Pool) -> None:
    """Yes without a date adds the lender's loan_days; no keeps the due date."""
    request_id = pool.new("REQ", 1)
    pool.step(request_id, Step.WILL_SUPPLY, "AAA")
    pool.step(request_id, Step.SHIP, "AAA", StepInput(due=date(2025, 3, 20)))
    pool.step(request_id, Step.RECEIVE, "REQ")

    pool.step(request_id, Step.RENEW, "REQ")
    granted = pool.step(request_id, Step.RENEW_YES, "AAA")
    pool.step(request_id, Step.RENEW, "REQ")
    with pytest.raises(StepRefused, match="--due 2025-05-01 goes with renew-answer --yes only"):
        pool.step(request_id, Step.RENEW_NO, "AAA", StepInput(due=date(2025, 5, 1)))
    refused = pool.step(request_id, Step.RENEW_NO, "AAA")

    assert (granted.state, granted.due) == ("Received", date(2025, 4, 3))
    assert (refused.state, refused.due) == ("Received", date(2025, 4, 3))


def test_renew_unless_on_loan_is_refused(pool: Pool) -> None:
    """Renewing before the loan has been received is refused."""
    request_id = pool.new("REQ", 1)

    with pytest.raises(StepRefused, match="renew is refused from RequestReceived"):
        pool.step(request_id, Step.RENEW, "REQ")


# ---------------------------------------------------------------- overdue


def test_mark_overdue_marks_loans_past_due_once(pool: Pool) -> None:
    """Loaned and Received loans past due move to Overdue, by the pool, one event each."""
    past, fresh = pool.new("REQ", 1), pool.new("EEE", 1)
    for request_id, due in ((past, date(2025, 3, 10)), (fresh, date(2025, 4, 10))):
        pool.step(request_id, Step.WILL_SUPPLY, "AAA")
        pool.step(request_id, Step.SHIP, "AAA", StepInput(due=due))

    marked = exchange.mark_overdue(pool.engine, date(2025, 3, 11))
    again = exchange.mark_overdue(pool.engine, date(2025, 3, 11))

    assert [(loan.request_id, loan.state, loan.days_overdue) for loan in marked] == [
        (past, "Overdue", 1)
    ]
    assert again == []
    last = events_of(pool, past)[-1]
    assert (last.actor, last.role, last.step, last.via) == ("pool", "pool", "overdue", "overdue")
    listed = exchange.list_requests(pool.engine, date(2025, 3, 11), overdue=True)
    assert [row["id"] for row in listed] == [past]


# ---------------------------------------------------------------- messages


def test_every_message_written_validates(pool: Pool, schemas: Path) -> None:
    """The messages of a loan with a condition, a renewal and a recall all pass the schema."""
    request_id = pool.new("REQ", 1, patron_reference="anggota-1", needed_by=date(2025, 3, 20))
    condition = StepInput(loan_condition=iso.LoanCondition.NO_REPRODUCTION, note="hati-hati")
    for step, actor, extra in [
        (Step.UNFILLED, "AAA", StepInput(reason_unfilled=iso.ReasonUnfilled.NOT_HELD)),
        (Step.CONDITION, "BBB", condition),
        (Step.ACCEPT_CONDITION, "REQ", None),
        (Step.SHIP, "BBB", None),
        (Step.RECEIVE, "REQ", None),
        (Step.RENEW, "REQ", None),
        (Step.RENEW_YES, "BBB", None),
        (Step.RECALL, "BBB", None),
        (Step.RETURN, "REQ", None),
        (Step.CHECKIN, "BBB", None),
    ]:
        pool.step(request_id, step, actor, extra)

    messages = exchange.request_messages(pool.engine, request_id)

    assert len(messages) == len(events_of(pool, request_id)) - 1  # "new" sends nothing
    for name, xml in messages:
        assert iso.validate(xml, schemas / "ISO-18626-v1_2.xsd") == [], name
    first = iso.parse_message(messages[0][1])
    assert (first.cluster_id, first.patron_reference) == ("1", "anggota-1")
    assert first.requesting_agency == iso.AgencyId("TEST", "REQ")
    assert iso.parse_message(messages[1][1]).supplying_agency == iso.AgencyId("ISIL", "ID-TblKT")


# ---------------------------------------------------------------- importing messages


def lender_message(pool: Pool, request_id: int, step: Step, state: S, **details: Any) -> bytes:
    """The message a lender on another system would send for `step`, as the pool reads them."""
    shown = pool.show(request_id)
    transition = iso.apply(state, step, iso.Role.LENDER, LOAN)
    lender = exchange.agency_of(pool.config.partner(str(shown["lender"])), "TEST")
    header = iso.Header(
        lender, iso.AgencyId("TEST", "REQ"), datetime.now(UTC), str(shown["reference"])
    )
    message = iso.step_message(transition, header, iso.StepDetails(**details))
    return iso.to_xml(message)


def test_an_imported_message_takes_the_same_path_as_a_command(pool: Pool) -> None:
    """AAA's WillSupply then Loaned messages move the request and are confirmed OK."""
    request_id = pool.new("REQ", 1)
    due = datetime(2025, 4, 1, tzinfo=UTC)

    for step, state in ((Step.WILL_SUPPLY, S.REQUEST_RECEIVED), (Step.SHIP, S.WILL_SUPPLY)):
        raw = lender_message(pool, request_id, step, state, due_date=due)
        result = exchange.import_message(pool.engine, pool.config, raw, "AAA", "in.xml", TODAY)
        assert result.error is None and result.confirmation is not None
        assert iso.parse_message(result.confirmation).message_status is iso.MessageStatus.OK

    shown = pool.show(request_id)
    assert (shown["status"], shown["due"]) == ("Loaned", "2025-04-01")
    assert {event["via"] for event in shown["events"][-2:]} == {"message"}


def test_an_imported_step_the_model_forbids_is_answered_with_an_error(pool: Pool) -> None:
    """A Loaned message on a fresh request changes nothing and is confirmed as ERROR."""
    request_id = pool.new("REQ", 1)
    raw = lender_message(pool, request_id, Step.SHIP, S.WILL_SUPPLY)
    before = snapshot(pool)

    result = exchange.import_message(pool.engine, pool.config, raw, "AAA", "in.xml", TODAY)

    assert result.error is not None and "ship is refused from RequestReceived" in result.error
    assert result.confirmation is not None
    confirmation = iso.parse_message(result.confirmation)
    assert confirmation.message_status is iso.MessageStatus.ERROR
    assert confirmation.error_type == "UnrecognisedDataValue"
    assert snapshot(pool) == before


def test_an_import_as_the_wrong_partner_is_refused(pool: Pool) -> None:
    """AAA's message imported --as BBB names both agencies and changes nothing."""
    request_id = pool.new("REQ", 1)
    raw = lender_message(pool, request_id, Step.WILL_SUPPLY, S.REQUEST_RECEIVED)

    result = exchange.import_message(pool.engine, pool.config, raw, "BBB", "in.xml", TODAY)

    assert result.error == (
        "in.xml: the supplyingAgencyMessage comes from ISIL:ID-TblKT, but --as BBB is "
        "TEST:BBB; import it --as the partner that sent it, or set that partner's "
        "agency_id in partners.toml"
    )


def test_a_request_message_from_another_system_makes_a_request(pool: Pool) -> None:
    """A New request naming an ISBN becomes a request by the sender for that cluster."""
    header = iso.Header(
        iso.AgencyId("ISIL", "ID-TblKT"),
        iso.AgencyId("TEST", "EEE"),
        datetime.now(UTC),
        "EEE-local-1",
    )
    message = iso.RequestMessage(
        header,
        iso.BibliographicInfo(title="Bumi Manusia", isbn="979-9731-23-2"),
        iso.ServiceInfo(COPY),
        patron_reference="p-77",
    )

    result = exchange.import_message(
        pool.engine, pool.config, iso.to_xml(message), "EEE", "req.xml", TODAY
    )

    assert result.error is None and result.outcome is not None
    shown = pool.show(result.outcome.request_id)
    assert (shown["cluster"], shown["service"], shown["requester"]) == (3, "copy", "EEE")
    assert shown["patron_ref"] == "p-77"


def test_reshare_messages_are_answered_not_crashed_on(pool: Pool, corpora: Path) -> None:
    """Each ReShare sample is refused or answered with a confirmation; nothing changes."""
    pool.new("REQ", 1)
    before = snapshot(pool)

    for path in sorted((corpora / "github-mod-rs-iso18626").glob("*.xml")):
        try:
            result = exchange.import_message(
                pool.engine, pool.config, path.read_bytes(), "AAA", path.name, TODAY
            )
        except StepRefused as refusal:
            assert path.name in str(refusal)
            continue
        assert result.outcome is None
        assert result.error is None or path.name in result.error

    assert snapshot(pool) == before


# ---------------------------------------------------------------- privacy and statistics


def test_purge_removes_patron_references_from_closed_requests_only(pool: Pool) -> None:
    """Closed requests lose the reference, in the row and in the request message; stats stay."""
    closed = pool.new("REQ", 1, patron_reference="anggota-1")
    still_open = pool.new("EEE", 1, patron_reference="anggota-2")
    pool.step(closed, Step.CANCEL, "REQ")
    stats = exchange.partner_stats(pool.engine)

    purged = exchange.purge_patrons(pool.engine, date.today() + timedelta(days=1))

    assert purged == 1
    assert pool.show(closed)["patron_ref"] is None
    assert pool.show(still_open)["patron_ref"] == "anggota-2"
    request_xml = exchange.request_messages(pool.engine, closed)[0][1]
    assert b"anggota-1" not in request_xml and b"patronInfo" not in request_xml
    assert exchange.partner_stats(pool.engine) == stats


def test_stats_count_lending_borrowing_and_fill_rate(pool: Pool) -> None:
    """AAA is asked twice and supplies once; REQ borrowed once; BBB's fill rate is 0."""
    supplied = pool.new("REQ", 1)
    pool.step(supplied, Step.WILL_SUPPLY, "AAA")
    pool.step(supplied, Step.SHIP, "AAA")
    refused = pool.new("EEE", 1)
    pool.step(refused, Step.UNFILLED, "BBB")  # BBB comes first: AAA has lent
    pool.step(refused, Step.UNFILLED, "AAA")

    rows = {row["partner"]: row for row in exchange.partner_stats(pool.engine)}

    assert rows["AAA"] | {"median_turnaround_days": None} == {
        "partner": "AAA",
        "requested": 0,
        "borrowed": 0,
        "asked": 2,
        "lent": 1,
        "unfilled": 1,
        "fill_rate": 0.5,
        "median_turnaround_days": None,
    }
    assert rows["AAA"]["median_turnaround_days"] is not None
    assert (rows["REQ"]["requested"], rows["REQ"]["borrowed"]) == (1, 1)
    assert (rows["BBB"]["asked"], rows["BBB"]["fill_rate"]) == (1, 0.0)


# ---------------------------------------------------------------- two staff at once


def test_two_staff_moving_one_request_at_once_one_wins(fresh_pool: Pool) -> None:
    """Cancel and ship at the same moment: exactly one succeeds, the other is refused."""
    request_id = fresh_pool.new("REQ", 1)
    fresh_pool.step(request_id, Step.WILL_SUPPLY, "AAA")
    start = threading.Barrier(2)
    results: dict[str, str] = {}

    def act(step: Step, actor: str) -> None:
        start.wait()
        try:
            results[actor] = fresh_pool.step(request_id, step, actor).state
        except StepRefused as refusal:
            results[actor] = f"refused: {refusal}"

    threads = [
        threading.Thread(target=act, args=(Step.CANCEL, "REQ")),
        threading.Thread(target=act, args=(Step.SHIP, "AAA")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    outcomes = sorted(results.values())
    winners = [text for text in outcomes if not text.startswith("refused")]
    assert len(winners) == 1, outcomes
    assert "its last step was" in next(text for text in outcomes if text.startswith("refused"))
    events = events_of(fresh_pool, request_id)
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert events[-1].state_after == winners[0] == fresh_pool.show(request_id)["status"]


# ---------------------------------------------------------------- random walks


ACTORS = ["REQ", "EEE", "AAA", "BBB", "CCC", "DDD"]
HUMAN_STEPS = [step for step in Step if step not in (Step.NEXT_LENDER, Step.END_OF_ROTA)]
LOAN_ONLY = {
    S.CONDITION_PENDING,
    S.LOANED,
    S.RECEIVED,
    S.RENEW_PENDING,
    S.OVERDUE,
    S.RECALLED,
    S.SHIPPED_RETURN,
    S.LOAN_COMPLETED,
    S.COMPLETED_WITHOUT_RETURN,
}


@dataclass(frozen=True)
class Seen:
    """A request as stored, with the number of events it has."""

    state: str
    version: int
    lender: str | None
    events: int


def seen(pool: Pool) -> dict[int, Seen]:
    """Every request with its event count, read in one transaction."""
    with session_scope(pool.engine, read_only=True) as session:
        counts = dict(
            session.execute(
                select(RequestEvent.request_id, func.count()).group_by(col(RequestEvent.request_id))
            ).all()
        )
        return {
            r.id or 0: Seen(r.state, r.version, r.lender, counts.get(r.id, 0))
            for r in session.exec(select(ExchangeRequest))
        }


def details_for(step: Step) -> StepInput:
    """The codes a step needs, so that refusals come from the model, not missing options."""
    return StepInput(
        note="catatan" if step is Step.NOTE else None,
        reason_unfilled=iso.ReasonUnfilled.NOT_ON_SHELF if step is Step.UNFILLED else None,
        reason_retry=iso.ReasonRetry.ON_LOAN if step is Step.RETRY else None,
        loan_condition=iso.LoanCondition.LIBRARY_USE_ONLY if step is Step.CONDITION else None,
    )


def check_history(pool: Pool, request_id: int) -> None:
    """The request's events replay through iso18626 to its state, one event per change."""
    shown = pool.show(request_id)
    events = events_of(pool, request_id)
    service = COPY if shown["service"] == "copy" else LOAN

    assert (events[0].step, events[0].state_before, events[0].state_after) == ("new", "", "New")
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.state_before == earlier.state_after
        replayed = iso.apply(S(later.state_before), Step(later.step), iso.Role(later.role), service)
        assert replayed.after == later.state_after
    state = S(events[-1].state_after)
    assert shown["status"] == state
    assert (shown["closed"] is not None) == (state in iso.FINAL_STATES)
    if service is COPY:
        assert state not in LOAN_ONLY


def check_move(before: dict[int, Seen], after: dict[int, Seen], refused: bool) -> None:
    """A refusal changes nothing; a change adds exactly one event per step it took."""
    if refused:
        assert after == before
        return
    for request_id, now in after.items():
        was = before.get(request_id, Seen("", 0, None, 0))
        assert now.events - was.events == now.version - was.version
        assert now.version == now.events


def pick_move(
    data: st.DataObject, now: Seen, requester: str, service: iso.ServiceType
) -> tuple[Step, str]:
    """Mostly a step that keeps the request open, sometimes one that closes it, else anything.

    Steps the parties may take now make walks long enough to reach loans, renewals
    and returns; the rest make sure every kind of refusal is tried too.
    """
    parties = {requester: iso.Role.REQUESTER}
    if now.lender:
        parties[now.lender] = iso.Role.LENDER
    allowed = [
        (step, actor)
        for actor, role in parties.items()
        for step in iso.allowed_steps(S(now.state), role, service)
    ]
    closing = [
        (step, actor)
        for step, actor in allowed
        if iso.apply(S(now.state), step, parties[actor], service).after in iso.FINAL_STATES
    ]
    onward = [move for move in allowed if move not in closing]

    pick = data.draw(st.integers(min_value=0, max_value=9))
    if onward and pick < 7:
        return data.draw(st.sampled_from(onward))
    if closing and pick < 8:
        return data.draw(st.sampled_from(closing))
    return data.draw(st.sampled_from(HUMAN_STEPS)), data.draw(st.sampled_from(ACTORS))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_commands_never_break_the_model(fresh_pool: Pool, data: st.DataObject) -> None:
    """Random steps by random partners: refusals change nothing, changes replay as ISO 18626."""
    pool = fresh_pool
    made: list[int] = []
    requester, service = "REQ", LOAN

    for _ in range(45):
        before = seen(pool)
        if not made or S(before[made[-1]].state) in iso.FINAL_STATES:
            requester = data.draw(st.sampled_from(["REQ", "EEE"]))
            service = data.draw(st.sampled_from([LOAN, COPY]))
            cluster = data.draw(st.sampled_from([1, 2]))
            made.append(pool.new(requester, cluster, service=service, force=True))
            continue

        step, actor = pick_move(data, before[made[-1]], requester, service)
        refused = False
        try:
            if data.draw(st.integers(min_value=0, max_value=19)) == 0:
                exchange.mark_overdue(pool.engine, TODAY + timedelta(days=60))
            else:
                pool.step(made[-1], step, actor, details_for(step))
        except StepRefused:
            refused = True
        check_move(before, seen(pool), refused)

    for request_id in made:
        check_history(pool, request_id)
