"""Benchmark the tick path: quotes/s through the engine vs the naive scan of every position.

500 symbols x 50 lots each (25,000 lots), imported through the real journal into the real
daemon (SimBroker, SQLite). Quotes hover around the lots' prices without crossing a trigger,
which is the common case. Three figures:

* engine: `HarvestEngine.handle(quote)` for each quote (the full dispatch of a live quote, with
  the live quote filter: bids within twice its band of a trigger get the full sanity check);
* naive (symbol): the same decision done by scanning the symbol's 50 lots in Decimal;
* naive (all positions): scanning every position on every quote.

With `--metrics`, it measures instead what the Prometheus endpoint costs the tick path (issue #10
§1: within 5 %): the typical quotes for `--seconds`, yielding to the event loop as
`HarvestEngine.run` does, alternately without and with the loopback listener
(`adapters.web.server`) scraped at 1 Hz by another process (Prometheus's default is every 15 s),
`--rounds` times each; and with the status page `/` loaded at 1 Hz as well. It prints quotes/s
and quotes per CPU-second of this process off and on, and the median of the rounds' ratios;
first, the CPU this process spends serving the scrapes (then the scrapes and the page loads)
while the tick path is idle (the figure that other work on the machine disturbs least). Each
scraped run builds the status snapshot once (`adapters.web.metrics.SNAPSHOT_MAX_AGE`, 15 s), as
a long run would; the page asks for one at most 1 s old, so it builds one at about every load.
Every run also prints the longest event-loop stall seen: how late a task sleeping 5 ms at a time
was woken (off, the tick path's own batches of `YIELD_AFTER_SECONDS`).
The listener reads the daemon's own view (`daemon.daemon_view.RunningDaemonView`), as under
`tlh run`.

Run: .venv/bin/python bench/tick_path.py [--quotes 1000000] [--metrics [--seconds 15 --rounds 5]]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from adapters.sim.broker import SimBroker
from adapters.web.server import start_web
from adapters.web.settings import MetricsSettings
from daemon.app import build_daemon, harvest_params
from daemon.daemon_view import RunningDaemonView
from daemon.engine import YIELD_AFTER_EVENTS, YIELD_AFTER_SECONDS, HarvestEngine
from daemon.events import Quote
from daemon.observation import DaemonView
from daemon.settings import Settings
from daemon.supervisor import Verdict
from ledger.model import Action, Trade
from strategies.harvest import evaluate

SYMBOLS = 500
LOTS = 50
STALL_PERIOD = 0.005
"""How often the stall watcher wakes, seconds."""


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


SCRAPER = """
import sys, time, urllib.request
url, period, n, worst = sys.argv[1], 1.0, 0, 0.0
due = time.monotonic()
while True:
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    n, worst = n + 1, max(worst, time.monotonic() - t0)
    print(n, len(body), f"{worst:.4f}", flush=True)
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
"""


class Rate(NamedTuple):
    """Quotes handled per second of wall time, and per second of this process's CPU time (the
    fairer figure on a machine busy with other work)."""

    wall: float
    cpu: float


async def pump(engine: HarvestEngine, quotes: list[Quote], seconds: float) -> Rate:
    """Handle `quotes` over and over for `seconds`, yielding to the event loop as
    `HarvestEngine.run` does; return the rates."""
    clock = time.perf_counter
    t0, cpu0 = clock(), time.process_time()
    end = t0 + seconds
    handled, batch, due, i = 0, 0, t0 + YIELD_AFTER_SECONDS, 0
    while True:
        await engine.handle(quotes[i])
        i = i + 1 if i + 1 < len(quotes) else 0
        batch += 1
        if batch >= YIELD_AFTER_EVENTS or clock() >= due:
            handled += batch
            await asyncio.sleep(0)
            batch, due = 0, clock() + YIELD_AFTER_SECONDS
            if due >= end:
                return Rate(handled / (clock() - t0), handled / (time.process_time() - cpu0))


@asynccontextmanager
async def stalls() -> AsyncIterator[list[float]]:
    """Watch the event loop while the block runs; the list yielded holds, after it, the longest
    a task sleeping `STALL_PERIOD` at a time was woken late, seconds."""
    worst = [0.0]
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while True:
            t0 = loop.time()
            await asyncio.sleep(STALL_PERIOD)
            worst[0] = max(worst[0], loop.time() - t0 - STALL_PERIOD)

    task = asyncio.create_task(watch())
    try:
        yield worst
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def scraped(view: DaemonView, paths: tuple[str, ...]) -> AsyncIterator[list[str]]:
    """Serve the listener over `view` while one process per path of `paths` loads it at 1 Hz;
    the list yielded holds, after the block, each loader's description."""
    server = await start_web(view, MetricsSettings(), port=0)
    base = f"http://{server.host}:{server.port}"
    loaders = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRAPER, base + path, stdout=asyncio.subprocess.PIPE
        )
        for path in paths
    ]
    report: list[str] = []
    try:
        yield report
    finally:
        for path, loader in zip(paths, loaders, strict=True):
            loader.terminate()
            out, _ = await loader.communicate()
            last = (out.decode().strip().splitlines() or ["0 0 0"])[-1].split()
            report.append(f"{path}: {describe(last)}")
        await server.close()


def describe(loads: list[str]) -> str:
    n, size, worst = loads
    return f"{n} loads of {int(size):,} bytes, slowest {float(worst) * 1000:.0f} ms"


OFF: tuple[str, ...] = ()
METRICS: tuple[str, ...] = ("/metrics",)
PAGE: tuple[str, ...] = ("/metrics", "/")


async def metrics_overhead(
    engine: HarvestEngine, quotes: list[Quote], view: DaemonView, seconds: float, rounds: int
) -> None:
    """Print what serving the scrapes (then the page too) costs this process with the tick
    path idle, then the tick path's quotes/s without and with them, and the longest stalls."""
    for label, paths in (("scraped", METRICS), ("scraped and page loaded", PAGE)):
        cpu0 = time.process_time()
        async with stalls() as stall, scraped(view, paths) as loads:
            await asyncio.sleep(seconds)
        cost = (time.process_time() - cpu0) / seconds
        print(
            f"tick path idle, {label} at 1 Hz for {seconds:g} s ({'; '.join(loads)}):"
            f" {cost * 1000:.1f} ms of CPU per second = {cost:.2%} of a core;"
            f" longest event-loop stall {stall[0] * 1000:.0f} ms"
        )
    runs: dict[str, list[Rate]] = {"off": [], "scraped": [], "page": []}
    worst = dict.fromkeys(runs, 0.0)
    for r in range(rounds):
        line = []
        for label, paths in (("off", OFF), ("scraped", METRICS), ("page", PAGE)):
            async with stalls() as stall, scraped(view, paths) as loads:
                runs[label].append(await pump(engine, quotes, seconds))
            worst[label] = max(worst[label], stall[0])
            rate = runs[label][-1]
            line.append(f"{label} {rate.wall:9,.0f}/s {rate.cpu:9,.0f}/CPU-s")
        print(f"round {r + 1}: {', '.join(line)} ({'; '.join(loads)})")
    for on in ("scraped", "page"):
        for label, field in (("quotes/s", "wall"), ("quotes per CPU-second", "cpu")):
            a = [getattr(x, field) for x in runs["off"]]
            b = [getattr(x, field) for x in runs[on]]
            ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
            print(
                f"{on}: median {label}: off {statistics.median(a):,.0f},"
                f" on {statistics.median(b):,.0f}; median of the rounds' on/off = {ratio:.3f}"
            )
    print(
        "longest event-loop stall with the tick path running: "
        + ", ".join(f"{label} {w * 1000:.0f} ms" for label, w in worst.items())
    )


async def main(n_quotes: int, metrics: bool, seconds: float, rounds: int) -> None:
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

        if metrics:
            view = RunningDaemonView(daemon, settings, lambda: now, Verdict(interval=30.0))
            await metrics_overhead(engine, make_quotes(0.10), view, seconds, rounds)
            await daemon.close()
            return

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
    ap.add_argument("--metrics", action="store_true", help="measure the /metrics endpoint's cost")
    ap.add_argument("--seconds", type=float, default=15.0, help="per run, with --metrics")
    ap.add_argument("--rounds", type=int, default=5, help="runs off and on, with --metrics")
    args = ap.parse_args()
    asyncio.run(main(args.quotes, args.metrics, args.seconds, args.rounds))
