"""Interlibrary exchange: requests between partners, their rotas, their steps and history.

`iso18626` decides who may take which step from which state; this module
stores the outcome. Each public function is one transaction. A step locks its
request (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the writer's BEGIN
IMMEDIATE serialises the same way) and reads the state again inside the
transaction, so of two staff moving one request at once one wins and the other
is refused against the state the winner left. Every change of state writes
exactly one event, in the same transaction, with the ISO 18626 message it sends.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from harvesters.errors import StepRefused
from resource_pool import iso18626 as iso
from resource_pool.config import PartnerConfig, PoolConfig
from resource_pool.db import session_scope
from resource_pool.exchange_models import ExchangeRequest, RequestEvent, RotaEntry
from resource_pool.i18n import N_, _, ngettext
from resource_pool.matching import ISBN, normalise_isbn
from resource_pool.models import Cluster, Flag, Holding, MatchKey, Partner, SourceRecord, utcnow
from resource_pool.partners import sync_partners

log = logging.getLogger(__name__)

Step = iso.Step
State = iso.RequestState
Role = iso.Role

# The actor of the pool's own steps (asking the next lender, the overdue run).
# Partner codes are upper case, so this name never collides with one.
POOL_ACTOR = "pool"
RARE_FLAG = "rare"

RARE_COPIES_ONLY = N_("rare: lends rare material as copies only (lends_rare = false)")
"""Why a partner is left out of a loan's rota for a rare item (a copy it would supply)."""

SERVICE_WORDS = {
    iso.ServiceType.LOAN: "loan",
    iso.ServiceType.COPY: "copy",
    iso.ServiceType.COPY_OR_LOAN: "copy-or-loan",
}

# Loans the overdue run may mark (iso18626's table: Overdue comes from Loaned or Received).
MARKABLE = frozenset({State.LOANED, State.RECEIVED})
# Loans out with the requester: past their due date they are overdue, marked or not.
OUT_ON_LOAN = iso.ON_LOAN - {State.SHIPPED_RETURN}


# ---------------------------------------------------------------- what callers pass and get


@dataclass(frozen=True)
class NewRequest:
    """A partner's request for a cluster, as staff type it after `pool request new`."""

    requester: str
    cluster_id: int
    service: iso.ServiceType = iso.ServiceType.LOAN
    patron_reference: str | None = None
    needed_by: date | None = None
    note: str | None = None
    force: bool = False


@dataclass(frozen=True)
class StepInput:
    """What staff add to a step: a note, a reason or condition code, a due date."""

    note: str | None = None
    reason_unfilled: iso.ReasonUnfilled | None = None
    reason_retry: iso.ReasonRetry | None = None
    loan_condition: iso.LoanCondition | None = None
    due: date | None = None


@dataclass(frozen=True)
class LeftOut:
    """A holder the rota leaves out, and why."""

    partner: str
    why: str


@dataclass(frozen=True)
class TakenStep:
    """One event a call wrote."""

    step: str
    actor: str
    state_before: str
    state_after: str


@dataclass(frozen=True)
class Outcome:
    """Where a request stands after a call, and the steps the call took."""

    request_id: int
    state: str
    requester: str
    lender: str | None
    service: str
    due: date | None
    steps: tuple[TakenStep, ...]
    rota: tuple[str, ...] = ()
    left_out: tuple[LeftOut, ...] = ()


@dataclass(frozen=True)
class OverdueLoan:
    """A loan past its due date."""

    request_id: int
    state: str
    requester: str
    lender: str | None
    title: str
    due: date
    days_overdue: int


@dataclass(frozen=True)
class ImportOutcome:
    """What an incoming message did, and the confirmation that answers it."""

    confirmation: bytes | None  # None for a confirmation, which is never answered
    outcome: Outcome | None  # None when the message changed nothing
    error: str | None = None


# ---------------------------------------------------------------- agencies


def agency_of(partner: PartnerConfig, pool_code: str) -> iso.AgencyId:
    """How ISO 18626 names a partner.

    partners.toml's agency_id is "TYPE:VALUE" (ISIL:ID-TblKT) or a bare ISIL;
    without one the pool's own code is the id type and the partner code the value.
    An ISIL always has a hyphen before its first colon, a type never does.
    """
    if partner.agency_id is None:
        return iso.AgencyId(pool_code, partner.code)
    prefix, colon, rest = partner.agency_id.partition(":")
    if colon and "-" not in prefix:
        return iso.AgencyId(prefix, rest)
    return iso.AgencyId("ISIL", partner.agency_id)


def _agency_text(agency: iso.AgencyId) -> str:
    return f"{agency.id_type}:{agency.value}"


def _agency_from(text: str) -> iso.AgencyId:
    id_type, _colon, value = text.partition(":")
    return iso.AgencyId(id_type, value)


# ---------------------------------------------------------------- one request in a transaction


@dataclass
class _Context:
    """One request, locked, inside the transaction that moves it."""

    session: Session
    request: ExchangeRequest
    entries: list[RotaEntry]
    now: datetime
    via: str
    written: list[RequestEvent] = field(default_factory=list)

    @property
    def state(self) -> State:
        return State(self.request.state)

    @property
    def service(self) -> iso.ServiceType:
        return iso.ServiceType(self.request.service)

    def entry_of(self, partner: str | None) -> RotaEntry | None:
        return next((entry for entry in self.entries if entry.partner == partner), None)


def _context(session: Session, request_id: int, via: str) -> _Context:
    statement = (
        select(ExchangeRequest).where(col(ExchangeRequest.id) == request_id).with_for_update()
    )
    request = session.exec(statement).first()
    if request is None:
        raise _no_request(request_id)

    entries = session.exec(
        select(RotaEntry)
        .where(col(RotaEntry.request_id) == request_id)
        .order_by(col(RotaEntry.position))
    ).all()
    return _Context(session, request, list(entries), utcnow(), via)


def _no_request(request_id: int) -> StepRefused:
    return StepRefused(
        _("no request {id} in the pool; `pool request list` shows the requests").format(
            id=request_id
        )
    )


def _role_of(request: ExchangeRequest, actor: str) -> Role:
    if actor == request.requester:
        return Role.REQUESTER
    if actor == request.lender:
        return Role.LENDER
    return Role.OTHER


def _apply(ctx: _Context, step: Step, actor: str, role: Role) -> iso.Transition:
    """iso18626.apply, with the request's id and what would help in a refusal."""
    try:
        return iso.apply(ctx.state, step, role, ctx.service, actor=actor)
    except StepRefused as refusal:
        allowed = iso.TRANSITIONS[step].roles
        hint = _last_step(ctx) if role in allowed else _parties(ctx, allowed)
        raise StepRefused(
            _("request {id}: {refusal}{hint}").format(id=ctx.request.id, refusal=refusal, hint=hint)
        ) from None


def _parties(ctx: _Context, allowed: Iterable[Role]) -> str:
    """Who the allowed parties of this request are, by code."""
    lender = ctx.request.lender or _("nobody (no lender is working on it)")
    parties = {
        Role.REQUESTER: _("the requester is {code}").format(code=ctx.request.requester),
        Role.LENDER: _("the lender is {code}").format(code=lender),
    }
    named = [parties[role] for role in allowed if role in parties]
    return "; " + _(" and ").join(named) if named else ""


def _last_step(ctx: _Context) -> str:
    event = ctx.session.exec(
        select(RequestEvent)
        .where(col(RequestEvent.request_id) == ctx.request.id)
        .order_by(col(RequestEvent.sequence).desc())
    ).first()
    if event is None:
        return ""
    # Names who moved the request last: the usual answer when two staff raced.
    return _("; its last step was {step} by {actor} at {time}").format(
        step=event.step, actor=event.actor, time=_time_text(event.time)
    )


def _text(value: str | None) -> str | None:
    # Enum members go to the database as plain strings, whatever the driver makes of enums.
    return None if value is None else str(value)


def _texts(values: Iterable[str]) -> list[str]:
    return sorted(str(value) for value in values)


def _time_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---------------------------------------------------------------- recording a step


def _record(ctx: _Context, transition: iso.Transition, actor: str, given: StepInput) -> None:
    """Move the request as `transition` says and write its one event."""
    entry = _entry_for(ctx, transition)
    _step_effects(ctx, transition, entry, given)

    if entry is not None and transition.status is not None:
        entry.status = str(transition.status)
    request = ctx.request
    request.state = str(transition.after)
    request.changed_at = ctx.now
    request.version += 1
    if transition.after in iso.FINAL_STATES:
        request.closed = ctx.now

    _write_event(ctx, transition, actor, given)


def _entry_for(ctx: _Context, transition: iso.Transition) -> RotaEntry | None:
    if transition.step is Step.NEXT_LENDER:
        entry = next(entry for entry in ctx.entries if entry.status is None)
        entry.asked = ctx.now
        ctx.request.lender = entry.partner
        # A condition belongs to the lender that set it; the next one starts clean.
        ctx.request.loan_condition = None
        return entry
    if transition.step is Step.END_OF_ROTA:
        ctx.request.lender = None
        return None
    return ctx.entry_of(ctx.request.lender)


def _step_effects(
    ctx: _Context, transition: iso.Transition, entry: RotaEntry | None, given: StepInput
) -> None:
    request, step = ctx.request, transition.step
    if step is Step.UNFILLED and entry is not None:
        entry.reason = _text(given.reason_unfilled)
    elif step is Step.RETRY and entry is not None:
        entry.reason = _text(given.reason_retry)
    elif step is Step.CONDITION:
        request.loan_condition = _text(given.loan_condition)
    elif step in (Step.SHIP, Step.RENEW_YES):
        request.due = given.due

    if step in (Step.SHIP, Step.COPY_DONE) and entry is not None:
        entry.supplied = ctx.now


def _write_event(ctx: _Context, transition: iso.Transition, actor: str, given: StepInput) -> None:
    xml = _message_xml(ctx, transition, given)
    event = RequestEvent(
        request_id=ctx.request.id or 0,
        sequence=ctx.request.version,
        time=ctx.now,
        actor=actor,
        role=str(transition.role),
        step=str(transition.step),
        state_before=str(transition.before),
        state_after=str(transition.after),
        via=ctx.via,
        note=_event_note(transition.step, given),
        message_kind=_text(transition.message),
        message=xml,
    )
    ctx.session.add(event)
    ctx.written.append(event)


def _event_note(step: Step, given: StepInput) -> str | None:
    """The history's note: the step's code or date, then what staff wrote."""
    labels: dict[Step, tuple[str, object]] = {
        Step.UNFILLED: ("reason", given.reason_unfilled),
        Step.RETRY: ("reason", given.reason_retry),
        Step.CONDITION: ("condition", given.loan_condition),
        Step.SHIP: ("due", given.due),
        Step.RENEW_YES: ("due", given.due),
    }
    label, value = labels.get(step, ("", None))
    parts = [f"{label} {value}" if value else "", given.note or ""]
    return "; ".join(part for part in parts if part) or None


def _advance_rota(ctx: _Context) -> None:
    """After a lender says no, ask the next one in the rota, or end it (EndOfRota)."""
    if ctx.state is not State.UNFILLED:
        return
    waiting = any(entry.status is None for entry in ctx.entries)
    step = Step.NEXT_LENDER if waiting else Step.END_OF_ROTA
    _record(ctx, _apply(ctx, step, POOL_ACTOR, Role.POOL), POOL_ACTOR, StepInput())


# ---------------------------------------------------------------- the messages a step sends


def _message_xml(ctx: _Context, transition: iso.Transition, given: StepInput) -> str | None:
    if transition.message is None:
        return None
    header = _header(ctx)
    request = _request_message(ctx.request, header)
    details = _details(ctx, transition, given)
    message = iso.step_message(transition, header, details, request=request)
    return iso.to_xml(message).decode()


def _header(ctx: _Context) -> iso.Header:
    entry = ctx.entry_of(ctx.request.lender)
    # Every step that sends a message is taken while a lender works on the request.
    lender = _agency_from(entry.agency) if entry else _agency_from(ctx.request.requester_agency)
    return iso.Header(
        supplying_agency=lender,
        requesting_agency=_agency_from(ctx.request.requester_agency),
        timestamp=ctx.now,
        requesting_agency_request_id=ctx.request.reference,
    )


def _request_message(request: ExchangeRequest, header: iso.Header) -> iso.RequestMessage:
    bibliographic = iso.BibliographicInfo(
        title=request.title or None, isbn=request.isbn, cluster_id=str(request.cluster_id)
    )
    service = iso.ServiceInfo(
        iso.ServiceType(request.service),
        need_before=_day_start(request.needed_by),
        note=request.note,
    )
    return iso.RequestMessage(header, bibliographic, service, request.patron_reference)


def _details(ctx: _Context, transition: iso.Transition, given: StepInput) -> iso.StepDetails:
    condition = given.loan_condition if transition.step is Step.CONDITION else None
    if transition.step is Step.SHIP and ctx.request.loan_condition:
        condition = iso.LoanCondition(ctx.request.loan_condition)
    return iso.StepDetails(
        note=given.note,
        reason_unfilled=given.reason_unfilled,
        reason_retry=given.reason_retry,
        loan_condition=condition,
        due_date=_day_start(ctx.request.due),
    )


def _day_start(day: date | None) -> datetime | None:
    # Dates travel as xs:dateTime; midnight UTC keeps the calendar date for any reader
    # that takes the date part as written.
    return datetime.combine(day, time(), UTC) if day else None


# ---------------------------------------------------------------- new requests


def new_request(
    engine: Engine, config: PoolConfig, ask: NewRequest, today: date, *, via: str = "command"
) -> Outcome:
    """Make a request, build its rota from the cluster's holdings and ask the first lender."""
    requester = config.partner(ask.requester)
    if ask.needed_by is not None and ask.needed_by < today:
        raise StepRefused(
            _(
                "needed-by date {date} is already past (today is {today}); "
                "give a later date or leave it out"
            ).format(date=ask.needed_by, today=today)
        )

    with session_scope(engine) as session:
        sync_partners(session, config)
        _lock_partner(session, requester.code)
        cluster = _live_cluster(session, ask.cluster_id)
        _refuse_duplicate(session, ask)

        holders = _holders(session, ask.cluster_id)
        _refuse_own_holding(ask, holders, cluster)
        rare = _is_rare(session, ask.cluster_id)
        lenders, left_out = _choose_lenders(config, ask, holders, rare)
        _refuse_empty_rota(ask, cluster, lenders, left_out, rare)

        ranked = _ranked(session, lenders)
        ctx = _start(session, config, ask, cluster, ranked, via)
        _record_creation(ctx, ranked, left_out)
        _record(ctx, _apply(ctx, Step.NEXT_LENDER, POOL_ACTOR, Role.POOL), POOL_ACTOR, StepInput())
        outcome = _outcome(ctx, tuple(left_out))

    log.info(
        "request=%s new %s of cluster=%s by %s; rota %s",
        outcome.request_id,
        outcome.service,
        ask.cluster_id,
        ask.requester,
        ", ".join(outcome.rota),
    )
    return outcome


def _lock_partner(session: Session, code: str) -> None:
    # Serialises one requester's new requests, so the duplicate check below holds.
    session.exec(select(Partner).where(col(Partner.code) == code).with_for_update()).first()


def _live_cluster(session: Session, cluster_id: int) -> Cluster:
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise StepRefused(
            _(
                "no cluster {id} in the catalogue; find the item's union id with "
                "`pool catalog search`"
            ).format(id=cluster_id)
        )
    if cluster.deleted:
        raise StepRefused(
            _(
                "cluster {id} was withdrawn (no partner's record is left in it); "
                "search the catalogue for the item again"
            ).format(id=cluster_id)
        )
    return cluster


def _refuse_duplicate(session: Session, ask: NewRequest) -> None:
    if ask.force:
        return
    open_request = session.exec(
        select(ExchangeRequest).where(
            col(ExchangeRequest.requester) == ask.requester,
            col(ExchangeRequest.cluster_id) == ask.cluster_id,
            col(ExchangeRequest.closed).is_(None),
        )
    ).first()
    if open_request is not None:
        raise StepRefused(
            _(
                "{requester} already has request {request} open for cluster {cluster} "
                "({state}); add --force to make a second one"
            ).format(
                requester=ask.requester,
                request=open_request.id,
                cluster=ask.cluster_id,
                state=open_request.state,
            )
        )


def _holders(session: Session, cluster_id: int) -> dict[str, bool]:
    """Each partner holding the cluster, and whether any of its holdings may be lent."""
    rows = session.exec(
        select(Partner.code, Holding.lendable)
        .join(Holding, col(Holding.partner_id) == col(Partner.id))
        .join(SourceRecord, col(SourceRecord.id) == col(Holding.source_record_id))
        .where(col(SourceRecord.cluster_id) == cluster_id, col(SourceRecord.deleted).is_(False))
    ).all()
    holders: dict[str, bool] = {}
    for code, lendable in rows:
        holders[code] = holders.get(code, False) or bool(lendable)
    return holders


def _refuse_own_holding(ask: NewRequest, holders: dict[str, bool], cluster: Cluster) -> None:
    if ask.requester in holders and not ask.force:
        raise StepRefused(
            _(
                "{requester} holds cluster {id} ({title}) itself; "
                "look on your own shelves first, or add --force to ask the partners anyway"
            ).format(requester=ask.requester, id=cluster.id, title=_title(cluster.title))
        )


def _is_rare(session: Session, cluster_id: int) -> bool:
    flag = session.exec(
        select(Flag.id).where(col(Flag.cluster_id) == cluster_id, col(Flag.flag) == RARE_FLAG)
    ).first()
    return flag is not None


def _choose_lenders(
    config: PoolConfig, ask: NewRequest, holders: dict[str, bool], rare: bool
) -> tuple[list[str], list[LeftOut]]:
    lenders: list[str] = []
    left_out: list[LeftOut] = []
    for code, lendable in sorted(holders.items()):
        why = _why_left_out(config, ask, code, lendable, rare)
        if why is None:
            lenders.append(code)
        else:
            left_out.append(LeftOut(code, why))
    return lenders, left_out


def _why_left_out(
    config: PoolConfig, ask: NewRequest, code: str, lendable: bool, rare: bool
) -> str | None:
    policy = next((partner for partner in config.partners if partner.code == code), None)
    # Kept in English in the request's history; translated where a refusal shows them.
    if code == ask.requester:
        return N_("the requester itself")
    if policy is None:
        return N_("no longer in partners.toml")
    if not policy.lends:
        return N_("does not lend (lends = false)")
    if not lendable:
        return N_("no holding marked lendable")
    if rare and ask.service is iso.ServiceType.LOAN and not policy.lends_rare:
        return RARE_COPIES_ONLY
    return None


def _refuse_empty_rota(
    ask: NewRequest, cluster: Cluster, lenders: list[str], left_out: list[LeftOut], rare: bool
) -> None:
    if lenders:
        return
    what = _("cluster {id} ({title})").format(id=cluster.id, title=_title(cluster.title))
    copy_only = [item.partner for item in left_out if item.why == RARE_COPIES_ONLY]
    if rare and copy_only:
        raise StepRefused(
            ngettext(
                "no partner lends {what} as a loan: it is flagged rare and {partners} "
                "lends rare material as copies only; ask for a copy: {command}",
                "no partner lends {what} as a loan: it is flagged rare and {partners} "
                "lend rare material as copies only; ask for a copy: {command}",
                len(copy_only),
            ).format(
                what=what,
                partners=", ".join(copy_only),
                command=(
                    f"pool request new --as {ask.requester} --item {cluster.id} --service copy"
                ),
            )
        )
    reasons = "; ".join(f"{item.partner}: {_(item.why)}" for item in left_out)
    raise StepRefused(
        _("no partner can supply {what} ({reasons})").format(
            what=what, reasons=reasons or _("nobody holds it")
        )
    )


def _ranked(session: Session, lenders: list[str]) -> list[str]:
    """Lenders by loan balance, then code.

    After ReShare's score (borrowing level x loan:borrow ratio - lending level) with
    the ratio 1:1: the partner that has received the most from the pool relative
    to what it has supplied is asked first, so lending work follows borrowing.
    """
    borrowed = dict(
        session.exec(
            select(ExchangeRequest.requester, func.count())
            .join(RotaEntry, col(RotaEntry.request_id) == col(ExchangeRequest.id))
            .where(col(RotaEntry.supplied).is_not(None))
            .group_by(col(ExchangeRequest.requester))
        ).all()
    )
    lent = dict(
        session.exec(
            select(RotaEntry.partner, func.count())
            .where(col(RotaEntry.supplied).is_not(None))
            .group_by(col(RotaEntry.partner))
        ).all()
    )
    balance = {code: borrowed.get(code, 0) - lent.get(code, 0) for code in lenders}
    return sorted(lenders, key=lambda code: (-balance[code], code))


def _start(
    session: Session,
    config: PoolConfig,
    ask: NewRequest,
    cluster: Cluster,
    lenders: list[str],
    via: str,
) -> _Context:
    requester = config.partner(ask.requester)
    request = ExchangeRequest(
        requester=ask.requester,
        requester_agency=_agency_text(agency_of(requester, config.code)),
        cluster_id=ask.cluster_id,
        title=_title(cluster.title),
        isbn=_cluster_isbn(session, ask.cluster_id),
        service=str(ask.service),
        patron_reference=ask.patron_reference,
        needed_by=ask.needed_by,
        note=ask.note,
        state=str(State.NEW),
    )
    session.add(request)
    session.flush()
    request.reference = f"{config.code}-{request.id}"

    entries = [
        RotaEntry(
            request_id=request.id or 0,
            position=position,
            partner=code,
            agency=_agency_text(agency_of(config.partner(code), config.code)),
        )
        for position, code in enumerate(lenders, start=1)
    ]
    session.add_all(entries)
    return _Context(session, request, entries, utcnow(), via)


def _cluster_isbn(session: Session, cluster_id: int) -> str | None:
    return session.exec(
        select(MatchKey.value)
        .join(SourceRecord, col(SourceRecord.id) == col(MatchKey.source_record_id))
        .where(col(SourceRecord.cluster_id) == cluster_id, col(MatchKey.kind) == ISBN)
        .order_by(col(MatchKey.value))
    ).first()


def _record_creation(ctx: _Context, lenders: list[str], left_out: list[LeftOut]) -> None:
    note = "rota " + ", ".join(lenders)
    if left_out:
        note += "; left out " + ", ".join(f"{item.partner} ({item.why})" for item in left_out)
    ctx.request.version += 1
    event = RequestEvent(
        request_id=ctx.request.id or 0,
        sequence=ctx.request.version,
        time=ctx.now,
        actor=ctx.request.requester,
        role=str(Role.REQUESTER),
        step="new",
        state_after=str(State.NEW),
        via=ctx.via,
        note=note if not ctx.request.note else f"{note}; {ctx.request.note}",
    )
    ctx.session.add(event)
    ctx.written.append(event)


def _title(text: str) -> str:
    # Cluster titles keep the ISBD punctuation that ends 245 $a (" /", " :").
    return text.rstrip(" /:;,=.").strip() or text


def _outcome(ctx: _Context, left_out: tuple[LeftOut, ...] = ()) -> Outcome:
    request = ctx.request
    steps = tuple(
        TakenStep(event.step, event.actor, event.state_before, event.state_after)
        for event in ctx.written
    )
    return Outcome(
        request_id=request.id or 0,
        state=request.state,
        requester=request.requester,
        lender=request.lender,
        service=SERVICE_WORDS[iso.ServiceType(request.service)],
        due=request.due,
        steps=steps,
        rota=tuple(entry.partner for entry in ctx.entries),
        left_out=left_out,
    )


# ---------------------------------------------------------------- steps


def take_step(
    engine: Engine,
    config: PoolConfig,
    request_id: int,
    step: Step,
    actor: str,
    given: StepInput | None = None,
    today: date | None = None,
) -> Outcome:
    """Take one step on a request as the institution `actor`, or raise StepRefused."""
    partner = config.partner(actor)
    with session_scope(engine) as session:
        ctx = _context(session, request_id, "command")
        _step(ctx, config, step, partner.code, given or StepInput(), today or date.today())
        outcome = _outcome(ctx)

    log.info("request=%s step=%s by %s: %s", request_id, step, partner.code, _path(outcome))
    return outcome


def _path(outcome: Outcome) -> str:
    """The states a call moved the request through, as "WillSupply -> Loaned"."""
    states = [outcome.steps[0].state_before or "-", *(s.state_after for s in outcome.steps)]
    return " -> ".join(states)


def _step(
    ctx: _Context, config: PoolConfig, step: Step, actor: str, given: StepInput, today: date
) -> None:
    transition = _apply(ctx, step, actor, _role_of(ctx.request, actor))
    resolved = _resolve(ctx, config, transition, given, today)
    _record(ctx, transition, actor, resolved)
    _advance_rota(ctx)


def _resolve(
    ctx: _Context, config: PoolConfig, transition: iso.Transition, given: StepInput, today: date
) -> StepInput:
    """Fill in the defaults a step needs (the due date) and refuse what cannot be right."""
    step = transition.step
    if step is Step.CONDITION and given.loan_condition is None:
        allowed = ", ".join(iso.LoanCondition)
        raise StepRefused(
            _("condition needs a code (--code); use one of: {allowed}").format(allowed=allowed)
        )
    if step is Step.RENEW_NO and given.due is not None:
        raise StepRefused(
            _("--due {due} goes with renew-answer --yes only; leave it out").format(due=given.due)
        )
    if step is Step.SHIP:
        return _with_due(given, _ship_due(ctx, config, given, today))
    if step is Step.RENEW_YES:
        return _with_due(given, _renewed_due(ctx, config, given, today))
    return given


def _with_due(given: StepInput, due: date) -> StepInput:
    return StepInput(
        given.note, given.reason_unfilled, given.reason_retry, given.loan_condition, due
    )


def _loan_days(ctx: _Context, config: PoolConfig) -> int:
    return config.partner(ctx.request.lender or "").loan_days


def _ship_due(ctx: _Context, config: PoolConfig, given: StepInput, today: date) -> date:
    due = given.due or today + timedelta(days=_loan_days(ctx, config))
    if due < today:
        raise StepRefused(
            _(
                "request {id}: due date {due} is already past (today is {today}); "
                "give a later --due or leave it out for the lender's loan_days"
            ).format(id=ctx.request.id, due=due, today=today)
        )
    return due


def _renewed_due(ctx: _Context, config: PoolConfig, given: StepInput, today: date) -> date:
    current = ctx.request.due or today
    # Without --due the loan runs the lender's loan_days again, counted from the
    # later of today and the old due date, so a renewal never shortens a loan.
    due = given.due or max(today, current) + timedelta(days=_loan_days(ctx, config))
    if due <= current:
        raise StepRefused(
            _(
                "request {id}: new due date {due} is not after the current one "
                "({current}); give a later --due, or answer --no"
            ).format(id=ctx.request.id, due=due, current=current)
        )
    return due


# ---------------------------------------------------------------- the overdue run


def mark_overdue(engine: Engine, today: date) -> list[OverdueLoan]:
    """Move loans whose due date is before `today` to Overdue; return the loans marked.

    Only Loaned and Received loans move (iso18626's table); one transaction per
    loan, so a loan that a partner moves meanwhile is simply left alone.
    """
    candidates = [
        loan.request_id for loan in overdue_loans(engine, today) if State(loan.state) in MARKABLE
    ]
    marked = [loan for loan in (_mark_one(engine, rid, today) for rid in candidates) if loan]
    log.info("overdue run as of %s: %s loans marked Overdue", today, len(marked))
    return marked


def _mark_one(engine: Engine, request_id: int, today: date) -> OverdueLoan | None:
    with session_scope(engine) as session:
        ctx = _context(session, request_id, "overdue")
        due = ctx.request.due
        if ctx.state not in MARKABLE or due is None or due >= today:
            return None
        _record(ctx, _apply(ctx, Step.OVERDUE, POOL_ACTOR, Role.POOL), POOL_ACTOR, StepInput())
        return _overdue_loan(ctx.request, today)


def overdue_loans(engine: Engine, today: date) -> list[OverdueLoan]:
    """Loans marked Overdue, and loans with the requester whose due date is before `today`."""
    with session_scope(engine, read_only=True) as session:
        requests = session.exec(
            select(ExchangeRequest)
            .where(_overdue(today))
            .order_by(col(ExchangeRequest.due), col(ExchangeRequest.id))
        ).all()
        return [_overdue_loan(request, today) for request in requests]


def _overdue(today: date) -> Any:
    """The SQL condition for an overdue loan: marked so, or out with the requester past due."""
    past_due = col(ExchangeRequest.state).in_(_texts(OUT_ON_LOAN)) & (
        col(ExchangeRequest.due) < today
    )
    return (col(ExchangeRequest.state) == str(State.OVERDUE)) | past_due


def _overdue_loan(request: ExchangeRequest, today: date) -> OverdueLoan:
    due = request.due or today
    return OverdueLoan(
        request_id=request.id or 0,
        state=request.state,
        requester=request.requester,
        lender=request.lender,
        title=request.title,
        due=due,
        days_overdue=(today - due).days,
    )


# ---------------------------------------------------------------- incoming messages


def import_message(
    engine: Engine, config: PoolConfig, raw: bytes, actor: str, origin: str, today: date
) -> ImportOutcome:
    """Apply a partner's ISO 18626 message with the checks a command gets.

    `actor` is the partner that sent it; `origin` names the file for messages.
    Raises StepRefused when the bytes are not an ISO 18626 message at all (there
    is nothing to confirm); otherwise returns the confirmation, OK or ERROR.
    """
    partner = config.partner(actor)
    try:
        message = iso.parse_message(raw)
    except iso.MessageError as error:
        raise StepRefused(
            _("{origin}: {error}; nothing was imported").format(origin=origin, error=error)
        ) from None

    now = utcnow()
    try:
        _check_sender(message, partner, config, origin)
        outcome = _apply_message(engine, config, message, partner.code, origin, today)
    except (StepRefused, iso.MessageError) as error:
        log.info("%s from %s refused: %s", message.kind, partner.code, error)
        problem = _as_message_error(error)
        return ImportOutcome(_confirmation(message, now, problem), None, str(error))

    moved = f"request={outcome.request_id} {_path(outcome)}" if outcome else "news only"
    log.info("%s from %s imported from %s: %s", message.kind, partner.code, origin, moved)
    return ImportOutcome(_confirmation(message, now, None), outcome)


def _check_sender(
    message: iso.IncomingMessage, partner: PartnerConfig, config: PoolConfig, origin: str
) -> None:
    if message.kind is iso.MessageKind.SUPPLYING_AGENCY_MESSAGE:
        sender = message.supplying_agency
    else:
        sender = message.requesting_agency
    expected = agency_of(partner, config.code)
    if sender is not None and sender.value.casefold() == expected.value.casefold():
        return
    found = _agency_text(sender) if sender else _("no agency")
    raise StepRefused(
        _(
            "{origin}: the {kind} comes from {found}, but --as {code} is {expected}; "
            "import it --as the partner that sent it, or set that partner's agency_id "
            "in partners.toml"
        ).format(
            origin=origin,
            kind=message.kind,
            found=found,
            code=partner.code,
            expected=_agency_text(expected),
        )
    )


def _apply_message(
    engine: Engine,
    config: PoolConfig,
    message: iso.IncomingMessage,
    actor: str,
    origin: str,
    today: date,
) -> Outcome | None:
    if message.kind not in _ANSWERED:
        return None
    retry = message.request_type is iso.RequestType.RETRY
    if message.kind is iso.MessageKind.REQUEST and not retry:
        iso.step_for_message(message, State.NEW)  # refuses values it could not read
        ask = _ask_from(engine, message, actor, origin)
        return new_request(engine, config, ask, today, via="message")

    request_id = _request_id_of(message, config, origin)
    with session_scope(engine) as session:
        ctx = _context(session, request_id, "message")
        step = iso.step_for_message(message, ctx.state)
        if step is None:
            return None
        _step(ctx, config, step, actor, _input_from(message, origin), today)
        return _outcome(ctx)


_ANSWERED = frozenset(
    {
        iso.MessageKind.REQUEST,
        iso.MessageKind.SUPPLYING_AGENCY_MESSAGE,
        iso.MessageKind.REQUESTING_AGENCY_MESSAGE,
    }
)


def _request_id_of(message: iso.IncomingMessage, config: PoolConfig, origin: str) -> int:
    reference = message.requesting_agency_request_id or ""
    prefix, _dash, number = reference.rpartition("-")
    if prefix == config.code and number.isdigit():
        return int(number)
    raise StepRefused(
        _(
            "{origin}: requestingAgencyRequestId {reference!r} is not one of this pool's "
            "requests (they read {code}-ID); check the message was meant for {name}"
        ).format(origin=origin, reference=reference, code=config.code, name=config.name)
    )


def _ask_from(engine: Engine, message: iso.IncomingMessage, actor: str, origin: str) -> NewRequest:
    return NewRequest(
        requester=actor,
        cluster_id=_cluster_of(engine, message, origin),
        service=message.service_type or iso.ServiceType.LOAN,
        patron_reference=message.patron_reference,
        needed_by=message.need_before.date() if message.need_before else None,
        note=message.note,
    )


def _cluster_of(engine: Engine, message: iso.IncomingMessage, origin: str) -> int:
    """The cluster a request asks for: the pool's own id if given, else by ISBN."""
    if message.cluster_id and message.cluster_id.isdigit():
        return int(message.cluster_id)
    isbn = normalise_isbn(message.isbn or "")
    found = _cluster_by_isbn(engine, isbn) if isbn else None
    if found is None:
        raise StepRefused(
            _(
                "{origin}: no cluster in the catalogue matches the request (cluster id "
                "{cluster!r}, ISBN {isbn!r}); the requester should name the item by its "
                "union id ({code}) or a valid ISBN"
            ).format(
                origin=origin,
                cluster=message.cluster_id,
                isbn=message.isbn,
                code=iso.CLUSTER_ID_CODE,
            )
        )
    return found


def _cluster_by_isbn(engine: Engine, isbn: str) -> int | None:
    with session_scope(engine, read_only=True) as session:
        return session.exec(
            select(SourceRecord.cluster_id)
            .join(MatchKey, col(MatchKey.source_record_id) == col(SourceRecord.id))
            .where(col(MatchKey.kind) == ISBN, col(MatchKey.value) == isbn)
            .where(col(SourceRecord.deleted).is_(False))
            .order_by(col(SourceRecord.cluster_id))
        ).first()


def _input_from(message: iso.IncomingMessage, origin: str) -> StepInput:
    unfilled, retry, condition = (
        message.reason_unfilled,
        message.reason_retry,
        message.loan_condition,
    )
    return StepInput(
        note=message.note,
        reason_unfilled=iso.code(iso.ReasonUnfilled, unfilled, origin) if unfilled else None,
        reason_retry=iso.code(iso.ReasonRetry, retry, origin) if retry else None,
        loan_condition=iso.code(iso.LoanCondition, condition, origin) if condition else None,
        due=message.due_date.date() if message.due_date else None,
    )


def _as_message_error(error: Exception) -> iso.MessageError:
    if isinstance(error, iso.MessageError):
        return error
    # ISO 18626 has no error type for "not allowed now"; the value that cannot
    # be applied (the status or action) is the closest.
    return iso.MessageError(str(error), error_type=iso.ErrorType.UNRECOGNISED_DATA_VALUE)


def _confirmation(
    message: iso.IncomingMessage, now: datetime, error: iso.MessageError | None
) -> bytes | None:
    if message.kind not in _ANSWERED:
        return None
    return iso.to_xml(iso.confirmation_for(message, now, error))


# ---------------------------------------------------------------- privacy


def purge_patrons(engine: Engine, closed_before: date) -> int:
    """Remove patron references from requests closed before the date; return how many.

    The requests, rotas and events stay for the statistics; the reference goes
    from the request and from the request messages kept in its history.
    """
    cutoff = datetime.combine(closed_before, time(), UTC)
    with session_scope(engine) as session:
        purgeable = (
            select(ExchangeRequest.id)
            .where(col(ExchangeRequest.closed) < cutoff)
            .where(col(ExchangeRequest.patron_reference).is_not(None))
        )
        events = session.exec(
            select(RequestEvent).where(
                col(RequestEvent.request_id).in_(purgeable),
                col(RequestEvent.message_kind) == str(iso.MessageKind.REQUEST),
            )
        ).all()
        for event in events:
            event.message = iso.without_patron((event.message or "").encode()).decode()

        requests = session.exec(
            select(ExchangeRequest).where(col(ExchangeRequest.id).in_(purgeable))
        ).all()
        for request in requests:
            request.patron_reference = None

    log.info(
        "purged patron references from %s requests closed before %s", len(requests), closed_before
    )
    return len(requests)


# ---------------------------------------------------------------- views


def show_request(engine: Engine, request_id: int) -> dict[str, Any]:
    """One request with its rota and history, as `pool request show` prints it."""
    with session_scope(engine, read_only=True) as session:
        request = session.get(ExchangeRequest, request_id)
        if request is None:
            raise _no_request(request_id)
        entries = session.exec(
            select(RotaEntry)
            .where(col(RotaEntry.request_id) == request_id)
            .order_by(col(RotaEntry.position))
        ).all()
        events = session.exec(
            select(RequestEvent)
            .where(col(RequestEvent.request_id) == request_id)
            .order_by(col(RequestEvent.sequence))
        ).all()
        return _request_row(request) | {
            "reference": request.reference,
            "patron_ref": request.patron_reference,
            "note": request.note,
            "loan_condition": request.loan_condition,
            "rota": [_entry_row(entry) for entry in entries],
            "events": [_event_row(event) for event in events],
        }


def list_requests(
    engine: Engine,
    today: date,
    *,
    partner: str | None = None,
    state: State | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    """Requests, newest first: all, or one partner's (as requester or lender), by state."""
    statement = select(ExchangeRequest).order_by(col(ExchangeRequest.id).desc())
    if partner is not None:
        statement = statement.where(
            (col(ExchangeRequest.requester) == partner) | (col(ExchangeRequest.lender) == partner)
        )
    if state is not None:
        statement = statement.where(col(ExchangeRequest.state) == str(state))
    if overdue:
        statement = statement.where(_overdue(today))
    with session_scope(engine, read_only=True) as session:
        return [_request_row(request) for request in session.exec(statement).all()]


def _request_row(request: ExchangeRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "status": request.state,
        "requester": request.requester,
        "lender": request.lender,
        "service": SERVICE_WORDS[iso.ServiceType(request.service)],
        "cluster": request.cluster_id,
        "title": request.title,
        "due": _date_text(request.due),
        "needed_by": _date_text(request.needed_by),
        "created": _when_text(request.created),
        "closed": _when_text(request.closed),
    }


def _entry_row(entry: RotaEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "partner": entry.partner,
        "status": entry.status,
        "reason": entry.reason,
        "asked": _when_text(entry.asked),
        "supplied": _when_text(entry.supplied),
    }


def _event_row(event: RequestEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "time": _when_text(event.time),
        "actor": event.actor,
        "role": event.role,
        "step": event.step,
        "before": event.state_before or None,
        "after": event.state_after,
        "via": event.via,
        "note": event.note,
        "message": event.message_kind,
    }


def _date_text(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _when_text(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def request_messages(engine: Engine, request_id: int) -> list[tuple[str, bytes]]:
    """Each event's ISO 18626 message as (file name, XML), in the order they were sent."""
    show_request(engine, request_id)  # refuses an unknown id with the usual message
    with session_scope(engine, read_only=True) as session:
        events = session.exec(
            select(RequestEvent)
            .where(col(RequestEvent.request_id) == request_id)
            .where(col(RequestEvent.message).is_not(None))
            .order_by(col(RequestEvent.sequence))
        ).all()
        return [(_message_name(event), (event.message or "").encode()) for event in events]


def _message_name(event: RequestEvent) -> str:
    step = event.step.replace(" --", "-")
    return f"{event.request_id}-{event.sequence:03d}-{step}-{event.message_kind}.xml"


def partner_stats(engine: Engine) -> list[dict[str, Any]]:
    """Per partner: requests made and filled, times asked to lend and supplied, fill rate.

    The turnaround is the days from the pool asking a lender to that lender
    shipping the loan or delivering the copy.
    """
    with session_scope(engine, read_only=True) as session:
        codes = session.exec(select(Partner.code).order_by(col(Partner.code))).all()
        made = dict(
            session.exec(
                select(ExchangeRequest.requester, func.count()).group_by(
                    col(ExchangeRequest.requester)
                )
            ).all()
        )
        entries = session.exec(
            select(RotaEntry, ExchangeRequest.requester).join(
                ExchangeRequest, col(ExchangeRequest.id) == col(RotaEntry.request_id)
            )
        ).all()
    return [_partner_row(code, made.get(code, 0), entries) for code in codes]


def _partner_row(
    code: str, requested: int, entries: Sequence[tuple[RotaEntry, str]]
) -> dict[str, Any]:
    asked = [entry for entry, _row in entries if entry.partner == code and entry.asked]
    lent = [entry for entry in asked if entry.supplied]
    borrowed = [entry for entry, requester in entries if requester == code and entry.supplied]
    days = [_days_between(entry.asked, entry.supplied) for entry in lent]
    return {
        "partner": code,
        "requested": requested,
        "borrowed": len(borrowed),
        "asked": len(asked),
        "lent": len(lent),
        "unfilled": sum(1 for entry in asked if entry.status == iso.LenderStatus.UNFILLED),
        "fill_rate": round(len(lent) / len(asked), 2) if asked else None,
        "median_turnaround_days": round(statistics.median(days), 1) if days else None,
    }


def _days_between(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return (end - start).total_seconds() / 86400
