"""Benchmark a backtest of the S&P 500 1999-2021 set (504 symbols, ~2.4M daily bars).

One lot per symbol, bought at its first close; raw prices with splits applied as they come.
Loading (a one-time conversion in practice) is timed separately from the replay.

Run: .venv/bin/python bench/backtest_sp500.py [--dir DIR_OF_DA-*.csv.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_price_dir
from daemon.backtest import run_backtest
from daemon.settings import Settings, SubstituteGroup
from ledger.model import Action, Trade

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_DIR = SHARED / "data/prices/sp500_1999_2021/daily_adjusted"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sector_groups(path: Path, symbols: set[str]) -> list[SubstituteGroup]:
    """Return one substitutes group per GICS sector (a stand-in for a user's own groups)."""
    by_sector: dict[str, list[str]] = {}
    with gzip.open(path, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Symbol"] in symbols:
                by_sector.setdefault(row["Sector"], []).append(row["Symbol"])
    return [
        SubstituteGroup(name=k, symbols=tuple(v))
        for k, v in sorted(by_sector.items())
        if len(v) > 1
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = ap.parse_args()
    t0 = time.perf_counter()
    prices = load_price_dir(args.dir)
    load_s = time.perf_counter() - t0
    print(
        f"loaded {len(prices):,} bars of {len(prices.symbols)} symbols in {load_s:.1f} s "
        f"(skipped {prices.skipped_total}); peak {peak_mib():.0f} MiB"
    )
    seen: set[str] = set()
    holdings = []
    for day, bars in prices.days():
        for bar in bars:
            if bar.symbol not in seen:
                seen.add(bar.symbol)
                qty = (Decimal(10_000) / bar.close).quantize(Decimal(1)) or Decimal(1)
                holdings.append(
                    Trade(len(holdings) + 1, day, "taxable", Action.BUY, bar.symbol, qty, bar.close)
                )
    settings = Settings(
        substitutes=sector_groups(args.dir.parent / "constituents.csv.gz", set(prices.symbols))
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = asyncio.run(
            run_backtest(
                prices,
                holdings,
                settings,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bt.sqlite'}",
            )
        )
        run_s = time.perf_counter() - t0
    print(
        f"backtest: {result.quotes:,} quotes over {result.days:,} days in {run_s:.1f} s "
        f"({result.quotes / run_s:,.0f} bars/s); peak {peak_mib():.0f} MiB"
    )
    print(
        f"harvests {result.harvests}, trades {result.trades}, splits {result.splits}, "
        f"harvested loss ${result.harvested_loss:,.2f}, "
        f"wash sales created {result.wash_sales_created}"
    )


if __name__ == "__main__":
    main()
