"""The engine's inbox (`daemon.bus.EventQueue`): quotes conflate, order events never do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from daemonkit import Rig

from daemon.bus import EventQueue
from daemon.events import Event, Fill, OrderSide, OrderStatus, OrderUpdate, Quote, SplitEvent
from ledger.model import Action

AT = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


def _quote(symbol: str, bid: float, n: int = 0) -> Quote:
    return Quote(symbol, bid, bid + 0.01, AT + timedelta(seconds=n))


def _update(n: int, status: OrderStatus = OrderStatus.ACCEPTED) -> OrderUpdate:
    return OrderUpdate(f"order-{n}", status, AT + timedelta(seconds=n))


def _fill(n: int) -> Fill:
    return Fill(
        f"order-{n}",
        f"exec-{n}",
        "taxable",
        "VTI",
        OrderSide.SELL,
        Decimal(1),
        Decimal(180),
        AT + timedelta(seconds=n),
    )


def _drain(queue: EventQueue) -> list[Event]:
    out = []
    while (event := queue.get_nowait()) is not None:
        out.append(event)
    return out


def test_quotes_are_conflated_per_symbol_and_the_latest_wins() -> None:
    """Bus docstring: "Quotes are conflated: only the latest quote of each symbol waits", and
    every quote that replaced a waiting one is counted in `conflated`."""
    queue = EventQueue()
    for n, bid in enumerate((180.0, 179.5, 179.0)):
        queue.put(_quote("VTI", bid, n))
    queue.put(_quote("SCHB", 50.0, 3))
    queue.put(_quote("VTI", 178.5, 4))

    assert queue.conflated == 3
    assert len(queue) == 2
    events = _drain(queue)
    assert sorted((e.symbol, e.bid) for e in events if isinstance(e, Quote)) == [
        ("SCHB", 50.0),
        ("VTI", 178.5),
    ]


def test_order_events_are_never_dropped_and_come_before_quotes_in_order() -> None:
    """Bus docstring: "Order updates, fills and splits are never dropped and keep their order"
    -- and they are handled before any waiting quote, so a fill is never judged behind a
    burst of market data."""
    queue = EventQueue()
    ordered: list[Event] = []
    for n in range(500):
        queue.put(_quote("VTI", 180.0 - n / 100, n))
        event: Event = (_update(n), _fill(n), SplitEvent("VTI", Decimal(2), AT))[n % 3]
        queue.put(event)
        ordered.append(event)
        queue.put(_quote("SCHB", 50.0 + n / 100, n))

    events = _drain(queue)

    assert events[: len(ordered)] == ordered
    assert [(e.symbol, e.bid) for e in events[len(ordered) :] if isinstance(e, Quote)] == [
        ("VTI", 175.01),
        ("SCHB", 54.99),
    ]
    assert len(events) == len(ordered) + 2
    assert queue.conflated == 2 * 499


async def test_get_waits_for_the_next_event() -> None:
    """Bus: `get` parks the consumer on an empty queue and wakes it on the next `put`."""
    queue = EventQueue()
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()

    queue.put(_update(1))

    assert await asyncio.wait_for(waiter, timeout=1) == _update(1)


async def test_a_burst_of_quotes_never_delays_or_drops_the_broker_events_of_a_sale(
    rig: Rig,
) -> None:
    """Issue: "EventQueue: quotes conflated per symbol (latest wins, `conflated` counter), order
    events never dropped and delivered before quotes, in order" -- in the running engine: the
    broker's fill
    and filled events of a harvest sale arrive amid 200 quotes; the sale is journaled and
    finished first, and only the latest quote of each symbol is judged."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market: stays open
    sale_id = rig.harvest_id("VTI", lot)
    quotes_before = rig.engine.stats.quotes
    for n in range(100):
        rig.engine.queue.put(Quote("VTI", 179.0 - n / 100, 179.04, rig.clock.now()))
        rig.engine.queue.put(Quote("SCHB", 50.0, 50.04, rig.clock.now()))
    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()  # accepted -> fill -> filled, into the same queue

    handled: list[str] = []
    while (event := rig.engine.queue.get_nowait()) is not None:
        handled.append(type(event).__name__)
        await rig.engine.handle(event)

    # The sale's fill and filled update, then its replacement's (accepted, fill, filled), which
    # were queued while the sale was handled, and so the top-up's of what the replacement left
    # -- all before either waiting quote.
    assert handled == ["Fill", "OrderUpdate"] + ["OrderUpdate", "Fill", "OrderUpdate"] * 2 + [
        "Quote",
        "Quote",
    ]
    assert rig.engine.stats.quotes - quotes_before == 2
    assert rig.engine.queue.conflated >= 2 * 99
    fills = await rig.fills()
    assert [(f.action, f.symbol) for f in fills] == [(Action.SELL, "VTI")] + [
        (Action.BUY, "SCHB")
    ] * 2
    assert fills[0].lot_id == lot
    assert (await rig.intent(sale_id)).filled_quantity == 40


async def test_the_busy_engine_lets_other_tasks_run_every_64_events_not_after_each(
    rig: Rig,
) -> None:
    """daemon/engine.py `HarvestEngine.run`: while events keep coming, the engine yields to the
    event loop after 1 ms of work or 64 events, whichever comes first, so the streams and the
    order manager's tasks keep running (fairness) without paying a yield for every quote."""
    symbols = [f"S{n:04d}" for n in range(64 * 20)]
    for n, symbol in enumerate(symbols):
        rig.engine.queue.put(Quote(symbol, 50.0 + n / 1000, 50.05, rig.clock.now()))
    before = rig.engine.stats.quotes
    seen: list[int] = []
    stop = asyncio.Event()

    async def other_task() -> None:
        while rig.engine.stats.quotes - before < len(symbols):
            seen.append(rig.engine.stats.quotes - before)
            await asyncio.sleep(0)
        stop.set()

    await asyncio.wait_for(asyncio.gather(rig.engine.run(stop), other_task()), timeout=30)

    gaps = [b - a for a, b in zip([0, *seen], [*seen, len(symbols)], strict=True)]
    assert max(gaps) <= 64
    assert max(gaps) > 1


async def test_an_idle_engine_wakes_for_an_event_and_for_stop(rig: Rig) -> None:
    """daemon/engine.py `HarvestEngine.run`: idle, it waits on its queue; an event queued then
    is handled, and setting `stop` ends the run without an event."""
    stop, handled = asyncio.Event(), asyncio.Event()
    handle = rig.engine.handle

    async def handle_and_tell(event: Event) -> None:
        await handle(event)
        handled.set()

    rig.engine.handle = handle_and_tell  # type: ignore[method-assign]
    running = asyncio.ensure_future(rig.engine.run(stop))
    await asyncio.sleep(0)

    rig.engine.queue.put(Quote("VTI", 180.0, 180.04, rig.clock.now()))
    await asyncio.wait_for(handled.wait(), timeout=5)
    stop.set()

    await asyncio.wait_for(running, timeout=5)
