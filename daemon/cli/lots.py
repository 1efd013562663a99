"""`tlh lots`: the open tax lots; `tlh lots select`: the lots to pick in IB's Tax Optimizer."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.storage.engine import create_engine
from adapters.storage.migrate import upgrade_database
from adapters.storage.records import Intent, IntentKind, IntentStatus
from adapters.storage.repository import Repository
from daemon.cli import app
from daemon.cli.config import ConfigOption, load_settings_or_exit
from daemon.cli.failures import fail
from daemon.cli.run import load_ledger
from daemon.tax_optimizer import NEW_YORK, PAYLOAD_KEY, deadline_text

lots_app = typer.Typer(
    help="Open tax lots (`tlh lots`), and the lots to select in IB's Tax Optimizer.",
    invoke_without_command=True,
)
app.add_typer(lots_app, name="lots")

SALES = (IntentKind.HARVEST_SELL, IntentKind.SWAP_BACK_SELL, IntentKind.REBALANCE_SELL)
"""The sales whose lots may be picked at the broker (a direct index's rebalance too)."""


@lots_app.callback()
def lots(ctx: typer.Context, config: ConfigOption = None) -> None:
    """List the open tax lots, rebuilt from the journal."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings_or_exit(config)
    ledger, _repo = asyncio.run(load_ledger(settings))
    table = Table(title="Open lots")
    for col in (
        "account",
        "symbol",
        "lot",
        "quantity",
        "acquired",
        "holding from",
        "cost",
        "adjusted basis",
    ):
        table.add_column(
            col, justify="right" if col in ("quantity", "cost", "adjusted basis") else "left"
        )
    for lot in ledger.open_lots():
        table.add_row(
            lot.account,
            lot.symbol,
            lot.lot_id,
            f"{lot.quantity}",
            lot.acquired.isoformat(),
            lot.holding_period_start.isoformat(),
            f"{lot.cost_basis:,.2f}",
            f"{lot.adjusted_basis:,.2f}",
        )
    Console().print(table)


@lots_app.command("select")
def select(
    day: Annotated[
        str | None,
        typer.Option("--date", help="Trade date, YYYY-MM-DD (default: today in New York)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show the lots to select in IB's Tax Optimizer for the day's sales (before 8:30 PM ET).

    Only for a broker where the user picks lots after the trade (`[ib] lot_method =
    "specific"`): tlh sold the lots it names here, and its ledger counts them as sold.
    """
    try:
        trade_date = date.fromisoformat(day) if day is not None else datetime.now(NEW_YORK).date()
    except ValueError:
        fail(f"--date: expected a date as YYYY-MM-DD (got {day!r})")
    settings = load_settings_or_exit(config)
    sales = asyncio.run(_sales_to_match(settings.database.url, trade_date))
    console = Console()
    if not sales:
        console.print(f"No lots to select in the Tax Optimizer for {trade_date.isoformat()}.")
        return
    table = Table(
        title=f"Select these lots in IB's Tax Optimizer before {deadline_text(trade_date)}"
    )
    for col in ("account", "symbol", "sale", "lot", "acquired", "quantity", "cost/share"):
        table.add_column(col, justify="right" if col in ("quantity", "cost/share") else "left")
    table.add_column("adjusted/share", justify="right")
    for sale in sales:
        sold = f"{sale.filled_quantity.normalize():f} of {sale.quantity.normalize():f} sold"
        for i, lot in enumerate(sale.payload[PAYLOAD_KEY]):
            table.add_row(
                sale.account if i == 0 else "",
                sale.symbol if i == 0 else "",
                f"{sold} ({sale.status.value})" if i == 0 else "",
                lot["lot_id"],
                lot["acquired"],
                lot["quantity"],
                lot["cost_per_share"],
                lot["adjusted_per_share"],
            )
    console.print(table)


async def _sales_to_match(url: str, trade_date: date) -> list[Intent]:
    """Return the sales of `trade_date` whose lots the user selects at the broker: sent and
    not ended unfilled, oldest first."""
    db = create_engine(url)
    try:
        await upgrade_database(db)
        repo = Repository(db)
        found = [i for kind in SALES for i in await repo.intents_of_kind(kind)]
    finally:
        await db.dispose()
    return sorted(
        (
            i
            for i in found
            if PAYLOAD_KEY in i.payload
            and i.payload.get("trade_date") == trade_date.isoformat()
            and i.status is not IntentStatus.DENIED
            and not (i.status.terminal and not i.filled_quantity)
        ),
        key=lambda i: (i.created_at or datetime.min.replace(tzinfo=NEW_YORK), i.intent_id),
    )
