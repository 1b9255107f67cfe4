"""The ISO 18626 protocol layer: the transition table, refusals, writing and reading messages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resource_pool.errors import PoolError, StepRefused
from resource_pool.iso18626 import (
    FINAL_STATES,
    INITIAL_STATE,
    AgencyId,
    BibliographicInfo,
    Confirmation,
    ErrorType,
    Header,
    LenderStatus,
    LoanCondition,
    MessageError,
    MessageKind,
    ReasonForMessage,
    ReasonRetry,
    ReasonUnfilled,
    RequesterAction,
    RequestMessage,
    RequestState,
    RequestType,
    Role,
    ServiceInfo,
    ServiceType,
    Step,
    StepDetails,
    Transition,
    allowed_steps,
    apply,
    code,
    confirmation_for,
    lender_status,
    parse_message,
    step_for_message,
    step_message,
    to_xml,
    validate,
)
from tests.conftest import corpora_dir

S = RequestState
WIB = timezone(timedelta(hours=7))
NOW = datetime(2025, 3, 3, 10, 15, tzinfo=WIB)

# The model written out by hand, independent of the module's table: step, who,
# which service, the states it may start from, and where it leads ("=" stays).
OPEN_AT_A_LENDER = (
    "RequestReceived ExpectToSupply WillSupply ConditionPending RetryPossible "
    "Loaned Received RenewPending Overdue Recalled ShippedReturn"
)
ROWS = [
    ("next-lender", "pool", "any", "New Unfilled", "RequestReceived"),
    ("end-of-rota", "pool", "any", "New Unfilled", "EndOfRota"),
    ("overdue", "pool lender", "loan", "Loaned Received", "Overdue"),
    ("expect", "lender", "any", "RequestReceived", "ExpectToSupply"),
    ("will-supply", "lender", "any", "RequestReceived ExpectToSupply", "WillSupply"),
    (
        "unfilled",
        "lender",
        "any",
        "RequestReceived ExpectToSupply WillSupply ConditionPending",
        "Unfilled",
    ),
    ("retry", "lender", "any", "RequestReceived ExpectToSupply", "RetryPossible"),
    (
        "condition",
        "lender",
        "loan",
        "RequestReceived ExpectToSupply WillSupply",
        "ConditionPending",
    ),
    ("ship", "lender", "loan", "ExpectToSupply WillSupply", "Loaned"),
    ("copy-done", "lender", "copy", "RequestReceived ExpectToSupply WillSupply", "CopyCompleted"),
    ("recall", "lender", "loan", "Loaned Received RenewPending Overdue", "Recalled"),
    ("renew-answer --yes", "lender", "loan", "RenewPending", "Received"),
    ("renew-answer --no", "lender", "loan", "RenewPending", "Received"),
    (
        "lost",
        "lender",
        "loan",
        "Loaned Received RenewPending Overdue Recalled ShippedReturn",
        "CompletedWithoutReturn",
    ),
    ("checkin", "lender", "loan", "ShippedReturn", "LoanCompleted"),
    ("accept-condition", "requester", "loan", "ConditionPending", "WillSupply"),
    ("receive", "requester", "loan", "Loaned", "Received"),
    ("receive", "requester", "loan", "Overdue", "Overdue"),
    ("return", "requester", "loan", "Received RenewPending Overdue Recalled", "ShippedReturn"),
    ("renew", "requester", "loan", "Received Overdue", "RenewPending"),
    (
        "cancel",
        "requester",
        "any",
        "RequestReceived ExpectToSupply WillSupply ConditionPending RetryPossible",
        "Cancelled",
    ),
    ("retry-request", "requester", "any", "RetryPossible", "RequestReceived"),
    ("decline-retry", "requester", "any", "RetryPossible", "Unfilled"),
    ("note", "requester lender", "any", OPEN_AT_A_LENDER, "="),
]

SERVICES = {
    "any": set(ServiceType),
    "loan": {ServiceType.LOAN, ServiceType.COPY_OR_LOAN},
    "copy": {ServiceType.COPY, ServiceType.COPY_OR_LOAN},
}

Move = tuple[Step, Role, ServiceType, RequestState]


def expected_moves() -> dict[Move, RequestState]:
    """Expand ROWS into one entry per step, role, service and starting state."""
    moves: dict[Move, RequestState] = {}
    for step, roles, service, sources, target in ROWS:
        for role, kind, source in itertools.product(
            roles.split(), SERVICES[service], sources.split()
        ):
            after = S(source) if target == "=" else S(target)
            moves[(Step(step), Role(role), kind, S(source))] = after
    return moves


EXPECTED = expected_moves()
LOAN_ONLY_STATES = {
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
AFTER_SHIPPING = LOAN_ONLY_STATES - {S.CONDITION_PENDING, S.LOANED}

TBL = AgencyId("ISIL", "ID-TblKT")
SMA1 = AgencyId("ISIL", "ID-TblSMA1")
HEADER = Header(TBL, SMA1, NOW, "SMA1-7", "TBL-7")
REQUEST = RequestMessage(
    HEADER,
    BibliographicInfo("Hikayat Raja Pasai", "Russell Jones", "9789794613542", "42"),
    ServiceInfo(ServiceType.LOAN, need_before=NOW + timedelta(days=14)),
    patron_reference="anggota-0815",
)
DETAILS = StepDetails(
    note="Mohon dikirim lewat kurir",
    reason_unfilled=ReasonUnfilled.NOT_ON_SHELF,
    reason_retry=ReasonRetry.ON_LOAN,
    loan_condition=LoanCondition.LIBRARY_USE_ONLY,
    due_date=NOW + timedelta(days=21),
)


def schema_file(schemas: Path) -> Path:
    """The ISO 18626 schema inside the shared schema folder."""
    return schemas / "ISO-18626-v1_2.xsd"


def messaging_moves() -> list[Move]:
    """One starting state per step and role that sends a message, with a service it allows."""
    seen: dict[tuple[Step, Role], Move] = {}
    for step, role, service, source in sorted(EXPECTED, key=str):
        if step is not Step.END_OF_ROTA:
            seen.setdefault((step, role), (step, role, service, source))
    return sorted(seen.values(), key=str)


# ---------------------------------------------------------------- the table


@pytest.mark.parametrize(("step", "role", "service", "source"), sorted(EXPECTED, key=str))
def test_every_allowed_transition(
    step: Step, role: Role, service: ServiceType, source: RequestState
) -> None:
    """Each move in the hand-written model is accepted and leads where the model says."""
    transition = apply(source, step, role, service)

    assert transition.after is EXPECTED[(step, role, service, source)]
    assert transition.before is source
    assert transition.status is lender_status(transition.after)


def test_every_other_combination_is_refused() -> None:
    """Every step, role, service and state outside the model raises StepRefused."""
    wrongly_accepted = []
    for step, role, service, state in itertools.product(Step, Role, ServiceType, RequestState):
        if (step, role, service, state) in EXPECTED:
            continue
        try:
            apply(state, step, role, service)
        except StepRefused as refusal:
            assert str(step) in str(refusal)
        else:
            wrongly_accepted.append((step.value, role.value, service.value, state.value))

    assert wrongly_accepted == []


def test_every_state_has_a_lender_status_but_new() -> None:
    """Each state maps to the ISO 18626 status the lender reports; New has none yet."""
    assert lender_status(S.NEW) is None
    assert lender_status(S.RECEIVED) is LenderStatus.LOANED
    assert lender_status(S.CONDITION_PENDING) is LenderStatus.WILL_SUPPLY
    assert all(lender_status(state) is not None for state in set(S) - {S.NEW})


def test_allowed_steps_lists_what_a_party_may_do() -> None:
    """allowed_steps names the lender's choices on a fresh loan request."""
    steps = allowed_steps(S.REQUEST_RECEIVED, Role.LENDER, ServiceType.LOAN)

    expected = [Step.EXPECT, Step.WILL_SUPPLY, Step.UNFILLED, Step.RETRY, Step.CONDITION]
    assert steps == expected + [Step.NOTE]


def test_transitions_carry_their_iso_meaning() -> None:
    """Shipping is a lender message with status Loaned; receipt a requester action."""
    ship = apply(S.WILL_SUPPLY, Step.SHIP, Role.LENDER, ServiceType.LOAN)
    receive = apply(S.LOANED, Step.RECEIVE, Role.REQUESTER, ServiceType.LOAN)
    first = apply(S.NEW, Step.NEXT_LENDER, Role.POOL, ServiceType.COPY)
    rota_end = apply(S.UNFILLED, Step.END_OF_ROTA, Role.POOL, ServiceType.LOAN)

    assert (ship.status, ship.action, ship.message) == (
        LenderStatus.LOANED,
        None,
        MessageKind.SUPPLYING_AGENCY_MESSAGE,
    )
    assert (receive.action, receive.message) == (
        RequesterAction.RECEIVED,
        MessageKind.REQUESTING_AGENCY_MESSAGE,
    )
    assert first.message is MessageKind.REQUEST
    assert rota_end.message is None


def test_a_note_sends_the_writers_own_message() -> None:
    """A note from the requester is a requestingAgencyMessage, from the lender a supplying one."""
    by_requester = apply(S.LOANED, Step.NOTE, Role.REQUESTER, ServiceType.LOAN)
    by_lender = apply(S.LOANED, Step.NOTE, Role.LENDER, ServiceType.LOAN)

    assert by_requester.message is MessageKind.REQUESTING_AGENCY_MESSAGE
    assert by_requester.action is RequesterAction.NOTIFICATION
    assert by_lender.message is MessageKind.SUPPLYING_AGENCY_MESSAGE
    assert by_lender.action is None


# ---------------------------------------------------------------- refusals


def test_wrong_party_is_named_in_the_refusal() -> None:
    """The requester shipping is refused with who may ship and who the actor is."""
    with pytest.raises(StepRefused) as refusal:
        apply(S.WILL_SUPPLY, Step.SHIP, Role.REQUESTER, ServiceType.LOAN, actor="TBL")

    expected = "only the lender may ship; TBL is the requester (request is WillSupply)"
    assert str(refusal.value) == expected


def test_a_third_partner_may_take_no_step() -> None:
    """A partner that is neither party is told so."""
    with pytest.raises(StepRefused, match="SMA2 is neither the requester nor the lender"):
        apply(S.LOANED, Step.NOTE, Role.OTHER, ServiceType.LOAN, actor="SMA2")


def test_a_loan_step_on_a_copy_request_is_refused() -> None:
    """Shipping a loan on a copy request is refused as a loan step."""
    with pytest.raises(StepRefused, match="ship is refused: it is a loan step and this is a copy"):
        apply(S.WILL_SUPPLY, Step.SHIP, Role.LENDER, ServiceType.COPY)


def test_a_copy_step_on_a_loan_request_is_refused() -> None:
    """Completing a copy on a loan request is refused as a copy step."""
    with pytest.raises(StepRefused, match="copy step and this is a loan request"):
        apply(S.WILL_SUPPLY, Step.COPY_DONE, Role.LENDER, ServiceType.LOAN)


def test_received_before_loaned_is_refused() -> None:
    """Receipt before the lender ships names the states it needs and says why."""
    with pytest.raises(StepRefused) as refusal:
        apply(S.WILL_SUPPLY, Step.RECEIVE, Role.REQUESTER, ServiceType.LOAN)

    text = str(refusal.value)
    assert "receive is refused from WillSupply" in text
    assert "the requester may receive only from Loaned or Overdue" in text
    assert "has not shipped" in text


@pytest.mark.parametrize("state", sorted(AFTER_SHIPPING - FINAL_STATES | {S.LOANED}))
def test_cancel_after_shipping_is_refused(state: RequestState) -> None:
    """Once the item has shipped the requester can no longer cancel."""
    with pytest.raises(StepRefused, match="the item has shipped"):
        apply(state, Step.CANCEL, Role.REQUESTER, ServiceType.LOAN)


@pytest.mark.parametrize("state", [S.REQUEST_RECEIVED, S.WILL_SUPPLY, S.LOANED, S.RECALLED])
def test_renew_unless_on_loan_is_refused(state: RequestState) -> None:
    """A renewal is asked only for a loan the requester holds."""
    with pytest.raises(StepRefused, match="renew is refused from"):
        apply(state, Step.RENEW, Role.REQUESTER, ServiceType.LOAN)


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
@pytest.mark.parametrize("step", [Step.NOTE, Step.CANCEL, Step.NEXT_LENDER, Step.CHECKIN])
def test_nothing_follows_a_final_state(state: RequestState, step: Step) -> None:
    """Every step after a final state is refused, naming the state."""
    with pytest.raises(StepRefused, match=f"the request is closed \\({state}\\)"):
        apply(state, step, Role.LENDER, ServiceType.LOAN)


def test_code_reads_a_listed_reason() -> None:
    """A typed reason code becomes its enum member."""
    assert code(ReasonUnfilled, "NotHeld") is ReasonUnfilled.NOT_HELD


def test_code_refuses_an_unknown_reason_listing_the_choices() -> None:
    """An unknown code is refused with the codes that would work."""
    with pytest.raises(StepRefused, match="unknown LoanCondition 'Fragile'; use one of: Library"):
        code(LoanCondition, "Fragile")


# ---------------------------------------------------------------- random walks


def plausible_moves(
    state: RequestState, service: ServiceType
) -> tuple[list[tuple[Step, Role]], list[tuple[Step, Role]]]:
    """The allowed moves from `state`, split into those that keep it open and those that close."""
    plausible = [(step, role) for role in Role for step in allowed_steps(state, role, service)]
    onward = [
        (step, role)
        for step, role in plausible
        if apply(state, step, role, service).after not in FINAL_STATES
    ]
    return onward, [move for move in plausible if move not in onward]


@st.composite
def walks(draw: st.DrawFn) -> tuple[ServiceType, list[tuple[Step, Role, Transition | None]]]:
    """A service and a run of steps from random roles, mostly plausible, some not."""
    service = draw(st.sampled_from(ServiceType))
    state = INITIAL_STATE
    taken: list[tuple[Step, Role, Transition | None]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=60))):
        onward, closing = plausible_moves(state, service)
        pick = draw(st.integers(min_value=0, max_value=9))
        if onward and pick < 7:
            step, role = draw(st.sampled_from(onward))
        elif closing and pick < 8:
            step, role = draw(st.sampled_from(closing))
        else:
            step, role = draw(st.sampled_from(Step)), draw(st.sampled_from(Role))
        try:
            transition: Transition | None = apply(state, step, role, service)
        except StepRefused:
            transition = None
        taken.append((step, role, transition))
        state = transition.after if transition else state
    return service, taken


@settings(max_examples=300, deadline=None)
@given(walks())
def test_random_steps_never_reach_a_forbidden_state(
    walk: tuple[ServiceType, list[tuple[Step, Role, Transition | None]]],
) -> None:
    """Random steps from random roles stay inside the model and never break its rules."""
    service, taken = walk
    state = INITIAL_STATE
    loaned = False
    for step, role, transition in taken:
        if transition is None:
            assert (step, role, service, state) not in EXPECTED
            continue

        assert state not in FINAL_STATES
        assert EXPECTED[(step, role, service, state)] is transition.after
        state = transition.after
        loaned = loaned or state is S.LOANED

        if service is ServiceType.COPY:
            assert state not in LOAN_ONLY_STATES
        if service is ServiceType.LOAN:
            assert state is not S.COPY_COMPLETED
        assert loaned or state not in AFTER_SHIPPING
        assert not (loaned and state is S.CANCELLED)


# ---------------------------------------------------------------- writing messages


@pytest.mark.parametrize(("step", "role", "service", "source"), messaging_moves())
def test_every_step_message_validates(
    schemas: Path, step: Step, role: Role, service: ServiceType, source: RequestState
) -> None:
    """The message each step sends is valid against the ISO 18626 1.2 schema."""
    transition = apply(source, step, role, service)

    xml = to_xml(step_message(transition, HEADER, DETAILS, request=REQUEST))

    assert validate(xml, schema_file(schemas)) == []
    assert b"+07:00" in xml


@pytest.mark.parametrize(("step", "role", "service", "source"), messaging_moves())
def test_every_step_message_reads_back_as_its_step(
    step: Step, role: Role, service: ServiceType, source: RequestState
) -> None:
    """Parsing a step's own message gives back the step, so imports take the same path."""
    transition = apply(source, step, role, service)

    message = parse_message(to_xml(step_message(transition, HEADER, DETAILS, request=REQUEST)))

    assert message.problems == ()
    assert step_for_message(message, source) is step


def test_end_of_rota_sends_no_message() -> None:
    """The pool's end of rota is internal: asking for its message is a programming error."""
    transition = apply(S.UNFILLED, Step.END_OF_ROTA, Role.POOL, ServiceType.LOAN)

    with pytest.raises(ValueError, match="end-of-rota sends no ISO 18626 message"):
        step_message(transition, HEADER)


def test_request_message_carries_the_pool_fields() -> None:
    """A request names the cluster, the ISBN, the service and only a patron reference."""
    transition = apply(S.NEW, Step.NEXT_LENDER, Role.POOL, ServiceType.LOAN)

    message = parse_message(to_xml(step_message(transition, HEADER, request=REQUEST)))

    assert (message.cluster_id, message.isbn) == ("42", "9789794613542")
    assert message.title == "Hikayat Raja Pasai"
    assert message.service_type is ServiceType.LOAN
    assert message.request_type is RequestType.NEW
    assert message.patron_reference == "anggota-0815"
    assert message.need_before == NOW + timedelta(days=14)


def test_retry_request_is_sent_as_a_retry() -> None:
    """A retry after RetryPossible goes out with requestType Retry."""
    transition = apply(S.RETRY_POSSIBLE, Step.RETRY_REQUEST, Role.REQUESTER, ServiceType.LOAN)

    message = parse_message(to_xml(step_message(transition, HEADER, request=REQUEST)))

    assert message.request_type is RequestType.RETRY


def test_ship_message_carries_due_date_and_condition() -> None:
    """Shipping reports Loaned with the due date, the condition and where to return it."""
    transition = apply(S.WILL_SUPPLY, Step.SHIP, Role.LENDER, ServiceType.LOAN)

    xml = to_xml(step_message(transition, HEADER, DETAILS))
    message = parse_message(xml)

    assert message.status is LenderStatus.LOANED
    assert message.due_date == DETAILS.due_date
    assert message.loan_condition == "LibraryUseOnly"
    assert b"returnAgencyId" in xml


def test_unfilled_message_carries_the_reason_and_answers_the_request() -> None:
    """A first answer of Unfilled is a RequestResponse with reasonUnfilled."""
    transition = apply(S.REQUEST_RECEIVED, Step.UNFILLED, Role.LENDER, ServiceType.LOAN)

    message = parse_message(to_xml(step_message(transition, HEADER, DETAILS)))

    assert message.reason_for_message is ReasonForMessage.REQUEST_RESPONSE
    assert message.reason_unfilled == "NotOnShelf"
    assert message.reason_retry is None
    assert message.note == "Mohon dikirim lewat kurir"


def test_renew_answer_says_yes_or_no() -> None:
    """A renewal answer is a RenewResponse with answerYesNo."""
    yes = apply(S.RENEW_PENDING, Step.RENEW_YES, Role.LENDER, ServiceType.LOAN)
    no = apply(S.RENEW_PENDING, Step.RENEW_NO, Role.LENDER, ServiceType.LOAN)

    answers = [parse_message(to_xml(step_message(t, HEADER, DETAILS))) for t in (yes, no)]

    assert [answer.answer_yes_no for answer in answers] == [True, False]
    assert {answer.reason_for_message for answer in answers} == {ReasonForMessage.RENEW_RESPONSE}


def test_a_condition_needs_its_code() -> None:
    """A condition step without a loan condition code cannot be written."""
    transition = apply(S.WILL_SUPPLY, Step.CONDITION, Role.LENDER, ServiceType.LOAN)

    with pytest.raises(ValueError, match="needs a loan condition code"):
        step_message(transition, HEADER, StepDetails())


def test_times_without_a_timezone_are_refused() -> None:
    """A naive timestamp cannot be written, since xs:dateTime here needs an offset."""
    transition = apply(S.LOANED, Step.RECEIVE, Role.REQUESTER, ServiceType.LOAN)
    naive = Header(TBL, SMA1, datetime(2025, 3, 3, 10, 15), "SMA1-7")

    with pytest.raises(ValueError, match="need a timezone"):
        to_xml(step_message(transition, naive))


@pytest.mark.parametrize(
    "confirms",
    [
        MessageKind.REQUEST,
        MessageKind.SUPPLYING_AGENCY_MESSAGE,
        MessageKind.REQUESTING_AGENCY_MESSAGE,
    ],
)
@pytest.mark.parametrize("error_type", [None, ErrorType.UNRECOGNISED_DATA_VALUE])
def test_confirmations_validate(
    schemas: Path, confirms: MessageKind, error_type: ErrorType | None
) -> None:
    """OK and ERROR confirmations of each message kind are valid against the schema."""
    confirmation = Confirmation(
        confirms=confirms,
        timestamp=NOW,
        timestamp_received=NOW - timedelta(seconds=2),
        supplying_agency=TBL,
        requesting_agency=SMA1,
        requesting_agency_request_id="SMA1-7",
        error_type=error_type,
        error_value="status 'Lent' is not known" if error_type else None,
        reason_for_message=ReasonForMessage.STATUS_CHANGE,
        action=RequesterAction.RECEIVED,
    )

    xml = to_xml(confirmation)
    message = parse_message(xml)

    assert validate(xml, schema_file(schemas)) == []
    assert message.kind.value == f"{confirms}Confirmation"
    assert message.message_status is not None
    assert message.message_status.value == ("ERROR" if error_type else "OK")


def test_confirmation_for_an_unreadable_message_is_an_error(schemas: Path) -> None:
    """A message with unknown values is answered with an ERROR confirmation that validates."""
    incoming = parse_message(lender_xml(status="Lent"))
    with pytest.raises(MessageError) as refusal:
        step_for_message(incoming, S.WILL_SUPPLY)

    xml = to_xml(confirmation_for(incoming, NOW, refusal.value))

    assert refusal.value.error_type is ErrorType.UNRECOGNISED_DATA_VALUE
    assert validate(xml, schema_file(schemas)) == []
    assert b"UnrecognisedDataValue" in xml


def test_validate_reports_what_the_schema_rejects(schemas: Path) -> None:
    """An unprefixed version attribute is invalid, and validate says so with a line number."""
    xml = to_xml(REQUEST).replace(b"ill:version", b"version")

    problems = validate(xml, schema_file(schemas))

    assert problems and problems[0].startswith("line ")
    assert any("version" in problem for problem in problems)


def test_validate_reports_broken_xml(schemas: Path) -> None:
    """Bytes that are not XML give one problem, not an exception."""
    assert validate(b"<ISO18626Message", schema_file(schemas))[0].startswith("not well-formed")


# ---------------------------------------------------------------- reading messages


def lender_xml(status: str, note: str = "", reason: str = "StatusChange") -> bytes:
    """A small lender message in the ISO namespace with the given status."""
    return f"""<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626" version="1.2">
      <supplyingAgencyMessage>
        <header>
          <supplyingAgencyId><agencyIdType>ISIL</agencyIdType>
            <agencyIdValue>ID-TblKT</agencyIdValue></supplyingAgencyId>
          <requestingAgencyId><agencyIdType>ISIL</agencyIdType>
            <agencyIdValue>ID-TblSMA1</agencyIdValue></requestingAgencyId>
          <multipleItemRequestId/>
          <timestamp>2025-03-03T10:15:00+07:00</timestamp>
          <requestingAgencyRequestId>SMA1-7</requestingAgencyRequestId>
        </header>
        <messageInfo><reasonForMessage>{reason}</reasonForMessage><note>{note}</note></messageInfo>
        <statusInfo><status>{status}</status><lastChange>2025-03-03T10:15:00Z</lastChange></statusInfo>
      </supplyingAgencyMessage>
    </ISO18626Message>""".encode()


RESHARE_FILES = sorted(
    path.name for path in (corpora_dir() / "github-mod-rs-iso18626").glob("*.xml")
)


@pytest.mark.parametrize("name", RESHARE_FILES)
def test_every_reshare_message_parses(corpora: Path, name: str) -> None:
    """Each ReShare sample parses into its kind, with unknown placeholders listed as problems."""
    raw = (corpora / "github-mod-rs-iso18626" / name).read_bytes()

    message = parse_message(raw)

    assert message.kind.value.lower() in raw.decode().lower()
    assert message.raw == raw
    assert message.requesting_agency is None or message.requesting_agency.id_type


def test_reshare_mock_request_reads_its_bibliographic_data(corpora: Path) -> None:
    """The CrossLink mock request gives title, ISBN, service and request type."""
    raw = (corpora / "github-mod-rs-iso18626" / "illmockrequest.xml").read_bytes()

    message = parse_message(raw)

    assert (message.title, message.author) == ("Layered of the Rungs", "Junior Tooken")
    assert message.isbn == "1884"
    assert message.service_type is ServiceType.LOAN
    assert message.requesting_agency == AgencyId("DMMY", "NIA2")
    assert message.problems == ()


def test_reshare_retry_request_is_a_retry(corpora: Path) -> None:
    """ReShare's retry sample reads as requestType Retry with a patron reference only."""
    raw = (corpora / "github-mod-rs-iso18626" / "patronRequestRetry.xml").read_bytes()

    message = parse_message(raw)

    assert message.request_type is RequestType.RETRY
    assert message.patron_reference == "patronId_holder"
    assert step_for_message(message, S.RETRY_POSSIBLE) is Step.RETRY_REQUEST


def test_reshare_unfilled_notification_moves_to_unfilled_once_its_time_is_read(
    corpora: Path,
) -> None:
    """The unfilled notification reads status and note; its placeholder time is a problem."""
    raw = (corpora / "github-mod-rs-iso18626" / "unfilledNotification.xml").read_bytes()
    message = parse_message(raw)

    assert message.status is LenderStatus.UNFILLED
    assert message.note == "can't find it after all"
    assert message.problems == ("timestamp: 'timestamp_holder' is not a dateTime",)
    with pytest.raises(MessageError, match="timestamp_holder"):
        step_for_message(message, S.WILL_SUPPLY)


def test_reshare_status_request_is_not_supported(corpora: Path) -> None:
    """A StatusRequest action is answered as an unsupported action type."""
    raw = (corpora / "github-mod-rs-iso18626" / "requestingAgencyMessage.xml").read_bytes()
    message = parse_message(raw)

    with pytest.raises(MessageError) as refusal:
        step_for_message(message, S.LOANED)

    assert message.action is RequesterAction.STATUS_REQUEST
    assert refusal.value.error_type is ErrorType.UNSUPPORTED_ACTION_TYPE


def test_namespace_free_template_parses(corpora: Path) -> None:
    """ReShare's namespace-free status template still reads its status."""
    raw = corpora / "github-mod-rs-iso18626" / "statusChangeExpectToSupplyTemplate.xml"

    message = parse_message(raw.read_bytes())

    assert message.status is LenderStatus.EXPECT_TO_SUPPLY
    assert message.supplying_agency == AgencyId("ISIL", "_SUPPLY_AGENCY_ID_")


def test_a_repeated_status_with_a_note_is_a_note() -> None:
    """A lender resending its current status with a note asks for no change of state."""
    message = parse_message(lender_xml("Loaned", note="Sampul agak rusak"))

    assert step_for_message(message, S.RECEIVED) is Step.NOTE
    assert step_for_message(message, S.WILL_SUPPLY) is Step.SHIP


def test_an_acknowledgement_asks_for_no_step() -> None:
    """RequestReceived from the lender, and any confirmation, are news only."""
    acknowledgement = parse_message(lender_xml("RequestReceived", reason="RequestResponse"))
    confirmation = parse_message(to_xml(confirmation_for(acknowledgement, NOW)))

    assert step_for_message(acknowledgement, S.REQUEST_RECEIVED) is None
    assert step_for_message(confirmation, S.REQUEST_RECEIVED) is None


BAD_MESSAGES = [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<ISO18626Message><request>", "not well-formed"),
    (b"\xff\xfe<a/>", "not well-formed"),
    (b"<record xmlns='http://www.loc.gov/MARC21/slim'/>", "not in the ISO 18626 namespace"),
    (b"<catalogue/>", "root element catalogue is not an ISO 18626 message"),
    (b"<ISO18626Message/>", "it holds nothing"),
    (b"<ISO18626Message><request/><request/></ISO18626Message>", "holds request, request"),
    (b"<ISO18626Message><request/></ISO18626Message>", "request has no header"),
    (b"<supplyingAgencyMessage/>", "supplyingAgencyMessage has no header"),
    (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<request><header>&x;</header></request>",
        "DOCTYPE",
    ),
    (
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<request>&b;</request>",
        "DOCTYPE",
    ),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_MESSAGES)
def test_malformed_input_raises_a_pool_error_naming_the_fault(raw: bytes, reason: str) -> None:
    """Broken, foreign or hostile input raises MessageError, a PoolError, never a crash."""
    with pytest.raises(MessageError, match=reason) as refusal:
        parse_message(raw)

    assert isinstance(refusal.value, PoolError)
    assert refusal.value.error_type is ErrorType.BADLY_FORMED_MESSAGE


def test_missing_required_values_are_problems_not_crashes() -> None:
    """A lender message without a status still parses, listing the missing status."""
    raw = lender_xml("")

    message = parse_message(raw)

    assert message.status is None
    assert message.problems == ("statusInfo/status is missing",)


def test_a_time_without_offset_is_read_as_utc() -> None:
    """xs:dateTime without an offset is read as UTC so that it compares with other times."""
    raw = lender_xml("Loaned").replace(b"2025-03-03T10:15:00+07:00", b"2025-03-03T10:15:00")

    assert parse_message(raw).timestamp == datetime(2025, 3, 3, 10, 15, tzinfo=UTC)
