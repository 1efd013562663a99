"""`tlh backtest`: replay a price history through the daemon on the simulated broker."""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapters.importers import InputError
from adapters.importers.trades_csv import locate_refusal, parse_trades
from adapters.prices.model import PriceSeries
from daemon.app import make_ledger
from daemon.backtest import BacktestResult, run_backtest, write_trades
from daemon.cli import app
from daemon.cli.config import load_settings_or_exit
from daemon.cli.failures import fail
from daemon.cli.tax import write_atomically
from daemon.logging import configure_logging
from daemon.settings import Settings
from ledger.errors import LedgerError
from ledger.model import Trade


def load_price_source(path: Path) -> PriceSeries:
    """Load a long-format price CSV, a directory of per-symbol files, or a converted cache."""
    from adapters.prices import csvload

    if path.is_dir():
        return csvload.load_price_dir(path)
    return csvload.load_prices(path)  # also recognises a converted cache by its content


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag}: not a date YYYY-MM-DD (got {text!r})")


def _check_holdings(lots: Sequence[Trade], settings: Settings, path: Path) -> None:
    """Raise `InputError` naming the line and field of a holding the ledger refuses
    (an oversale, a repeated lot id), as `tlh tax report` does, before anything runs."""
    ledger = make_ledger(settings)
    try:
        ledger.apply_all(lots)
    except LedgerError as exc:
        raise locate_refusal(exc, lots, lambda: make_ledger(settings), path) from exc


@app.command("backtest")
def backtest(
    prices: Annotated[
        Path,
        typer.Option(
            help="Prices: CSV with date,symbol,close (or a "
            "directory of per-symbol files, or a cache)."
        ),
    ],
    holdings: Annotated[Path, typer.Option(help="Starting lots, in the TRADES.csv format.")],
    config: Annotated[Path | None, typer.Option(help="tlh.toml")] = None,
    start: Annotated[str | None, typer.Option(help="First day to replay (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day to replay (YYYY-MM-DD).")] = None,
    trades_out: Annotated[
        Path | None,
        typer.Option(
            "--trades-out",
            help=("Write every trade the daemon made here, in the TRADES.csv format."),
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    spread_bps: Annotated[int, typer.Option(help="Simulated bid-ask spread, basis points.")] = 10,
    database_url: Annotated[
        str | None, typer.Option(help=("Journal database (default: a temporary SQLite file)."))
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log every decision.")] = False,
) -> None:
    """Replay prices through the real daemon with the simulated broker."""
    settings = load_settings_or_exit(config)
    first, last = _day(start, "--start"), _day(end, "--end")
    try:
        start_lots = parse_trades(holdings)
        _check_holdings(start_lots, settings, holdings)
    except InputError as exc:
        fail(str(exc))
    try:
        series = load_price_source(prices)
    except (OSError, ValueError) as exc:
        fail(f"{prices}: {exc}")
    configure_logging(
        "INFO" if verbose else "WARNING",
        settings.logging.format,
        settings.secret_values(),
    )
    with tempfile.TemporaryDirectory(prefix="tlh-backtest-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'backtest.sqlite'}"
        result = asyncio.run(
            run_backtest(
                series,
                start_lots,
                settings,
                database_url=url,
                start=first,
                end=last,
                spread_bps=Decimal(spread_bps),
            )
        )
    if trades_out is not None:
        rows = io.StringIO()
        write_trades(result.daemon_trades, rows)
        write_atomically(trades_out, rows.getvalue().encode())
    summary = result.summary()
    summary["price_rows_skipped"] = series.skipped_total
    summary["price_rows_skipped_by_reason"] = dict(series.skipped)
    if as_json:  # the table shows them itself
        for warning in result.warnings:
            typer.echo(f"tlh: warning: {warning}", err=True)
    for example in series.examples:
        typer.echo(
            f"tlh: skipped price row {example.source}:{example.line} ({example.reason}): "
            f"{example.text}",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_summary(result, Console(), skipped=series.skipped)


def print_summary(
    result: BacktestResult, console: Console, *, skipped: Mapping[str, int] | None = None
) -> None:
    """Print a backtest's summary table."""
    table = Table(title="Harvest summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("period", f"{result.first_day} → {result.last_day} ({result.days} days)")
    table.add_row("harvests", str(result.harvests))
    table.add_row("losses harvested", f"${result.harvested_loss:,.2f}")
    table.add_row("estimated tax saved", f"${result.estimated_tax_saved:,.2f}")
    table.add_row("trades", str(result.trades))
    table.add_row("wash sales avoided", str(result.wash_sales_avoided))
    table.add_row("wash sales created", str(result.wash_sales_created))
    table.add_row("splits applied", str(result.splits))
    for reason, count in sorted((skipped or {}).items()):
        table.add_row(f"price rows skipped ({reason})", str(count))
    for warning in result.warnings:
        table.add_row("[bold]warning[/bold]", warning)
    if result.risk_denials:
        table.add_row(
            "orders denied",
            ", ".join(f"{n} by {kind}" for kind, n in sorted(result.risk_denials.items())),
        )
    console.print(table)
