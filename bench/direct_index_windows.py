"""Benchmark direct indexing over rolling ten-year accounts, as Chaudhuri, Burnham & Lo do.

Chaudhuri, Burnham & Lo ("An Empirical Evaluation of Tax-Loss Harvesting Alpha", FAJ 2020)
report the tax alpha of accounts opened at many dates and held ten years, averaged over the
start dates. This bench opens one account a year, on the first session of each January from
2000 to 2011 (the last whose ten years end in the S&P set, 2020), with $1M: the equal-weight
direct index (`tlh backtest --index equal`) and, on the same dates, two ETF pairs from $1M: the
SPY/IVV pair, and the set pair, the same pair on two funds holding the set's own stocks
(`direct_index_kit.set_fund`). Prints each window's harvested losses, the direct index's ratio
to each pair's, the tax alpha of each (its definition: README, "How tax alpha is measured"),
the direct index's realised tracking error and the wash sales created; then the means over the
windows. Beside them, the yearly return of the direct index's benchmark (the set's stocks bought
and held) and of SPY (total return) over the window: how far the set's survivorship (its stocks
are the 2021 constituents) lifts the stocks above the index the SPY pair holds. The set pair
shares that survivorship, so the ratio to it compares the two on the same stocks.

`--tax SHORT LONG` runs every account with those `[tax]` rates added to its config (for example
`--tax 0.35 0.15`, the rates of Chaudhuri, Burnham & Lo): the rates value the losses in the tax
alpha and, in the direct index's rebalance, weigh the tax of each sale. Keep such a run in its
own `--out`.

Each window's summaries are kept in DIR (`--out`) with the SHA-256 of the config they ran with,
and reused by a later run while that config is unchanged (`--fresh` runs them all again), so the
windows can be run over several sittings.

Run: .venv/bin/python bench/direct_index_windows.py [--out DIR] [--jobs N] [--first Y] [--last Y]
     [--step N] [--years N] [--tax SHORT LONG] [--fresh]
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
    SET_PAIR_CONFIG,
    direct_index_args,
    require_data,
    run,
    run_pair,
    run_set_pair,
    spy_growth,
)

KINDS = {
    "di": DIRECT_INDEX_CONFIG,
    "pair": PAIR_CONFIG,
    "setpair": SET_PAIR_CONFIG,
}

TARGET_TAX_ALPHA = Decimal("0.008")
TARGET_RATIO = Decimal("1.9")


Summary = dict[str, object]


def with_tax(out: Path, short: str, long: str) -> dict[str, Path]:
    """Write each kind's config with the `[tax]` rates added into `out`; return them by kind."""
    configs = {}
    for kind, config in KINDS.items():
        configs[kind] = out / f"{kind}.toml"
        configs[kind].write_text(
            f"{config.read_text()}\n[tax]\nshort_term_rate = {short}\nlong_term_rate = {long}\n"
        )
    return configs


def window(kind: str, first: int, span: int, out: Path, fresh: bool, config: Path) -> Summary:
    """Return the summary of the `kind` (a key of `KINDS`) account of the window starting in
    January of `first`, from DIR when kept there from a run with the same config."""
    kept = out / f"{kind}-{first}.json"
    digest = hashlib.sha256(config.read_bytes())
    if kept.exists() and not fresh:
        summary: Summary = json.loads(kept.read_text())
        if summary.get("bench_config_sha256") == digest.hexdigest():
            return summary
    start, end = f"{first}-01-01", f"{first + span - 1}-12-31"
    t0 = time.perf_counter()
    if kind == "di":
        summary, _s, _mib = run(direct_index_args("--start", start, "--end", end, config=config))
    elif kind == "pair":
        summary, _s, _mib = run_pair(start, end, config=config)
    else:
        summary, _s, _mib = run_set_pair(start, end, config=config)
    summary["bench_seconds"] = round(time.perf_counter() - t0, 1)
    summary["bench_config_sha256"] = digest.hexdigest()
    kept.write_text(json.dumps(summary, indent=1))
    print(f"  {kind} {start} to {end}: {summary['bench_seconds']} s", flush=True)
    return summary


def dec(summary: Summary, key: str) -> Decimal:
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
    ap.add_argument(
        "--tax",
        nargs=2,
        metavar=("SHORT", "LONG"),
        help="short- and long-term tax rates added to every config (default: the configs')",
    )
    ap.add_argument("--fresh", action="store_true", help="run every window again")
    args = ap.parse_args()
    require_data()
    args.out.mkdir(parents=True, exist_ok=True)
    configs = with_tax(args.out, *args.tax) if args.tax else KINDS
    starts = list(range(args.first, args.last + 1, args.step))
    jobs = [(kind, y) for y in starts for kind in KINDS]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = dict(
            zip(
                jobs,
                pool.map(
                    lambda j: window(j[0], j[1], args.years, args.out, args.fresh, configs[j[0]]),
                    jobs,
                ),
                strict=True,
            )
        )
    print(f"{len(starts)} windows of {args.years} years in {time.perf_counter() - t0:.0f} s")
    rates = f"{args.tax[0]} short-term, {args.tax[1]} long-term" if args.tax else "the configs'"
    print(f"tax rates: {rates}\n")
    print_windows(starts, args.years, done)
    print()
    print_means(starts, done)


def ratio_text(a: Decimal, b: Decimal) -> str:
    """Return `a / b` as "1.23x" ("n/a" when `b` is 0)."""
    return f"{a / b:.2f}x" if b else "n/a"


def window_ratio(a: Decimal, b: Decimal) -> Decimal:
    """Return `a / b`: infinite when only `b` is 0, 0 when both are."""
    if b:
        return a / b
    return Decimal("Infinity") if a else Decimal(0)


def print_windows(starts: list[int], span: int, done: dict[tuple[str, int], Summary]) -> None:
    """Print one row per window."""
    print(
        f"{'window':12}{'DI harvested':>15}{'SPY pair':>12}{'ratio':>8}{'set pair':>12}"
        f"{'ratio':>8}{'DI tax alpha':>14}{'SPY pair':>10}{'set pair':>10}{'DI TE':>8}"
        f"{'washes':>8}{'DI trades':>10}{'DI s':>7}{'stocks/yr':>11}{'SPY/yr':>8}"
    )
    for y in starts:
        di, pair, setpair = (done[(kind, y)] for kind in KINDS)
        a, b, c = (dec(s, "harvested_loss") for s in (di, pair, setpair))
        print(
            f"{y}-{y + span - 1:<7}{a:>15,.0f}{b:>12,.0f}{ratio_text(a, b):>8}{c:>12,.0f}"
            f"{ratio_text(a, c):>8}{dec(di, 'tax_alpha_annual'):>14.2%}"
            f"{dec(pair, 'tax_alpha_annual'):>10.2%}{dec(setpair, 'tax_alpha_annual'):>10.2%}"
            f"{dec(di, 'tracking_error_realized'):>8.2%}{di['wash_sales_created']!s:>8}"
            f"{di['trades']!s:>10}{di.get('bench_seconds', '')!s:>7}"
            f"{yearly(dec(di, 'benchmark_final_value') / dec(di, 'invested'), span):>11.1%}"
            f"{yearly(spy_growth(f'{y}-01-01', f'{y + span - 1}-12-31'), span):>8.1%}"
        )


def print_means(starts: list[int], done: dict[tuple[str, int], Summary]) -> None:
    """Print the means over the windows against the targets."""
    n = Decimal(len(starts))
    alpha = {k: sum(dec(done[(k, y)], "tax_alpha_annual") for y in starts) / n for k in KINDS}
    print(
        f"average tax alpha over the windows: direct index {alpha['di']:.2%}/yr, "
        f"SPY pair {alpha['pair']:.2%}/yr, set pair {alpha['setpair']:.2%}/yr "
        f"(target >= {TARGET_TAX_ALPHA:.1%}: "
        f"{'met' if alpha['di'] >= TARGET_TAX_ALPHA else 'not met'})"
    )
    di_sum = sum((dec(done[("di", y)], "harvested_loss") for y in starts), Decimal(0))
    for kind, name in (("pair", "SPY pair"), ("setpair", "set pair")):
        pair_sum = sum((dec(done[(kind, y)], "harvested_loss") for y in starts), Decimal(0))
        # A window where the pair harvested nothing and the direct index something is above
        # any ratio: it counts as infinite in the median and meets the target.
        ratios = [
            window_ratio(
                dec(done[("di", y)], "harvested_loss"), dec(done[(kind, y)], "harvested_loss")
            )
            for y in starts
        ]
        nothing = sum(1 for y in starts if not dec(done[(kind, y)], "harvested_loss"))
        median = statistics.median(ratios)
        print(
            f"harvested over all windows: direct index {di_sum:,.0f}, {name} {pair_sum:,.0f}: "
            f"{ratio_text(di_sum, pair_sum)} (target >= {TARGET_RATIO}x); per window: median "
            f"{'n/a' if median.is_infinite() else f'{median:.2f}x'}, "
            f"{sum(1 for r in ratios if r >= TARGET_RATIO)} of {len(starts)} windows "
            f">= {TARGET_RATIO}x ({nothing} where the {name} harvested nothing)"
        )
    washes = sum(int(str(done[("di", y)]["wash_sales_created"])) for y in starts)
    print(f"wash sales created by the direct index over the windows: {washes}")


if __name__ == "__main__":
    main()
