"""Time one tax-aware rebalance of a 500-name direct index with its lots (issue 12 §7: ≤ 1 s).

A seeded synthetic account: $1 M over 500 names in 11 sectors, equal weights, 3–10 lots per
name bought over the last three years at bases 40 %–160 % of today's price (so losses and
gains, short and long term), some names locked out by the wash-sale rule, 1 % of cash; a
random 20-factor risk model (factor loadings ~ 0.16/√20, specific 15–45 %). The first call
compiles the cvxpy problem; the later ones reuse it with new prices (each day moves every
price by up to ±3 %). Prints the wall time of the first call and the median and worst of the
rest (and their median CPU time, which a busy machine inflates less), with named lots and with
FIFO relief.

    .venv/bin/python bench/rebalance_500.py [--names 500] [--lots 3:10] [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

import numpy as np

from ledger.model import AccountType, Parcel
from strategies.index.book import Book, Holding, Lockouts
from strategies.index.rebalance import RebalanceParams, plan_rebalance
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget

TODAY = date(2026, 12, 7)
SECTORS = 11
VALUE = 1_000_000.0


def synthetic(names: int, lots: tuple[int, int], seed: int) -> tuple[Book, IndexTarget, RiskModel]:
    """Return the seeded account, its equal-weight target and risk model."""
    rng = np.random.default_rng(seed)
    symbols = tuple(f"N{i:03d}" for i in range(names))
    prices = {s: Decimal(str(round(float(rng.uniform(10, 400)), 2))) for s in symbols}
    holdings = {}
    seq = 0
    per_name = VALUE * 0.99 / names
    for s in symbols:
        count = int(rng.integers(lots[0], lots[1] + 1))
        shares = rng.dirichlet(np.ones(count)) * per_name * rng.uniform(0.8, 1.2) / float(prices[s])
        parcels = []
        for days, q in sorted(zip(rng.integers(1, 1100, count), shares, strict=True), reverse=True):
            seq += 1
            acquired = TODAY - timedelta(days=int(days))
            qty = Decimal(str(round(float(q), 4)))
            basis = prices[s] * Decimal(str(round(float(rng.uniform(0.4, 1.6)), 4)))
            parcels.append(
                Parcel(
                    lot_id=f"{s}-{seq}",
                    account="bench",
                    account_type=AccountType.TAXABLE,
                    symbol=s,
                    quantity=qty,
                    cost=qty * basis,
                    acquired=acquired,
                    holding_period_start=acquired,
                    acquired_at=datetime.combine(acquired, clock(15), UTC),
                    seq=seq,
                )
            )
        holdings[s] = Holding(s, tuple(parcels))
    lockouts = Lockouts(
        no_buy=dict.fromkeys(symbols[::37], "sold at a loss"),
        no_loss_sale=dict.fromkeys(symbols[5::41], "bought within 30 days"),
    )
    book = Book("bench", TODAY, Decimal(int(VALUE // 100)), holdings, prices, lockouts)
    target = IndexTarget(
        weights={s: Decimal(1) / names for s in symbols},
        sectors={s: f"sector{i % SECTORS}" for i, s in enumerate(symbols)},
        source="equal",
    )
    risk = RiskModel(
        symbols=symbols,
        loadings=rng.normal(0.0, 0.16 / np.sqrt(20), (20, names)),
        specific=rng.uniform(0.15, 0.45, names),
        as_of=TODAY,
    )
    return book, target, risk


def moved(book: Book, rng: np.random.Generator) -> Book:
    """Return `book` a day later in prices: every price moved by up to ±3 %."""
    prices = {
        s: (p * Decimal(str(round(float(rng.uniform(0.97, 1.03)), 4)))).quantize(Decimal("0.01"))
        for s, p in book.prices.items()
    }
    return Book(book.account, book.today, book.cash, book.holdings, prices, book.lockouts)


def run(names: int, lots: tuple[int, int], repeat: int, specific_lots: bool) -> None:
    book, target, risk = synthetic(names, lots, seed=12)
    params = RebalanceParams(specific_lots=specific_lots, fractional=False, max_tracking_error=0.01)
    rng = np.random.default_rng(7)
    times, cpu = [], []
    for _ in range(repeat + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        plan = plan_rebalance(book, target, risk, params)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        book = moved(book, rng)
    relief = "named lots" if specific_lots else "FIFO"
    parcels = sum(len(h.parcels) for h in book.holdings.values())
    print(
        f"{names} names, {parcels} lots, {relief}: first (compiles) {times[0]:.3f} s; "
        f"later median {statistics.median(times[1:]):.3f} s, worst {max(times[1:]):.3f} s "
        f"(CPU median {statistics.median(cpu[1:]):.3f} s); "
        f"last plan {len(plan.trades)} trades, TE {plan.tracking_error_before:.3%} -> "
        f"{plan.tracking_error_after:.3%}, tax {plan.tax_cost:,.0f} USD"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=500)
    parser.add_argument("--lots", default="3:10", help="fewest:most lots per name")
    parser.add_argument("--repeat", type=int, default=10, help="calls after the first")
    args = parser.parse_args()
    low, high = (int(x) for x in args.lots.split(":"))
    for specific_lots in (True, False):
        run(args.names, (low, high), args.repeat, specific_lots)


if __name__ == "__main__":
    main()
