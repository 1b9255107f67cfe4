"""OAI-PMH harvesting through sickle, made to survive real partner servers.

sickle sends the requests and carries the responses; this module decides
what a fault is, when to try again, and where a harvest stands after each
page. The departures from sickle, each for a reported fault:

- every response is parsed once, by the safe parser in `xmlsafe`, after
  invalid characters are cleaned and counted (sickle parses each response
  again on every access, with `recover=True` and without a word);
- 503, 429, every other 5xx, timeouts, resets and cut-off bodies are retried
  with exponential backoff, honouring Retry-After in seconds or as an HTTP
  date (sickle retries listed codes only and reads the header with `int()`);
- noRecordsMatch is an empty result, not an exception;
- a repeated resumption token ends the list with a warning instead of looping.

A checkpoint is saved with every page; the keys are `set_index`, `from`,
`until`, `token`, `started`, `page` and `cut_short` while a run is under
way, and `next_from` alone once it is complete.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pymarc
import requests
import urllib3
from lxml import etree
from sickle import Sickle
from sickle.response import OAIResponse

from harvesters.dublin_core import record_from_dc
from harvesters.errors import ConfigError, RecordError, SourceError, TransientError
from harvesters.holdings import HOLDINGS_TAGS, holdings_from
from harvesters.oai_profiles import Profile, profile_named
from harvesters.records import Checkpoint, HarvestedRecord, Page, Rejection
from harvesters.xmlsafe import clean_xml, refuse_doctype, safe_parser

log = logging.getLogger("harvesters.oai")

DAY_GRANULARITY = "YYYY-MM-DD"
SECOND_GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
MARC_NAMESPACE = "http://www.loc.gov/MARC21/slim"
_NETWORK_FAULTS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    # The body is read from urllib3 directly, so its own faults arrive unwrapped.
    urllib3.exceptions.HTTPError,
)
_READ_SIZE = 1 << 16
_STALLED_PAGES = 3
"""Pages in a row that bring no record unseen in the list's recent pages before it ends."""
_RECENT_PAGES = 8


@dataclass(frozen=True, slots=True)
class Repository:
    """What Identify says about a server (OAI-PMH 2.0 section 4.2)."""

    name: str
    granularity: str
    deleted_record: str
    earliest_datestamp: str
    response_date: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts, and how many to make."""

    retries: int = 5
    backoff: float = 1.0
    cap: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one, else doubling backoff; never above the cap."""
        wanted = retry_after if retry_after is not None else self.backoff * 2**attempt
        return max(0.0, min(self.cap, wanted))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Read Retry-After as delay-seconds or as an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_datestamp(value: str) -> datetime:
    """An OAI-PMH UTCdatetime (either granularity) as an aware datetime."""
    text = value.strip().removesuffix("Z")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_datestamp(moment: datetime, granularity: str) -> str:
    """Write a from/until argument the way the server's granularity demands (section 3.3.1)."""
    if granularity == DAY_GRANULARITY:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """How big one response may grow and how long it may take, and how long a list may run.

    `max_bytes` counts the body after Content-Encoding is undone, so a gzip
    bomb meets the same cap as a plain flood; `deadline` is the whole
    response's time, which a server sending one byte a second never meets
    through the per-read timeout alone; `max_pages` ends a list whose
    resumption tokens never stop.
    """

    max_bytes: int = 100 * 1024 * 1024
    deadline: float = 600.0
    max_pages: int = 100_000


class _Retryable(Exception):
    """A fault worth another attempt; `unparsable` marks a body that would not parse."""

    def __init__(self, reason: str, *, retry_after: float | None = None,
                 unparsable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unparsable = unparsable


class ParsedResponse(OAIResponse):  # type: ignore[misc]  # sickle ships without type hints
    """A sickle response parsed once, with what it took to get it."""

    def __init__(self, http_response: requests.Response, params: Mapping[str, str],
                 root: etree._Element, cleaned: int, retried: int) -> None:
        super().__init__(http_response, params=dict(params))
        self.root = root
        self.url = http_response.url
        self.cleaned = cleaned
        self.retried = retried
        tag = root.tag if isinstance(root.tag, str) else ""
        self.namespace = tag[: tag.index("}") + 1] if tag.startswith("{") else ""

    @property
    def xml(self) -> etree._Element:
        """The parsed document, never parsed again."""
        return self.root

    def find(self, path: str) -> etree._Element | None:
        """The first element at `path`, names given without namespace."""
        return self.root.find(self._qualified(path))

    def text(self, path: str) -> str:
        """The stripped text at `path`, or an empty string."""
        found = self.find(path)
        return (found.text or "").strip() if found is not None else ""

    def _qualified(self, path: str) -> str:
        return "/".join(self.namespace + step for step in path.split("/"))


class OaiClient(Sickle):  # type: ignore[misc]  # sickle ships without type hints
    """sickle's client with a kept-alive session, one parse per response and real retries."""

    def __init__(self, base_url: str, *, profile: Profile, policy: RetryPolicy,
                 timeout: float, auth: Any = None, headers: Mapping[str, str] | None = None,
                 limits: ResponseLimits | None = None) -> None:
        super().__init__(base_url, max_retries=0, timeout=timeout, auth=auth,
                         headers=dict(headers or {}))
        self.profile = profile
        self.policy = policy
        self.limits = limits or ResponseLimits()
        self.session = requests.Session()

    def _request(self, kwargs: Mapping[str, str]) -> requests.Response:
        return self.session.get(self.endpoint, params=kwargs, stream=True, **self.request_args)

    def harvest(self, **params: str) -> ParsedResponse:
        """Fetch and parse one response, retrying what may pass."""
        url = requests.Request("GET", self.endpoint, params=params).prepare().url or ""
        attempt = 0
        while True:
            try:
                return self._attempt(params, attempt)
            except _Retryable as fault:
                if attempt >= self.policy.retries:
                    raise self._give_up(fault, url, params, attempt) from fault
                wait = self.policy.delay(attempt, fault.retry_after)
                log.warning("retrying %s in %.2fs: %s", url, wait, fault.reason)
                time.sleep(wait)
                attempt += 1

    def _attempt(self, params: Mapping[str, str], attempt: int) -> ParsedResponse:
        started = time.monotonic()
        try:
            http = self._request(params)
            with contextlib.closing(http):
                body = self._read_body(http, started)
        except _NETWORK_FAULTS as error:
            raise _Retryable(f"{type(error).__name__}: {error}") from error

        if http.status_code == 429 or http.status_code >= 500:
            delay = retry_after_seconds(http.headers.get("Retry-After"))
            raise _Retryable(f"HTTP {http.status_code}", retry_after=delay)
        return self._parse(http, body, params, attempt)

    def _read_body(self, http: requests.Response, started: float) -> bytes:
        """The decoded body, refused once it passes the size cap or the deadline.

        read1 returns whatever one socket read brought (decompressed at most
        `_READ_SIZE` at a time), so both limits are checked after every read
        rather than after a block that a trickling server may never fill.
        """
        limits, size = self.limits, 0
        chunks: list[bytes] = []
        while chunk := http.raw.read1(_READ_SIZE, decode_content=True):
            size += len(chunk)
            if size > limits.max_bytes:
                raise SourceError(
                    f"{http.url}: response passed the size cap of {limits.max_bytes:,} bytes "
                    f"(max_response_mb = {limits.max_bytes / 2**20:g}); not read further")
            if time.monotonic() - started > limits.deadline:
                raise TransientError(
                    f"{http.url}: response took longer than the deadline of "
                    f"{limits.deadline:g} s (response_deadline) after {size:,} bytes; "
                    "not read further")
            chunks.append(chunk)
        body = b"".join(chunks)
        http._content = body  # sickle's OAIResponse reads .content and .text
        return body

    def _parse(self, http: requests.Response, body: bytes, params: Mapping[str, str],
               attempt: int) -> ParsedResponse:
        data, cleaned = clean_xml(self.profile.repair_response(body))
        refuse_doctype(data, http.url)
        try:
            root = etree.fromstring(data, parser=safe_parser())
        except etree.XMLSyntaxError as error:
            if http.status_code >= 400:
                raise SourceError(f"{http.url}: HTTP {http.status_code}") from error
            raise _Retryable(f"not well-formed XML: {error}", unparsable=True) from error

        response = ParsedResponse(http, params, root, cleaned, attempt)
        if etree.QName(root).localname != "OAI-PMH":
            raise SourceError(f"{http.url}: HTTP {http.status_code}, and the body is "
                              f"<{etree.QName(root).localname}>, not an OAI-PMH response")
        return response

    def _give_up(self, fault: _Retryable, url: str, params: Mapping[str, str],
                 attempt: int) -> SourceError:
        token = params.get("resumptionToken")
        where = f"{url} (resumptionToken {token!r})" if token else url
        tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
        if fault.unparsable:
            return SourceError(f"{where}: page cannot be parsed after {tries}: {fault.reason}")
        return TransientError(f"{where}: {fault.reason}, still after {tries}")


@dataclass(frozen=True, slots=True)
class _Window:
    """Where a run stands: which set, which date window, which token comes next."""

    set_index: int
    from_: str | None
    until: str | None
    token: str | None
    started: str
    page: int = 0
    cut_short: bool = False
    finished: bool = False

    def checkpoint(self) -> Checkpoint:
        return {"set_index": self.set_index, "from": self.from_, "until": self.until,
                "token": self.token, "started": self.started, "page": self.page,
                "cut_short": self.cut_short}

    @classmethod
    def resumed(cls, checkpoint: Checkpoint) -> _Window:
        return cls(set_index=int(checkpoint["set_index"]), from_=checkpoint.get("from"),
                   until=checkpoint.get("until"), token=checkpoint.get("token"),
                   started=str(checkpoint.get("started") or ""),
                   page=int(checkpoint.get("page") or 0),
                   cut_short=bool(checkpoint.get("cut_short")))


@dataclass(slots=True)
class _ListGuard:
    """What one list has shown so far, to end it when the server goes round in circles."""

    tokens: set[str] = field(default_factory=set)
    recent: deque[frozenset[str]] = field(default_factory=lambda: deque(maxlen=_RECENT_PAGES))
    stalled: int = 0
    pages: int = 0

    def reason_to_stop(self, delivery: _Delivery, max_pages: int) -> str | None:
        """Why the list must end after this page although a token came; None to go on."""
        self.pages += 1
        token = delivery.token
        if token and token in self.tokens:
            return f"resumption token {token!r} came back again"
        identifiers = frozenset(record.local_id for record in delivery.records)
        repeated = bool(identifiers) and identifiers <= frozenset().union(*self.recent)
        self.stalled = self.stalled + 1 if repeated else 0
        self.recent.append(identifiers)
        if token and self.stalled >= _STALLED_PAGES:
            return (f"{self.stalled} pages in a row brought only records the list had "
                    f"already given (last token {token!r})")
        if token and self.pages >= max_pages:
            return f"the list reached max_pages = {max_pages} and still has a token"
        if token:
            self.tokens.add(token)
        return None


@dataclass(slots=True)
class _Delivery:
    """What one response held, before it becomes a Page."""

    records: list[HarvestedRecord]
    rejections: list[Rejection]
    token: str | None


class OaiHarvester:
    """Harvests one partner's OAI-PMH endpoint into pages of decoded records.

    Example: ``OaiHarvester("tbl-slims", "TBL", "https://lib.example/oai2.php",
    profile="slims").pages(None)`` yields the pages of a full first harvest; pass
    the checkpoint of the last stored page to resume or to go on incrementally.
    """

    def __init__(
        self,
        source: str,
        partner: str,
        base_url: str,
        *,
        metadata_prefix: str | None = None,
        sets: Sequence[str] = (),
        profile: str = "generic",
        holdings_tag: str | None = None,
        full: bool = False,
        from_: str | None = None,
        until: str | None = None,
        timeout: float = 60.0,
        retries: int = 5,
        retry_cap: float = 120.0,
        backoff: float = 1.0,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        prefetch: bool = True,
        limits: ResponseLimits | None = None,
    ) -> None:
        if not partner:
            raise ConfigError(f"source {source!r}: partner code is empty; local ids need it")
        self.source = source
        self.partner = partner
        self.profile = profile_named(profile)
        self.holdings_tag = holdings_tag or self.profile.holdings_tag
        if self.holdings_tag not in HOLDINGS_TAGS:
            raise ConfigError(f"source {source!r}: holdings = {self.holdings_tag!r} is not "
                              f"one of {', '.join(HOLDINGS_TAGS)}")
        self.metadata_prefix = metadata_prefix
        self.sets: list[str | None] = [self.profile.set_spec(name) for name in sets] or [None]
        self.full = full
        self.from_ = from_
        self.until = until
        self.prefetch = prefetch
        policy = RetryPolicy(retries=retries, backoff=backoff, cap=retry_cap)
        self.client = OaiClient(base_url, profile=self.profile, policy=policy, timeout=timeout,
                                auth=auth, headers=headers, limits=limits)
        self.repository: Repository | None = None

    # -- what the server says about itself ---------------------------------------

    def identify(self) -> Repository:
        """Ask Identify for granularity, deletion policy and the server's clock."""
        response = self.client.harvest(verb="Identify")
        self._raise_oai_error(response)
        self.repository = Repository(
            name=response.text("Identify/repositoryName"),
            granularity=response.text("Identify/granularity") or DAY_GRANULARITY,
            deleted_record=response.text("Identify/deletedRecord") or "no",
            earliest_datestamp=response.text("Identify/earliestDatestamp"),
            response_date=response.text("responseDate"),
        )
        return self.repository

    def pick_prefix(self) -> str:
        """The configured metadataPrefix, else the best one ListMetadataFormats offers."""
        if self.metadata_prefix:
            return self.metadata_prefix
        if len(self.profile.prefixes) == 1:
            self.metadata_prefix = self.profile.prefixes[0]
            return self.metadata_prefix
        response = self.client.harvest(verb="ListMetadataFormats")
        self._raise_oai_error(response)
        offered = self._offered_formats(response)
        for wanted in self.profile.prefixes:
            for prefix, namespace in offered.items():
                if prefix.lower() == wanted or (wanted != "oai_dc" and namespace == MARC_NAMESPACE):
                    self.metadata_prefix = prefix
                    return prefix
        raise SourceError(f"{response.url}: source {self.source!r} offers none of "
                          f"{', '.join(self.profile.prefixes)} (only {', '.join(offered)})")

    def full_harvest_reason(self) -> str:
        """Why this source needs periodic full harvests; empty when incremental ones suffice."""
        deleted = self.repository.deleted_record if self.repository else "persistent"
        return self.profile.full_harvest_reason(deleted)

    def _offered_formats(self, response: ParsedResponse) -> dict[str, str]:
        offered: dict[str, str] = {}
        listing = response.find("ListMetadataFormats")
        for element in listing.iterfind(f"{response.namespace}metadataFormat") if (
                listing is not None) else []:
            prefix = element.findtext(f"{response.namespace}metadataPrefix") or ""
            namespace = element.findtext(f"{response.namespace}metadataNamespace") or ""
            # INLISLite v3 writes the MARC namespace with a trailing space.
            offered[prefix.strip()] = namespace.strip()
        return offered

    # -- the harvest ---------------------------------------------------------------

    def pages(self, checkpoint: Checkpoint | None) -> Iterator[Page]:
        """Yield pages from where `checkpoint` left off; the last one is `complete`."""
        repository = self.identify()
        prefix = self.pick_prefix()
        window = self._first_window(checkpoint or {}, repository)
        log.info("source=%s harvest starts: prefix=%s from=%s until=%s sets=%s token=%s",
                 self.source, prefix, window.from_, window.until, len(self.sets),
                 "yes" if window.token else "no")
        yield from self._walk(window, prefix)

    def _first_window(self, checkpoint: Checkpoint, repository: Repository) -> _Window:
        if self._resumable(checkpoint):
            return _Window.resumed(checkpoint)
        return _Window(set_index=0, from_=self._from_date(checkpoint, repository),
                       until=self.until, token=None, started=repository.response_date)

    def _resumable(self, checkpoint: Checkpoint) -> bool:
        """A run under way is resumed unless the overrides ask for a different window."""
        if checkpoint.get("set_index") is None:
            return False
        if self.full and checkpoint.get("from") is not None:
            return False
        if self.from_ is not None and checkpoint.get("from") != self.from_:
            return False
        return self.until is None or checkpoint.get("until") == self.until

    def _from_date(self, checkpoint: Checkpoint, repository: Repository) -> str | None:
        # The next window opens at the server's own clock reading from the start of
        # the last complete run (never the local clock), minus the profile's overlap.
        if self.full:
            return None
        if self.from_ is not None:
            return self.from_
        previous = checkpoint.get("next_from")
        if not previous:
            return None
        opening = parse_datestamp(str(previous)) - self.profile.window_overlap
        return format_datestamp(opening, repository.granularity)

    def _walk(self, window: _Window, prefix: str) -> Iterator[Page]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"oai-{self.source}")
        try:
            pending = self._fetch(executor, window, prefix)
            seen = _ListGuard()
            restarts = 0
            while True:
                response = pending.result()
                restarted = self._restart_if_expired(response, window, restarts)
                if restarted is not None:
                    window, seen, restarts = restarted, _ListGuard(), restarts + 1
                    pending = self._fetch(executor, window, prefix)
                    continue

                delivery = self._deliver(response, window, prefix)
                following = self._advance(window, delivery, seen)
                if not following.finished:
                    pending = self._fetch(executor, following, prefix)
                yield self._page(response, window, delivery, following)
                if following.finished:
                    return
                if following.set_index != window.set_index:
                    seen = _ListGuard()
                window = following
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, executor: ThreadPoolExecutor, window: _Window,
               prefix: str) -> Future[ParsedResponse]:
        params = self._params(window, prefix)
        if self.prefetch:
            return executor.submit(self.client.harvest, **params)
        done: Future[ParsedResponse] = Future()
        try:
            done.set_result(self.client.harvest(**params))
        except Exception as error:  # handed to the caller through the future, as a thread would
            done.set_exception(error)
        return done

    def _params(self, window: _Window, prefix: str) -> dict[str, str]:
        # OAI-PMH 2.0 section 3.5: resumptionToken is an exclusive argument.
        if window.token:
            return {"verb": "ListRecords", "resumptionToken": window.token}
        params = {"verb": "ListRecords", "metadataPrefix": prefix}
        optional = {"from": window.from_, "until": window.until,
                    "set": self.sets[window.set_index]}
        params.update({key: value for key, value in optional.items() if value})
        return params

    def _restart_if_expired(self, response: ParsedResponse, window: _Window,
                            restarts: int) -> _Window | None:
        """On badResumptionToken, open the same window again from its saved from-date."""
        error = response.find("error")
        if error is None or error.get("code") != "badResumptionToken" or not window.token:
            return None
        if restarts >= self.client.policy.retries:
            self._raise_oai_error(response)
        log.warning("source=%s page=%d: resumption token %r expired; restarting the window "
                    "from %s (records already stored are delivered again)",
                    self.source, window.page + 1, window.token, window.from_ or "the start")
        return replace(window, token=None)

    def _advance(self, window: _Window, delivery: _Delivery, seen: _ListGuard) -> _Window:
        """The window after this page; `finished` when the run is over."""
        token = delivery.token
        stop = seen.reason_to_stop(delivery, self.client.limits.max_pages)
        if stop:
            log.warning("source=%s page=%d: %s; ending the list here (the run will not "
                        "count as a full harvest)", self.source, window.page + 1, stop)
            return self._next_set(replace(window, cut_short=True))
        if token:
            return replace(window, token=token, page=window.page + 1)
        return self._next_set(window)

    def _next_set(self, window: _Window) -> _Window:
        if window.set_index + 1 >= len(self.sets):
            return replace(window, token=None, finished=True)
        return replace(window, set_index=window.set_index + 1, token=None, page=window.page + 1)

    def _page(self, response: ParsedResponse, window: _Window, delivery: _Delivery,
              following: _Window) -> Page:
        number = window.page + 1
        finished = following.finished
        page = Page(
            records=delivery.records,
            rejections=delivery.rejections,
            checkpoint=self._final_checkpoint(following) if finished else following.checkpoint(),
            complete=finished,
            full=window.from_ is None and not (finished and following.cut_short),
            cleaned=response.cleaned,
            retried=response.retried,
            label=f"{self.source} page {number}",
        )
        deleted = sum(1 for record in page.records if record.deleted)
        log.info("source=%s page=%d records=%d deleted=%d rejected=%d cleaned=%d retried=%d "
                 "token=%s", self.source, number, len(page.records), deleted,
                 len(page.rejections), page.cleaned, page.retried,
                 "yes" if delivery.token else "no")
        return page

    def _final_checkpoint(self, window: _Window) -> Checkpoint:
        # A list cut short by a repeated token was not seen to its end: the next
        # run opens the same window again rather than moving past unseen records.
        return {"next_from": window.from_ if window.cut_short else window.started}

    # -- one response --------------------------------------------------------------

    def _deliver(self, response: ParsedResponse, window: _Window, prefix: str) -> _Delivery:
        delivery = _Delivery(records=[], rejections=[], token=None)
        if self._is_empty(response):
            return delivery
        listing = response.find("ListRecords")
        if listing is None:
            raise SourceError(f"{response.url}: response has neither ListRecords nor an error")

        where = self._where(response, window)
        for position, element in enumerate(listing.iterfind(f"{response.namespace}record"), 1):
            self._read_record(element, response, f"{where}, record {position}", delivery)
        delivery.token = self._token(response, listing)
        return delivery

    def _is_empty(self, response: ParsedResponse) -> bool:
        """noRecordsMatch is a normal empty answer (section 3.6); other errors stop the run."""
        error = response.find("error")
        if error is None:
            return False
        if error.get("code") == "noRecordsMatch":
            return True
        self._raise_oai_error(response)
        return False

    def _raise_oai_error(self, response: ParsedResponse) -> None:
        error = response.find("error")
        if error is None:
            return
        code, message = error.get("code", "unknown"), (error.text or "").strip()
        token = response.params.get("resumptionToken")
        where = f"{response.url} (resumptionToken {token!r})" if token else response.url
        raise SourceError(f"{where}: source {self.source!r} answered OAI-PMH error "
                          f"{code}: {message or 'no message'}")

    def _where(self, response: ParsedResponse, window: _Window) -> str:
        token = f", resumptionToken {window.token!r}" if window.token else ""
        return f"page {window.page + 1}{token}"

    def _token(self, response: ParsedResponse, listing: etree._Element) -> str | None:
        # An empty <resumptionToken/> ends the list (section 3.5); some servers
        # write an empty element before the real one, so the first text wins.
        for element in listing.iterfind(f"{response.namespace}resumptionToken"):
            text = (element.text or "").strip()
            if text:
                return text
        return None

    def _read_record(self, element: etree._Element, response: ParsedResponse, position: str,
                     delivery: _Delivery) -> None:
        header = element.find(f"{response.namespace}header")
        identifier = _first_text(header, f"{response.namespace}identifier")
        datestamp = _first_text(header, f"{response.namespace}datestamp") or None
        if header is None or not identifier:
            delivery.rejections.append(self._rejection(response, position,
                                                       "record header has no identifier", None))
            return

        local_id = f"{self.partner}:{identifier}"
        if header.get("status") == "deleted":
            delivery.records.append(HarvestedRecord(source=self.source, local_id=local_id,
                                                    format="deleted", datestamp=datestamp,
                                                    deleted=True))
            return
        try:
            delivery.records.append(self._decode(element, response, local_id, datestamp))
        except (RecordError, ValueError, pymarc.exceptions.PymarcException) as error:
            reason = f"{identifier}: {error}"
            original = _payload_bytes(element, response.namespace)
            delivery.rejections.append(self._rejection(response, position, reason, local_id,
                                                       original))

    def _decode(self, element: etree._Element, response: ParsedResponse, local_id: str,
                datestamp: str | None) -> HarvestedRecord:
        payload = _payload(element, response.namespace)
        if payload is None:
            raise RecordError("record has no metadata")
        name = etree.QName(payload).localname
        if name == "dc":
            marc = record_from_dc(payload, datestamp=datestamp, aliases=self.profile.dc_aliases)
            form = "oai_dc"
        elif name.lower() in ("record", "collection"):
            marc = self.profile.decode_marcxml(payload)
            form = "marcxml"
        else:
            raise RecordError(f"metadata <{name}> is neither MARCXML nor oai_dc")
        return HarvestedRecord(
            source=self.source, local_id=local_id, format=form,
            original=etree.tostring(payload, encoding="utf-8"), marc=marc, datestamp=datestamp,
            holdings=holdings_from(marc, self.holdings_tag),
        )

    def _rejection(self, response: ParsedResponse, position: str, reason: str,
                   local_id: str | None, original: bytes = b"") -> Rejection:
        return Rejection(source=self.source, location=response.url, position=position,
                         reason=reason, original=original, local_id=local_id)


def _first_text(parent: etree._Element | None, path: str) -> str:
    if parent is None:
        return ""
    for element in parent.iterfind(path):
        text = (element.text or "").strip()
        if text:
            return text
    return ""


def _payload(record: etree._Element, namespace: str) -> etree._Element | None:
    metadata = record.find(f"{namespace}metadata")
    if metadata is None:
        return None
    return next((child for child in metadata if isinstance(child.tag, str)), None)


def _payload_bytes(record: etree._Element, namespace: str) -> bytes:
    payload = _payload(record, namespace)
    return etree.tostring(payload if payload is not None else record, encoding="utf-8")


__all__ = [
    "DAY_GRANULARITY",
    "SECOND_GRANULARITY",
    "OaiClient",
    "OaiHarvester",
    "ParsedResponse",
    "Repository",
    "ResponseLimits",
    "RetryPolicy",
    "format_datestamp",
    "parse_datestamp",
    "retry_after_seconds",
]
