"""Credentials from a private file or a token variable reach the partner, and nothing else.

A server of our own on 127.0.0.1 records the Authorization header it gets,
so each test first proves the secret was really sent, then that no log line
(even at -vv), error, `--json` output or stored run repeats it, including
when a partner's server echoes the credentials back in its own errors.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.oaiserver import SyntheticRepository, oai_error
from tests.runpool import database_for, pool, write_config
from tests.scheduling import query

pytestmark = pytest.mark.database

USER = "pustakawan"
SECRET = "s3cr3t-Pa55word-file"
TOKEN = "tok-9f8e7d6c5b4a-rahasia"


class GuardedServer:
    """An OAI-PMH repository that records each Authorization header it receives.

    With `echo` set, ListRecords answers with an error that repeats the
    credentials it was sent, as a careless partner server might: `oai` as an
    OAI-PMH error, `http` as an HTTP 401 page.
    """

    def __init__(self, echo: str | None = None) -> None:
        self.echo = echo
        self.authorizations: list[str] = []
        self.repository = SyntheticRepository(records=20, page_size=10)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/oai"

    def __enter__(self) -> GuardedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def answer(self, params: dict[str, str], authorization: str) -> tuple[int, bytes]:
        self.authorizations.append(authorization)
        if self.echo is None or params.get("verb") != "ListRecords":
            reply = self.repository.reply(params)
            return reply.status, reply.body
        sent = f"{authorization} = {self.decoded(authorization)}"
        if self.echo == "oai":
            return 200, oai_error("badArgument", f"not allowed for {sent}").body
        page = f"<html><body><h1>401</h1><p>Login failed for {sent}</p></body></html>"
        return 401, page.encode()

    @staticmethod
    def decoded(authorization: str) -> str:
        kind, _, value = authorization.partition(" ")
        return base64.b64decode(value).decode() if kind == "Basic" else value

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                params = dict(parse_qsl(urlsplit(self.path).query))
                status, body = server.answer(params, self.headers.get("Authorization", ""))
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def partners(*sources: tuple[str, str, str]) -> str:
    """partners.toml with one partner and an OAI-PMH source per (name, url, credential key)."""
    text = '[[partners]]\ncode = "UNA"\nname = "Perpustakaan Universitas Asahan"\n'
    for name, url, credential in sources:
        setting = (
            'credentials_file = "una.secret"' if credential == "credentials_file"
            else 'token_env = "UNA_OAI_TOKEN"'
        )
        text += (
            f'\n[[partners.sources]]\nname = "{name}"\nkind = "oai"\nurl = "{url}"\n'
            f"retries = 0\n{setting}\n"
        )
    return text


def credentials_config(folder: Path, partners_toml: str) -> Path:
    """The configuration, with the private credentials file beside it."""
    config = write_config(folder, partners_toml)
    secret_file = config / "una.secret"
    secret_file.write_text(f"{USER}:{SECRET}\n")
    secret_file.chmod(0o600)
    return config


ENV = {"UNA_OAI_TOKEN": TOKEN}
BASIC = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
FORMS = (SECRET, TOKEN, BASIC.split()[1])
"""The secrets in every form a message could carry them."""


def stored_errors(config: Path) -> str:
    """Every error text the pool keeps of its runs."""
    rows = query(database_for(config), "SELECT coalesce(error, '') FROM harvest_run")
    return "\n".join(str(row[0]) for row in rows)


def test_a_credentials_file_and_a_token_are_sent_and_never_shown(tmp_path: Path) -> None:
    """Basic auth from a 0600 file and a bearer token from the environment reach the server;
    a debug harvest, its --json summary and --json partners list never repeat them."""
    with GuardedServer() as server:
        config = credentials_config(tmp_path, partners(
            ("una-file", server.url, "credentials_file"), ("una-token", server.url, "token_env")
        ))
        # `status` and `runs` after an auth_env harvest are covered in tests/test_secrets.py.
        shown = [
            pool("-vv", "harvest", "--all", config=config, env=ENV),
            pool("--json", "harvest", "--all", config=config, env=ENV),
            pool("--json", "partners", "list", config=config, env=ENV),
        ]

    assert set(server.authorizations) == {BASIC, f"Bearer {TOKEN}"}
    for result in shown:
        assert result.returncode == 0, result.stderr
        assert not [form for form in FORMS if form in result.stdout + result.stderr]


def test_credentials_a_server_echoes_in_its_error_are_not_repeated(tmp_path: Path) -> None:
    """Servers repeating the credentials in an OAI-PMH error or a 401 page fail their runs;
    the errors shown, --json runs and the stored runs hold `***` where the secrets were."""
    with GuardedServer(echo="oai") as oai, GuardedServer(echo="http") as http:
        config = credentials_config(tmp_path, partners(
            ("una-file", oai.url, "credentials_file"), ("una-token", http.url, "token_env")
        ))
        harvest = pool("--json", "harvest", "--all", config=config, env=ENV)
        runs = pool("--json", "runs", config=config, env=ENV)

    assert set(oai.authorizations) == {BASIC} and set(http.authorizations) == {f"Bearer {TOKEN}"}
    assert harvest.returncode == 1
    summaries = json.loads(harvest.stdout)
    assert [summary["status"] for summary in summaries] == ["failed", "failed"]
    assert oai.url in summaries[0]["error"] and "***" in summaries[0]["error"]
    assert http.url in summaries[1]["error"]
    for text in (harvest.stdout, harvest.stderr, runs.stdout, runs.stderr, stored_errors(config)):
        assert not [form for form in FORMS if form in text]
