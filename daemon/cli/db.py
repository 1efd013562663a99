"""`tlh db ...`: create and upgrade the database schema."""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer
from alembic.util import CommandError
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from adapters.storage.engine import DatabaseURLError, create_engine, normalize_url
from adapters.storage.migrate import current_revision, upgrade_database
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit

BAD_URL_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1

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

    Exit status 2 for an unusable URL (or configuration) or a database that cannot be opened
    (`daemon.cli.failures`), 1 when it cannot be migrated.
    """
    if database_url is not None:
        raw, source = database_url, "--database-url"
    else:
        raw, source = load_settings_or_exit(config).database.url, "database.url"
    try:
        url = normalize_url(raw)
    except DatabaseURLError as exc:
        _fail(f"{source}: {exc}", BAD_URL_EXIT_CODE)
    shown = url.render_as_string(hide_password=True)
    try:
        before, after = asyncio.run(_upgrade(url))
    except (OSError, DBAPIError) as exc:
        _fail(f"cannot upgrade database {shown}: {_reason(exc)}", FAILURE_EXIT_CODE)
    except CommandError as exc:
        _fail(f"cannot upgrade database {shown}: {exc}", FAILURE_EXIT_CODE)
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


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
