"""OAI-PMH servers on 127.0.0.1 for the harvester's tests and benchmarks.

- `Replay` serves recorded responses of real servers from the shared corpora,
  chosen by the request's arguments.
- `SyntheticRepository` makes up N records and pages through them with
  base64 resumption tokens (with '+', '/' and '='), and injects scripted
  faults: 503 with Retry-After in seconds or as an HTTP date, 429, 500, a
  reset or a dropped connection mid-body, a stall past the client's timeout,
  a truncated page, a repeated token, an expired token, control characters;
  with `circling` it answers every resumption token with its first page again.
- `Hostile` is a synthetic repository whose lists are attacks on the client:
  an endless body, a body trickled one byte a second, a gzip bomb.
- `OaiServer` runs any of them over real HTTP, each under its own path.

Run a synthetic repository by hand (benchmarks, kill-and-resume trials):

    python -m tests.oaiserver --records 50000 --page-size 500 --port 8765
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

OAI_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
)
OAI_TAIL = "</OAI-PMH>"
SECONDS = "%Y-%m-%dT%H:%M:%SZ"
QUICK_CLIENT: dict[str, Any] = {"retries": 5, "backoff": 0.01, "retry_cap": 0.05, "timeout": 2.0}
"""Harvester settings that keep fault tests fast: short backoff, short cap."""


@dataclass(slots=True)
class Reply:
    """One HTTP answer; `fault` says how to break it on the wire."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    stall: float = 0.0
    chunks: Callable[[], Iterator[bytes]] | None = None
    """A body sent piece by piece without Content-Length, then the connection closed."""


class Endpoint(Protocol):
    """Anything that answers OAI-PMH arguments."""

    def reply(self, params: dict[str, str]) -> Reply: ...


def oai_error(code: str, message: str, status: int = 200) -> Reply:
    """An OAI-PMH error response (OAI-PMH 2.0 section 3.6)."""
    body = (f"{OAI_HEAD}<responseDate>{datetime.now(UTC).strftime(SECONDS)}</responseDate>"
            f'<request>http://127.0.0.1/</request><error code="{code}">{escape(message)}</error>'
            f"{OAI_TAIL}")
    return Reply(body=body.encode("utf-8"), status=status)


# -- the HTTP server ----------------------------------------------------------------


class OaiServer:
    """A threading HTTP server on 127.0.0.1 with one endpoint per path."""

    def __init__(self, port: int = 0) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def add(self, name: str, endpoint: Endpoint) -> str:
        """Serve `endpoint` at /name; return its base URL."""
        self.endpoints[name] = endpoint
        return f"http://127.0.0.1:{self.port}/{name}"

    def requests_to(self, name: str) -> list[dict[str, str]]:
        """The arguments of every request the endpoint `name` received, in order."""
        return [params for path, params in self.requests if path == name]

    def __enter__(self) -> OaiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler_for(server: OaiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            parts = urlsplit(self.path)
            name = parts.path.strip("/")
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            server.requests.append((name, params))
            endpoint = server.endpoints.get(name)
            reply = endpoint.reply(params) if endpoint else Reply(b"no such endpoint", 404)
            try:
                _send(self, reply)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read the request list instead."""

    return Handler


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.stall:
        time.sleep(reply.stall)
    if reply.chunks is not None:
        _send_pieces(handler, reply, reply.chunks)
        return
    handler.send_response(reply.status)
    handler.send_header("Content-Type", "text/xml; charset=utf-8")
    handler.send_header("Content-Length", str(len(reply.body)))
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    if reply.fault in ("reset", "drop"):
        handler.wfile.write(reply.body[: len(reply.body) // 2])
        handler.wfile.flush()
        _break_connection(handler, reset=reply.fault == "reset")
        return
    handler.wfile.write(reply.body)


def _send_pieces(handler: BaseHTTPRequestHandler, reply: Reply,
                 chunks: Callable[[], Iterator[bytes]]) -> None:
    # Without Content-Length the body ends when the connection closes (RFC 9112
    # section 6.3, rule 8), so the client cannot know in advance how much comes.
    handler.send_response(reply.status)
    handler.send_header("Content-Type", "text/xml; charset=utf-8")
    handler.send_header("Connection", "close")
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.close_connection = True
    for piece in chunks():
        handler.wfile.write(piece)
        handler.wfile.flush()


def _break_connection(handler: BaseHTTPRequestHandler, *, reset: bool) -> None:
    connection: socket.socket = handler.connection
    if reset:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    connection.close()


# -- replaying recorded responses ---------------------------------------------------


@dataclass(slots=True)
class Replay:
    """Answers each known set of arguments with a recorded response."""

    routes: list[tuple[dict[str, str], Reply]] = field(default_factory=list)

    def route(self, params: Mapping[str, str], reply: Reply | Path) -> Replay:
        """Answer exactly `params` with `reply` (a file is served as it is)."""
        answer = Reply(body=reply.read_bytes()) if isinstance(reply, Path) else reply
        self.routes.append((dict(params), answer))
        return self

    def reply(self, params: dict[str, str]) -> Reply:
        for known, answer in self.routes:
            if known == params:
                return answer
        return oai_error("badArgument", f"no recorded response for {sorted(params.items())}", 400)


def replay_cassettes(*paths: Path, host: str = "zenodo.org") -> Replay:
    """Serve the exchanges with `host` recorded in oaipmh-scythe cassettes."""
    replay = Replay()
    for path in paths:
        for uri, status, body in read_cassette(path):
            parts = urlsplit(uri)
            if parts.hostname == host:
                replay.route(dict(parse_qsl(parts.query)), Reply(body.encode("utf-8"), status))
    return replay


def read_cassette(path: Path) -> list[tuple[str, int, str]]:
    """(uri, status, body) of each interaction; PyYAML when installed, else a small reader."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return _read_cassette_lines(text)
    document = yaml.safe_load(text)
    return [(item["request"]["uri"], int(item["response"]["status"]),
             item["response"]["body"].get("content") or "")
            for item in document["interactions"]]


_KEY = re.compile(r"^(\s*)(uri|status|content): ?(.*)$")


def _read_cassette_lines(text: str) -> list[tuple[str, int, str]]:
    """Read the three keys a cassette needs; block scalars (| |- > >-) are unfolded."""
    lines = text.splitlines()
    found: list[dict[str, str]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith("- request:"):
            found.append({})
            continue
        matched = _KEY.match(line)
        if not matched or not found:
            continue
        indent, key, value = len(matched.group(1)), matched.group(2), matched.group(3).strip()
        if value in ("|", "|-", ">", ">-"):
            block, index = _block(lines, index, indent)
            value = _unfold(block, value)
        found[-1].setdefault(key, _unquote(value))
    return [(item["uri"], int(item["status"]), item.get("content", "")) for item in found]


def _block(lines: list[str], index: int, indent: int) -> tuple[list[str], int]:
    block: list[str] = []
    while index < len(lines):
        line = lines[index]
        if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
            break
        block.append(line)
        index += 1
    while block and not block[-1].strip():
        block.pop()
    depth = min((len(line) - len(line.lstrip(" ")) for line in block if line.strip()), default=0)
    return [line[depth:] for line in block], index


def _unfold(block: list[str], style: str) -> str:
    if style.startswith("|"):
        return "\n".join(block) + ("" if style == "|-" else "\n")
    text = ""
    for line in block:
        if not line:
            text += "\n"
        elif text and not text.endswith("\n"):
            text += " " + line
        else:
            text += line
    return text + ("" if style == ">-" else "\n")


def _unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


# -- a synthetic repository with scripted faults ------------------------------------

FAULTS = ("503", "503-date", "429", "500", "reset", "drop", "timeout", "truncated", "repeat",
          "expired", "control-characters")
BASE_DATESTAMP = datetime(2024, 1, 1, tzinfo=UTC)


def _parity(number: int) -> str:
    return "even" if number % 2 == 0 else "odd"


@dataclass
class SyntheticRepository:
    """N made-up records in pages; faults scripted by ListRecords request number (from 1)."""

    records: int = 100
    page_size: int = 10
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    deleted_record: str = "persistent"
    faults: dict[int, str] = field(default_factory=dict)
    retry_after: int = 0
    stall: float = 1.0
    set_of: Callable[[int], str] = _parity
    clock: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    deleted: set[int] = field(default_factory=set)
    touched: dict[int, datetime] = field(default_factory=dict)
    circling: bool = False
    list_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def datestamp(self, number: int) -> datetime:
        """When record `number` last changed."""
        return self.touched.get(number, BASE_DATESTAMP + timedelta(minutes=number))

    def touch(self, *numbers: int, deleted: bool = False) -> None:
        """Change (or delete) records at the repository's current clock."""
        for number in numbers:
            self.touched[number] = self.clock
            if deleted:
                self.deleted.add(number)

    def reply(self, params: dict[str, str]) -> Reply:
        verb = params.get("verb")
        if verb == "Identify":
            return self._identify()
        if verb == "ListMetadataFormats":
            return self._formats()
        if verb == "ListRecords":
            with self._lock:
                self.list_requests += 1
                fault = self.faults.pop(self.list_requests, None)
            return self._list_records(params, fault)
        return oai_error("badVerb", f"verb {verb!r} is not served here", 400)

    def _wrap(self, inner: str) -> bytes:
        return (f"{OAI_HEAD}<responseDate>{self.clock.strftime(SECONDS)}</responseDate>"
                f"<request>http://127.0.0.1/synthetic</request>{inner}{OAI_TAIL}").encode()

    def _identify(self) -> Reply:
        return Reply(self._wrap(
            "<Identify><repositoryName>Synthetic</repositoryName>"
            "<baseURL>http://127.0.0.1/synthetic</baseURL><protocolVersion>2.0</protocolVersion>"
            f"<earliestDatestamp>{BASE_DATESTAMP.strftime(SECONDS)}</earliestDatestamp>"
            f"<deletedRecord>{self.deleted_record}</deletedRecord>"
            f"<granularity>{self.granularity}</granularity></Identify>"))

    def _formats(self) -> Reply:
        formats = (("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
                   ("marc21", "http://www.loc.gov/MARC21/slim"))
        inner = "".join(f"<metadataFormat><metadataPrefix>{prefix}</metadataPrefix>"
                        f"<schema>x</schema><metadataNamespace>{namespace}</metadataNamespace>"
                        "</metadataFormat>" for prefix, namespace in formats)
        return Reply(self._wrap(f"<ListMetadataFormats>{inner}</ListMetadataFormats>"))

    def _list_records(self, params: dict[str, str], fault: str | None) -> Reply:
        query = self._query(params)
        if isinstance(query, Reply):
            return query
        if fault == "expired" and "resumptionToken" in params:
            return oai_error("badResumptionToken", "expired")
        early = self._early_fault(fault)
        if early is not None:
            return early

        chosen = self._select(query)
        if not chosen:
            return oai_error("noRecordsMatch", "nothing in this window")
        if self.circling and "resumptionToken" in params:
            # A new token every time, and the first page again behind each.
            query = {**query, "offset": 0, "lap": int(query.get("lap", 0)) + 1}
        offset = int(query["offset"])
        page = chosen[offset : offset + self.page_size]
        more = offset + self.page_size < len(chosen)
        token = self._token(query, offset + self.page_size) if more else ""
        if fault == "repeat" and "resumptionToken" in params:
            token = params["resumptionToken"]
        body = self._page_body(page, query["prefix"], token, fault)
        return self._late_fault(body, fault)

    def _query(self, params: dict[str, str]) -> dict[str, Any] | Reply:
        if "resumptionToken" in params:
            try:
                decoded = base64.b64decode(params["resumptionToken"], validate=True)
                return dict(json.loads(decoded[2:].rstrip(b"\xfe")))
            except (ValueError, json.JSONDecodeError):
                return oai_error("badResumptionToken", "token cannot be read")
        for name in ("from", "until"):
            if name in params and not self._fits_granularity(params[name]):
                return oai_error("badArgument", f"{name}={params[name]} is finer than the "
                                 "repository's granularity")
        return {"prefix": params.get("metadataPrefix", "oai_dc"), "from": params.get("from"),
                "until": params.get("until"), "set": params.get("set"), "offset": 0}

    def _fits_granularity(self, value: str) -> bool:
        return self.granularity != "YYYY-MM-DD" or len(value) == 10

    def _select(self, query: dict[str, Any]) -> list[int]:
        low = _moment(query["from"]) if query["from"] else None
        high = _moment(query["until"], end=True) if query["until"] else None
        return [number for number in range(self.records)
                if (low is None or self.datestamp(number) >= low)
                and (high is None or self.datestamp(number) <= high)
                and (query["set"] is None or self.set_of(number) == query["set"])]

    def _token(self, query: dict[str, Any], offset: int) -> str:
        # Leading bytes that encode to '+' and '/', and padding that ends in '=',
        # as INLISLite v3.3's base64 JSON tokens do.
        payload = json.dumps({**query, "offset": offset}, sort_keys=True).encode()
        raw = b"\xfb\xff" + payload
        raw += b"\xfe" * ((1 - len(raw)) % 3)
        return base64.b64encode(raw).decode("ascii")

    def _page_body(self, numbers: list[int], prefix: str, token: str, fault: str | None) -> bytes:
        records = "".join(self._record(number, prefix) for number in numbers)
        if fault == "control-characters":
            records = records.replace("Synthetic record", "Synthetic\x01 record&#x1F;", 1)
        token_element = f"<resumptionToken>{token}</resumptionToken>" if token else (
            "<resumptionToken/>")
        return self._wrap(f"<ListRecords>{records}{token_element}</ListRecords>")

    def _record(self, number: int, prefix: str) -> str:
        stamp = self.datestamp(number).strftime(SECONDS)
        if self.granularity == "YYYY-MM-DD":
            stamp = stamp[:10]
        header = (f"<identifier>oai:synthetic:{number}</identifier><datestamp>{stamp}</datestamp>"
                  f"<setSpec>{self.set_of(number)}</setSpec>")
        if number in self.deleted:
            return f'<record><header status="deleted">{header}</header></record>'
        title = f"Synthetic record {number}" + (" (revised)" if number in self.touched else "")
        return f"<record><header>{header}</header><metadata>{_metadata(number, title, prefix)}" \
               "</metadata></record>"

    def _early_fault(self, fault: str | None) -> Reply | None:
        retry_at = datetime.now(UTC) + timedelta(seconds=self.retry_after + 1)
        early = {
            "503": Reply(b"busy", 503, {"Retry-After": str(self.retry_after)}),
            "503-date": Reply(b"busy", 503, {"Retry-After": format_datetime(retry_at, True)}),
            "429": Reply(b"slow down", 429, {"Retry-After": str(self.retry_after)}),
            "500": Reply(b"<html>Internal Server Error</html>", 500),
        }
        return early.get(fault or "")

    def _late_fault(self, body: bytes, fault: str | None) -> Reply:
        if fault in ("reset", "drop"):
            return Reply(body, fault=fault)
        if fault == "timeout":
            return Reply(body, stall=self.stall)
        if fault == "truncated":
            return Reply(body[: len(body) * 2 // 3])
        return Reply(body)


# -- a repository whose lists attack the client ----------------------------------------

HOSTILE = ("endless", "trickle", "gzip-bomb")


@dataclass
class Hostile:
    """Identify and formats as a synthetic repository; every ListRecords an attack.

    - endless: an OAI-PMH head, then spaces for ever;
    - trickle: the same, one byte a second for ever;
    - gzip-bomb: Content-Encoding gzip, `bomb_bytes` of spaces squeezed small.
    """

    attack: str
    bomb_bytes: int = 1 << 30
    repository: SyntheticRepository = field(default_factory=SyntheticRepository)
    _bomb: bytes = b""

    def __post_init__(self) -> None:
        # Squeezing a gibibyte takes seconds: done here, before any server runs, so a
        # busy machine cannot make the first reply late enough to look like a timeout.
        if self.attack == "gzip-bomb":
            self._gzip_bomb()

    def reply(self, params: dict[str, str]) -> Reply:
        if params.get("verb") != "ListRecords":
            return self.repository.reply(params)
        if self.attack == "endless":
            spaces = itertools.repeat(b" " * 65536)
            return Reply(chunks=lambda: itertools.chain([_HOSTILE_HEAD], spaces))
        if self.attack == "trickle":
            return Reply(chunks=lambda: itertools.chain([_HOSTILE_HEAD], _one_byte_a_second()))
        return Reply(self._gzip_bomb(), headers={"Content-Encoding": "gzip"})

    def _gzip_bomb(self) -> bytes:
        """The response: an OAI-PMH head, then `bomb_bytes` of spaces, gzip-compressed."""
        if not self._bomb:
            squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
            block = b" " * (1 << 20)
            parts = [squeezer.compress(_HOSTILE_HEAD)]
            parts += [squeezer.compress(block) for _ in range(self.bomb_bytes // len(block))]
            self._bomb = b"".join(parts) + squeezer.flush()
        return self._bomb


_HOSTILE_HEAD = f"{OAI_HEAD}<responseDate>2024-01-01T00:00:00Z</responseDate>".encode()


def _one_byte_a_second() -> Iterator[bytes]:
    while True:
        yield b" "
        time.sleep(1.0)


def _moment(value: str, *, end: bool = False) -> datetime:
    if len(value) == 10:
        day = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return day + timedelta(days=1, seconds=-1) if end else day
    return datetime.strptime(value, SECONDS).replace(tzinfo=UTC)


def _metadata(number: int, title: str, prefix: str) -> str:
    if prefix == "oai_dc":
        return ('<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:title>{escape(title)}</dc:title><dc:creator>Penulis, Nomor {number}"
                "</dc:creator><dc:date>2020</dc:date><dc:language>id</dc:language>"
                f"<dc:identifier>http://127.0.0.1/item/{number}</dc:identifier></oai_dc:dc>")
    return ('<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500'
            f'</leader><controlfield tag="001">{number}</controlfield>'
            '<datafield tag="245" ind1="0" ind2="0">'
            f'<subfield code="a">{escape(title)}</subfield></datafield>'
            '<datafield tag="852" ind1=" " ind2=" "><subfield code="b">Umum</subfield>'
            f'<subfield code="p">B{number:06d}</subfield></datafield></record>')


# -- running by hand ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Serve a synthetic repository until interrupted."""
    parser = argparse.ArgumentParser(description="Serve a synthetic OAI-PMH repository.")
    parser.add_argument("--records", type=int, default=1000, help="how many records (1000)")
    parser.add_argument("--page-size", type=int, default=100, help="records a page (100)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any)")
    arguments = parser.parse_args(argv)

    repository = SyntheticRepository(records=arguments.records, page_size=arguments.page_size)
    with OaiServer(arguments.port) as server:
        print(server.add("synthetic", repository), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            _wait_forever()


def _wait_forever() -> None:
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
