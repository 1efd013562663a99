"""What the direct-index benches share: running `tlh backtest` and the ETF-pair baselines.

The SPY/IVV pair starts with the same money in SPY at the first close of its window
(`etf_daily_raw`, internal data: read at run time, never bundled) and swaps between SPY and IVV.

The set pair is the same pair on the direct index's own stocks: two funds, SETA and SETB, each
holding the S&P set's stocks bought and held from the window's first session (equal dollars in
every stock priced on it, splits applied, dividends paid out as cash), so it shares the set's
survivorship. SPY held the index's losers too; comparing the direct index with this pair
measures what owning the stocks adds on the same stocks.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_price_dir
from adapters.prices.model import PriceSeries

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "prices"
SP500 = SHARED / "sp500_1999_2021" / "daily_adjusted"
ETF = SHARED / "etf_daily_raw"
TLH = Path(sys.executable).with_name("tlh")
CASH = Decimal(1_000_000)
DIRECT_INDEX_CONFIG = HERE / "direct_index.toml"
PAIR_CONFIG = HERE / "etf_pair.toml"
SET_PAIR_CONFIG = HERE / "set_pair.toml"
SET_FUNDS = ("SETA", "SETB")


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


def direct_index_args(*extra: str, config: Path = DIRECT_INDEX_CONFIG) -> list[str]:
    """Return the arguments of the equal-weight direct index from `CASH` on the S&P set."""
    return [
        "--prices",
        str(SP500),
        "--index",
        "equal",
        "--cash",
        str(CASH),
        "--config",
        str(config),
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


def _run_fund_pair(
    start: str, end: str, files: dict[str, Path], config: Path, *extra: str
) -> tuple[dict[str, object], float, float]:
    """Run a pair of funds (`files`: symbol -> its daily file, the first the one bought) from
    `CASH` in the first fund at its first close on or after `start`."""
    first = next(iter(files))
    with tempfile.TemporaryDirectory() as tmp:
        prices = Path(tmp) / "prices"
        prices.mkdir()
        for path in files.values():
            shutil.copy(path, prices / path.name)
        day, close = first_close(files[first], start)
        holdings = Path(tmp) / "holdings.csv"
        qty = (CASH / close).to_integral_value()
        holdings.write_text(
            "date,account,action,symbol,quantity,price,fees,lot_id\n"
            f"{day},taxable,BUY,{first},{qty},{close},0,{first.lower()}-1\n"
        )
        return run(
            [
                "--prices",
                str(prices),
                "--holdings",
                str(holdings),
                "--config",
                str(config),
                "--start",
                start,
                "--end",
                end,
                *extra,
            ]
        )


def run_pair(
    start: str, end: str, *extra: str, config: Path = PAIR_CONFIG
) -> tuple[dict[str, object], float, float]:
    """Run the SPY/IVV pair from `CASH` in SPY at the first close on or after `start`."""
    files = {symbol: ETF / f"{symbol}.csv.gz" for symbol in ("SPY", "IVV")}
    return _run_fund_pair(start, end, files, config, *extra)


_SP500_LOCK = threading.Lock()


@functools.cache
def _load_sp500() -> PriceSeries:
    return load_price_dir(SP500, workers=2)


def _sp500() -> PriceSeries:
    """Return the S&P set's prices, loaded once however many threads ask."""
    with _SP500_LOCK:
        return _load_sp500()


def set_fund(
    start: str, end: str, prices: PriceSeries | None = None
) -> list[tuple[date, Decimal, Decimal]]:
    """Return the set fund's sessions from the first on or after `start` to the last on or
    before `end`: (day, price of a unit, dividend per unit with its ex-date that day).

    A unit is worth 100 at the first close, split equally over the stocks priced that day, and
    holds their shares from then on (a split multiplies them; a stock without a bar keeps its
    last close). `prices`: the S&P set's unless given."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    shares: dict[str, Decimal] = {}
    closes: dict[str, Decimal] = {}
    sessions: list[tuple[date, Decimal, Decimal]] = []
    for day, bars in (prices or _sp500()).days():
        if day < first:
            continue
        if day > last:
            break
        dividend = Decimal(0)
        for bar in bars:
            held = shares.get(bar.symbol)
            if held is not None:
                ratio = bar.split_ratio
                held = shares[bar.symbol] = held * ratio.numerator / ratio.denominator
                dividend += held * bar.dividend
            closes[bar.symbol] = bar.close
        if not shares:
            shares = {bar.symbol: Decimal(100) / len(bars) / bar.close for bar in bars}
        value = sum((held * closes[symbol] for symbol, held in shares.items()), Decimal(0))
        sessions.append((day, value, dividend))
    if not sessions:
        sys.exit(f"{SP500}: no session from {start} to {end}")
    return sessions


def run_set_pair(
    start: str, end: str, *extra: str, config: Path = SET_PAIR_CONFIG
) -> tuple[dict[str, object], float, float]:
    """Run the SETA/SETB pair on the set's stocks (see the module's docstring) from `CASH` in
    SETA at the first close on or after `start`."""
    micro = Decimal("0.000001")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            [day, price.quantize(micro), 1_000_000, dividend.quantize(micro)]
            for day, price, dividend in set_fund(start, end)
        ]
        files = {}
        for symbol in SET_FUNDS:
            path = files[symbol] = Path(tmp) / f"{symbol}.csv.gz"
            with gzip.open(path, "wt", newline="") as fh:
                out = csv.writer(fh)
                out.writerow(["Date", "Close", "Volume", "dividend_amount"])
                out.writerows(rows)
        return _run_fund_pair(start, end, files, config, *extra)


def year_rows(summary: dict[str, object]) -> dict[int, dict[str, object]]:
    """Return the summary's `years` rows by calendar year."""
    rows = summary["years"]
    assert isinstance(rows, list)
    return {int(r["year"]): r for r in rows}


def years(summary: dict[str, object]) -> dict[int, Decimal]:
    """Return the harvested loss by calendar year."""
    return {y: Decimal(str(r["harvested_loss"])) for y, r in year_rows(summary).items()}
