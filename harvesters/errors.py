"""The project's exceptions, split by what the caller can do about them.

`PoolError` is the one base. Below it:

- `ConfigError`: bad configuration; stop and tell the user which key to fix.
- `RecordError`: one record cannot be read; quarantine it and go on.
- `SourceError`: a source cannot be harvested now; record the failed run.
  `TransientError` is the part of it worth retrying after a pause.
- `StepRefused`: a user asked for something the rules do not allow.

The module lives in `harvesters` because that package may not import
`resource_pool`; the pool re-exports it.

A partner's credentials, once read, are kept out of every message built
here: a partner's server may echo what it was sent in its own error text,
and that text would otherwise reach the log, `--json` output and the stored
run (see `keep_secret`).
"""

from __future__ import annotations

import base64

_SECRETS: set[str] = set()
_SHORTEST_SECRET = 4
"""Shorter values are not hidden: they would blank out ordinary words in every message."""


def keep_secret(*values: str | None) -> None:
    """Hide these values from every later error message, as `***`.

    A `user:password` pair hides the pair, its base64 form (what HTTP basic
    auth sends, and what an echoing server repeats) and the password alone.
    """
    for value in values:
        if not value:
            continue
        pair = value.strip()
        candidates = (pair, base64.b64encode(pair.encode()).decode(), pair.partition(":")[2])
        _SECRETS.update(c for c in candidates if len(c) >= _SHORTEST_SECRET)


def redact(text: str) -> str:
    """The text with every kept secret replaced by `***`, longest first."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class PoolError(Exception):
    """Base of every error the project raises on purpose."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigError(PoolError):
    """The configuration is wrong; the message names the file, key and value."""


class RecordError(PoolError):
    """One record cannot be decoded; it is quarantined and the rest go on."""

    def __init__(self, reason: str, *, position: str = "", local_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.local_id = local_id


class SourceError(PoolError):
    """A source cannot be harvested; the run fails and its checkpoint stays."""


class TransientError(SourceError):
    """A fault that may pass: a timeout, a dropped connection, a 503."""


class StepRefused(PoolError):
    """A request for an action the rules forbid; nothing was changed."""
