"""The pool's exceptions: the one tree from `harvesters.errors`, re-exported."""

from harvesters.errors import (
    ConfigError,
    PoolError,
    RecordError,
    SourceError,
    StepRefused,
    TransientError,
)

__all__ = [
    "ConfigError",
    "PoolError",
    "RecordError",
    "SourceError",
    "StepRefused",
    "TransientError",
]
