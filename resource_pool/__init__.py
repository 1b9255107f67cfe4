"""resource-pool: a pooled union catalogue and interlibrary exchange for partner libraries."""

__version__ = "0.1.0"
