"""Schema migrations with Alembic, configured in code: no ``alembic.ini`` is needed.

The daemon calls `upgrade_database` on start. It runs Alembic on a connection of the daemon's
own engine (handed to ``migrations/env.py`` through ``config.attributes["connection"]``), inside
one transaction that holds the writer lock, so it works from inside the running event loop.
On SQLite, foreign keys are off while migrating, because batch mode rebuilds tables by copy,
drop and rename; ``PRAGMA foreign_key_check`` must pass before commit.

To write a new revision, autogenerate it against a database at head, then review it::

    from alembic import command
    command.revision(alembic_config(url), message="...", autogenerate=True)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from adapters.storage.engine import (
    connection,
    normalize_url,
    read_connection,
    take_write_lock,
)

SCRIPT_LOCATION = str(Path(migrations.__file__).resolve().parent)


class MigrationError(RuntimeError):
    """A migration left the database inconsistent; its transaction was rolled back."""


def alembic_config(url: str | URL | None = None) -> Config:
    """Return an Alembic config for tlh's migrations, for `url` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """Return the newest revision shipped with tlh."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database is at (None for an empty database)."""
    async with read_connection(engine) as conn:
        return await conn.run_sync(_current_revision)


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Upgrade the database to `revision` (default: the newest) and return its revision."""
    return await _migrate(engine, command.upgrade, revision)


async def downgrade_database(engine: AsyncEngine, revision: str = "base") -> str | None:
    """Downgrade the database to `revision` (default: empty) and return its revision."""
    return await _migrate(engine, command.downgrade, revision)


Command = Callable[[Config, str], None]


async def _migrate(engine: AsyncEngine, run: Command, revision: str) -> str | None:
    async with connection(engine) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.run_sync(_set_sqlite_foreign_keys, False)
        try:
            async with conn.begin():
                await take_write_lock(conn)
                return await conn.run_sync(_run_command, run, revision)
        finally:
            if sqlite:
                await conn.run_sync(_set_sqlite_foreign_keys, True)


def _run_command(conn: Connection, run: Command, revision: str) -> str | None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    run(cfg, revision)
    if conn.dialect.name == "sqlite":
        violations = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if violations:
            raise MigrationError(f"foreign key violations after migrating: {violations[:5]}")
    return _current_revision(conn)


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _set_sqlite_foreign_keys(conn: Connection, on: bool) -> None:
    # Through the DBAPI cursor: a PRAGMA foreign_keys inside a transaction is silently ignored,
    # and SQLAlchemy's autobegin would open one.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()
