"""Benchmark the tick path: quotes/s through the engine vs the naive scan of every position.

500 symbols x 50 lots each (25,000 lots), imported through the real journal into the real
daemon (SimBroker, SQLite). Quotes hover around the lots' prices without crossing a trigger,
which is the common case. Three figures:

* engine: `HarvestEngine.handle(quote)` for each quote (the full dispatch of a live quote, with
  the live quote filter: bids within twice its band of a trigger get the full sanity check);
* naive (symbol): the same decision done by scanning the symbol's 50 lots in Decimal;
* naive (all positions): scanning every position on every quote.

Run: .venv/bin/python bench/tick_path.py [--quotes 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from adapters.sim.broker import SimBroker
from daemon.app import build_daemon, harvest_params
from daemon.events import Quote
from daemon.settings import Settings
from ledger.model import Action, Trade
from strategies.harvest import evaluate

SYMBOLS = 500
LOTS = 50


def holdings() -> list[Trade]:
    rng = random.Random(7)
    trades = []
    start = date(2020, 1, 2)
    seq = 1
    for s in range(SYMBOLS):
        base = rng.uniform(20, 400)
        for k in range(LOTS):
            price = Decimal(f"{base * rng.uniform(0.9, 1.1):.2f}")
            trades.append(
                Trade(
                    seq,
                    start + timedelta(days=k * 7),
                    "taxable",
                    Action.BUY,
                    f"S{s:03d}",
                    Decimal(rng.randint(1, 100)),
                    price,
                )
            )
            seq += 1
    return trades


async def main(n_quotes: int) -> None:
    settings = Settings()
    now = datetime(2021, 6, 1, 15, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        broker = SimBroker(lambda: now)
        daemon = await build_daemon(
            settings,
            broker,
            lambda: now,
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'b.sqlite'}",
        )
        engine = daemon.engine
        await engine.start()
        await engine.import_trades(holdings(), source="bench")
        triggers = dict(engine.triggers)
        symbols = sorted(triggers)

        def make_quotes(near_share: float) -> list[Quote]:
            """Quotes above every trigger: `near_share` of them within 1-4 % of it (where the
            quote filter checks them in full), the rest 5-30 % above."""
            rng = random.Random(1)
            out = []
            for i in range(n_quotes):
                sym = symbols[i % len(symbols)]
                lo, hi = (1.01, 1.04) if rng.random() < near_share else (1.05, 1.30)
                bid = round(triggers[sym] * rng.uniform(lo, hi), 2)
                out.append(Quote(sym, bid, round(bid + 0.01, 2), now))
            return out

        rates = {}
        for label, near in (
            ("typical (10% near a trigger)", 0.10),
            ("worst case (all near a trigger)", 1.0),
        ):
            quotes = make_quotes(near)
            t0 = time.perf_counter()
            for q in quotes:
                await engine.handle(q)
            rates[label] = n_quotes / (time.perf_counter() - t0)
        engine_s = n_quotes / rates["typical (10% near a trigger)"]
        assert engine.stats.evaluations == 0
        assert engine.stats.harvests == 0

        params = harvest_params(settings)
        ledger = engine.ledger
        parcels = {s: list(ledger.parcels("taxable", s)) for s in symbols}
        today = now.date()
        sample = quotes[: max(2000, n_quotes // 200)]
        t0 = time.perf_counter()
        for q in sample:
            evaluate(
                "taxable",
                parcels[q.symbol],
                bid=q.bid_decimal,
                ask=q.ask_decimal,
                today=today,
                params=params,
                specific_lots=True,
            )
        naive_symbol_s = (time.perf_counter() - t0) / len(sample) * n_quotes

        all_positions = list(parcels.items())
        small = quotes[:200]
        t0 = time.perf_counter()
        for q in small:
            for sym, ps in all_positions:
                bid = q.bid_decimal if sym == q.symbol else Decimal(repr(triggers[sym]))
                evaluate(
                    "taxable", ps, bid=bid, ask=bid, today=today, params=params, specific_lots=True
                )
        naive_all_s = (time.perf_counter() - t0) / len(small) * n_quotes
        await daemon.close()

    print(f"lots: {SYMBOLS * LOTS:,} ({SYMBOLS} symbols x {LOTS}); quotes: {n_quotes:,}")
    for label, rate in rates.items():
        print(f"engine.handle, {label}: {rate:12,.0f} quotes/s")
    print(
        f"naive, symbol's lots:   {n_quotes / naive_symbol_s:12,.0f} quotes/s  "
        f"-> engine is {naive_symbol_s / engine_s:,.0f}x faster"
    )
    print(
        f"naive, every position:  {n_quotes / naive_all_s:12,.1f} quotes/s  "
        f"-> engine is {naive_all_s / engine_s:,.0f}x faster"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotes", type=int, default=1_000_000)
    asyncio.run(main(ap.parse_args().quotes))
