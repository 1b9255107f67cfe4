"""Alembic environment: migrations run on the engine the pool opened."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import resource_pool.exchange_models  # noqa: F401
import resource_pool.export_models  # noqa: F401
import resource_pool.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import resource_pool.schedule_models  # noqa: F401

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
