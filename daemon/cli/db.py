"""`tlh db ...`: create and upgrade the database schema."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from alembic.util import CommandError
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from adapters.storage.engine import DatabaseURLError, create_engine, normalize_url
from adapters.storage.migrate import current_revision, upgrade_database
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. sqlite+aiosqlite:///./tlh.sqlite or "
        "postgresql+asyncpg://USER@HOST/DB (default: database.url from the configuration, "
        "i.e. TLH_DATABASE__URL or tlh.toml).",
        show_default=False,
    ),
]

db_app = typer.Typer(help="Database schema: create and upgrade.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrlOption = None, config: ConfigOption = None) -> None:
    """Create the tables, or upgrade them to the newest revision; running it again is a no-op.

    Exit status 2, with one line, for an unusable URL (or configuration) and a database that
    cannot be opened or migrated (`daemon.cli.failures`).
    """
    if database_url is not None:
        raw, source = database_url, "--database-url"
    else:
        raw, source = load_settings_or_exit(config).database.url, "database.url"
    try:
        url = normalize_url(raw)
    except DatabaseURLError as exc:
        fail(f"{source}: {exc}")
    shown = url.render_as_string(hide_password=True)
    try:
        before, after = asyncio.run(_upgrade(url))
    except (OSError, DBAPIError) as exc:
        fail(f"cannot upgrade database {shown}: {_reason(exc)}")
    except CommandError as exc:
        fail(f"cannot upgrade database {shown}: {exc}")
    if before == after:
        typer.echo(f"{shown}: already at revision {after} (head)")
    else:
        typer.echo(f"{shown}: upgraded from {before or 'an empty database'} to revision {after}")


async def _upgrade(url: URL) -> tuple[str | None, str | None]:
    engine = create_engine(url)
    try:
        return await current_revision(engine), await upgrade_database(engine)
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
