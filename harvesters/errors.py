"""The project's exceptions, split by what the caller can do about them.

`PoolError` is the one base. Below it:

- `ConfigError`: bad configuration; stop and tell the user which key to fix.
- `RecordError`: one record cannot be read; quarantine it and go on.
- `SourceError`: a source cannot be harvested now; record the failed run.
  `TransientError` is the part of it worth retrying after a pause.
- `StepRefused`: a user asked for something the rules do not allow.

The module lives in `harvesters` because that package may not import
`resource_pool`; the pool re-exports it.
"""

from __future__ import annotations


class PoolError(Exception):
    """Base of every error the project raises on purpose."""


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
