"""Benchmark direct indexing on the S&P 500 1999-2021 set against an ETF-pair baseline.

Runs `tlh backtest` (the command anyone can run) for: the equal-weight direct index from $1M
over the whole set; the SPY/IVV pair from $1M on the same dates (`etf_daily_raw`, internal
data: read at run time, never bundled); the direct index's first year from 2000, 2008 and
2020; then audits the direct index's `--trades-out` file with `tlh tax report --trades`,
checked sale for sale against `tlh tax report --journal` on its journal. Prints each
run's time and peak memory, the year-by-year harvested losses of both, the ten-year ratios
and the targets.

Run: .venv/bin/python bench/direct_index_sp500.py [--out DIR] [--skip-first-years]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from decimal import Decimal
from pathlib import Path

from direct_index_kit import (
    TLH,
    direct_index_args,
    require_data,
    run,
    run_pair,
    year_rows,
    years,
)

FIRST_YEARS = (2000, 2008, 2020)


def report(*source: str) -> list[dict[str, str]] | str:
    """Return the sales `tlh tax report` gives for `source` (its error text when it fails)."""
    out_ = subprocess.run(
        [str(TLH), "tax", "report", *source, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out_.returncode != 0:
        return f"tlh tax report failed: {out_.stderr.strip()[-300:]}"
    sales: list[dict[str, str]] = json.loads(out_.stdout)["sales"]
    return sales


def audit(trades: Path, database: Path, out: Path) -> str:
    """Return `tlh tax report`'s count of washed sales in the direct index's `--trades-out`
    file (0 expected), and whether the report of its journal (the source of truth) is the
    same, sale for sale."""
    sales = report("--trades", str(trades))
    if isinstance(sales, str):
        return sales
    config = out / "audit.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n')
    journal = report("--journal", "--config", str(config))
    same = "the same sales as" if sales == journal else "NOT the sales of"
    washed = sum(1 for r in sales if Decimal(r["wash_sale_disallowed"]) != 0)
    return (
        f"{len(sales):,} sales, {washed} with a wash-sale adjustment ({same} the journal's report)"
    )


def pct(row: dict[str, object], key: str) -> str:
    """Return a ratio of a year's row as a percentage ("" when absent or null)."""
    value = row.get(key)
    return f"{Decimal(str(value)):.2%}" if value is not None else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out/direct-index"))
    ap.add_argument("--skip-first-years", action="store_true")
    args = ap.parse_args()
    require_data()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    database = (out / "direct-index.sqlite").resolve()
    trades = out / "direct-index-trades.csv"  # audited after the run
    database.unlink(missing_ok=True)
    di, di_s, di_mib = run(
        direct_index_args(
            "--report",
            str(out / "direct-index"),
            "--trades-out",
            str(trades),
            "--database-url",
            f"sqlite+aiosqlite:///{database}",
        )
    )
    start, end = str(di["first_day"]), str(di["last_day"])
    etf, etf_s, etf_mib = run_pair(start, end, "--report", str(out / "etf-pair"))
    print(f"direct index, equal weights, {start} to {end}: {di_s:.0f} s, peak {di_mib:.0f} MiB")
    print(f"ETF pair SPY/IVV, same dates: {etf_s:.0f} s, peak {etf_mib:.0f} MiB")
    keys = (
        "harvests",
        "trades",
        "harvested_loss",
        "harvested_loss_pct_of_invested",
        "tax_alpha_annual",
        "after_tax_excess_annual",
        "final_value",
        "benchmark_final_value",
        "tracking_error_realized",
        "tracking_error_ex_ante_max",
        "turnover_annual",
        "wash_sales_created",
    )
    table = io.StringIO()
    table.write(f"{'':34}{'direct index':>16}{'ETF pair':>16}\n")
    for key in keys:
        table.write(f"{key:34}{di.get(key)!s:>16}{etf.get(key)!s:>16}\n")
    print(table.getvalue())
    a, b = years(di), years(etf)
    rows, pair_rows = year_rows(di), year_rows(etf)
    print(
        f"{'year':6}{'direct index':>16}{'% of value':>12}{'tax alpha':>11}{'TE':>8}"
        f"{'ETF pair':>16}{'% of value':>12}"
    )
    for year in sorted(a):
        r, p = rows[year], pair_rows.get(year, {})
        print(
            f"{year:<6}{a[year]:>16,.2f}{pct(r, 'harvested_loss_pct'):>12}"
            f"{pct(r, 'tax_alpha'):>11}{pct(r, 'tracking_error'):>8}"
            f"{b.get(year, Decimal(0)):>16,.2f}{pct(p, 'harvested_loss_pct'):>12}"
        )
    for first in (2000, 2011):
        span = range(first, first + 10)
        da, db = sum(a.get(y, Decimal(0)) for y in span), sum(b.get(y, Decimal(0)) for y in span)
        ratio = f"{da / db:.2f}x" if db else "n/a (the pair harvested nothing)"
        print(f"ten years {first}-{first + 9}: direct index {da:,.2f}, ETF pair {db:,.2f}: {ratio}")
    print(f"audit of the direct index's --trades-out: {audit(trades, database, out)}")
    if args.skip_first_years:
        return
    for year in FIRST_YEARS:
        span = ("--start", f"{year}-01-01", "--end", f"{year}-12-31")
        first, s, _mib = run(direct_index_args(*span))
        print(
            f"first year {year}: harvested {Decimal(str(first['harvested_loss'])):,.2f} = "
            f"{Decimal(str(first['harvested_loss_pct_of_invested'])):.2%} of the money invested, "
            f"tax alpha {Decimal(str(first['tax_alpha_annual'])):.2%}, realised tracking error "
            f"{Decimal(str(first['tracking_error_realized'])):.2%} "
            f"({s:.0f} s, {first['wash_sales_created']} wash sales created)"
        )


if __name__ == "__main__":
    main()
