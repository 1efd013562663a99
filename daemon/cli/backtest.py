"""`tlh backtest`: replay a price history through the daemon on the simulated broker.

Either ETF pairs from starting lots (`--holdings`) or a direct index built from cash
(`--index WEIGHTS.csv|equal --cash USD [--deposits USD]`, the rest of `[index]` from
`--config`); `--report DIR` writes the report page and its plots for either.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
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
from daemon.backtest import BacktestResult, IndexBacktest, run_backtest, write_trades
from daemon.cli import app
from daemon.cli.config import load_settings_or_exit
from daemon.cli.failures import fail
from daemon.cli.tax import write_atomically
from daemon.logging import configure_logging
from daemon.settings import MAX_MONEY, Settings
from ledger.errors import LedgerError
from ledger.model import Trade


def load_price_source(path: Path) -> PriceSeries:
    """Load a long-format price CSV, a directory of per-symbol files (parsed on every core
    this process may use), or a converted cache."""
    from adapters.prices import csvload
    from daemon.cli.tax_parts import available_cores

    if path.is_dir():
        return csvload.load_price_dir(path, workers=available_cores())
    return csvload.load_prices(path)  # also recognises a converted cache by its content


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{flag}: not a date YYYY-MM-DD (got {text!r})")


EQUAL = "equal"
CONSTITUENTS = "constituents.csv.gz"
"""The sectors file beside a directory of per-ticker prices (the S&P set's layout)."""


def _usd(text: str | None, flag: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.replace(",", "").removeprefix("$"))
    except ArithmeticError:
        fail(f"{flag}: not an amount in USD (got {text!r})")
    if not value.is_finite() or value < 0:
        fail(f"{flag}: must be a finite amount of 0 or more (got {text!r})")
    if value > MAX_MONEY:
        fail(f"{flag}: must be at most {MAX_MONEY:,.0f} USD (got {text!r})")
    return value


def _check_outputs(report: Path | None, trades_out: Path | None) -> None:
    """Exit 2 before the replay when `--report` or `--trades-out` cannot be written (a run
    of minutes is not spent to fail at its end); make the report's directory."""
    if report is not None:
        try:
            report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"--report {report}: cannot write there: {exc.strerror or exc}")
        if not os.access(report, os.W_OK | os.X_OK):
            fail(f"--report {report}: cannot write there: permission denied")
    if trades_out is not None:
        parent = trades_out.resolve().parent
        if trades_out.is_dir():
            fail(f"--trades-out {trades_out}: is a directory, not a file")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            fail(f"--trades-out {trades_out}: cannot write there: no writable directory {parent}")


def _sectors_file(flag: Path | None, prices: Path) -> Path | None:
    """Return `--sectors`, else the constituents file beside (or in) a prices directory."""
    if flag is not None:
        return flag
    if prices.is_dir():
        for candidate in (prices / CONSTITUENTS, prices.parent / CONSTITUENTS):
            if candidate.is_file():
                return candidate
    return None


def priced_on(series: PriceSeries, day: date) -> list[str]:
    """Return the symbols with a bar on `day`, sorted."""
    for when, rows in series.day_ranges():
        if when == day:
            return sorted({series.symbols[series.symbol_ids[i]] for i in rows})
    return []


def index_plan(
    settings: Settings,
    series: PriceSeries,
    weights: str,
    *,
    cash: Decimal,
    deposits: Decimal,
    first: date | None,
    sectors: Path | None,
    config: Path | None,
) -> tuple[Settings, IndexBacktest]:
    """Return the settings with `[index]` set for the backtest (`weights`; for ``equal`` the
    universe of every symbol priced on the first day replayed) and its `IndexBacktest`.

    Exit 2 naming the file, line and field of a bad weights or sectors file, or the key at
    fault of a target that cannot be made.
    """
    from daemon.index_weights import equal_target, read_sectors, weights_target
    from strategies.index.target import TargetError

    ix = settings.index
    start_day = next((d for d in series.dates if first is None or d >= first), None)
    if start_day is None:
        fail("--start: no day of the prices lies in the period replayed")
    update: dict[str, object] = {"weights": weights}
    if sectors is not None:
        update["sectors"] = str(sectors.resolve())
    elif ix.sectors is not None and config is not None:
        update["sectors"] = str((config.parent / ix.sectors).resolve())
    sector_path = update.get("sectors")
    try:
        sector_map = read_sectors(Path(str(sector_path))) if sector_path else {}
        if weights == EQUAL:
            universe = priced_on(series, start_day)
            update["universe"] = tuple(universe)
            target = equal_target(universe, sector_map, ix.exclude, completion=ix.completion)
            label = "direct index, equal weights"
        else:
            path = Path(weights).resolve()
            update["weights"] = str(path)
            target = weights_target(
                path, sectors=sector_map, exclude=ix.exclude, completion=ix.completion
            )
            label = f"direct index, {path.name}"
    except InputError as exc:
        fail(str(exc), bare=True)
    except TargetError as exc:
        fail(f"--index: {exc}")
    settings = settings.model_copy(update={"index": ix.model_copy(update=update)})
    plan = IndexBacktest(
        cash=cash, weights=target.weights, deposits_per_month=deposits, label=label
    )
    return settings, plan


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
    holdings: Annotated[
        Path | None,
        typer.Option(help="Starting lots, in the TRADES.csv format (ETF pairs; not with --index)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="tlh.toml")] = None,
    start: Annotated[str | None, typer.Option(help="First day to replay (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day to replay (YYYY-MM-DD).")] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            help="Direct index from cash: a weights CSV (symbol,weight[,sector]) or 'equal' "
            "(every symbol priced on the first day); the rest of [index] from --config.",
        ),
    ] = None,
    cash: Annotated[
        str | None, typer.Option(help="With --index: the cash to start from, USD.")
    ] = None,
    deposits: Annotated[
        str | None,
        typer.Option(help="With --index: deposited on the first session of each later month, USD."),
    ] = None,
    sectors: Annotated[
        Path | None,
        typer.Option(
            help="With --index: a CSV symbol,sector (default: constituents.csv.gz beside a "
            "prices directory, else [index] sectors)."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write report.html and its PNG plots into this directory."),
    ] = None,
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
    start_cash, monthly = _check_mode(index, holdings, cash, deposits)
    settings = load_settings_or_exit(config)
    first, last = _day(start, "--start"), _day(end, "--end")
    if first is not None and last is not None and first > last:
        fail(f"--start {first.isoformat()} is after --end {last.isoformat()}")
    start_lots: list[Trade] = []
    if holdings is not None:
        try:
            start_lots = parse_trades(holdings)
            _check_holdings(start_lots, settings, holdings)
        except InputError as exc:
            fail(str(exc))
    try:
        series = load_price_source(prices)
    except (OSError, ValueError) as exc:
        fail(f"{prices}: {exc}")
    plan = None
    if index is not None:
        settings, plan = index_plan(
            settings,
            series,
            index,
            cash=start_cash or Decimal(0),
            deposits=monthly or Decimal(0),
            first=first,
            sectors=_sectors_file(sectors, prices),
            config=config,
        )
    _check_outputs(report, trades_out)
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
                index=plan,
            )
        )
    if trades_out is not None:
        rows = io.StringIO()
        write_trades(result.daemon_trades, rows, result.splits_applied)
        try:
            write_atomically(trades_out, rows.getvalue().encode())
        except OSError as exc:
            fail(f"--trades-out {trades_out}: cannot write: {exc.strerror or exc}")
    summary = summarize(result, series)
    if report is not None and result.series is not None:
        from daemon.backtest_report import write_report

        try:
            write_report(
                result.series,
                report,
                summary=summary,
                title=f"tlh backtest: {result.series.label}, {result.first_day} to "
                f"{result.last_day}",
                notes=report_notes(prices, series, plan),
            )
        except OSError as exc:
            fail(f"--report {report}: cannot write: {exc.strerror or exc}")
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


def _check_mode(
    index: str | None, holdings: Path | None, cash: str | None, deposits: str | None
) -> tuple[Decimal | None, Decimal | None]:
    """Exit 2 unless exactly one of --holdings and --index is given, --cash with --index;
    return the cash and the monthly deposit."""
    if (index is None) == (holdings is None):
        fail(
            "give either --holdings HOLDINGS.csv (ETF pairs from starting lots) or --index "
            "WEIGHTS.csv|equal --cash USD (a direct index from cash)"
            + (", not both" if index is not None else "")
        )
    if index is None and (cash is not None or deposits is not None):
        fail("--cash and --deposits go with --index")
    start_cash, monthly = _usd(cash, "--cash"), _usd(deposits, "--deposits")
    if index is not None and start_cash is None:
        fail("--index needs --cash USD (the money to build the index from)")
    return start_cash, monthly


def summarize(result: BacktestResult, series: PriceSeries) -> dict[str, object]:
    """Return the `--json` object: the fixed keys, the price rows skipped, and the figures
    of the day samples (`daemon.backtest_metrics.summary_keys`)."""
    summary = result.summary()
    summary["price_rows_skipped"] = series.skipped_total
    summary["price_rows_skipped_by_reason"] = dict(series.skipped)
    if result.series is not None:
        from daemon.backtest_metrics import summary_keys

        summary.update(summary_keys(result.series))
    return summary


def report_notes(path: Path, series: PriceSeries, plan: IndexBacktest | None) -> list[str]:
    """Return the report's notes on the data and the benchmark."""
    notes = [
        f"Prices: {path} ({len(series.symbols)} symbols, {series.first_date} to "
        f"{series.last_date}); splits and dividends from its columns where it has them.",
        "Benchmark: the same money bought and held without harvesting or rebalancing, "
        "splits applied, dividends reinvested in the same name at the close.",
    ]
    if plan is not None:
        notes.append(
            f"{plan.label}: ${plan.cash:,.2f} at the start"
            + (f", ${plan.deposits_per_month:,.2f} a month" if plan.deposits_per_month else "")
            + ". A set of today's constituents carries survivorship bias: the stocks that "
            "left the index are missing."
        )
    return notes


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
