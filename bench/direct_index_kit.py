"""What the direct-index benches share: running `tlh backtest` and the SPY/IVV pair baseline.

The pair starts with the same money in SPY at the first close of its window (`etf_daily_raw`,
internal data: read at run time, never bundled) and swaps between SPY and IVV.
"""

from __future__ import annotations

import csv
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "prices"
SP500 = SHARED / "sp500_1999_2021" / "daily_adjusted"
ETF = SHARED / "etf_daily_raw"
TLH = Path(sys.executable).with_name("tlh")
CASH = Decimal(1_000_000)
DIRECT_INDEX_CONFIG = HERE / "direct_index.toml"
PAIR_CONFIG = HERE / "etf_pair.toml"


def require_data() -> None:
    """Stop with a message when the shared price data is absent."""
    if not SP500.is_dir() or not ETF.is_dir():
        sys.exit(f"needs the shared price data: {SP500} and {ETF}")


def run(args: list[str]) -> tuple[dict[str, object], float, float]:
    """Run `tlh backtest ARGS --json`; return its summary, wall seconds and peak MiB (the
    largest of this process's children so far)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(TLH), "backtest", *args, "--json"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"tlh backtest {' '.join(args)}: exit {out.returncode}\n{out.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(out.stdout), seconds, peak


def direct_index_args(*extra: str) -> list[str]:
    """Return the arguments of the equal-weight direct index from `CASH` on the S&P set."""
    return [
        "--prices",
        str(SP500),
        "--index",
        "equal",
        "--cash",
        str(CASH),
        "--config",
        str(DIRECT_INDEX_CONFIG),
        *extra,
    ]


def first_close(symbol_file: Path, day: str) -> tuple[str, Decimal]:
    """Return the first session on or after `day` in a Yahoo daily file, and its close."""
    with gzip.open(symbol_file, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Date"] >= day:
                return row["Date"], Decimal(row["Close"])
    sys.exit(f"{symbol_file}: no close on or after {day}")


def spy_growth(start: str, end: str) -> Decimal:
    """Return SPY's total-return growth (dividends reinvested: Yahoo's `Adj Close`) from the
    first session on or after `start` to the last on or before `end`."""
    first = last = None
    with gzip.open(ETF / "SPY.csv.gz", "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if start <= row["Date"] <= end:
                first = first or Decimal(row["Adj Close"])
                last = Decimal(row["Adj Close"])
    if first is None or last is None:
        sys.exit(f"{ETF / 'SPY.csv.gz'}: no session from {start} to {end}")
    return last / first


def run_pair(start: str, end: str, *extra: str) -> tuple[dict[str, object], float, float]:
    """Run the SPY/IVV pair from `CASH` in SPY at the first close on or after `start`."""
    with tempfile.TemporaryDirectory() as tmp:
        prices = Path(tmp) / "prices"
        prices.mkdir()
        for symbol in ("SPY", "IVV"):
            shutil.copy(ETF / f"{symbol}.csv.gz", prices / f"{symbol}.csv.gz")
        day, close = first_close(ETF / "SPY.csv.gz", start)
        holdings = Path(tmp) / "holdings.csv"
        qty = (CASH / close).to_integral_value()
        holdings.write_text(
            "date,account,action,symbol,quantity,price,fees,lot_id\n"
            f"{day},taxable,BUY,SPY,{qty},{close},0,spy-1\n"
        )
        return run(
            [
                "--prices",
                str(prices),
                "--holdings",
                str(holdings),
                "--config",
                str(PAIR_CONFIG),
                "--start",
                start,
                "--end",
                end,
                *extra,
            ]
        )


def year_rows(summary: dict[str, object]) -> dict[int, dict[str, object]]:
    """Return the summary's `years` rows by calendar year."""
    rows = summary["years"]
    assert isinstance(rows, list)
    return {int(r["year"]): r for r in rows}


def years(summary: dict[str, object]) -> dict[int, Decimal]:
    """Return the harvested loss by calendar year."""
    return {y: Decimal(str(r["harvested_loss"])) for y, r in year_rows(summary).items()}
