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
from resource_pool.i18n import _

request_app = typer.Typer(
    no_args_is_help=True,
    help=_(
        "Interlibrary exchange requests between partners (ISO 18626 loans and copies).\n\n"
        "Example: pool request new --as SMA1 --item 42 --service loan\n"
    ),
)

Step = iso.Step


class ServiceWord(StrEnum):
    """What a requester may ask for."""

    LOAN = "loan"
    COPY = "copy"


_SERVICES = {ServiceWord.LOAN: iso.ServiceType.LOAN, ServiceWord.COPY: iso.ServiceType.COPY}

RequestId = Annotated[
    int,
    typer.Argument(metavar="ID", help=_("The request's id, as `pool request list` shows it.")),
]
Actor = Annotated[
    str, typer.Option("--as", metavar="CODE", help=_("The institution acting, by partner code."))
]
Note = Annotated[
    str | None,
    typer.Option("--note", help=_("A note for the other party, kept in the history.")),
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
        raise StepRefused(
            _("{option} {value!r} is not a date; write it as YYYY-MM-DD").format(
                option=option, value=text
            )
        ) from None


def _today(text: str | None = None) -> date:
    return _date(text, "--today") or date.today()


# ---------------------------------------------------------------- printing


def _step_text(outcome: Outcome) -> str:
    parts = []
    for taken in outcome.steps:
        if taken.step == "new":
            continue
        if taken.step == Step.NEXT_LENDER:
            asked = _("asked {lender} ({state})")
            parts.append(asked.format(lender=outcome.lender, state=taken.state_after))
        elif taken.step == Step.END_OF_ROTA:
            parts.append(_("EndOfRota (no lender left)"))
        elif taken.step == Step.UNFILLED:
            parts.append(_("Unfilled at {partner}").format(partner=taken.actor))
        else:
            parts.append(taken.state_after)
    if outcome.due and outcome.steps[-1].step in (Step.SHIP, Step.RENEW_YES):
        parts[-1] += _(", due {date}").format(date=outcome.due)
    return _("request {id}: ").format(id=outcome.request_id) + "; ".join(parts)


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


@request_app.command(
    "new",
    help=_(
        "Ask the partners for an item: the pool builds the rota and asks the first lender.\n\n"
        "Example: pool request new --as SMA1 --item 42 --service loan --patron-ref anggota-0815"
    ),
)
def request_new(
    actor: Actor,
    item: Annotated[
        int,
        typer.Option("--item", metavar="CLUSTER", help=_("The union id of the item wanted.")),
    ],
    service: Annotated[
        ServiceWord,
        typer.Option("--service", help=_("A loan, or a copy (scan or photocopy).")),
    ] = ServiceWord.LOAN,
    patron_ref: Annotated[
        str | None,
        typer.Option("--patron-ref", help=_("Your own reference for the patron; never a name.")),
    ] = None,
    needed_by: Annotated[
        str | None,
        typer.Option("--needed-by", metavar="DATE", help=_("Needed before YYYY-MM-DD.")),
    ] = None,
    note: Note = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=_("Ask even though you hold the item or already have a request open."),
        ),
    ] = False,
) -> None:
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
    line = _(
        "request {id}: {service} of cluster {cluster} for {requester}; rota {rota}; "
        "asked {lender} ({state})"
    ).format(
        id=outcome.request_id,
        service=outcome.service,
        cluster=item,
        requester=outcome.requester,
        rota=rota,
        lender=outcome.lender,
        state=outcome.state,
    )
    out.print(line, markup=False, highlight=False)
    for entry in outcome.left_out:
        left_out_line = _("  left out {partner}: {why}").format(
            partner=entry.partner, why=entry.why
        )
        out.print(left_out_line, markup=False, highlight=False)


# ---------------------------------------------------------------- steps without options


def _plain_step(name: str, step: Step, summary: str, example: str) -> None:
    """Register a step that takes only the request, --as and --note."""

    def command(request_id: RequestId, actor: Actor, note: Note = None) -> None:
        _run(request_id, step, actor, StepInput(note=note))

    command.__name__ = f"request_{name.replace('-', '_')}"
    help_text = f"{summary}\n\n" + _("Example: {example}").format(example=example)
    request_app.command(name, help=help_text)(command)


_PLAIN_STEPS: list[tuple[str, Step, str, str]] = [
    (
        "expect",
        Step.EXPECT,
        _("Lender: expect to supply (ExpectToSupply)."),
        "pool request expect 7 --as TBL",
    ),
    (
        "will-supply",
        Step.WILL_SUPPLY,
        _("Lender: will supply the item (WillSupply)."),
        "pool request will-supply 7 --as TBL",
    ),
    (
        "copy-done",
        Step.COPY_DONE,
        _("Lender: the copy is delivered (CopyCompleted); copy requests only."),
        "pool request copy-done 9 --as UNA",
    ),
    (
        "checkin",
        Step.CHECKIN,
        _("Lender: the loan came back (LoanCompleted)."),
        "pool request checkin 7 --as TBL",
    ),
    (
        "recall",
        Step.RECALL,
        _("Lender: ask for the loan back before its due date (Recalled)."),
        "pool request recall 7 --as TBL --note 'Dibutuhkan untuk pameran'",
    ),
    (
        "lost",
        Step.LOST,
        _("Lender: the loan will not come back (CompletedWithoutReturn)."),
        "pool request lost 7 --as TBL --note 'Hilang dalam pengiriman'",
    ),
    (
        "accept-condition",
        Step.ACCEPT_CONDITION,
        _("Requester: accept the lender's loan condition (back to WillSupply)."),
        "pool request accept-condition 7 --as SMA1",
    ),
    (
        "receive",
        Step.RECEIVE,
        _("Requester: the loan has arrived (Received)."),
        "pool request receive 7 --as SMA1",
    ),
    (
        "return",
        Step.RETURN,
        _("Requester: the loan is on its way back (ShippedReturn)."),
        "pool request return 7 --as SMA1",
    ),
    (
        "renew",
        Step.RENEW,
        _("Requester: ask for more time on a loan you hold (RenewPending)."),
        "pool request renew 7 --as SMA1 --note 'Tugas akhir belum selesai'",
    ),
    (
        "cancel",
        Step.CANCEL,
        _("Requester: withdraw the request; only before the item ships (Cancelled)."),
        "pool request cancel 7 --as SMA1",
    ),
    (
        "retry-request",
        Step.RETRY_REQUEST,
        _("Requester: ask the same lender again after RetryPossible."),
        "pool request retry-request 7 --as SMA1",
    ),
    (
        "decline-retry",
        Step.DECLINE_RETRY,
        _("Requester: do not wait for this lender after RetryPossible; the rota moves on."),
        "pool request decline-retry 7 --as SMA1",
    ),
]

for _name, _step, _summary, _example in _PLAIN_STEPS:
    _plain_step(_name, _step, _summary, _example)


# ---------------------------------------------------------------- steps with options


@request_app.command(
    "unfilled",
    help=_(
        "Lender: cannot supply (Unfilled); the pool asks the next lender in the rota.\n\n"
        "Codes: NonCirculating, NotAvailableForILL, NotHeld, NotOnShelf, PolicyProblem,\n"
        "PoorCondition.\n\n"
        "Example: pool request unfilled 8 --as TBL --reason NotOnShelf"
    ),
)
def request_unfilled(
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why not: an ISO 18626 reasonUnfilled code."))
    ],
    note: Note = None,
) -> None:
    code = iso.code(iso.ReasonUnfilled, reason, "--reason")
    _run(request_id, Step.UNFILLED, actor, StepInput(note=note, reason_unfilled=code))


@request_app.command(
    "retry",
    help=_(
        "Lender: could supply later or differently (RetryPossible); the requester decides.\n\n"
        "Codes: AtBindery, CostExceedsMaxCost, MultiVolAvail, NotCurrentAvailableForILL,\n"
        "NotFoundAsCited, OnLoan, OnOrder, ReqDelDateNotPossible, ReqEditionNotPossible,\n"
        "ReqFormatNotPossible.\n\n"
        "Example: pool request retry 7 --as TBL --reason OnLoan --note 'Kembali minggu depan'"
    ),
)
def request_retry(
    request_id: RequestId,
    actor: Actor,
    reason: Annotated[
        str, typer.Option("--reason", help=_("Why later: an ISO 18626 reasonRetry code."))
    ],
    note: Note = None,
) -> None:
    code = iso.code(iso.ReasonRetry, reason, "--reason")
    _run(request_id, Step.RETRY, actor, StepInput(note=note, reason_retry=code))


@request_app.command(
    "condition",
    help=_(
        "Lender: lend only under a condition (ConditionPending); "
        "the requester accepts or cancels.\n\n"
        "Codes: LibraryUseOnly, NoReproduction, SignatureRequired, SpecCollSupervReq,\n"
        "WatchLibraryUseOnly.\n\n"
        "Example: pool request condition 7 --as TBL --code LibraryUseOnly"
    ),
)
def request_condition(
    request_id: RequestId,
    actor: Actor,
    condition: Annotated[str, typer.Option("--code", help=_("An ISO 18626 loanCondition code."))],
    note: Note = None,
) -> None:
    code = iso.code(iso.LoanCondition, condition, "--code")
    _run(request_id, Step.CONDITION, actor, StepInput(note=note, loan_condition=code))


@request_app.command(
    "ship",
    help=_(
        "Lender: the loan is on its way (Loaned), due back on --due.\n\n"
        "Example: pool request ship 7 --as TBL --due 2025-04-01"
    ),
)
def request_ship(
    request_id: RequestId,
    actor: Actor,
    due: Annotated[
        str | None,
        typer.Option(
            "--due", metavar="DATE", help=_("Due back on YYYY-MM-DD [default: today + loan_days].")
        ),
    ] = None,
    note: Note = None,
) -> None:
    _run(request_id, Step.SHIP, actor, StepInput(note=note, due=_date(due, "--due")))


@request_app.command(
    "renew-answer",
    help=_(
        "Lender: answer a renewal; either way the loan goes back to Received.\n\n"
        "Example: pool request renew-answer 7 --as TBL --yes --due 2025-04-15"
    ),
)
def request_renew_answer(
    request_id: RequestId,
    actor: Actor,
    yes: Annotated[bool, typer.Option("--yes/--no", help=_("Grant the renewal, or refuse it."))],
    due: Annotated[
        str | None,
        typer.Option(
            "--due",
            metavar="DATE",
            help=_("With --yes: the new due date [default: loan_days more]."),
        ),
    ] = None,
    note: Note = None,
) -> None:
    step = Step.RENEW_YES if yes else Step.RENEW_NO
    _run(request_id, step, actor, StepInput(note=note, due=_date(due, "--due")))


@request_app.command(
    "note",
    help=_(
        "Requester or lender: send a note; the request stays where it is.\n\n"
        "Example: pool request note 7 'Kurir datang hari Kamis' --as SMA1"
    ),
)
def request_note(
    request_id: RequestId,
    text: Annotated[str, typer.Argument(help=_("The note."))],
    actor: Actor,
) -> None:
    if not text.strip():
        raise StepRefused(_("the note is empty; write what the other party should know"))
    _run(request_id, Step.NOTE, actor, StepInput(note=text))


# ---------------------------------------------------------------- looking at requests


@request_app.command(
    "list",
    help=_(
        "List requests, newest first.\n\n"
        "Example: pool request list --as TBL --status RequestReceived"
    ),
)
def request_list(
    actor: Annotated[
        str | None,
        typer.Option("--as", metavar="CODE", help=_("Only requests this partner made or lends.")),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help=_("Only requests in this state, e.g. Loaned."))
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help=_("Only loans past their due date."))
    ] = False,
) -> None:
    partner = state.config.partner(_code(actor)).code if actor else None
    wanted = iso.code(iso.RequestState, status, "--status") if status else None
    rows = exchange.list_requests(
        state.engine, _today(), partner=partner, state=wanted, overdue=overdue
    )
    columns = ["id", "status", "service", "requester", "lender", "due", "cluster", "title"]
    emit(rows, _table(_("Requests"), rows, columns))


@request_app.command(
    "show",
    help=_(
        "Show one request: its parties, its rota and its history.\n\n"
        "Example: pool --json request show 7"
    ),
)
def request_show(request_id: RequestId) -> None:
    shown = exchange.show_request(state.engine, request_id)
    if state.json:
        emit(shown)
        return
    head = _(
        "request {id} ({reference}): {service} of cluster {cluster} {title!r} for "
        "{requester}; status {status}, lender {lender}, due {due}"
    ).format(
        id=shown["id"],
        reference=shown["reference"],
        service=shown["service"],
        cluster=shown["cluster"],
        title=shown["title"],
        requester=shown["requester"],
        status=shown["status"],
        lender=shown["lender"] or "-",
        due=shown["due"] or "-",
    )
    out.print(head, markup=False, highlight=False)
    rota_columns = ["position", "partner", "status", "reason", "asked", "supplied"]
    emit(None, _table(_("Rota"), _minutes(shown["rota"], "asked", "supplied"), rota_columns))
    event_columns = ["sequence", "time", "actor", "step", "before", "after", "note", "message"]
    emit(None, _table(_("History (UTC)"), _minutes(shown["events"], "time"), event_columns))


def _minutes(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """Times cut to the minute for a terminal table ("2026-12-03 17:51"); JSON keeps them whole."""
    return [
        row | {key: row[key][:16].replace("T", " ") for key in keys if row[key]} for row in rows
    ]


@request_app.command(
    "overdue",
    help=_(
        "List loans past their due date; with --mark, mark them Overdue (the nightly job does).\n\n"
        "Example: pool request overdue --mark"
    ),
)
def request_overdue(
    mark: Annotated[
        bool, typer.Option("--mark", help=_("Move Loaned and Received loans past due to Overdue."))
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="DATE", help=_("Count as of YYYY-MM-DD [default: today].")),
    ] = None,
) -> None:
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
    emit(rows, _table(_("Loans overdue on {date}").format(date=as_of), rows, columns))


@request_app.command(
    "messages",
    help=_(
        "Write each step of a request as its ISO 18626 message, one XML file per step.\n\n"
        "Example: pool request messages 7 --out messages/7"
    ),
)
def request_messages(
    request_id: RequestId,
    folder: Annotated[Path, typer.Option("--out", metavar="DIR", help=_("Folder to write into."))],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, xml in exchange.request_messages(state.engine, request_id):
        path = folder / name
        path.write_bytes(xml)
        written.append(str(path))
    emit({"written": written})
    if not state.json:
        text = _("wrote {count} messages to {folder}").format(count=len(written), folder=folder)
        out.print(text, markup=False, highlight=False)


@request_app.command(
    "import",
    help=_(
        "Apply a partner's ISO 18626 message, as that partner (--as), with the usual checks.\n\n"
        "Example: pool request import incoming/una-shipped.xml --as UNA "
        "--reply outgoing/confirm.xml"
    ),
)
def request_import(
    file: Annotated[Path, typer.Argument(help=_("An ISO 18626 message from a partner's system."))],
    actor: Actor,
    reply: Annotated[
        Path | None,
        typer.Option(
            "--reply", metavar="FILE", help=_("Write the confirmation (OK or ERROR) here.")
        ),
    ] = None,
) -> None:
    if not file.is_file():
        raise StepRefused(
            _("message file {path!r} not found; give the path of an XML file").format(
                path=str(file)
            )
        )
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
        text = _("{file}: news only, no request changed").format(file=file)
        out.print(text, markup=False, highlight=False)


@request_app.command(
    "purge",
    help=_(
        "Remove patron references from requests closed before a date; statistics stay.\n\n"
        "Example: pool request purge --closed-before 2025-01-01"
    ),
)
def request_purge(
    closed_before: Annotated[
        str, typer.Option("--closed-before", metavar="DATE", help=_("YYYY-MM-DD."))
    ],
) -> None:
    cutoff = _date(closed_before, "--closed-before") or date.today()
    purged = exchange.purge_patrons(state.engine, cutoff)
    emit({"purged": purged, "closed_before": cutoff.isoformat()})
    if not state.json:
        text = _("removed the patron reference from {count} requests closed before {date}").format(
            count=purged, date=cutoff
        )
        out.print(text, markup=False, highlight=False)


@request_app.command(
    "stats",
    help=_(
        "Per partner: requests made and filled, times asked, loans and copies supplied.\n\n"
        "fill_rate is supplied / asked; the turnaround is the median days from being\n"
        "asked to shipping the loan or delivering the copy.\n\n"
        "Example: pool --json request stats"
    ),
)
def request_stats() -> None:
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
    emit(rows, _table(_("Exchange by partner"), rows, columns))
