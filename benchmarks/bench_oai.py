"""An OAI-PMH repository on 127.0.0.1 serving real Library of Congress records as marc21.

    python -m benchmarks.bench_oai FILE [--records N] [--page-size 500]

Every page is rendered before the server starts listening, so the
measurement sees the harvester's cost, not the server's. The first line
printed is the base URL; the server runs until it is stopped.
"""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import pymarc

OAI_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<responseDate>2024-01-01T00:00:00Z</responseDate>"
    "<request>http://127.0.0.1/lc</request>"
)
OAI_TAIL = "</OAI-PMH>"
DATESTAMP = "2016-01-01T00:00:00Z"
IDENTIFY = (
    "<Identify><repositoryName>Library of Congress books (benchmark)</repositoryName>"
    "<baseURL>http://127.0.0.1/lc</baseURL><protocolVersion>2.0</protocolVersion>"
    f"<earliestDatestamp>{DATESTAMP}</earliestDatestamp><deletedRecord>no</deletedRecord>"
    "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify>"
)


def render_pages(path: str, records: int, page_size: int) -> list[bytes]:
    """The ListRecords responses, one per page, each naming the next page in its token."""
    items = _record_elements(path, records)
    pages = []
    for offset in range(0, len(items), page_size):
        following = offset + page_size
        token = (
            f'<resumptionToken completeListSize="{len(items)}" cursor="{offset}">'
            f"{following}</resumptionToken>"
            if following < len(items)
            else f'<resumptionToken completeListSize="{len(items)}" cursor="{offset}"/>'
        )
        body = "".join(items[offset:following])
        pages.append(f"{OAI_HEAD}<ListRecords>{body}{token}</ListRecords>{OAI_TAIL}".encode())
    return pages


def _record_elements(path: str, records: int) -> list[str]:
    items = []
    with open(path, "rb") as handle:
        for number, record in enumerate(pymarc.MARCReader(handle), 1):
            if number > records:
                break
            if record is None:
                continue
            identifier = escape((record["001"].data or str(number)).strip())
            marcxml = pymarc.record_to_xml(record, namespace=True).decode("utf-8")
            items.append(
                f"<record><header><identifier>oai:loc.gov:{identifier}</identifier>"
                f"<datestamp>{DATESTAMP}</datestamp></header>"
                f"<metadata>{marcxml}</metadata></record>"
            )
    return items


def _reply(pages: list[bytes], page_size: int, params: dict[str, str]) -> bytes:
    verb = params.get("verb")
    if verb == "Identify":
        return f"{OAI_HEAD}{IDENTIFY}{OAI_TAIL}".encode()
    if verb != "ListRecords":
        return f'{OAI_HEAD}<error code="badVerb">not served here</error>{OAI_TAIL}'.encode()

    offset = int(params.get("resumptionToken") or 0)
    return pages[offset // page_size]


def serve(pages: list[bytes], page_size: int) -> None:
    """Answer Identify and ListRecords until stopped; print the base URL first."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            params = dict(parse_qsl(urlsplit(self.path).query))
            body = _reply(pages, page_size, params)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a line per request would cost more than the request."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}/lc", flush=True)
    server.serve_forever()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Serve LC records over OAI-PMH (marc21).")
    parser.add_argument("file", help="ISO 2709 file to serve")
    parser.add_argument("--records", type=int, default=50_000, help="how many (50000)")
    parser.add_argument("--page-size", type=int, default=500, help="records a page (500)")
    arguments = parser.parse_args(argv)

    pages = render_pages(arguments.file, arguments.records, arguments.page_size)
    serve(pages, arguments.page_size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
