"""Benchmark direct indexing over rolling ten-year accounts, as Chaudhuri, Burnham & Lo do.

Chaudhuri, Burnham & Lo ("An Empirical Evaluation of Tax-Loss Harvesting Alpha", FAJ 2020)
report the tax alpha of accounts opened at many dates and held ten years, averaged over the
start dates. This bench opens one account a year, on the first session of each January from
2000 to 2011 (the last whose ten years end in the S&P set, 2020), with $1M: the equal-weight
direct index (`tlh backtest --index equal`) and, on the same dates, the SPY/IVV pair from $1M
in SPY. Prints each window's harvested losses, their ratio, the tax alpha of each (its
definition: README, "How tax alpha is measured"), the direct index's realised tracking error
and the wash sales created; then the means over the windows. Beside them, the yearly return of
the direct index's benchmark (the set's stocks bought and held) and of SPY (total return) over
the window: how far the set's survivorship (its stocks are the 2021 constituents) lifts the
stocks above the index the pair holds.

Each window's summaries are kept in DIR (`--out`) with the SHA-256 of the config they ran with,
and reused by a later run while that config is unchanged (`--fresh` runs them all again), so the
windows can be run over several sittings.

Run: .venv/bin/python bench/direct_index_windows.py [--out DIR] [--jobs N] [--first Y] [--last Y]
     [--step N] [--years N] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from direct_index_kit import (
    DIRECT_INDEX_CONFIG,
    PAIR_CONFIG,
    direct_index_args,
    require_data,
    run,
    run_pair,
    spy_growth,
)

TARGET_TAX_ALPHA = Decimal("0.008")
TARGET_RATIO = Decimal("1.9")


def window(kind: str, first: int, span: int, out: Path, fresh: bool) -> dict[str, object]:
    """Return the summary of the `kind` ("di" or "pair") account of the window starting in
    January of `first`, from DIR when kept there from a run with the same config."""
    kept = out / f"{kind}-{first}.json"
    config = hashlib.sha256((DIRECT_INDEX_CONFIG if kind == "di" else PAIR_CONFIG).read_bytes())
    if kept.exists() and not fresh:
        summary: dict[str, object] = json.loads(kept.read_text())
        if summary.get("bench_config_sha256") == config.hexdigest():
            return summary
    start, end = f"{first}-01-01", f"{first + span - 1}-12-31"
    t0 = time.perf_counter()
    if kind == "di":
        summary, _s, _mib = run(direct_index_args("--start", start, "--end", end))
    else:
        summary, _s, _mib = run_pair(start, end)
    summary["bench_seconds"] = round(time.perf_counter() - t0, 1)
    summary["bench_config_sha256"] = config.hexdigest()
    kept.write_text(json.dumps(summary, indent=1))
    print(f"  {kind} {start} to {end}: {summary['bench_seconds']} s", flush=True)
    return summary


def dec(summary: dict[str, object], key: str) -> Decimal:
    """Return `key` of a summary as a Decimal (0 when null)."""
    value = summary.get(key)
    return Decimal(str(value)) if value is not None else Decimal(0)


def yearly(growth: Decimal, years: int) -> Decimal:
    """Return the yearly rate that compounds to `growth` over `years`."""
    return Decimal(float(growth) ** (1 / years) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out/direct-index-windows"))
    ap.add_argument("--jobs", type=int, default=2, help="backtests run at once (default 2)")
    ap.add_argument("--first", type=int, default=2000, help="first start year (default 2000)")
    ap.add_argument("--last", type=int, default=2011, help="last start year (default 2011)")
    ap.add_argument("--step", type=int, default=1, help="years between starts (default 1)")
    ap.add_argument("--years", type=int, default=10, help="length of a window (default 10)")
    ap.add_argument("--fresh", action="store_true", help="run every window again")
    args = ap.parse_args()
    require_data()
    args.out.mkdir(parents=True, exist_ok=True)
    starts = list(range(args.first, args.last + 1, args.step))
    jobs = [(kind, y) for y in starts for kind in ("di", "pair")]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = dict(
            zip(
                jobs,
                pool.map(lambda j: window(j[0], j[1], args.years, args.out, args.fresh), jobs),
                strict=True,
            )
        )
    print(f"{len(starts)} windows of {args.years} years in {time.perf_counter() - t0:.0f} s\n")
    header = (
        f"{'window':12}{'DI harvested':>15}{'pair harvested':>16}{'ratio':>8}"
        f"{'DI tax alpha':>14}{'pair tax alpha':>16}{'DI TE':>8}{'washes':>8}{'DI s':>7}"
        f"{'stocks/yr':>11}{'SPY/yr':>8}"
    )
    print(header)
    ratios: list[Decimal] = []
    for y in starts:
        di, pair = done[("di", y)], done[("pair", y)]
        a, b = dec(di, "harvested_loss"), dec(pair, "harvested_loss")
        ratio = a / b if b else None
        if ratio is not None:
            ratios.append(ratio)
        print(
            f"{y}-{y + args.years - 1:<7}{a:>15,.0f}{b:>16,.0f}"
            f"{f'{ratio:.2f}x' if ratio is not None else 'n/a':>8}"
            f"{dec(di, 'tax_alpha_annual'):>14.2%}{dec(pair, 'tax_alpha_annual'):>16.2%}"
            f"{dec(di, 'tracking_error_realized'):>8.2%}{di['wash_sales_created']!s:>8}"
            f"{di.get('bench_seconds', '')!s:>7}"
            f"{yearly(dec(di, 'benchmark_final_value') / dec(di, 'invested'), args.years):>11.1%}"
            f"{yearly(spy_growth(f'{y}-01-01', f'{y + args.years - 1}-12-31'), args.years):>8.1%}"
        )
    n = Decimal(len(starts))
    di_alpha = sum(dec(done[("di", y)], "tax_alpha_annual") for y in starts) / n
    pair_alpha = sum(dec(done[("pair", y)], "tax_alpha_annual") for y in starts) / n
    di_sum = sum(dec(done[("di", y)], "harvested_loss") for y in starts)
    pair_sum = sum(dec(done[("pair", y)], "harvested_loss") for y in starts)
    at_target = sum(1 for r in ratios if r >= TARGET_RATIO)
    no_pair = len(starts) - len(ratios)
    print()
    print(
        f"average tax alpha over the windows: direct index {di_alpha:.2%}/yr, "
        f"pair {pair_alpha:.2%}/yr (target >= {TARGET_TAX_ALPHA:.1%}: "
        f"{'met' if di_alpha >= TARGET_TAX_ALPHA else 'not met'})"
    )
    print(
        f"harvested over all windows: direct index {di_sum:,.0f}, pair {pair_sum:,.0f}: "
        f"{di_sum / pair_sum:.2f}x (target >= {TARGET_RATIO}x)"
        if pair_sum
        else "harvested: the pair harvested nothing in any window"
    )
    if ratios:
        print(
            f"per window: median {statistics.median(ratios):.2f}x; {at_target} of "
            f"{len(ratios)} windows >= {TARGET_RATIO}x; {no_pair} where the pair harvested "
            "nothing"
        )
    washes = sum(int(str(done[("di", y)]["wash_sales_created"])) for y in starts)
    print(f"wash sales created by the direct index over the windows: {washes}")


if __name__ == "__main__":
    main()
