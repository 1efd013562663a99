"""Measure the risk path of direct indexing on the S&P 1999–2021 set (a benchmark: it prints
figures, it is no timed test; pytest does not collect it).

    .venv/bin/python -m tests.index_risk.measure_risk

1. the returns window fed day by day: every name of the set over its whole history (splits and
   dividends applied), and a synthetic 504 names × 5,800 days;
2. `risk.estimate` for 500 names × 252 days (20 factors), the minimum and median of 20 runs,
   with BLAS's own threads and on one thread (small matrices on 2 busy cores: one is faster);
3. `rank_replacements` and `split_replacement` for one harvest among 500 names.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from threadpoolctl import threadpool_limits

from strategies.index.replacements import rank_replacements, split_replacement
from strategies.index.returns import ReturnsWindow
from strategies.index.risk import estimate
from strategies.index.target import IndexTarget

from .riskkit import SP500, feed, load_days, sectors


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Return the minimum and median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    sector_of = sectors()
    symbols = tuple(
        s
        for s in sorted(sector_of)
        if (SP500 / "daily_adjusted" / f"DA-{s}-T-2021-04-21.csv.gz").exists()
    )
    days = load_days(symbols, date(1999, 11, 1), date(2021, 4, 21))
    window = ReturnsWindow(252)
    start = time.perf_counter()
    for day in days:
        feed(window, day)
    seconds = time.perf_counter() - start
    print(
        f"returns window, real set: {len(symbols)} names x {len(days)} days "
        f"(splits, dividends) in {seconds:.2f} s"
    )

    rng = np.random.default_rng(0)
    synthetic = [f"S{i}" for i in range(504)]
    prices = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.02, (5800, 504)), axis=0)
    rows = [dict(zip(synthetic, row.tolist(), strict=True)) for row in prices]
    window = ReturnsWindow(252)
    start = time.perf_counter()
    for i, row in enumerate(rows):
        window.add_day(date(2000, 1, 1) + timedelta(days=i), row)
    seconds = time.perf_counter() - start
    print(f"returns window, synthetic: 504 names x 5,800 days in {seconds:.2f} s")
    low, mid = timed(lambda: window.matrix(synthetic), 50)
    print(f"matrix, 252 x 504: min {low * 1e3:.1f} ms, median {mid * 1e3:.1f} ms")

    window = ReturnsWindow(252)
    for day in days[-253:]:
        feed(window, day)
    returns, as_of = window.matrix(symbols[:500])
    assert as_of is not None
    low, mid = timed(lambda: estimate(returns, symbols[:500], as_of), 20)
    print(f"estimate, 500 names x 252 days, 20 factors: min {low:.3f} s, median {mid:.3f} s")
    with threadpool_limits(1):
        low, mid = timed(lambda: estimate(returns, symbols[:500], as_of), 20)
    print(f"  the same, BLAS on one thread: min {low:.3f} s, median {mid:.3f} s")

    model = estimate(returns, symbols[:500], as_of)
    target = IndexTarget(
        weights={s: Decimal(1) / 500 for s in symbols[:500]},
        sectors={s: sector_of[s] for s in symbols[:500]},
        source="equal",
    )
    held = {s: float(w) for s, w in target.weights.items()}
    low, mid = timed(
        lambda: rank_replacements("AAPL", held, target, model, allowed=lambda s: True, budget=0.01),
        50,
    )
    ranking = rank_replacements("AAPL", held, target, model, allowed=lambda s: True, budget=0.01)
    print(
        f"rank_replacements, 500 names: min {low * 1e3:.2f} ms, median {mid * 1e3:.2f} ms; "
        f"AAPL -> {ranking.candidates[:3]}"
    )
    low, mid = timed(
        lambda: split_replacement("AAPL", held, target, model, allowed=lambda s: True, budget=0.01),
        20,
    )
    split = split_replacement("AAPL", held, target, model, allowed=lambda s: True, budget=0.01)
    print(
        f"split_replacement, 500 names: min {low * 1e3:.2f} ms, median {mid * 1e3:.2f} ms; "
        f"AAPL -> {split.weights}, tracking error {split.tracking_error:.5f}"
    )


if __name__ == "__main__":
    main()
