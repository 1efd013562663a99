"""Measure the IB adapter's CPU per quote against ib_async's own decoding and dispatch of it.

The fake TWS (tests/fake_tws) streams `--rounds` batches of one quote (a bid and an ask tick)
per symbol over `--symbols` subscribed symbols to the real `IBBroker`, through the real
ib_async. Two clocks run in this process: the time ib_async spends in its socket-data handler
(`Client._onSocketHasData`: framing, decoding, `Ticker` updates, `pendingTickersEvent`), and,
inside it, the time of the adapter's handler of `pendingTickersEvent` (the gate, and for
quotes that pass it the `Quote` and the sink: the daemon's inbox, `daemon.bus.EventQueue`,
which conflates quotes per symbol; nothing consumes it here). Printed: microseconds per quote
for each, and their ratio, with the gate below every bid (quotes held back: the common case)
and open (every quote emitted).

Run: .venv/bin/python bench/ib_tick_cost.py [--symbols 500] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "ib")]

from fake_tws import FakeTWS, QuoteTick  # noqa: E402
from ibkit import make_broker  # noqa: E402

from daemon.bus import EventQueue  # noqa: E402


class Clock:
    """Accumulate the time spent in one callable."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.seconds = 0.0

    def __call__(self, *args: Any) -> None:
        start = time.perf_counter()
        self.call(*args)
        self.seconds += time.perf_counter() - start


async def measure(symbols: int, rounds: int) -> None:
    """Stream the quotes and print the two costs per quote."""
    names = [f"S{i:03d}" for i in range(symbols)]
    async with FakeTWS(symbols=names) as tws:
        broker = make_broker(tws)
        await broker.connect(EventQueue().put)
        await broker.subscribe(set(names))
        await tws.wait_until(lambda: len(tws.subscribed_symbols()) == symbols, within=60)
        ib = broker.ib
        ours = Clock(broker.market_data._on_tickers)
        ib.pendingTickersEvent -= broker.market_data._on_tickers
        ib.pendingTickersEvent += ours
        theirs = Clock(ib.client._onSocketHasData)
        ib.client.conn.hasData -= ib.client._onSocketHasData
        ib.client.conn.hasData += theirs
        rnd = random.Random(1)
        gate = broker.quote_gate()
        for label, level in (("gate below every bid", 50.0), ("gate open", float("inf"))):
            for name in names:
                gate[name] = level
            ours.seconds = theirs.seconds = 0.0
            sent = 0
            for _ in range(rounds):
                batch = [QuoteTick(s, 100 + rnd.random(), 100.5 + rnd.random()) for s in names]
                await tws.send_bytes(tws.encode_ticks(batch, 17), 17)
                sent += len(batch)
                await asyncio.sleep(0.02)  # let the client read and decode the batch
            await asyncio.sleep(0.2)
            decoding = theirs.seconds - ours.seconds
            print(
                f"{label}: {sent} quotes; ib_async {1e6 * decoding / sent:.2f} us/quote, "
                f"adapter {1e6 * ours.seconds / sent:.2f} us/quote "
                f"({ours.seconds / decoding:.1%} of ib_async's)"
            )
        await broker.close()


def main() -> None:
    """Parse the arguments and run the measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    asyncio.run(measure(args.symbols, args.rounds))


if __name__ == "__main__":
    main()
