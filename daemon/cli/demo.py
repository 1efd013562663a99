"""`tlh demo`: the daemon harvesting on real, bundled prices, start to finish.

The bundled prices are a slice of the S&P 500 five-year daily set (MIT/CC0, see
`daemon/demo_data/README.md`). The demo buys a starting portfolio on the first day, replays
every session through the real daemon with the simulated broker on a SQLite journal, shows each
harvest as it happens, and ends with a summary table.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.prices.csvload import load_prices
from daemon.app import Daemon
from daemon.backtest import run_backtest
from daemon.cli import app
from daemon.cli.backtest import print_summary
from daemon.cli.config import exit_on_config_error
from daemon.logging import configure_logging
from daemon.replay import demo_holdings
from daemon.settings import load_settings


@app.command("demo")
def demo(
    database: Annotated[
        Path | None,
        typer.Option(help=("Keep the demo's SQLite journal here (default: a temporary file).")),
    ] = None,
    end: Annotated[str | None, typer.Option(help="Stop after this day (YYYY-MM-DD).")] = None,
) -> None:
    """Replay bundled real prices through the daemon and show the harvests."""
    from daemon.demo_data import demo_config_path, demo_prices_path

    console = Console()
    configure_logging("WARNING", "console", stream=None)
    with exit_on_config_error():  # the environment's TLH_ variables apply to the demo too
        settings = load_settings(demo_config_path())
    prices = load_prices(demo_prices_path())
    holdings = demo_holdings(prices, settings)
    console.print(
        f"[bold]tlh demo[/]: {len(prices.symbols)} symbols, "
        f"{prices.first_date} → {prices.last_date}, {len(prices):,} daily bars; "
        f"starting portfolio: " + ", ".join(f"{t.quantity} {t.symbol}" for t in holdings)
    )
    days = len(prices.dates)
    state: dict[str, date] = {}

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} sessions"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("replaying", total=days)

        def on_day(day: date, _daemon: Daemon) -> None:
            state["day"] = day
            progress.update(task, advance=1, description=f"replaying {day}")

        def on_decision(kind: str, d: dict[str, object]) -> None:
            if kind == "harvest":
                console.print(
                    f"{state.get('day', '')}  [green]harvest[/] {d['quantity']} {d['symbol']} "
                    f"at {d['bid']}: loss ${d['net_loss']} → buy {d['replacement'] or 'cash'} "
                    f"(est. tax saved ${d['estimated_tax_saved']})"
                )

        with tempfile.TemporaryDirectory(prefix="tlh-demo-") as tmp:
            path = database or Path(tmp) / "demo.sqlite"
            result = asyncio.run(
                run_backtest(
                    prices,
                    holdings,
                    settings,
                    database_url=f"sqlite+aiosqlite:///{path}",
                    end=date.fromisoformat(end) if end else None,
                    on_day=on_day,
                    on_decision=on_decision,
                )
            )
    print_summary(result, console)
