"""Partner credentials come from the environment or a private file, and are never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.oaiserver import OaiServer, SyntheticRepository
from tests.runpool import pool, write_config

SECRET = "s3cr3t-Pa55word"


def partners(url: str, extra: str) -> str:
    return f"""
[[partners]]
code = "UNA"
name = "Perpustakaan Universitas Asahan"

[[partners.sources]]
name = "una-oai"
kind = "oai"
url = "{url}"
retries = 0
{extra}
"""


@pytest.mark.database
def test_environment_credentials_never_reach_output(tmp_path: Path) -> None:
    """With auth_env, debug logs, the summary and --json output never contain the password."""
    with OaiServer() as server:
        url = server.add("oai", SyntheticRepository(records=30, page_size=10))
        config = write_config(tmp_path, partners(url, 'auth_env = "UNA_OAI_LOGIN"'))
        env = {"UNA_OAI_LOGIN": f"pustakawan:{SECRET}"}
        outputs = [
            pool("-vv", "harvest", "--all", config=config, env=env),
            pool("--json", "harvest", "--all", config=config, env=env),
            pool("--json", "status", config=config, env=env),
            pool("--json", "runs", config=config, env=env),
        ]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.database
def test_missing_environment_variable_is_named_not_guessed(tmp_path: Path) -> None:
    """An auth_env naming an unset variable fails the source, naming the variable."""
    config = write_config(
        tmp_path, partners("http://127.0.0.1:9/oai", 'auth_env = "UNA_OAI_LOGIN"')
    )
    env = {k: v for k, v in os.environ.items() if k != "UNA_OAI_LOGIN"}
    result = pool("harvest", "--all", config=config, env=env)
    assert result.returncode != 0
    assert "UNA_OAI_LOGIN" in result.stdout + result.stderr


@pytest.mark.database
def test_credentials_file_must_be_private(tmp_path: Path) -> None:
    """A credentials file others can read is refused without printing what is in it."""
    secret_file = tmp_path / "una.secret"
    secret_file.write_text(f"pustakawan:{SECRET}\n")
    secret_file.chmod(0o644)
    config = write_config(
        tmp_path, partners("http://127.0.0.1:9/oai", 'credentials_file = "una.secret"')
    )
    result = pool("harvest", "--all", config=config)
    assert "chmod 600" in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_password_in_url_is_refused(tmp_path: Path) -> None:
    """A URL with a password in it is refused at configuration time, without echoing it."""
    url = f"https://pustakawan:{SECRET}@opac.example.org/oai"
    config = write_config(tmp_path, partners(url, ""))
    result = pool("partners", "list", config=config)
    assert result.returncode == 2
    assert "auth_env or credentials_file" in result.stderr
    assert SECRET not in result.stdout + result.stderr
