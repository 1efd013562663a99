"""Alembic migrations: upgrade, downgrade, and the revisions matching `schema.py` exactly."""

from __future__ import annotations

import io
import logging
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.engine import create_engine
from adapters.storage.migrate import (
    alembic_config,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from adapters.storage.schema import metadata

TABLES = {"journal", "accounts", "intents", "order_events", "halts", "daemon_state"}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _check_constraints(conn: Connection) -> dict[str, dict[str, str]]:
    inspector = inspect(conn)
    return {
        table: {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table)}
        for table in sorted(TABLES)
    }


async def test_upgrade_downgrade_upgrade_round_trip(db_url: str) -> None:
    """From inside the running loop: empty → head → empty → head, each step complete."""
    engine = create_engine(db_url)
    try:
        assert await current_revision(engine) is None

        assert await upgrade_database(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES

        assert await downgrade_database(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()

        assert await upgrade_database(engine) == head_revision()
        assert await upgrade_database(engine) == head_revision()  # idempotent
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    """Alembic's autogenerate finds nothing to change between the migrations and schema.py."""
    async with engine.connect() as conn:
        differences = await conn.run_sync(_schema_differences)

    assert differences == []


async def test_migrated_check_constraints_match_the_models(engine: AsyncEngine) -> None:
    """Autogenerate ignores CHECK constraints, so compare them separately.

    Names on both backends; the condition text too on SQLite, which keeps it verbatim
    (PostgreSQL rewrites it into its own normal form).
    """
    expected = {
        table.name: {
            str(c.name): str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)
        }
        for table in metadata.sorted_tables
    }

    async with engine.connect() as conn:
        found = await conn.run_sync(_check_constraints)

    if engine.dialect.name == "sqlite":
        assert found == expected
    else:
        assert {t: set(cs) for t, cs in found.items()} == {t: set(cs) for t, cs in expected.items()}


async def test_upgrading_leaves_the_daemons_logging_alone(engine: AsyncEngine) -> None:
    """No fileConfig on the handed-in connection path: existing loggers stay enabled."""
    logger = logging.getLogger("tlh.test.migrations")

    await downgrade_database(engine)
    await upgrade_database(engine)

    assert not logger.disabled


def test_the_command_line_path_runs_without_a_running_loop(sqlite_url: str) -> None:
    """`alembic.command` called from synchronous code creates its own engine and loop."""
    config = alembic_config(sqlite_url)

    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")

    out = io.StringIO()
    config.stdout = out
    command.current(config)
    assert f"{head_revision()} (head)" in out.getvalue()


def test_offline_mode_renders_the_sql(sqlite_url: str) -> None:
    """`--sql` mode emits the DDL without connecting (for review or a DBA)."""
    out = io.StringIO()
    config = alembic_config(sqlite_url)
    config.stdout = out
    config.output_buffer = out

    command.upgrade(config, "head", sql=True)

    assert "CREATE TABLE journal" in out.getvalue()
