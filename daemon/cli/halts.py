"""`tlh halts`: list and clear symbol-level trading halts (set on ledger/broker mismatches)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Halt
from adapters.storage.repository import Repository
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from ledger.identity import normalize_symbol

halts_app = typer.Typer(help="Trading halts: list, clear.", no_args_is_help=True)
app.add_typer(halts_app, name="halts")


async def _with_repo(
    url: str, action: str, symbol: str = "", account: str | None = None
) -> list[Halt] | int:
    db = create_engine(url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        if action == "clear":
            return await repo.clear_halt(symbol, account=account)
        return await repo.active_halts()
    finally:
        await db.dispose()


@halts_app.command("list")
def list_halts(config: ConfigOption = None) -> None:
    """List the symbols the daemon will not trade, and why."""
    settings = load_settings_or_exit(config)
    halts = asyncio.run(_with_repo(settings.database.url, "list"))
    assert isinstance(halts, list)
    if not halts:
        Console().print("No trading halts.")
        return
    table = Table(title="Trading halts")
    for col in ("symbol", "account", "since", "reason"):
        table.add_column(col)
    for h in halts:
        table.add_row(
            h.symbol, h.account or "all", h.created_at.isoformat(timespec="seconds"), h.reason
        )
    Console().print(table)


@halts_app.command("clear")
def clear_halt(
    symbol: Annotated[str, typer.Argument(help="Symbol whose halt to clear.")],
    account: Annotated[str | None, typer.Option(help="Only this account's halt.")] = None,
    config: ConfigOption = None,
) -> None:
    """Clear a halt once its cause is fixed (the daemon re-checks on its next reconcile)."""
    settings = load_settings_or_exit(config)
    cleared = asyncio.run(
        _with_repo(settings.database.url, "clear", normalize_symbol(symbol), account)
    )
    if not cleared:
        typer.echo(f"tlh: no active halt on {normalize_symbol(symbol)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"cleared {cleared} halt(s) on {normalize_symbol(symbol)}")
