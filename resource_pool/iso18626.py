"""ISO 18626 for exchange requests: the code lists, the states, the steps and the messages.

Pure protocol, no database: `apply` decides whether a step may be taken from a
state by a party, `to_xml` writes the message a step sends, `parse_message`
reads a partner's message. The spec's spelling appears only in enum values and
XML names; everything else uses the pool's words (requester, lender, rota).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

from lxml import etree

from resource_pool.errors import PoolError, StepRefused
from resource_pool.i18n import _

NAMESPACE = "http://illtransactions.org/2013/iso18626"
VERSION = "1.2"

# bibliographicRecordIdentifierCode that marks the pool's own cluster id.
CLUSTER_ID_CODE = "ResourcePoolCluster"

# ISO 18626 has no element for a condition offered before shipping (deliveryInfo
# needs a dateSent), so the condition and its acceptance travel in the note.
CONDITION_NOTE_PREFIX = "loanCondition: "
CONDITION_ACCEPTED_NOTE = "loanCondition accepted"
RETRY_DECLINED_NOTE = "retry declined"


# ---------------------------------------------------------------- code lists


class LenderStatus(StrEnum):
    """The supplying library's status (schema type_status)."""

    REQUEST_RECEIVED = "RequestReceived"
    EXPECT_TO_SUPPLY = "ExpectToSupply"
    WILL_SUPPLY = "WillSupply"
    LOANED = "Loaned"
    OVERDUE = "Overdue"
    RECALLED = "Recalled"
    RETRY_POSSIBLE = "RetryPossible"
    UNFILLED = "Unfilled"
    COPY_COMPLETED = "CopyCompleted"
    LOAN_COMPLETED = "LoanCompleted"
    COMPLETED_WITHOUT_RETURN = "CompletedWithoutReturn"
    CANCELLED = "Cancelled"


class RequesterAction(StrEnum):
    """What the requesting library tells the lender (schema type_action)."""

    STATUS_REQUEST = "StatusRequest"
    RECEIVED = "Received"
    CANCEL = "Cancel"
    RENEW = "Renew"
    SHIPPED_RETURN = "ShippedReturn"
    SHIPPED_FORWARD = "ShippedForward"
    NOTIFICATION = "Notification"


class ReasonForMessage(StrEnum):
    """Why the lender sends a message (schema type_reasonForMessage)."""

    REQUEST_RESPONSE = "RequestResponse"
    STATUS_REQUEST_RESPONSE = "StatusRequestResponse"
    RENEW_RESPONSE = "RenewResponse"
    CANCEL_RESPONSE = "CancelResponse"
    STATUS_CHANGE = "StatusChange"
    NOTIFICATION = "Notification"


class ServiceType(StrEnum):
    """What is asked for (schema type_serviceType)."""

    COPY = "Copy"
    LOAN = "Loan"
    COPY_OR_LOAN = "CopyOrLoan"


class RequestType(StrEnum):
    """A first request, a retry after RetryPossible, or a reminder (schema type_requestType)."""

    NEW = "New"
    RETRY = "Retry"
    REMINDER = "Reminder"


class ReasonUnfilled(StrEnum):
    """Why a lender cannot supply; the schema leaves it free, these are the recommended codes."""

    NON_CIRCULATING = "NonCirculating"
    NOT_AVAILABLE_FOR_ILL = "NotAvailableForILL"
    NOT_HELD = "NotHeld"
    NOT_ON_SHELF = "NotOnShelf"
    POLICY_PROBLEM = "PolicyProblem"
    POOR_CONDITION = "PoorCondition"


class ReasonRetry(StrEnum):
    """Why a lender could supply later or differently; recommended codes, free in the schema."""

    AT_BINDERY = "AtBindery"
    COST_EXCEEDS_MAX_COST = "CostExceedsMaxCost"
    MULTI_VOL_AVAIL = "MultiVolAvail"
    NOT_CURRENT_AVAILABLE_FOR_ILL = "NotCurrentAvailableForILL"
    NOT_FOUND_AS_CITED = "NotFoundAsCited"
    ON_LOAN = "OnLoan"
    ON_ORDER = "OnOrder"
    REQ_DEL_DATE_NOT_POSSIBLE = "ReqDelDateNotPossible"
    REQ_EDITION_NOT_POSSIBLE = "ReqEditionNotPossible"
    REQ_FORMAT_NOT_POSSIBLE = "ReqFormatNotPossible"


class LoanCondition(StrEnum):
    """A condition the lender sets on a loan; recommended codes, free in the schema."""

    LIBRARY_USE_ONLY = "LibraryUseOnly"
    NO_REPRODUCTION = "NoReproduction"
    SIGNATURE_REQUIRED = "SignatureRequired"
    SPEC_COLL_SUPERV_REQ = "SpecCollSupervReq"
    WATCH_LIBRARY_USE_ONLY = "WatchLibraryUseOnly"


class MessageStatus(StrEnum):
    """A confirmation's verdict on the message it answers (schema type_messageStatus)."""

    OK = "OK"
    ERROR = "ERROR"


class ErrorType(StrEnum):
    """What was wrong with a message that is answered with ERROR (schema type_errorType)."""

    UNSUPPORTED_ACTION_TYPE = "UnsupportedActionType"
    UNSUPPORTED_REASON_FOR_MESSAGE_TYPE = "UnsupportedReasonForMessageType"
    UNRECOGNISED_DATA_ELEMENT = "UnrecognisedDataElement"
    UNRECOGNISED_DATA_VALUE = "UnrecognisedDataValue"
    BADLY_FORMED_MESSAGE = "BadlyFormedMessage"


class MessageKind(StrEnum):
    """The six messages of ISO 18626, named by their XML element."""

    REQUEST = "request"
    REQUEST_CONFIRMATION = "requestConfirmation"
    SUPPLYING_AGENCY_MESSAGE = "supplyingAgencyMessage"
    SUPPLYING_AGENCY_MESSAGE_CONFIRMATION = "supplyingAgencyMessageConfirmation"
    REQUESTING_AGENCY_MESSAGE = "requestingAgencyMessage"
    REQUESTING_AGENCY_MESSAGE_CONFIRMATION = "requestingAgencyMessageConfirmation"


Code = TypeVar("Code", bound=StrEnum)


def code(kind: type[Code], text: str, origin: str | None = None) -> Code:
    """Read a code a user typed (`--reason NotHeld`), refusing one outside the list.

    `origin` names where the text came from (an option, a message file) for the refusal.
    """
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        where = f"{origin}: " if origin else ""
        raise StepRefused(
            _("{where}unknown {kind} {text!r}; use one of: {allowed}").format(
                where=where, kind=kind.__name__, text=text, allowed=allowed
            )
        ) from None


# ---------------------------------------------------------------- the request's states


class RequestState(StrEnum):
    """Where a request stands; ISO lender statuses plus the pool's own waypoints."""

    NEW = "New"  # made; the rota has not asked a lender yet
    REQUEST_RECEIVED = "RequestReceived"
    EXPECT_TO_SUPPLY = "ExpectToSupply"
    WILL_SUPPLY = "WillSupply"
    CONDITION_PENDING = "ConditionPending"  # the lender set a condition; the requester decides
    RETRY_POSSIBLE = "RetryPossible"
    UNFILLED = "Unfilled"  # this lender said no; the rota moves on
    LOANED = "Loaned"
    RECEIVED = "Received"  # the requester has the item
    RENEW_PENDING = "RenewPending"
    OVERDUE = "Overdue"
    RECALLED = "Recalled"
    SHIPPED_RETURN = "ShippedReturn"
    END_OF_ROTA = "EndOfRota"  # every lender in the rota said no
    CANCELLED = "Cancelled"
    COPY_COMPLETED = "CopyCompleted"
    LOAN_COMPLETED = "LoanCompleted"
    COMPLETED_WITHOUT_RETURN = "CompletedWithoutReturn"


class Role(StrEnum):
    """The part an institution plays in one request."""

    REQUESTER = "requester"
    LENDER = "lender"
    POOL = "pool"  # the pool itself: the rota and the overdue run
    OTHER = "other"  # a partner that is neither party


class Step(StrEnum):
    """Every step a request can take, named after the `pool request` command."""

    NEXT_LENDER = "next-lender"
    END_OF_ROTA = "end-of-rota"
    OVERDUE = "overdue"
    EXPECT = "expect"
    WILL_SUPPLY = "will-supply"
    UNFILLED = "unfilled"
    RETRY = "retry"
    CONDITION = "condition"
    SHIP = "ship"
    COPY_DONE = "copy-done"
    RECALL = "recall"
    RENEW_YES = "renew-answer --yes"
    RENEW_NO = "renew-answer --no"
    LOST = "lost"
    CHECKIN = "checkin"
    ACCEPT_CONDITION = "accept-condition"
    RECEIVE = "receive"
    RETURN = "return"
    RENEW = "renew"
    CANCEL = "cancel"
    RETRY_REQUEST = "retry-request"
    DECLINE_RETRY = "decline-retry"
    NOTE = "note"


INITIAL_STATE = RequestState.NEW

FINAL_STATES = frozenset(
    {
        RequestState.END_OF_ROTA,
        RequestState.CANCELLED,
        RequestState.COPY_COMPLETED,
        RequestState.LOAN_COMPLETED,
        RequestState.COMPLETED_WITHOUT_RETURN,
    }
)

# The request is between lenders; only the pool acts here, in the same
# transaction as the step that led here.
BETWEEN_LENDERS = frozenset({RequestState.NEW, RequestState.UNFILLED})

BEFORE_SHIPPING = frozenset(
    {
        RequestState.REQUEST_RECEIVED,
        RequestState.EXPECT_TO_SUPPLY,
        RequestState.WILL_SUPPLY,
        RequestState.CONDITION_PENDING,
        RequestState.RETRY_POSSIBLE,
    }
)

ON_LOAN = frozenset(
    {
        RequestState.LOANED,
        RequestState.RECEIVED,
        RequestState.RENEW_PENDING,
        RequestState.OVERDUE,
        RequestState.RECALLED,
        RequestState.SHIPPED_RETURN,
    }
)

_LENDER_STATUS: Mapping[RequestState, LenderStatus | None] = {
    RequestState.NEW: None,
    RequestState.REQUEST_RECEIVED: LenderStatus.REQUEST_RECEIVED,
    RequestState.EXPECT_TO_SUPPLY: LenderStatus.EXPECT_TO_SUPPLY,
    RequestState.WILL_SUPPLY: LenderStatus.WILL_SUPPLY,
    # ISO 18626 has no status for a pending condition: the lender still will supply.
    RequestState.CONDITION_PENDING: LenderStatus.WILL_SUPPLY,
    RequestState.RETRY_POSSIBLE: LenderStatus.RETRY_POSSIBLE,
    RequestState.UNFILLED: LenderStatus.UNFILLED,
    RequestState.LOANED: LenderStatus.LOANED,
    # Receipt, a renewal asked for and a return on its way are requester news;
    # the lender's status stays Loaned until checkin.
    RequestState.RECEIVED: LenderStatus.LOANED,
    RequestState.RENEW_PENDING: LenderStatus.LOANED,
    RequestState.OVERDUE: LenderStatus.OVERDUE,
    RequestState.RECALLED: LenderStatus.RECALLED,
    RequestState.SHIPPED_RETURN: LenderStatus.LOANED,
    RequestState.END_OF_ROTA: LenderStatus.UNFILLED,
    RequestState.CANCELLED: LenderStatus.CANCELLED,
    RequestState.COPY_COMPLETED: LenderStatus.COPY_COMPLETED,
    RequestState.LOAN_COMPLETED: LenderStatus.LOAN_COMPLETED,
    RequestState.COMPLETED_WITHOUT_RETURN: LenderStatus.COMPLETED_WITHOUT_RETURN,
}


def lender_status(state: RequestState) -> LenderStatus | None:
    """The ISO 18626 status the lender reports while a request is in `state`."""
    return _LENDER_STATUS[state]


# ---------------------------------------------------------------- the transition table

ANY_SERVICE = frozenset(ServiceType)
LOAN_SERVICE = frozenset({ServiceType.LOAN, ServiceType.COPY_OR_LOAN})
COPY_SERVICE = frozenset({ServiceType.COPY, ServiceType.COPY_OR_LOAN})

_LENDER_SENDS = {Role.LENDER: MessageKind.SUPPLYING_AGENCY_MESSAGE}
_REQUESTER_SENDS = {Role.REQUESTER: MessageKind.REQUESTING_AGENCY_MESSAGE}


@dataclass(frozen=True)
class StepRule:
    """One row of the table: who may take a step, on which service, from where to where."""

    roles: Mapping[Role, MessageKind | None]  # each allowed role and the message it sends
    moves: Mapping[RequestState, RequestState]
    services: frozenset[ServiceType] = ANY_SERVICE
    action: RequesterAction | None = None


def _all_to(
    sources: Iterable[RequestState], target: RequestState
) -> dict[RequestState, RequestState]:
    return {source: target for source in sources}


def _stay(sources: Iterable[RequestState]) -> dict[RequestState, RequestState]:
    return {source: source for source in sources}


_S = RequestState
_NOTE_STATES = frozenset(_S) - FINAL_STATES - BETWEEN_LENDERS

TRANSITIONS: Mapping[Step, StepRule] = {
    Step.NEXT_LENDER: StepRule(
        {Role.POOL: MessageKind.REQUEST}, _all_to(BETWEEN_LENDERS, _S.REQUEST_RECEIVED)
    ),
    Step.END_OF_ROTA: StepRule({Role.POOL: None}, _all_to(BETWEEN_LENDERS, _S.END_OF_ROTA)),
    # The overdue run acts for the lender; a lender on another system sends Overdue itself.
    Step.OVERDUE: StepRule(
        {Role.POOL: MessageKind.SUPPLYING_AGENCY_MESSAGE, **_LENDER_SENDS},
        _all_to({_S.LOANED, _S.RECEIVED}, _S.OVERDUE),
        LOAN_SERVICE,
    ),
    Step.EXPECT: StepRule(_LENDER_SENDS, {_S.REQUEST_RECEIVED: _S.EXPECT_TO_SUPPLY}),
    Step.WILL_SUPPLY: StepRule(
        _LENDER_SENDS, _all_to({_S.REQUEST_RECEIVED, _S.EXPECT_TO_SUPPLY}, _S.WILL_SUPPLY)
    ),
    Step.UNFILLED: StepRule(
        _LENDER_SENDS,
        _all_to(
            {_S.REQUEST_RECEIVED, _S.EXPECT_TO_SUPPLY, _S.WILL_SUPPLY, _S.CONDITION_PENDING},
            _S.UNFILLED,
        ),
    ),
    Step.RETRY: StepRule(
        _LENDER_SENDS, _all_to({_S.REQUEST_RECEIVED, _S.EXPECT_TO_SUPPLY}, _S.RETRY_POSSIBLE)
    ),
    Step.CONDITION: StepRule(
        _LENDER_SENDS,
        _all_to({_S.REQUEST_RECEIVED, _S.EXPECT_TO_SUPPLY, _S.WILL_SUPPLY}, _S.CONDITION_PENDING),
        LOAN_SERVICE,
    ),
    Step.SHIP: StepRule(
        _LENDER_SENDS, _all_to({_S.EXPECT_TO_SUPPLY, _S.WILL_SUPPLY}, _S.LOANED), LOAN_SERVICE
    ),
    Step.COPY_DONE: StepRule(
        _LENDER_SENDS,
        _all_to({_S.REQUEST_RECEIVED, _S.EXPECT_TO_SUPPLY, _S.WILL_SUPPLY}, _S.COPY_COMPLETED),
        COPY_SERVICE,
    ),
    Step.RECALL: StepRule(
        _LENDER_SENDS,
        _all_to({_S.LOANED, _S.RECEIVED, _S.RENEW_PENDING, _S.OVERDUE}, _S.RECALLED),
        LOAN_SERVICE,
    ),
    Step.RENEW_YES: StepRule(_LENDER_SENDS, {_S.RENEW_PENDING: _S.RECEIVED}, LOAN_SERVICE),
    # A refused renewal leaves the old due date; if it has passed, the next
    # overdue run marks the loan Overdue again.
    Step.RENEW_NO: StepRule(_LENDER_SENDS, {_S.RENEW_PENDING: _S.RECEIVED}, LOAN_SERVICE),
    # Lost in the requester's hands or on the way back: both end without return.
    Step.LOST: StepRule(_LENDER_SENDS, _all_to(ON_LOAN, _S.COMPLETED_WITHOUT_RETURN), LOAN_SERVICE),
    Step.CHECKIN: StepRule(_LENDER_SENDS, {_S.SHIPPED_RETURN: _S.LOAN_COMPLETED}, LOAN_SERVICE),
    Step.ACCEPT_CONDITION: StepRule(
        _REQUESTER_SENDS,
        {_S.CONDITION_PENDING: _S.WILL_SUPPLY},
        LOAN_SERVICE,
        RequesterAction.NOTIFICATION,
    ),
    # Receipt of a loan the lender already marks Overdue keeps it Overdue.
    Step.RECEIVE: StepRule(
        _REQUESTER_SENDS,
        {_S.LOANED: _S.RECEIVED, _S.OVERDUE: _S.OVERDUE},
        LOAN_SERVICE,
        RequesterAction.RECEIVED,
    ),
    Step.RETURN: StepRule(
        _REQUESTER_SENDS,
        _all_to({_S.RECEIVED, _S.RENEW_PENDING, _S.OVERDUE, _S.RECALLED}, _S.SHIPPED_RETURN),
        LOAN_SERVICE,
        RequesterAction.SHIPPED_RETURN,
    ),
    Step.RENEW: StepRule(
        _REQUESTER_SENDS,
        _all_to({_S.RECEIVED, _S.OVERDUE}, _S.RENEW_PENDING),
        LOAN_SERVICE,
        RequesterAction.RENEW,
    ),
    # The pool's lenders accept a cancel before shipping, so no CancelResponse
    # round trip is modelled (ISO 18626 lets the lender answer it).
    Step.CANCEL: StepRule(
        _REQUESTER_SENDS,
        _all_to(BEFORE_SHIPPING, _S.CANCELLED),
        action=RequesterAction.CANCEL,
    ),
    Step.RETRY_REQUEST: StepRule(
        {Role.REQUESTER: MessageKind.REQUEST}, {_S.RETRY_POSSIBLE: _S.REQUEST_RECEIVED}
    ),
    Step.DECLINE_RETRY: StepRule(
        _REQUESTER_SENDS,
        {_S.RETRY_POSSIBLE: _S.UNFILLED},
        action=RequesterAction.NOTIFICATION,
    ),
    Step.NOTE: StepRule(
        {**_LENDER_SENDS, **_REQUESTER_SENDS},
        _stay(_NOTE_STATES),
        action=RequesterAction.NOTIFICATION,
    ),
}


@dataclass(frozen=True)
class Transition:
    """An accepted step: where it led and what it says in ISO 18626 terms."""

    step: Step
    role: Role
    before: RequestState
    after: RequestState
    status: LenderStatus | None  # the lender's status after the step
    action: RequesterAction | None  # set when the requester's message carries an action
    message: MessageKind | None  # the message the step sends, if any


def apply(
    state: RequestState,
    step: Step,
    actor_role: Role,
    service: ServiceType,
    *,
    actor: str | None = None,
) -> Transition:
    """Take `step` from `state` as `actor_role`, or raise StepRefused saying why not.

    `actor` is the institution's code, used only to make the refusal readable.
    """
    rule = TRANSITIONS[step]
    _refuse_closed(state, step)
    _refuse_service(rule, step, service)
    _refuse_role(rule, step, state, actor_role, actor)

    after = rule.moves.get(state)
    if after is None:
        raise StepRefused(_wrong_state_text(rule, step, state))

    message = rule.roles[actor_role]
    action = rule.action if message is MessageKind.REQUESTING_AGENCY_MESSAGE else None
    return Transition(step, actor_role, state, after, lender_status(after), action, message)


def allowed_steps(state: RequestState, actor_role: Role, service: ServiceType) -> list[Step]:
    """The steps `actor_role` may take from `state`, in table order (for help texts)."""
    return [
        step
        for step, rule in TRANSITIONS.items()
        if actor_role in rule.roles and service in rule.services and state in rule.moves
    ]


def _refuse_closed(state: RequestState, step: Step) -> None:
    if state in FINAL_STATES:
        raise StepRefused(
            _("{step} is refused: the request is closed ({state}) and no step may follow").format(
                step=step, state=state
            )
        )


def _refuse_service(rule: StepRule, step: Step, service: ServiceType) -> None:
    if service in rule.services:
        return
    if rule.services == LOAN_SERVICE:
        text = _("{step} is refused: it is a loan step and this is a copy request")
    else:
        text = _("{step} is refused: it is a copy step and this is a loan request")
    raise StepRefused(text.format(step=step))


def _refuse_role(
    rule: StepRule, step: Step, state: RequestState, actor_role: Role, actor: str | None
) -> None:
    if actor_role in rule.roles:
        return
    who = _or_list([_role_name(role) for role in rule.roles])
    if actor_role is Role.OTHER:
        acting = _("neither the requester nor the lender")
    else:
        acting = _role_name(actor_role)
    if actor:
        text = _("only {who} may {verb}; {actor} is {acting} (request is {state})")
    else:
        text = _("only {who} may {verb}; you are {acting} (request is {state})")
    raise StepRefused(
        text.format(who=who, verb=_verb(step), actor=actor, acting=acting, state=state)
    )


def _wrong_state_text(rule: StepRule, step: Step, state: RequestState) -> str:
    who = _or_list([_role_name(role) for role in rule.roles])
    order = list(RequestState)
    sources = _or_list([str(source) for source in sorted(rule.moves, key=order.index)])
    text = _("{step} is refused from {state}: {who} may {verb} only from {sources}").format(
        step=step, state=state, who=who, verb=_verb(step), sources=sources
    )
    return text + _hint(step, state)


def _hint(step: Step, state: RequestState) -> str:
    if step is Step.CANCEL and state in ON_LOAN:
        return _("; the item has shipped, so it can no longer be cancelled")
    if step is Step.RECEIVE and state in BEFORE_SHIPPING:
        return _("; the lender has not shipped the item yet")
    if step is Step.RENEW and state in BEFORE_SHIPPING:
        return _("; only a loan the requester holds can be renewed")
    return ""


def _verb(step: Step) -> str:
    return _("mark a loan overdue") if step is Step.OVERDUE else str(step)


def _role_name(role: Role) -> str:
    names = {
        Role.REQUESTER: _("the requester"),
        Role.LENDER: _("the lender"),
        Role.POOL: _("the pool"),
        Role.OTHER: _("another partner"),
    }
    return names[role]


def _or_list(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return _("{items} or {last}").format(items=", ".join(words[:-1]), last=words[-1])


# ---------------------------------------------------------------- messages as data


@dataclass(frozen=True)
class AgencyId:
    """An institution as ISO 18626 names it: an id type (ISIL, or the pool's) and a value."""

    id_type: str
    value: str


@dataclass(frozen=True)
class Header:
    """Who writes to whom about which request, and when."""

    supplying_agency: AgencyId
    requesting_agency: AgencyId
    timestamp: datetime
    requesting_agency_request_id: str
    supplying_agency_request_id: str | None = None


@dataclass(frozen=True)
class BibliographicInfo:
    """What is asked for; `cluster_id` is the pool's union record."""

    title: str | None = None
    author: str | None = None
    isbn: str | None = None
    cluster_id: str | None = None


@dataclass(frozen=True)
class ServiceInfo:
    """Loan or copy, first request or retry, and the date it is needed by."""

    service_type: ServiceType
    request_type: RequestType = RequestType.NEW
    need_before: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class RequestMessage:
    """The requester's request to one lender; the patron is a reference, never a name."""

    header: Header
    bibliographic_info: BibliographicInfo
    service_info: ServiceInfo
    patron_reference: str | None = None


@dataclass(frozen=True)
class MessageInfo:
    """Why the lender writes, with its answer, reason codes and note."""

    reason_for_message: ReasonForMessage
    answer_yes_no: bool | None = None
    note: str | None = None
    reason_unfilled: ReasonUnfilled | None = None
    reason_retry: ReasonRetry | None = None


@dataclass(frozen=True)
class StatusInfo:
    """The lender's status, the due date of a loan, and when the status last changed."""

    status: LenderStatus
    last_change: datetime
    due_date: datetime | None = None


@dataclass(frozen=True)
class DeliveryInfo:
    """How and when the item or copy left the lender."""

    date_sent: datetime
    item_id: str | None = None
    loan_condition: LoanCondition | None = None


@dataclass(frozen=True)
class ReturnInfo:
    """Where a loan goes back to."""

    return_agency: AgencyId | None = None
    name: str | None = None


@dataclass(frozen=True)
class SupplyingAgencyMessage:
    """A message from the lender to the requester."""

    header: Header
    message_info: MessageInfo
    status_info: StatusInfo
    delivery_info: DeliveryInfo | None = None
    return_info: ReturnInfo | None = None


@dataclass(frozen=True)
class RequestingAgencyMessage:
    """A message from the requester to the lender: one action and a note."""

    header: Header
    action: RequesterAction
    note: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """The answer to a received message: OK, or ERROR with the error type."""

    confirms: MessageKind
    timestamp: datetime
    timestamp_received: datetime
    supplying_agency: AgencyId | None = None
    requesting_agency: AgencyId | None = None
    requesting_agency_request_id: str | None = None
    error_type: ErrorType | None = None  # None means messageStatus OK
    error_value: str | None = None
    reason_for_message: ReasonForMessage | None = None
    action: RequesterAction | None = None


Message = RequestMessage | SupplyingAgencyMessage | RequestingAgencyMessage | Confirmation


@dataclass(frozen=True)
class StepDetails:
    """What a staff member adds to a step: note, reason or condition code, due date."""

    note: str | None = None
    reason_unfilled: ReasonUnfilled | None = None
    reason_retry: ReasonRetry | None = None
    loan_condition: LoanCondition | None = None
    due_date: datetime | None = None


def step_message(
    transition: Transition,
    header: Header,
    details: StepDetails | None = None,
    *,
    request: RequestMessage | None = None,
) -> Message:
    """The ISO 18626 message an accepted step sends; `request` is needed for a request."""
    details = details or StepDetails()
    match transition.message:
        case MessageKind.REQUEST:
            return _request_for(transition, header, request)
        case MessageKind.SUPPLYING_AGENCY_MESSAGE:
            return _lender_message_for(transition, header, details)
        case MessageKind.REQUESTING_AGENCY_MESSAGE:
            action = transition.action or RequesterAction.NOTIFICATION
            return RequestingAgencyMessage(header, action, _requester_note(transition, details))
    raise ValueError(f"{transition.step} sends no ISO 18626 message")


def _request_for(
    transition: Transition, header: Header, request: RequestMessage | None
) -> RequestMessage:
    if request is None:
        raise ValueError(f"{transition.step} sends a request; pass the request to send")

    retry = transition.step is Step.RETRY_REQUEST
    request_type = RequestType.RETRY if retry else RequestType.NEW
    service_info = replace(request.service_info, request_type=request_type)
    return replace(request, header=header, service_info=service_info)


def _lender_message_for(
    transition: Transition, header: Header, details: StepDetails
) -> SupplyingAgencyMessage:
    step = transition.step
    status = transition.status or LenderStatus.REQUEST_RECEIVED
    info = MessageInfo(
        reason_for_message=_reason_for_message(transition),
        answer_yes_no=_renew_answer(step),
        note=_lender_note(transition, details),
        reason_unfilled=details.reason_unfilled if step is Step.UNFILLED else None,
        reason_retry=details.reason_retry if step is Step.RETRY else None,
    )
    status_info = StatusInfo(status, header.timestamp, details.due_date)

    if step is Step.SHIP:
        delivery = DeliveryInfo(header.timestamp, loan_condition=details.loan_condition)
        return_to = ReturnInfo(return_agency=header.supplying_agency)
        return SupplyingAgencyMessage(header, info, status_info, delivery, return_to)
    if step is Step.COPY_DONE:
        return SupplyingAgencyMessage(header, info, status_info, DeliveryInfo(header.timestamp))
    return SupplyingAgencyMessage(header, info, status_info)


def _reason_for_message(transition: Transition) -> ReasonForMessage:
    if transition.step in (Step.RENEW_YES, Step.RENEW_NO):
        return ReasonForMessage.RENEW_RESPONSE
    if transition.step in (Step.NOTE, Step.CONDITION):
        return ReasonForMessage.NOTIFICATION
    # ISO 18626: the lender's first answer to a request is its RequestResponse.
    if transition.before is RequestState.REQUEST_RECEIVED:
        return ReasonForMessage.REQUEST_RESPONSE
    return ReasonForMessage.STATUS_CHANGE


def _renew_answer(step: Step) -> bool | None:
    return {Step.RENEW_YES: True, Step.RENEW_NO: False}.get(step)


def _lender_note(transition: Transition, details: StepDetails) -> str | None:
    if transition.step is not Step.CONDITION:
        return details.note
    if details.loan_condition is None:
        raise ValueError("a condition step needs a loan condition code")
    return _joined(CONDITION_NOTE_PREFIX + details.loan_condition, details.note)


def _requester_note(transition: Transition, details: StepDetails) -> str | None:
    if transition.step is Step.ACCEPT_CONDITION:
        return _joined(CONDITION_ACCEPTED_NOTE, details.note)
    if transition.step is Step.DECLINE_RETRY:
        return _joined(RETRY_DECLINED_NOTE, details.note)
    return details.note


def _joined(marker: str, note: str | None) -> str:
    return f"{marker}; {note}" if note else marker


# ---------------------------------------------------------------- writing XML


def to_xml(message: Message) -> bytes:
    """Write `message` as an ISO18626Message document (UTF-8, version 1.2)."""
    root = etree.Element(_q("ISO18626Message"), nsmap={"ill": NAMESPACE})
    # The schema sets attributeFormDefault="qualified": version needs the prefix.
    root.set(_q("version"), VERSION)

    match message:
        case RequestMessage():
            _write_request(root, message)
        case SupplyingAgencyMessage():
            _write_lender_message(root, message)
        case RequestingAgencyMessage():
            _write_requester_message(root, message)
        case Confirmation():
            _write_confirmation(root, message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    element.text = text
    return element


def _maybe(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        _sub(parent, name, text)


def _when(value: datetime) -> str:
    # xs:dateTime wants the offset with a colon (+07:00), which isoformat gives.
    if value.tzinfo is None:
        raise ValueError(f"ISO 18626 times need a timezone; {value.isoformat()} has none")
    return value.isoformat(timespec="seconds")


def _maybe_when(parent: etree._Element, name: str, value: datetime | None) -> None:
    if value is not None:
        _sub(parent, name, _when(value))


def _write_agency(parent: etree._Element, name: str, agency: AgencyId) -> None:
    element = _sub(parent, name)
    _sub(element, "agencyIdType", agency.id_type)
    _sub(element, "agencyIdValue", agency.value)


def _write_header(parent: etree._Element, header: Header) -> None:
    element = _sub(parent, "header")
    _write_agency(element, "supplyingAgencyId", header.supplying_agency)
    _write_agency(element, "requestingAgencyId", header.requesting_agency)
    # Required by the 1.2 schema even when the request is for a single item.
    _sub(element, "multipleItemRequestId", "")
    _sub(element, "timestamp", _when(header.timestamp))
    _sub(element, "requestingAgencyRequestId", header.requesting_agency_request_id)
    _maybe(element, "supplyingAgencyRequestId", header.supplying_agency_request_id)


def _write_request(root: etree._Element, message: RequestMessage) -> None:
    element = _sub(root, "request")
    _write_header(element, message.header)
    _write_bibliographic_info(element, message.bibliographic_info)
    _write_service_info(element, message.service_info)

    if message.patron_reference is not None:
        patron = _sub(element, "patronInfo")
        _sub(patron, "patronId", message.patron_reference)


def _write_bibliographic_info(parent: etree._Element, info: BibliographicInfo) -> None:
    element = _sub(parent, "bibliographicInfo")
    _maybe(element, "title", info.title)
    _maybe(element, "author", info.author)

    if info.isbn is not None:
        item_id = _sub(element, "bibliographicItemId")
        _sub(item_id, "bibliographicItemIdentifier", info.isbn)
        _sub(item_id, "bibliographicItemIdentifierCode", "ISBN")

    if info.cluster_id is not None:
        record_id = _sub(element, "bibliographicRecordId")
        _sub(record_id, "bibliographicRecordIdentifierCode", CLUSTER_ID_CODE)
        _sub(record_id, "bibliographicRecordIdentifier", info.cluster_id)


def _write_service_info(parent: etree._Element, info: ServiceInfo) -> None:
    element = _sub(parent, "serviceInfo")
    _sub(element, "requestType", info.request_type)
    _sub(element, "serviceType", info.service_type)
    _maybe_when(element, "needBeforeDate", info.need_before)
    _maybe(element, "note", info.note)


def _write_lender_message(root: etree._Element, message: SupplyingAgencyMessage) -> None:
    element = _sub(root, "supplyingAgencyMessage")
    _write_header(element, message.header)
    _write_message_info(element, message.message_info)
    _write_status_info(element, message.status_info)

    if message.delivery_info is not None:
        _write_delivery_info(element, message.delivery_info)
    if message.return_info is not None:
        _write_return_info(element, message.return_info)


def _write_message_info(parent: etree._Element, info: MessageInfo) -> None:
    element = _sub(parent, "messageInfo")
    _sub(element, "reasonForMessage", info.reason_for_message)
    if info.answer_yes_no is not None:
        _sub(element, "answerYesNo", "Y" if info.answer_yes_no else "N")
    _maybe(element, "note", info.note)
    _maybe(element, "reasonUnfilled", info.reason_unfilled)
    _maybe(element, "reasonRetry", info.reason_retry)


def _write_status_info(parent: etree._Element, info: StatusInfo) -> None:
    element = _sub(parent, "statusInfo")
    _sub(element, "status", info.status)
    _maybe_when(element, "dueDate", info.due_date)
    _sub(element, "lastChange", _when(info.last_change))


def _write_delivery_info(parent: etree._Element, info: DeliveryInfo) -> None:
    element = _sub(parent, "deliveryInfo")
    _sub(element, "dateSent", _when(info.date_sent))
    _maybe(element, "itemId", info.item_id)
    _maybe(element, "loanCondition", info.loan_condition)


def _write_return_info(parent: etree._Element, info: ReturnInfo) -> None:
    element = _sub(parent, "returnInfo")
    if info.return_agency is not None:
        _write_agency(element, "returnAgencyId", info.return_agency)
    _maybe(element, "name", info.name)


def _write_requester_message(root: etree._Element, message: RequestingAgencyMessage) -> None:
    element = _sub(root, "requestingAgencyMessage")
    _write_header(element, message.header)
    _sub(element, "action", message.action)
    _maybe(element, "note", message.note)


_CONFIRMATION_OF = {
    MessageKind.REQUEST: MessageKind.REQUEST_CONFIRMATION,
    MessageKind.SUPPLYING_AGENCY_MESSAGE: MessageKind.SUPPLYING_AGENCY_MESSAGE_CONFIRMATION,
    MessageKind.REQUESTING_AGENCY_MESSAGE: MessageKind.REQUESTING_AGENCY_MESSAGE_CONFIRMATION,
}


def _write_confirmation(root: etree._Element, message: Confirmation) -> None:
    kind = _CONFIRMATION_OF.get(message.confirms)
    if kind is None:
        raise ValueError(f"a {message.confirms} is not confirmed; only the three messages are")

    element = _sub(root, kind)
    _write_confirmation_header(element, message)
    if kind is MessageKind.SUPPLYING_AGENCY_MESSAGE_CONFIRMATION:
        _maybe(element, "reasonForMessage", message.reason_for_message)
    if kind is MessageKind.REQUESTING_AGENCY_MESSAGE_CONFIRMATION:
        _maybe(element, "action", message.action)

    if message.error_type is not None:
        error = _sub(element, "errorData")
        _sub(error, "errorType", message.error_type)
        _maybe(error, "errorValue", message.error_value)


def _write_confirmation_header(parent: etree._Element, message: Confirmation) -> None:
    element = _sub(parent, "confirmationHeader")
    if message.supplying_agency is not None:
        _write_agency(element, "supplyingAgencyId", message.supplying_agency)
    if message.requesting_agency is not None:
        _write_agency(element, "requestingAgencyId", message.requesting_agency)
    _sub(element, "timestamp", _when(message.timestamp))
    _maybe(element, "requestingAgencyRequestId", message.requesting_agency_request_id)
    _sub(element, "timestampReceived", _when(message.timestamp_received))
    status = MessageStatus.OK if message.error_type is None else MessageStatus.ERROR
    _sub(element, "messageStatus", status)


def without_patron(xml_bytes: bytes) -> bytes:
    """The same message with every patronInfo removed, for purging closed requests."""
    root = etree.fromstring(xml_bytes, _safe_parser())
    for patron in root.findall(".//" + _path("patronInfo")):
        parent = patron.getparent()
        if parent is not None:
            parent.remove(patron)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------- validating


def validate(xml_bytes: bytes, schema_path: Path | str) -> list[str]:
    """Check a message against the ISO 18626 schema; an empty list means valid."""
    schema = _schema(str(schema_path))
    try:
        document = etree.fromstring(xml_bytes, _safe_parser())
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]

    if schema.validate(document):
        return []
    # The lxml stubs do not declare the error log iterable; at run time it is.
    entries = cast(Iterable[Any], schema.error_log)
    return [f"line {entry.line}: {entry.message}" for entry in entries]


@lru_cache(maxsize=4)
def _schema(schema_path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(schema_path, _safe_parser()))


def _safe_parser() -> etree.XMLParser:
    # Partners' XML is untrusted: no DTD, no entity expansion, no network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


# ---------------------------------------------------------------- reading XML


class MessageError(PoolError):
    """A partner's message cannot be used; answer it with an ERROR confirmation."""

    def __init__(self, reason: str, *, error_type: ErrorType = ErrorType.BADLY_FORMED_MESSAGE):
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


@dataclass(frozen=True)
class IncomingMessage:
    """What the pool reads from a partner's message; `problems` lists values it did not know."""

    kind: MessageKind
    raw: bytes = field(repr=False)
    supplying_agency: AgencyId | None = None
    requesting_agency: AgencyId | None = None
    requesting_agency_request_id: str | None = None
    supplying_agency_request_id: str | None = None
    timestamp: datetime | None = None
    status: LenderStatus | None = None
    action: RequesterAction | None = None
    reason_for_message: ReasonForMessage | None = None
    answer_yes_no: bool | None = None
    reason_unfilled: str | None = None
    reason_retry: str | None = None
    loan_condition: str | None = None
    note: str | None = None
    due_date: datetime | None = None
    service_type: ServiceType | None = None
    request_type: RequestType | None = None
    need_before: datetime | None = None
    title: str | None = None
    author: str | None = None
    isbn: str | None = None
    cluster_id: str | None = None
    patron_reference: str | None = None
    message_status: MessageStatus | None = None
    error_type: str | None = None
    problems: tuple[str, ...] = ()


_MESSAGE_NAMES = frozenset(kind.value for kind in MessageKind)
_HEADER_OF = {kind: "header" for kind in MessageKind} | {
    kind: "confirmationHeader" for kind in _CONFIRMATION_OF.values()
}


def parse_message(xml_bytes: bytes) -> IncomingMessage:
    """Read an ISO 18626 message, wrapped in ISO18626Message or bare, or raise MessageError."""
    root = _parse_root(xml_bytes)
    element = _message_element(root)
    kind = MessageKind(etree.QName(element).localname)

    header = element.find(_path(_HEADER_OF[kind]))
    if header is None:
        raise MessageError(f"{kind} has no {_HEADER_OF[kind]}")

    reader = _Reader()
    message = reader.header(IncomingMessage(kind, xml_bytes), header)
    message = reader.body(message, element)
    return replace(message, problems=tuple(reader.problems))


def _parse_root(xml_bytes: bytes) -> etree._Element:
    if not xml_bytes.strip():
        raise MessageError("the message is empty")
    try:
        tree = etree.ElementTree(etree.fromstring(xml_bytes, _safe_parser()))
    except etree.XMLSyntaxError as error:
        raise MessageError(f"the message is not well-formed XML: {error}") from None

    if tree.docinfo.internalDTD is not None:
        raise MessageError("the message carries a DOCTYPE, which ISO 18626 messages never need")
    return tree.getroot()


def _message_element(root: etree._Element) -> etree._Element:
    name = etree.QName(root)
    # Some partners' templates leave out the namespace; the element names decide.
    if name.namespace not in (NAMESPACE, None):
        raise MessageError(f"root element {name.text} is not in the ISO 18626 namespace")
    if name.localname in _MESSAGE_NAMES:
        return root
    if name.localname != "ISO18626Message":
        raise MessageError(f"root element {name.localname} is not an ISO 18626 message")

    children = [child for child in root if isinstance(child.tag, str)]
    if len(children) != 1 or etree.QName(children[0]).localname not in _MESSAGE_NAMES:
        found = ", ".join(etree.QName(child).localname for child in children) or "nothing"
        raise MessageError(f"ISO18626Message must hold exactly one message; it holds {found}")
    return children[0]


def _path(*names: str) -> str:
    # {*} matches the ISO namespace and no namespace alike.
    return "/".join("{*}" + name for name in names)


class _Reader:
    """Pulls fields out of a message, noting every value it cannot read."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def text(self, element: etree._Element, *names: str) -> str | None:
        found = element.find(_path(*names))
        if found is None or found.text is None or not found.text.strip():
            return None
        return found.text.strip()

    def require(self, element: etree._Element, *names: str) -> None:
        found = element.find(_path(*names))
        empty = found is None or (len(found) == 0 and not (found.text or "").strip())
        if empty:
            self.problems.append(f"{'/'.join(names)} is missing")

    def code(self, kind: type[Code], element: etree._Element, *names: str) -> Code | None:
        text = self.text(element, *names)
        if text is None:
            return None
        try:
            return kind(text)
        except ValueError:
            self.problems.append(f"{'/'.join(names)}: {text!r} is not a known {kind.__name__}")
            return None

    def when(self, element: etree._Element, *names: str) -> datetime | None:
        text = self.text(element, *names)
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            self.problems.append(f"{'/'.join(names)}: {text!r} is not a dateTime")
            return None
        # xs:dateTime may omit the offset; such a time is read as UTC so that times compare.
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def yes_no(self, element: etree._Element, *names: str) -> bool | None:
        text = self.text(element, *names)
        if text not in ("Y", "N", None):
            self.problems.append(f"{'/'.join(names)}: {text!r} is not Y or N")
        return {"Y": True, "N": False}.get(text or "")

    def agency(self, element: etree._Element, name: str) -> AgencyId | None:
        value = self.text(element, name, "agencyIdValue")
        if value is None:
            return None
        return AgencyId(self.text(element, name, "agencyIdType") or "", value)

    def header(self, message: IncomingMessage, header: etree._Element) -> IncomingMessage:
        return replace(
            message,
            supplying_agency=self.agency(header, "supplyingAgencyId"),
            requesting_agency=self.agency(header, "requestingAgencyId"),
            requesting_agency_request_id=self.text(header, "requestingAgencyRequestId"),
            supplying_agency_request_id=self.text(header, "supplyingAgencyRequestId"),
            timestamp=self.when(header, "timestamp"),
        )

    def body(self, message: IncomingMessage, element: etree._Element) -> IncomingMessage:
        match message.kind:
            case MessageKind.REQUEST:
                return self.request(message, element)
            case MessageKind.SUPPLYING_AGENCY_MESSAGE:
                return self.lender_message(message, element)
            case MessageKind.REQUESTING_AGENCY_MESSAGE:
                return self.requester_message(message, element)
        return self.confirmation(message, element)

    def request(self, message: IncomingMessage, element: etree._Element) -> IncomingMessage:
        self.require(element, "bibliographicInfo")
        return replace(
            message,
            title=self.text(element, "bibliographicInfo", "title"),
            author=self.text(element, "bibliographicInfo", "author"),
            isbn=_isbn(element),
            cluster_id=_cluster_id(element),
            service_type=self.code(ServiceType, element, "serviceInfo", "serviceType"),
            request_type=self.code(RequestType, element, "serviceInfo", "requestType"),
            need_before=self.when(element, "serviceInfo", "needBeforeDate"),
            note=self.text(element, "serviceInfo", "note"),
            patron_reference=self.text(element, "patronInfo", "patronId"),
        )

    def lender_message(self, message: IncomingMessage, element: etree._Element) -> IncomingMessage:
        self.require(element, "statusInfo", "status")
        note = self.text(element, "messageInfo", "note")
        condition = self.text(element, "deliveryInfo", "loanCondition")
        return replace(
            message,
            status=self.code(LenderStatus, element, "statusInfo", "status"),
            due_date=self.when(element, "statusInfo", "dueDate"),
            reason_for_message=self.code(
                ReasonForMessage, element, "messageInfo", "reasonForMessage"
            ),
            answer_yes_no=self.yes_no(element, "messageInfo", "answerYesNo"),
            note=note,
            reason_unfilled=self.text(element, "messageInfo", "reasonUnfilled"),
            reason_retry=self.text(element, "messageInfo", "reasonRetry"),
            loan_condition=condition or _condition_in_note(note),
        )

    def requester_message(
        self, message: IncomingMessage, element: etree._Element
    ) -> IncomingMessage:
        self.require(element, "action")
        return replace(
            message,
            action=self.code(RequesterAction, element, "action"),
            note=self.text(element, "note"),
        )

    def confirmation(self, message: IncomingMessage, element: etree._Element) -> IncomingMessage:
        return replace(
            message,
            message_status=self.code(MessageStatus, element, "confirmationHeader", "messageStatus"),
            reason_for_message=self.code(ReasonForMessage, element, "reasonForMessage"),
            action=self.code(RequesterAction, element, "action"),
            error_type=self.text(element, "errorData", "errorType"),
        )


def _isbn(element: etree._Element) -> str | None:
    for item_id in element.iterfind(_path("bibliographicInfo", "bibliographicItemId")):
        code_text = item_id.findtext(_path("bibliographicItemIdentifierCode"))
        if code_text and code_text.strip().upper() == "ISBN":
            return (item_id.findtext(_path("bibliographicItemIdentifier")) or "").strip() or None
    return None


def _cluster_id(element: etree._Element) -> str | None:
    for record_id in element.iterfind(_path("bibliographicInfo", "bibliographicRecordId")):
        code_text = record_id.findtext(_path("bibliographicRecordIdentifierCode"))
        if code_text and code_text.strip() == CLUSTER_ID_CODE:
            return (record_id.findtext(_path("bibliographicRecordIdentifier")) or "").strip()
    return None


def _condition_in_note(note: str | None) -> str | None:
    if note is None or not note.startswith(CONDITION_NOTE_PREFIX):
        return None
    return note.removeprefix(CONDITION_NOTE_PREFIX).split(";", 1)[0].strip() or None


# ---------------------------------------------------------------- incoming steps

_STEP_FOR_STATUS = {
    LenderStatus.EXPECT_TO_SUPPLY: Step.EXPECT,
    LenderStatus.WILL_SUPPLY: Step.WILL_SUPPLY,
    LenderStatus.LOANED: Step.SHIP,
    LenderStatus.OVERDUE: Step.OVERDUE,
    LenderStatus.RECALLED: Step.RECALL,
    LenderStatus.RETRY_POSSIBLE: Step.RETRY,
    LenderStatus.UNFILLED: Step.UNFILLED,
    LenderStatus.COPY_COMPLETED: Step.COPY_DONE,
    LenderStatus.LOAN_COMPLETED: Step.CHECKIN,
    LenderStatus.COMPLETED_WITHOUT_RETURN: Step.LOST,
}

_STEP_FOR_ACTION = {
    RequesterAction.RECEIVED: Step.RECEIVE,
    RequesterAction.SHIPPED_RETURN: Step.RETURN,
    RequesterAction.CANCEL: Step.CANCEL,
    RequesterAction.RENEW: Step.RENEW,
}


def step_for_message(message: IncomingMessage, state: RequestState) -> Step | None:
    """The step a partner's message asks for, given the request's state; None if only news.

    Raises MessageError with the ISO error type to answer when the pool cannot act on it.
    """
    if message.problems:
        problems = "; ".join(message.problems)
        raise MessageError(problems, error_type=ErrorType.UNRECOGNISED_DATA_VALUE)

    match message.kind:
        case MessageKind.REQUEST:
            retry = message.request_type is RequestType.RETRY
            return Step.RETRY_REQUEST if retry else Step.NEXT_LENDER
        case MessageKind.SUPPLYING_AGENCY_MESSAGE:
            return _lender_step(message, state)
        case MessageKind.REQUESTING_AGENCY_MESSAGE:
            return _requester_step(message)
    return None


def _lender_step(message: IncomingMessage, state: RequestState) -> Step | None:
    if message.reason_for_message is ReasonForMessage.RENEW_RESPONSE:
        return Step.RENEW_YES if message.answer_yes_no else Step.RENEW_NO
    notification = message.reason_for_message is ReasonForMessage.NOTIFICATION
    if notification and message.loan_condition:
        return Step.CONDITION

    # A status the lender already had is news only; a note with it is a note.
    status = message.status
    if status is not None and status is not lender_status(state):
        return _STEP_FOR_STATUS.get(status)
    return Step.NOTE if message.note else None


def _requester_step(message: IncomingMessage) -> Step | None:
    action = message.action
    if action in _STEP_FOR_ACTION:
        return _STEP_FOR_ACTION[action]
    if action is RequesterAction.NOTIFICATION:
        return _requester_notification_step(message.note or "")
    raise MessageError(
        f"action {action} is not supported by the pool",
        error_type=ErrorType.UNSUPPORTED_ACTION_TYPE,
    )


def _requester_notification_step(note: str) -> Step:
    if note.startswith(CONDITION_ACCEPTED_NOTE):
        return Step.ACCEPT_CONDITION
    if note.startswith(RETRY_DECLINED_NOTE):
        return Step.DECLINE_RETRY
    return Step.NOTE


def confirmation_for(
    message: IncomingMessage, at: datetime, error: MessageError | None = None
) -> Confirmation:
    """The confirmation that answers `message`: OK, or ERROR carrying `error`."""
    return Confirmation(
        confirms=message.kind,
        timestamp=at,
        timestamp_received=message.timestamp or at,
        supplying_agency=message.supplying_agency,
        requesting_agency=message.requesting_agency,
        requesting_agency_request_id=message.requesting_agency_request_id,
        error_type=error.error_type if error else None,
        error_value=error.reason[:200] if error else None,
        reason_for_message=message.reason_for_message,
        action=message.action,
    )
