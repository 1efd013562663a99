"""Hand-written daily price files run through `run_backtest`, as `tlh backtest` runs them.

One household: 100 XYZ bought at $100 on 2023-12-01 in a taxable account, SUB as XYZ's
substitute. XYZ trades near $100 (100.00, 100.10, 100.20 in turn, so no two sessions repeat)
and SUB near $50; a test changes the rows it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner, Result

from adapters.prices.csvload import load_prices
from daemon.backtest import BacktestResult, run_backtest
from daemon.cli import _register, app
from daemon.settings import Settings, SubstituteGroup
from ledger.model import Action, Trade

SESSIONS = 60
HEADER = "date,symbol,open,high,low,close"

Row = tuple[str, str, str, str, str]  # symbol, open, high, low, close


def sessions(n: int = SESSIONS) -> list[date]:
    """Return the first `n` weekdays from 2024-01-02."""
    days, day = [], date(2024, 1, 2)
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def flat(symbol: str, level: Decimal, n: int) -> Row:
    """Return a consistent bar (open = high = low = close) near `level` on session `n`."""
    close = str(level + Decimal("0.10") * (n % 3))
    return symbol, close, close, close, close


def normal_day(n: int) -> list[Row]:
    """Return the bars of session `n` before any test changes them."""
    return [flat("SUB", Decimal(50), n), flat("XYZ", Decimal(100), n)]


def write_prices(
    path: Path,
    day_rows: Callable[[int], list[Row]],
    splits: dict[tuple[int, str], str] | None = None,
) -> Path:
    """Write a long-format price file with the rows `day_rows(n)` for each session `n`; with
    `splits` ({(session, symbol): coefficient as written}), a split_coefficient column too."""
    lines = [HEADER + (",split_coefficient" if splits is not None else "")]
    for n, day in enumerate(sessions()):
        for s, o, h, lo, c in day_rows(n):
            row = f"{day},{s},{o},{h},{lo},{c}"
            if splits is not None:
                row += "," + splits.get((n, s), "1.0")
            lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return path


def settings() -> Settings:
    """Return the household's settings: one taxable account, XYZ and SUB substitutes."""
    return Settings(
        accounts={"taxable": "taxable"},
        substitutes=(SubstituteGroup(symbols=("XYZ", "SUB")),),
    )


HOLDINGS = [
    Trade(1, date(2023, 12, 1), "taxable", Action.BUY, "XYZ", Decimal(100), Decimal(100)),
]


async def backtest(
    prices: Path, sqlite_url: str, holdings: list[Trade] | None = None
) -> BacktestResult:
    """Load `prices` as `tlh backtest` does and replay them over `holdings` (the household's)."""
    lots = holdings or HOLDINGS
    return await run_backtest(load_prices(prices), lots, settings(), database_url=sqlite_url)


HOLDINGS_CSV = """date,account,action,symbol,quantity,price,fees,lot_id
2023-12-01,taxable,BUY,XYZ,100,100,0,XYZ-1
"""
CONFIG = """
[accounts]
taxable = "taxable"

[[substitutes]]
symbols = ["XYZ", "SUB"]
"""


def falling(n: int) -> list[Row]:
    """Return session `n` of a real fall: XYZ from $100 to $80 over five sessions from 20."""
    level = Decimal(100) if n < 20 else max(Decimal(100) - 4 * (n - 19), Decimal(80))
    return [flat("SUB", Decimal(50), n), flat("XYZ", level, n)]


def write_inputs(
    folder: Path, day_rows: Callable[[int], list[Row]] = falling, holdings: str = HOLDINGS_CSV
) -> dict[str, Path]:
    """Write PRICES.csv, HOLDINGS.csv and tlh.toml into `folder`; return their paths."""
    paths = {name: folder / name for name in ("PRICES.csv", "HOLDINGS.csv", "tlh.toml")}
    write_prices(paths["PRICES.csv"], day_rows)
    paths["HOLDINGS.csv"].write_text(holdings)
    paths["tlh.toml"].write_text(CONFIG)
    return paths


def tlh_backtest(paths: dict[str, Path], *extra: str) -> Result:
    """Run `tlh backtest` in-process on `paths`; stdout and stderr apart."""
    _register()
    args = ["backtest", "--prices", str(paths["PRICES.csv"]), "--holdings"]
    args += [str(paths["HOLDINGS.csv"]), "--config", str(paths["tlh.toml"]), *extra]
    return CliRunner().invoke(app, args, catch_exceptions=False)
