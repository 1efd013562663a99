"""Alembic environment for tlh.

Two ways in:

* a connection handed in through ``config.attributes["connection"]`` (what
  `adapters.storage.migrate.upgrade_database` does from inside the daemon's event loop): migrate
  on it, inside the caller's transaction, and leave logging alone;
* otherwise (Alembic's command line, or `alembic.command` called from synchronous code), create an
  engine from ``sqlalchemy.url`` and run on it with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from adapters.storage.engine import create_engine
from adapters.storage.schema import metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database URL: build the config with adapters.storage.migrate.alembic_config(url)"
        )
    return url


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by rebuilding them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_new_engine() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Emit the migration SQL for ``sqlalchemy.url``'s dialect without connecting."""
    context.configure(
        url=_url(),
        target_metadata=metadata,
        render_as_batch=True,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the handed-in connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_on_new_engine())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
