"""The union catalogue as an OAI-PMH 2.0 data provider, for OPACs and Indonesia OneSearch.

`OaiProvider` is a plain WSGI application; `serve` runs it under waitress,
a production WSGI server. Every request is answered from one read-only look
at the pool, so serving never stalls a harvest.

- Items are clusters: the identifier is oai:<repository identifier>:<union id>,
  the datestamp the cluster's last change, to the second.
- Formats: marc21 (the merged record of `resource_pool.export`, in MARCXML,
  holdings in 852 with $a naming the partner) and oai_dc (after the Library
  of Congress MARC to Dublin Core crosswalk).
- Sets: flag:<flag> and partner:<code>, under the parents flag and partner.
- Deletions are persistent: a tombstoned cluster answers with a deleted
  header for as long as the pool exists (section 2.5.1).
- Resumption tokens carry the position as the last union id sent, never
  an offset, and are signed with a key kept in the database: they survive
  restarts, work on any server of the same pool, and cannot be altered.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Engine, Select, func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col

from harvesters.errors import ConfigError, PoolError
from resource_pool.config import PoolConfig, _check_keys, _positive, _string, _table
from resource_pool.db import session_scope
from resource_pool.export import (
    CLUSTER_COLUMNS,
    MARC_NAMESPACE,
    MARC_SCHEMA,
    XSI_NAMESPACE,
    MarcJson,
    RecordLayout,
    UnionRecord,
    export_settings,
    load_union_records,
    marcxml,
    merge_record,
    rule_flags,
    xml_escape,
)
from resource_pool.export_models import ProviderKey
from resource_pool.models import Cluster, Flag, Holding, Partner, SourceRecord, utcnow

log = logging.getLogger(__name__)

OAI_NAMESPACE = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NAMESPACE = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NAMESPACE = "http://purl.org/dc/elements/1.1/"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
TOKEN_KEY_PURPOSE = "oai-resumption-token"


@dataclass(frozen=True)
class MetadataFormat:
    """A metadata format the provider disseminates (OAI-PMH 2.0 section 3.4)."""

    prefix: str
    schema: str
    namespace: str


METADATA_FORMATS = (
    MetadataFormat("marc21", MARC_SCHEMA, MARC_NAMESPACE),
    MetadataFormat("oai_dc", OAI_DC_SCHEMA, OAI_DC_NAMESPACE),
)
_PREFIXES = {f.prefix for f in METADATA_FORMATS}


# -- configuration: the [serve] table of pool.toml -----------------------------------------

_SERVE_KEYS = {
    "host",
    "port",
    "base_url",
    "repository_identifier",
    "admin_email",
    "page_size",
    "sets",
    "threads",
}
_REPOSITORY_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")
_EMAIL = re.compile(r"^\S+@(\S+\.)+\S+$")


@dataclass(frozen=True)
class ProviderSettings:
    """The [serve] table of pool.toml, checked."""

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None
    repository_identifier: str = "pool"
    admin_emails: tuple[str, ...] = ()
    page_size: int = 200
    sets: bool = True
    threads: int = 4


def provider_settings(config: PoolConfig) -> ProviderSettings:
    """Read and check [serve]; every error names pool.toml, the key and the value."""
    where = "pool.toml [serve]"
    table = _table(config.raw, "serve", "pool.toml")
    _check_keys(table, _SERVE_KEYS, where)

    identifier = _string(table, "repository_identifier", where, default=config.code.lower())
    if not _REPOSITORY_IDENTIFIER.match(identifier):
        raise ConfigError(
            f"{where}: repository_identifier = {identifier!r}: use letters, digits, '.' and '-'"
        )
    sets = table.get("sets", True)
    if not isinstance(sets, bool):
        raise ConfigError(f"{where}: sets = {sets!r}: must be true or false")

    return ProviderSettings(
        host=_string(table, "host", where, default="127.0.0.1"),
        port=_positive(table, "port", where, default=8080),
        base_url=_base_url(table, where),
        repository_identifier=identifier,
        admin_emails=_emails(table, where),
        page_size=_positive(table, "page_size", where, default=200),
        sets=sets,
        threads=_positive(table, "threads", where, default=4),
    )


def _base_url(table: dict[str, Any], where: str) -> str | None:
    if "base_url" not in table:
        return None
    value = _string(table, "base_url", where)
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: base_url = {value!r}: must start with http:// or https://")
    return value


def _emails(table: dict[str, Any], where: str) -> tuple[str, ...]:
    value = table.get("admin_email", [])
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(
        isinstance(v, str) and _EMAIL.match(v) for v in values
    ):
        raise ConfigError(
            f"{where}: admin_email = {value!r}: must be an e-mail address or a list of them"
        )
    return tuple(values)


# -- protocol errors --------------------------------------------------------------------------


class _ProtocolError(PoolError):
    """An OAI-PMH error condition (section 3.6); it becomes an <error> in a 200 response."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# -- resumption tokens --------------------------------------------------------------------------


def provider_secret(engine: Engine) -> bytes:
    """The key that signs resumption tokens, made on first use and kept in the database."""
    secret = _read_secret(engine)
    if secret is not None:
        return secret
    try:
        with session_scope(engine) as session:
            session.add(ProviderKey(purpose=TOKEN_KEY_PURPOSE, secret=secrets.token_hex(32)))
    except IntegrityError:
        # Another server of the same pool made it first; its key is the one to use.
        pass
    stored = _read_secret(engine)
    assert stored is not None
    return stored


def _read_secret(engine: Engine) -> bytes | None:
    with session_scope(engine, read_only=True) as session:
        row = session.execute(
            select(col(ProviderKey.secret)).where(col(ProviderKey.purpose) == TOKEN_KEY_PURPOSE)
        ).scalar_one_or_none()
    return bytes.fromhex(row) if row else None


@dataclass(frozen=True)
class ListPosition:
    """Where a list request stands: its arguments and the last union id already sent."""

    verb: str
    prefix: str
    set_spec: str | None
    start: datetime | None
    end: datetime | None
    after: int = 0
    cursor: int = 0
    total: int = 0

    def as_payload(self) -> dict[str, Any]:
        return {
            "v": self.verb,
            "m": self.prefix,
            "s": self.set_spec,
            "f": self.start.isoformat() if self.start else None,
            "u": self.end.isoformat() if self.end else None,
            "a": self.after,
            "c": self.cursor,
            "n": self.total,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ListPosition:
        return cls(
            verb=str(payload["v"]),
            prefix=str(payload["m"]),
            set_spec=payload["s"] if payload["s"] is None else str(payload["s"]),
            start=_moment(payload["f"]),
            end=_moment(payload["u"]),
            after=int(payload["a"]),
            cursor=int(payload["c"]),
            total=int(payload["n"]),
        )


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


class TokenSigner:
    """Turns list positions into signed resumption tokens and back.

    A token is base64url(JSON) "." base64url(HMAC-SHA256, 16 bytes): URL-safe
    and free of XML's special characters. Anything that does not verify is
    badResumptionToken (section 3.6).
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def sign(self, position: ListPosition) -> str:
        body = json.dumps(position.as_payload(), separators=(",", ":")).encode()
        encoded = _b64(body)
        return f"{encoded}.{_b64(self._mac(encoded))}"

    def read(self, token: str, verb: str) -> ListPosition:
        encoded, _, signature = token.partition(".")
        try:
            expected = self._mac(encoded)
            if not hmac.compare_digest(_unb64(signature), expected):
                raise ValueError("signature does not match")
            position = ListPosition.from_payload(json.loads(_unb64(encoded)))
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as error:
            raise _ProtocolError(
                "badResumptionToken", f"resumptionToken {token!r} is not one this pool issued"
            ) from error
        if position.verb != verb:
            raise _ProtocolError(
                "badResumptionToken", f"resumptionToken {token!r} belongs to {position.verb}"
            )
        return position

    def _mac(self, encoded: str) -> bytes:
        return hmac.new(self.secret, encoded.encode("ascii"), hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- checking a request (section 3.1 and the verbs' arguments in section 4) -------------------

_VERB_ARGUMENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "ListIdentifiers": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
    "ListRecords": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
}
_PREFIX_SYNTAX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
_SET_SYNTAX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
_URI_SYNTAX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LARGEST_ID = 2**31 - 1
"""Cluster ids are 32-bit integers in the database."""
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def checked_request(pairs: Sequence[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """The verb and its arguments, or badVerb / badArgument naming what is wrong."""
    verbs = [value for name, value in pairs if name == "verb"]
    if len(verbs) != 1 or verbs[0] not in _VERB_ARGUMENTS:
        found = "no verb" if not verbs else f"verb {', '.join(map(repr, verbs))}"
        raise _ProtocolError("badVerb", f"{found}; give one of {', '.join(_VERB_ARGUMENTS)}")
    verb = verbs[0]

    arguments: dict[str, str] = {}
    for name, value in pairs:
        if name == "verb":
            continue
        if name in arguments:
            raise _ProtocolError("badArgument", f"argument {name} is given more than once")
        arguments[name] = value

    _check_arguments(verb, arguments)
    return verb, arguments


def _check_arguments(verb: str, arguments: dict[str, str]) -> None:
    required, optional = _VERB_ARGUMENTS[verb]
    for name in arguments:
        if name not in required | optional:
            raise _ProtocolError("badArgument", f"{verb} takes no argument {name!r}")
    if "resumptionToken" in arguments:
        if len(arguments) > 1:
            raise _ProtocolError("badArgument", "resumptionToken is an exclusive argument")
        return
    for name in sorted(required - set(arguments)):
        raise _ProtocolError("badArgument", f"{verb} needs the argument {name}")
    _check_syntax(arguments)


def _check_syntax(arguments: dict[str, str]) -> None:
    checks = {"metadataPrefix": _PREFIX_SYNTAX, "set": _SET_SYNTAX, "identifier": _URI_SYNTAX}
    for name, pattern in checks.items():
        if name in arguments and not pattern.fullmatch(arguments[name]):
            raise _ProtocolError("badArgument", f"{name} {arguments[name]!r} is malformed")

    bounds = [name for name in ("from", "until") if name in arguments]
    for name in bounds:
        _parse_datestamp(arguments[name], name)
    if len(bounds) == 2:
        _check_window(arguments["from"], arguments["until"])


def _parse_datestamp(value: str, name: str) -> datetime:
    """A from or until argument in either granularity (section 3.3.1)."""
    try:
        if _DAY.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        if _SECOND.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        pass
    raise _ProtocolError(
        "badArgument", f"{name} {value!r} is neither YYYY-MM-DD nor YYYY-MM-DDThh:mm:ssZ"
    )


def _check_window(start: str, end: str) -> None:
    if len(start) != len(end):
        raise _ProtocolError(
            "badArgument", f"from {start!r} and until {end!r} differ in granularity"
        )
    if start > end:
        raise _ProtocolError("badArgument", f"from {start!r} is later than until {end!r}")


def _window(arguments: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """from as an inclusive start; until as an exclusive end one granule later.

    Datestamps are cut to the second, so a cluster changed at 10:00:00.4
    shows 10:00:00 and must still be inside until=10:00:00.
    """
    start = end = None
    if "from" in arguments:
        start = _parse_datestamp(arguments["from"], "from")
    if "until" in arguments:
        until = arguments["until"]
        step = timedelta(days=1) if _DAY.fullmatch(until) else timedelta(seconds=1)
        with contextlib.suppress(OverflowError):
            # The end of year 9999 has no granule after it: no upper bound at all.
            end = _parse_datestamp(until, "until") + step
    return start, end


# -- the provider -------------------------------------------------------------------------------


Handler = Callable[[dict[str, str], str], str]
StartResponse = Callable[..., Any]


class OaiProvider:
    """The WSGI application: parse, answer from the pool, return one XML document."""

    def __init__(
        self, engine: Engine, config: PoolConfig, settings: ProviderSettings | None = None
    ) -> None:
        self.engine = engine
        self.config = config
        self.settings = settings or provider_settings(config)
        self.layout = RecordLayout.for_profile(config, export_settings(config), "generic", None)
        self.tokens = TokenSigner(provider_secret(engine))
        self.identifier_prefix = f"oai:{self.settings.repository_identifier}:"
        self.handlers: dict[str, Handler] = {
            "Identify": self.identify,
            "ListMetadataFormats": self.list_metadata_formats,
            "ListSets": self.list_sets,
            "ListIdentifiers": self.list_identifiers,
            "ListRecords": self.list_records,
            "GetRecord": self.get_record,
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != "/oai":
            return _plain(start_response, "404 Not Found", "The OAI-PMH endpoint is /oai.\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "POST"):
            return _plain(start_response, "405 Method Not Allowed", "Use GET or POST.\n")

        pairs = _request_pairs(environ)
        base_url = self.settings.base_url or _base_url_of(environ)
        try:
            body = self.respond(pairs, base_url)
        except OperationalError as error:
            log.error("OAI-PMH request %s failed: the database did not answer: %s", pairs, error)
            return _plain(start_response, "503 Service Unavailable", "Try again shortly.\n")

        headers = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    def respond(self, pairs: Sequence[tuple[str, str]], base_url: str) -> bytes:
        """The response document for one request's arguments."""
        started, clock = utcnow(), time.monotonic()
        echoed, outcome = "", "ok"
        try:
            verb, arguments = checked_request(pairs)
            # Section 3.6: after badVerb or badArgument the request element
            # carries no attributes; after any other error it carries them all.
            echoed = _attributes({"verb": verb, **arguments})
            body = self.handlers[verb](arguments, base_url)
        except _ProtocolError as error:
            body = f'<error code="{error.code}">{xml_escape(error.message)}</error>'
            outcome = f"{error.code}: {error.message}"

        request = f"<request{echoed}>{xml_escape(base_url)}</request>"
        document = _envelope(started, request + body)
        log.info(
            "OAI-PMH request=%s bytes=%d seconds=%.3f %s",
            dict(pairs),
            len(document),
            time.monotonic() - clock,
            outcome,
        )
        return document

    # -- Identify, ListMetadataFormats, ListSets ---------------------------------------------

    def identify(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.2: name, base URL, earliest datestamp, persistent deletions, seconds."""
        with session_scope(self.engine, read_only=True) as session:
            earliest = session.execute(select(func.min(col(Cluster.changed_at)))).scalar()
        # A placeholder in the reserved .invalid domain (RFC 2606) until [serve] admin_email is set.
        placeholder = f"admin@{self.settings.repository_identifier}.invalid"
        emails = self.settings.admin_emails or (placeholder,)
        parts = [
            f"<repositoryName>{xml_escape(self.config.name)}</repositoryName>",
            f"<baseURL>{xml_escape(base_url)}</baseURL>",
            "<protocolVersion>2.0</protocolVersion>",
            *(f"<adminEmail>{xml_escape(email)}</adminEmail>" for email in emails),
            f"<earliestDatestamp>{_datestamp(earliest or utcnow())}</earliestDatestamp>",
            "<deletedRecord>persistent</deletedRecord>",
            f"<granularity>{GRANULARITY}</granularity>",
        ]
        return f"<Identify>{''.join(parts)}</Identify>"

    def list_metadata_formats(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.4: both formats, for the repository or for one live item."""
        if "identifier" in arguments:
            union = self._item(arguments["identifier"])
            if union.deleted:
                raise _ProtocolError(
                    "noMetadataFormats",
                    f"{arguments['identifier']} is deleted; no format can disseminate it",
                )
        formats = "".join(
            f"<metadataFormat><metadataPrefix>{f.prefix}</metadataPrefix>"
            f"<schema>{f.schema}</schema><metadataNamespace>{f.namespace}</metadataNamespace>"
            "</metadataFormat>"
            for f in METADATA_FORMATS
        )
        return f"<ListMetadataFormats>{formats}</ListMetadataFormats>"

    def list_sets(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.6: the flags and the partners; the list is short, so never split."""
        self._require_sets()
        if "resumptionToken" in arguments:
            raise _ProtocolError(
                "badResumptionToken",
                f"resumptionToken {arguments['resumptionToken']!r}: ListSets is never split",
            )
        entries = [("flag", "Flagged records"), ("partner", "Held by partners")]
        entries += [(f"flag:{name}", f"Flagged {name}") for name in self._flag_names()]
        entries += [(f"partner:{code}", name) for code, name in self._partners()]
        sets = "".join(
            f"<set><setSpec>{spec}</setSpec><setName>{xml_escape(name)}</setName></set>"
            for spec, name in entries
        )
        return f"<ListSets>{sets}</ListSets>"

    def _set_specs_known(self) -> set[str]:
        flags = {f"flag:{name}" for name in self._flag_names()}
        return {"flag", "partner"} | flags | {f"partner:{code}" for code, _ in self._partners()}

    def _flag_names(self) -> list[str]:
        names = set(rule_flags(self.config))
        with session_scope(self.engine, read_only=True) as session:
            names.update(session.execute(select(col(Flag.flag)).distinct()).scalars())
        return sorted(name for name in names if _SET_SYNTAX.fullmatch(name))

    def _partners(self) -> list[tuple[str, str]]:
        with session_scope(self.engine, read_only=True) as session:
            rows = session.execute(
                select(col(Partner.code), col(Partner.name)).order_by(col(Partner.code))
            ).all()
        return [(code, name) for code, name in rows]

    def _require_sets(self) -> None:
        if not self.settings.sets:
            raise _ProtocolError(
                "noSetHierarchy", "this repository offers no sets (pool.toml [serve] sets)"
            )

    # -- GetRecord, ListIdentifiers, ListRecords ---------------------------------------------

    def get_record(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.1: one item in one format; a deleted item is a header alone."""
        prefix = self._format(arguments["metadataPrefix"])
        union = self._item(arguments["identifier"])
        with session_scope(self.engine, read_only=True) as session:
            specs = self._set_specs(session, [union.id])
        return f"<GetRecord>{self._record(union, prefix, specs[union.id])}</GetRecord>"

    def list_identifiers(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.3: headers, a page at a time."""
        return self._list("ListIdentifiers", arguments)

    def list_records(self, arguments: dict[str, str], base_url: str) -> str:
        """Section 4.5: records, a page at a time."""
        return self._list("ListRecords", arguments)

    def _list(self, verb: str, arguments: dict[str, str]) -> str:
        position = self._position(verb, arguments)
        with session_scope(self.engine, read_only=True) as session:
            rows = self._page_rows(session, position)
            if not rows:
                raise _ProtocolError("noRecordsMatch", "no items match the arguments given")
            page = rows[: self.settings.page_size]
            specs = self._set_specs(session, [row.id for row in page])
            items = self._items(session, verb, position.prefix, page, specs)

        token = self._next_token(position, page, more=len(rows) > len(page))
        return f"<{verb}>{items}{token}</{verb}>"

    def _position(self, verb: str, arguments: dict[str, str]) -> ListPosition:
        if "resumptionToken" in arguments:
            return self.tokens.read(arguments["resumptionToken"], verb)
        prefix = self._format(arguments["metadataPrefix"])
        set_spec = arguments.get("set")
        if set_spec is not None:
            self._require_sets()
            if set_spec not in self._set_specs_known():
                raise _ProtocolError("noRecordsMatch", f"set {set_spec!r} does not exist")
        start, end = _window(arguments)
        position = ListPosition(verb, prefix, set_spec, start, end)
        return replace(position, total=self._count(position))

    def _conditions(self, position: ListPosition) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if position.start is not None:
            conditions.append(col(Cluster.changed_at) >= position.start)
        if position.end is not None:
            conditions.append(col(Cluster.changed_at) < position.end)
        if position.set_spec is not None:
            conditions.append(_in_set(position.set_spec))
        return conditions

    def _count(self, position: ListPosition) -> int:
        with session_scope(self.engine, read_only=True) as session:
            query = select(func.count()).select_from(Cluster).where(*self._conditions(position))
            return int(session.execute(query).scalar_one())

    def _page_rows(self, session: Session, position: ListPosition) -> list[Any]:
        query = (
            select(*CLUSTER_COLUMNS)
            .where(col(Cluster.id) > position.after, *self._conditions(position))
            .order_by(col(Cluster.id))
            .limit(self.settings.page_size + 1)
        )
        return list(session.execute(query).all())

    def _items(
        self,
        session: Session,
        verb: str,
        prefix: str,
        rows: Sequence[Any],
        specs: dict[int, list[str]],
    ) -> str:
        if verb == "ListIdentifiers":
            return "".join(
                self._header(row.id, row.changed_at, bool(row.deleted), specs[row.id])
                for row in rows
            )
        unions = load_union_records(session, rows)
        return "".join(self._record(union, prefix, specs[union.id]) for union in unions)

    def _next_token(self, position: ListPosition, page: Sequence[Any], more: bool) -> str:
        """Section 3.5: a token while more follows; an empty one ends a list that was split."""
        sent = position.cursor + len(page)
        size = max(position.total, sent)
        if more:
            following = replace(position, after=page[-1].id, cursor=sent, total=size)
            token = self.tokens.sign(following)
            return (
                f'<resumptionToken completeListSize="{size}" cursor="{position.cursor}">'
                f"{token}</resumptionToken>"
            )
        if position.cursor:
            return f'<resumptionToken completeListSize="{size}" cursor="{position.cursor}"/>'
        return ""

    # -- items ----------------------------------------------------------------------------------

    def _format(self, prefix: str) -> str:
        if prefix not in _PREFIXES:
            raise _ProtocolError(
                "cannotDisseminateFormat",
                f"metadataPrefix {prefix!r} is not offered; use {' or '.join(sorted(_PREFIXES))}",
            )
        return prefix

    def _item(self, identifier: str) -> UnionRecord:
        number = identifier.removeprefix(self.identifier_prefix)
        canonical = number.isdigit() and str(int(number)) == number and int(number) <= _LARGEST_ID
        if number == identifier or not canonical:
            raise _ProtocolError(
                "idDoesNotExist",
                f"{identifier} is not an identifier of this repository "
                f"(they look like {self.identifier_prefix}123)",
            )
        with session_scope(self.engine, read_only=True) as session:
            rows = session.execute(
                select(*CLUSTER_COLUMNS).where(col(Cluster.id) == int(number))
            ).all()
            unions = load_union_records(session, rows)
        if not unions:
            raise _ProtocolError("idDoesNotExist", f"{identifier} is not in the catalogue")
        return unions[0]

    def _set_specs(self, session: Session, ids: list[int]) -> dict[int, list[str]]:
        """Each item's sets: its flags and the partners holding it."""
        specs: dict[int, list[str]] = defaultdict(list)
        if not self.settings.sets or not ids:
            return specs
        flags = session.execute(
            select(col(Flag.cluster_id), col(Flag.flag))
            .where(col(Flag.cluster_id).in_(ids))
            .distinct()
            .order_by(col(Flag.cluster_id), col(Flag.flag))
        )
        for cluster_id, flag in flags:
            if _SET_SYNTAX.fullmatch(flag):
                specs[cluster_id].append(f"flag:{flag}")
        for cluster_id, code in _holding_partners(session, ids):
            specs[cluster_id].append(f"partner:{code}")
        return specs

    def _header(
        self, cluster_id: int, changed_at: datetime, deleted: bool, specs: list[str]
    ) -> str:
        status = ' status="deleted"' if deleted else ""
        sets = "".join(f"<setSpec>{spec}</setSpec>" for spec in specs)
        return (
            f"<header{status}><identifier>{self.identifier_prefix}{cluster_id}</identifier>"
            f"<datestamp>{_datestamp(changed_at)}</datestamp>{sets}</header>"
        )

    def _record(self, union: UnionRecord, prefix: str, specs: list[str]) -> str:
        # A live cluster whose members cannot be read has nothing to show;
        # it answers as deleted rather than with a record without metadata.
        gone = union.deleted or not union.members
        header = self._header(union.id, union.changed_at, gone, [] if gone else specs)
        if gone:
            return f"<record>{header}</record>"
        return f"<record>{header}<metadata>{self._metadata(union, prefix)}</metadata></record>"

    def _metadata(self, union: UnionRecord, prefix: str) -> str:
        marc = merge_record(union, self.layout)
        if prefix == "oai_dc":
            return dublin_core(marc)
        namespace = f' xmlns="{MARC_NAMESPACE}" xsi:schemaLocation="{MARC_NAMESPACE} {MARC_SCHEMA}"'
        return marcxml(marc, namespace)


def _in_set(set_spec: str) -> ColumnElement[bool]:
    """Members of the set, and every tombstone.

    A tombstone has lost its flags and holdings, so its sets are unknown;
    it is listed in every set so that a selective harvester still learns of
    the deletion (deletedRecord persistent, section 2.5.1).
    """
    family, _, name = set_spec.partition(":")
    members: Select[Any]
    if family == "flag":
        members = select(col(Flag.cluster_id))
        if name:
            members = members.where(col(Flag.flag) == name)
    elif family == "partner":
        members = _held_by(name or None)
    else:
        return col(Cluster.deleted).is_(True)
    # An uncorrelated IN is worked out once; a correlated EXISTS through
    # holdings costs SQLite a walk of them for every cluster it checks.
    return or_(col(Cluster.deleted).is_(True), col(Cluster.id).in_(members))


def _held_by(code: str | None) -> Select[Any]:
    query = select(col(SourceRecord.cluster_id)).join(
        Holding, col(Holding.source_record_id) == col(SourceRecord.id)
    )
    if code is not None:
        query = query.join(Partner, col(Partner.id) == col(Holding.partner_id)).where(
            col(Partner.code) == code
        )
    return query


def _holding_partners(session: Session, ids: list[int]) -> Iterable[tuple[int, str]]:
    # No test on source_record.deleted: a deleted record's holdings go with it, and the
    # test would lead SQLite to walk the deleted index instead of the cluster_id one.
    rows = session.execute(
        select(col(SourceRecord.cluster_id), col(Partner.code))
        .join(Holding, col(Holding.source_record_id) == col(SourceRecord.id))
        .join(Partner, col(Partner.id) == col(Holding.partner_id))
        .where(col(SourceRecord.cluster_id).in_(ids))
        .distinct()
        .order_by(col(SourceRecord.cluster_id), col(Partner.code))
    )
    return [(cluster_id, code) for cluster_id, code in rows]


# -- the envelope ---------------------------------------------------------------------------------

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<OAI-PMH xmlns="{OAI_NAMESPACE}" xmlns:xsi="{XSI_NAMESPACE}" '
    f'xsi:schemaLocation="{OAI_NAMESPACE} {OAI_SCHEMA}">'
)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _envelope(moment: datetime, body: str) -> bytes:
    text = f"{_HEAD}<responseDate>{_datestamp(moment)}</responseDate>{body}</OAI-PMH>\n"
    return text.encode("utf-8")


def _attributes(arguments: dict[str, str]) -> str:
    """The request's arguments as attributes of <request> (section 3.2)."""
    return "".join(
        f' {name}="{xml_escape(_FORBIDDEN.sub("", value), attribute=True)}"'
        for name, value in arguments.items()
    )


def _datestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _request_pairs(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The arguments of a GET query or a form-encoded POST body (section 3.1.1)."""
    query = environ.get("QUERY_STRING", "")
    if environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        query = environ["wsgi.input"].read(min(length, 65536)).decode("utf-8", "replace")
    return parse_qsl(query, keep_blank_values=True)


def _base_url_of(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}/oai"


def _plain(start_response: StartResponse, status: str, message: str) -> list[bytes]:
    body = message.encode("utf-8")
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


# -- oai_dc, after the Library of Congress MARC to Dublin Core crosswalk ------------------------

# Leader/06 to DCMI Type vocabulary words, as the crosswalk's XSLT names them.
_TYPES = {
    "a": "text",
    "t": "text",
    "c": "notated music",
    "d": "notated music",
    "e": "cartographic",
    "f": "cartographic",
    "g": "moving image",
    "i": "sound recording",
    "j": "sound recording",
    "k": "still image",
    "m": "software, multimedia",
    "o": "kit",
    "p": "mixed material",
    "r": "three dimensional object",
}
_NAME_TAGS = ("100", "110", "111", "700", "710", "711", "720")
_SUBJECT_TAGS = ("600", "610", "611", "630", "650", "653", "655")
_NOTE_SKIP = frozenset({"506", "530", "540", "546"})


def dublin_core(marc: MarcJson) -> str:
    """The merged record as unqualified Dublin Core in an oai_dc container."""
    fields = _by_tag(marc)
    elements: list[tuple[str, str]] = []
    elements += [("title", _joined(f, "abfgknps")) for f in fields.get("245", [])[:1]]
    elements += [("creator", _joined(f, "abcdq")) for t in _NAME_TAGS for f in fields.get(t, [])]
    elements += [
        ("subject", _joined(f, "abcdvxyz", " -- "))
        for t in _SUBJECT_TAGS
        for f in fields.get(t, [])
    ]
    elements += [("coverage", _joined(f, "a")) for f in fields.get("651", [])]
    elements += _notes(fields)
    elements += _imprint(fields, marc)
    elements += _identifiers(fields)
    elements += _type_and_language(marc, fields)

    present = [(name, xml_escape(value)) for name, value in elements if value]
    body = "".join(f"<dc:{name}>{value}</dc:{name}>" for name, value in present)
    return (
        f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NAMESPACE}" xmlns:dc="{DC_NAMESPACE}" '
        f'xsi:schemaLocation="{OAI_DC_NAMESPACE} {OAI_DC_SCHEMA}">{body}</oai_dc:dc>'
    )


def _by_tag(marc: MarcJson) -> dict[str, list[Any]]:
    fields: dict[str, list[Any]] = defaultdict(list)
    for entry in marc["fields"]:
        for tag, value in entry.items():
            fields[tag].append(value)
    return fields


def _joined(value: dict[str, Any], codes: str, separator: str = " ") -> str:
    parts = [
        text.strip()
        for sub in value["subfields"]
        for code, text in sub.items()
        if code in codes and text.strip()
    ]
    return separator.join(parts).rstrip(" /:;,=")


def _notes(fields: dict[str, list[Any]]) -> list[tuple[str, str]]:
    notes = [
        ("description", _joined(f, "a"))
        for tag in sorted(fields)
        if tag.startswith("5") and tag not in _NOTE_SKIP
        for f in fields[tag]
        if isinstance(f, dict)
    ]
    rights = [("rights", _joined(f, "a")) for t in ("506", "540") for f in fields.get(t, [])]
    return notes + rights


def _imprint(fields: dict[str, list[Any]], marc: MarcJson) -> list[tuple[str, str]]:
    imprints = fields.get("264", []) + fields.get("260", [])
    elements = [("publisher", _joined(f, "b")) for f in imprints]
    dates = [_joined(f, "c").rstrip(".") for f in imprints]
    date = next((d for d in dates if d), "") or _fixed(marc, "008", 7, 11).strip("u ")
    elements.append(("date", date))
    elements += [("format", _joined(f, "a")) for f in fields.get("300", [])]
    return elements


def _identifiers(fields: dict[str, list[Any]]) -> list[tuple[str, str]]:
    elements = []
    for tag, scheme in (("020", "isbn"), ("022", "issn")):
        for f in fields.get(tag, []):
            number = _joined(f, "a").split(" ")[0]
            if number:
                elements.append(("identifier", f"urn:{scheme}:{number}"))
    elements += [("identifier", _joined(f, "u")) for f in fields.get("856", [])]
    return elements


def _type_and_language(marc: MarcJson, fields: dict[str, list[Any]]) -> list[tuple[str, str]]:
    elements = [("type", _TYPES.get(marc["leader"][6], ""))]
    language = _fixed(marc, "008", 35, 38).strip()
    if language and language not in ("|||", "zxx", "und"):
        elements.append(("language", language))
    return elements


def _fixed(marc: MarcJson, tag: str, start: int, end: int) -> str:
    for entry in marc["fields"]:
        value = entry.get(tag)
        if isinstance(value, str):
            return value[start:end]
    return ""


# -- serving --------------------------------------------------------------------------------------


def serve(
    engine: Engine,
    config: PoolConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve OAI-PMH with waitress until interrupted (SIGINT or SIGTERM)."""
    import waitress  # type: ignore[import-untyped]  # waitress ships without type hints

    settings = provider_settings(config)
    if not settings.admin_emails:
        log.warning("pool.toml [serve] admin_email is not set; Identify names a placeholder")
    host = host or settings.host
    application = OaiProvider(engine, config, settings)
    server = waitress.create_server(
        application,
        host=host,
        port=settings.port if port is None else port,
        threads=settings.threads,
        ident="resource-pool",
    )
    url = f"http://{host}:{server.effective_port}/oai"
    log.info("serving OAI-PMH at %s with %d threads", url, settings.threads)
    if announce is not None:
        announce(url)
    _serve_until_stopped(server)


def _serve_until_stopped(server: Any) -> None:
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("OAI-PMH server stopped")
    finally:
        server.close()
