"""`pool request`: interlibrary exchange requests, one command per ISO 18626 step.

Each step acts as one institution (`--as CODE`); the service in `exchange`
decides whether that institution may take it. A refused step exits 2 and
changes nothing.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from harvesters.errors import StepRefused
from resource_pool import exchange
from resource_pool import iso18626 as iso
from resource_pool.cli import _table, emit, out, state
from resource_pool.exchange import Outcome, StepInput

request_app = typer.Typer(
    no_args_is_help=True,
    help="""Interlibrary exchange requests between partners (ISO 18626 loans and copies).

Example: pool request new --as SMA1 --item 42 --service loan
""",
)

Step = iso.Step


class ServiceWord(StrEnum):
    """What a requester may ask for."""

    LOAN = "loan"
    COPY = "copy"


_SERVICES = {ServiceWord.LOAN: iso.ServiceType.LOAN, ServiceWord.COPY: iso.ServiceType.COPY}

RequestId = Annotated[
    int, typer.Argument(metavar="ID", help="The request's id, as `pool request list` shows it.")
]
Actor = Annotated[
    str, typer.Option("--as", metavar="CODE", help="The institution acting, by partner code.")
]
Note = Annotated[
    str | None, typer.Option("--note", help="A note for the other party, kept in the history.")
]


# ---------------------------------------------------------------- parsing


def _code(actor: str) -> str:
    return actor.strip().upper()


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StepRefused(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def _today(text: str | None = None) -> date:
    return _date(text, "--today") or date.today()


# ---------------------------------------------------------------- printing


def _step_text(outcome: Outcome) -> str:
    parts = []
    for taken in outcome.steps:
        if taken.step == "new":
            continue
        if taken.step == Step.NEXT_LENDER:
            parts.append(f"asked {outcome.lender} ({taken.state_after})")
        elif taken.step == Step.END_OF_ROTA:
            parts.append("EndOfRota (no lender left)")
        elif taken.step == Step.UNFILLED:
            parts.append(f"Unfilled at {taken.actor}")
        else:
            parts.append(taken.state_after)
    if outcome.due and outcome.steps[-1].step in (Step.SHIP, Step.RENEW_YES):
        parts[-1] += f", due {outcome.due}"
    return f"request {outcome.request_id}: " + "; ".join(parts)


def _print_outcome(outcome: Outcome, extra: dict[str, Any] | None = None) -> None:
    if state.json:
        shown = exchange.show_request(state.engine, outcome.request_id)
        steps = [taken.__dict__ for taken in outcome.steps]
        emit(shown | {"steps": steps} | (extra or {}))
        return
    out.print(_step_text(outcome), markup=False, highlight=False)


def _run(request_id: int, step: Step, actor: str, given: StepInput | None = None) -> None:
    outcome = exchange.take_step(
        state.engine, state.config, request_id, step, _code(actor), given, _today()
    )
    _print_outcome(outcome)


# ---------------------------------------------------------------- new


@request_app.command("new")
def request_new(
    actor: Actor,
    item: Annotated[
        int, typer.Option("--item", metavar="CLUSTER", help="The union id of the item wanted.")
    ],
    service: Annotated[
        ServiceWord, typer.Option("--service", help="A loan, or a copy (scan or photocopy).")
    ] = ServiceWord.LOAN,
    patron_ref: Annotated[
        str | None,
        typer.Option("--patron-ref", help="Your own reference for the patron; never a name."),
    ] = None,
    needed_by: Annotated[
        str | None, typer.Option("--needed-by", metavar="DATE", help="Needed before YYYY-MM-DD.")
    ] = None,
    note: Note = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Ask even though you hold the item or already have a request open."
        ),
    ] = False,
) -> None:
    """Ask the partners for an item: the pool builds the rota and asks the first lender.

    Example: pool request new --as SMA1 --item 42 --service loan --patron-ref anggota-0815
    """
    ask = exchange.NewRequest(
        requester=_code(actor),
        cluster_id=item,
        service=_SERVICES[service],
        patron_reference=patron_ref,
        needed_by=_date(needed_by, "--needed-by"),
        note=note,
        force=force,
    )
    outcome = exchange.new_request(state.engine, state.config, ask, _today())
    left_out = [entry.__dict__ for entry in outcome.left_out]
    if state.json:
        _print_outcome(outcome, {"left_out": left_out})
        return
    rota = ", ".join(outcome.rota)
    head = f"request {outcome.request_id}: {outcome.service} of cluster {item} for "
    line = f"{head}{outcome.requester}; rota {rota}; asked {outcome.lender} ({outcome.state})"
    out.print(line, markup=False, highlight=False)
    for entry in outcome.left_out:
        out.print(f"  left out {entry.partner}: {entry.why}", markup=False, highlight=False)


# ---------------------------------------------------------------- steps without options


def _plain_step(name: str, step: Step, summary: str, example: str) -> None:
    """Register a step that takes only the request, --as and --note."""

    def command(request_id: RequestId, actor: Actor, note: Note = None) -> None:
        _run(request_id, step, actor, StepInput(note=note))

    command.__doc__ = f"{summary}\n\nExample: {example}"
    command.__name__ = f"request_{name.replace('-', '_')}"
    request_app.command(name)(command)


_PLAIN_STEPS: list[tuple[str, Step, str, str]] = [
    (
        "expect",
        Step.EXPECT,
        "Lender: expect to supply (ExpectToSupply).",
        "pool request expect 7 --as TBL",
    ),
    (
        "will-supply",
        Step.WILL_SUPPLY,
        "Lender: will supply the item (WillSupply).",
        "pool request will-supply 7 --as TBL",
    ),
    (
        "copy-done",
        Step.COPY_DONE,
        "Lender: the copy is delivered (CopyCompleted); copy requests only.",
        "pool request copy-done 9 --as UNA",
    ),
    (
        "checkin",
        Step.CHECKIN,
        "Lender: the loan came back (LoanCompleted).",
        "pool request checkin 7 --as TBL",
    ),
    (
        "recall",
        Step.RECALL,
        "Lender: ask for the loan back before its due date (Recalled).",
        "pool request recall 7 --as TBL --note 'Dibutuhkan untuk pameran'",
    ),
    (
        "lost",
        Step.LOST,
        "Lender: the loan will not come back (CompletedWithoutReturn).",
        "pool request lost 7 --as TBL --note 'Hilang dalam pengiriman'",
    ),
    (
        "accept-condition",
        Step.ACCEPT_CONDITION,
        "Requester: accept the lender's loan condition (back to WillSupply).",
        "pool request accept-condition 7 --as SMA1",
    ),
    (
        "receive",
        Step.RECEIVE,
        "Requester: the loan has arrived (Received).",
        "pool request receive 7 --as SMA1",
    ),
    (
        "return",
        Step.RETURN,
        "Requester: the loan is on its way back (ShippedReturn).",
        "pool request return 7 --as SMA1",
    ),
    (
        "renew",
        Step.RENEW,
        "Requester: ask for more time on a loan you hold (RenewPending).",
        "pool request renew 7 --as SMA1 --note 'Tugas akhir belum selesai'",
    ),
    (
        "cancel",
        Step.CANCEL,
        "Requester: withdraw the request; only before the item ships (Cancelled).",
        "pool request cancel 7 --as SMA1",
    ),
    (
        "retry-request",
        Step.RETRY_REQUEST,
        "Requester: ask the same lender again after RetryPossible.",
        "pool request retry-request 7 --as SMA1",
    ),
    (
        "decline-retry",
        Step.DECLINE_RETRY,
        "Requester: do not wait for this lender after RetryPossible; the rota moves on.",
        "pool request decline-retry 7 --as SMA1",
    ),
]

for _name, _step, _summary, _example in _PLAIN_STEPS:
    _plain_step(_name, _step, _summary, _example)


# ---------------------------------------------------------------- steps with options


@request_app.command("unfilled")
def request_unfilled(
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[
        str, typer.Option("--reason", help="Why not: an ISO 18626 reasonUnfilled code.")
    ],
    note: Note = None,
) -> None:
    """Lender: cannot supply (Unfilled); the pool asks the next lender in the rota.

    Codes: NonCirculating, NotAvailableForILL, NotHeld, NotOnShelf, PolicyProblem,
    PoorCondition.

    Example: pool request unfilled 8 --as TBL --reason NotOnShelf
    """
    code = iso.code(iso.ReasonUnfilled, reason, "--reason")
    _run(request_id, Step.UNFILLED, actor, StepInput(note=note, reason_unfilled=code))


@request_app.command("retry")
def request_retry(
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[
        str, typer.Option("--reason", help="Why later: an ISO 18626 reasonRetry code.")
    ],
    note: Note = None,
) -> None:
    """Lender: could supply later or differently (RetryPossible); the requester decides.

    Codes: AtBindery, CostExceedsMaxCost, MultiVolAvail, NotCurrentAvailableForILL,
    NotFoundAsCited, OnLoan, OnOrder, ReqDelDateNotPossible, ReqEditionNotPossible,
    ReqFormatNotPossible.

    Example: pool request retry 7 --as TBL --reason OnLoan --note 'Kembali minggu depan'
    """
    code = iso.code(iso.ReasonRetry, reason, "--reason")
    _run(request_id, Step.RETRY, actor, StepInput(note=note, reason_retry=code))


@request_app.command("condition")
def request_condition(
    request_id: RequestId,
    actor: Actor,
    condition: Annotated[str, typer.Option("--code", help="An ISO 18626 loanCondition code.")],
    note: Note = None,
) -> None:
    """Lender: lend only under a condition (ConditionPending); the requester accepts or cancels.

    Codes: LibraryUseOnly, NoReproduction, SignatureRequired, SpecCollSupervReq,
    WatchLibraryUseOnly.

    Example: pool request condition 7 --as TBL --code LibraryUseOnly
    """
    code = iso.code(iso.LoanCondition, condition, "--code")
    _run(request_id, Step.CONDITION, actor, StepInput(note=note, loan_condition=code))


@request_app.command("ship")
def request_ship(
    request_id: RequestId,
    actor: Actor,
    due: Annotated[
        str | None,
        typer.Option(
            "--due", metavar="DATE", help="Due back on YYYY-MM-DD [default: today + loan_days]."
        ),
    ] = None,
    note: Note = None,
) -> None:
    """Lender: the loan is on its way (Loaned), due back on --due.

    Example: pool request ship 7 --as TBL --due 2025-04-01
    """
    _run(request_id, Step.SHIP, actor, StepInput(note=note, due=_date(due, "--due")))


@request_app.command("renew-answer")
def request_renew_answer(
    request_id: RequestId,
    actor: Actor,
    yes: Annotated[bool, typer.Option("--yes/--no", help="Grant the renewal, or refuse it.")],
    due: Annotated[
        str | None,
        typer.Option(
            "--due",
            metavar="DATE",
            help="With --yes: the new due date [default: loan_days more].",
        ),
    ] = None,
    note: Note = None,
) -> None:
    """Lender: answer a renewal; either way the loan goes back to Received.

    Example: pool request renew-answer 7 --as TBL --yes --due 2025-04-15
    """
    step = Step.RENEW_YES if yes else Step.RENEW_NO
    _run(request_id, step, actor, StepInput(note=note, due=_date(due, "--due")))


@request_app.command("note")
def request_note(
    request_id: RequestId,
    text: Annotated[str, typer.Argument(help="The note.")],
    actor: Actor,
) -> None:
    """Requester or lender: send a note; the request stays where it is.

    Example: pool request note 7 'Kurir datang hari Kamis' --as SMA1
    """
    if not text.strip():
        raise StepRefused("the note is empty; write what the other party should know")
    _run(request_id, Step.NOTE, actor, StepInput(note=text))


# ---------------------------------------------------------------- looking at requests


@request_app.command("list")
def request_list(
    actor: Annotated[
        str | None,
        typer.Option("--as", metavar="CODE", help="Only requests this partner made or lends."),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only requests in this state, e.g. Loaned.")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only loans past their due date.")
    ] = False,
) -> None:
    """List requests, newest first.

    Example: pool request list --as TBL --status RequestReceived
    """
    partner = state.config.partner(_code(actor)).code if actor else None
    wanted = iso.code(iso.RequestState, status, "--status") if status else None
    rows = exchange.list_requests(
        state.engine, _today(), partner=partner, state=wanted, overdue=overdue
    )
    columns = ["id", "status", "service", "requester", "lender", "due", "cluster", "title"]
    emit(rows, _table("Requests", rows, columns))


@request_app.command("show")
def request_show(request_id: RequestId) -> None:
    """Show one request: its parties, its rota and its history.

    Example: pool --json request show 7
    """
    shown = exchange.show_request(state.engine, request_id)
    if state.json:
        emit(shown)
        return
    head = (
        f"request {shown['id']} ({shown['reference']}): {shown['service']} of cluster "
        f"{shown['cluster']} {shown['title']!r} for {shown['requester']}; "
        f"status {shown['status']}, lender {shown['lender'] or '-'}, due {shown['due'] or '-'}"
    )
    out.print(head, markup=False, highlight=False)
    rota_columns = ["position", "partner", "status", "reason", "asked", "supplied"]
    emit(None, _table("Rota", _minutes(shown["rota"], "asked", "supplied"), rota_columns))
    event_columns = ["sequence", "time", "actor", "step", "before", "after", "note", "message"]
    emit(None, _table("History (UTC)", _minutes(shown["events"], "time"), event_columns))


def _minutes(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Times cut to the minute for a terminal table ("2026-12-03 17:51"); JSON keeps them whole."""
    return [
        row | {key: row[key][:16].replace("T", " ") for key in keys if row[key]} for row in rows
    ]


@request_app.command("overdue")
def request_overdue(
    mark: Annotated[
        bool, typer.Option("--mark", help="Move Loaned and Received loans past due to Overdue.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="DATE", help="Count as of YYYY-MM-DD [default: today]."),
    ] = None,
) -> None:
    """List loans past their due date; with --mark, mark them Overdue (the nightly job does).

    Example: pool request overdue --mark
    """
    as_of = _today(today)
    marked = (
        {loan.request_id for loan in exchange.mark_overdue(state.engine, as_of)} if mark else set()
    )
    rows = [
        loan.__dict__ | {"marked": loan.request_id in marked}
        for loan in exchange.overdue_loans(state.engine, as_of)
    ]
    columns = [
        "request_id",
        "state",
        "requester",
        "lender",
        "due",
        "days_overdue",
        "marked",
        "title",
    ]
    emit(rows, _table(f"Loans overdue on {as_of}", rows, columns))


@request_app.command("messages")
def request_messages(
    request_id: RequestId,
    folder: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write into.")],
) -> None:
    """Write each step of a request as its ISO 18626 message, one XML file per step.

    Example: pool request messages 7 --out messages/7
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, xml in exchange.request_messages(state.engine, request_id):
        path = folder / name
        path.write_bytes(xml)
        written.append(str(path))
    emit({"written": written})
    if not state.json:
        out.print(f"wrote {len(written)} messages to {folder}", markup=False, highlight=False)


@request_app.command("import")
def request_import(
    file: Annotated[Path, typer.Argument(help="An ISO 18626 message from a partner's system.")],
    actor: Actor,
    reply: Annotated[
        Path | None,
        typer.Option("--reply", metavar="FILE", help="Write the confirmation (OK or ERROR) here."),
    ] = None,
) -> None:
    """Apply a partner's ISO 18626 message, as that partner (--as), with the usual checks.

    Example: pool request import incoming/una-shipped.xml --as UNA --reply outgoing/confirm.xml
    """
    if not file.is_file():
        raise StepRefused(f"message file {str(file)!r} not found; give the path of an XML file")
    result = exchange.import_message(
        state.engine, state.config, file.read_bytes(), _code(actor), str(file), _today()
    )
    if reply is not None and result.confirmation is not None:
        reply.parent.mkdir(parents=True, exist_ok=True)
        reply.write_bytes(result.confirmation)
    if result.error is not None:
        raise StepRefused(result.error)
    _print_import(result, file)


def _print_import(result: exchange.ImportOutcome, file: Path) -> None:
    if result.outcome is not None:
        _print_outcome(result.outcome)
        return
    emit({"changed": False, "file": str(file)})
    if not state.json:
        out.print(f"{file}: news only, no request changed", markup=False, highlight=False)


@request_app.command("purge")
def request_purge(
    closed_before: Annotated[
        str, typer.Option("--closed-before", metavar="DATE", help="YYYY-MM-DD.")
    ],
) -> None:
    """Remove patron references from requests closed before a date; statistics stay.

    Example: pool request purge --closed-before 2025-01-01
    """
    cutoff = _date(closed_before, "--closed-before") or date.today()
    purged = exchange.purge_patrons(state.engine, cutoff)
    emit({"purged": purged, "closed_before": cutoff.isoformat()})
    if not state.json:
        text = f"removed the patron reference from {purged} requests closed before {cutoff}"
        out.print(text, markup=False, highlight=False)


@request_app.command("stats")
def request_stats() -> None:
    """Per partner: requests made and filled, times asked, loans and copies supplied.

    fill_rate is supplied / asked; the turnaround is the median days from being
    asked to shipping the loan or delivering the copy.

    Example: pool --json request stats
    """
    rows = exchange.partner_stats(state.engine)
    columns = [
        "partner",
        "requested",
        "borrowed",
        "asked",
        "lent",
        "unfilled",
        "fill_rate",
        "median_turnaround_days",
    ]
    emit(rows, _table("Exchange by partner", rows, columns))
