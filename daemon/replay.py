"""Daily prices played through the daemon: the event source of backtests, the demo and
`tlh run` with ``broker = "sim"`` and `[sim] replay`.

One engine and one driver: each replayed session runs the scheduler's own timetable
(`daemon.scheduler.replay_day` over `plan_day`, the plan `tlh run` follows live) on the
simulated clock, each hook reaching the engine as the `Scheduled` event the live hooks queue
(`FeedHooks`); the day's splits and dividends come at the open (09:30 New York), its bars at
the close (16:00), one quote per bar, before `on_market_close`. The engine handles them all in
`HarvestEngine.handle`, as it handles a live stream's. Only the clock (a `SimulatedClock`),
the broker (a `SimBroker` whose market the replay sets) and the way events reach the engine
differ: a backtest hands each one to the engine at once (`InPlace`); the running daemon puts
it on the engine's queue for its `run` loop (`Queued`), `[sim] speed` sessions per wall-clock
minute (`LiveReplay`). The calendar is the price file's own days (`PriceSessions`).

Each bar becomes a quote around the close (less and plus half the spread, on whole cents, at
least a cent wide). A bar that repeats the symbol's previous bar field for field is the same
quote again, stamped with the session it was new in, so a price stuck for days is stale as a
live quote that stopped updating is; a close under one cent quotes a zero bid, rejected as
live. Starting holdings enter the journal on their own dates, so that splits and trades in
between keep the journal in time order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from datetime import time as day_time
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from adapters.prices.csvload import load_price_dir, load_prices
from adapters.prices.model import PriceSeries, split_share_ratio
from adapters.sim.broker import SimBroker
from adapters.storage.repository import Repository
from daemon.app import Daemon, make_ledger
from daemon.clock import SimulatedClock
from daemon.engine import HarvestEngine
from daemon.events import Event, Quote, Scheduled, SplitEvent
from daemon.hooks import ScheduledHooks
from daemon.journal_replay import replay as replay_journal
from daemon.scheduler import DEFAULT_TIMETABLE, HookTime, replay_day
from daemon.settings import Settings
from ledger.model import Action, Trade

log = structlog.get_logger("tlh.replay")
NEW_YORK = ZoneInfo("America/New_York")
OPEN = day_time(9, 30)
CLOSE = day_time(16, 0)
LAST_DAY_KEY = "sim:replay_last_day"
"""The repository state key under which the running daemon keeps the last day it replayed."""
DEMO_POSITION = Decimal(10_000)
_BUSY_SPINS = 32
"""How many event-loop turns `Queued` waits for the engine before it naps between checks."""


def at_close(day: date) -> datetime:
    """Return the close (16:00 New York) of `day`, the instant a replayed session is quoted."""
    return datetime.combine(day, CLOSE, tzinfo=NEW_YORK)


def session_start(day: date) -> datetime:
    """Return the midnight (New York) that begins `day`, before any of its hooks."""
    return datetime.combine(day, day_time(0), tzinfo=NEW_YORK)


class PriceSessions:
    """The replay's market calendar (`daemon.scheduler.SessionCalendar`): a session on each
    day the prices have, 09:30 to 16:00 New York time; none on any other day."""

    def __init__(self, prices: PriceSeries) -> None:
        self._days = frozenset(prices.dates)

    def session_open_close(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the open and close (UTC) of `day`, or None when the prices skip it."""
        if day not in self._days:
            return None
        open_ = datetime.combine(day, OPEN, tzinfo=NEW_YORK).astimezone(UTC)
        return open_, at_close(day).astimezone(UTC)


async def replayed_now(settings: Settings, repo: Repository) -> datetime | None:
    """Return the instant the journal's replay stands at (the close of the last day it
    played), or None when `settings` replay nothing or nothing was replayed yet.

    A replay trades on its own clock: `tlh status` reads the journal at that instant, so its
    year-to-date figures are the status page's.
    """
    if settings.broker != "sim" or settings.sim.replay == "none":
        return None
    raw = await repo.get_state(LAST_DAY_KEY)
    return at_close(date.fromisoformat(raw)).astimezone(UTC) if raw else None


def demo_holdings(prices: PriceSeries, settings: Settings) -> list[Trade]:
    """Return the demo's starting portfolio: $10,000 of each substitute group's first symbol,
    bought at its close on the first day of `prices` (groups without that price are left out)."""
    first_day, bars = next(prices.days())
    closes = {b.symbol: b.close for b in bars}
    trades = []
    for n, group in enumerate(settings.substitute_groups(), start=2):
        symbol = group[0]
        close = closes.get(symbol)
        if close is None:
            continue
        qty = (DEMO_POSITION / close).quantize(Decimal(1), rounding=ROUND_DOWN)
        trades.append(
            Trade(n, first_day, "taxable", Action.BUY, symbol, qty, close, source="demo:holdings")
        )
    return trades


# -- how events reach the engine -------------------------------------------------------------


class Feed(Protocol):
    """Deliver events to the engine, and wait until it has handled what they caused."""

    async def send(self, event: Event) -> None:
        """Have the engine handle `event` and every event it caused (the broker's fills)."""
        ...

    async def settle(self) -> None:
        """Wait until the engine has handled every event queued so far."""
        ...


class InPlace:
    """A backtest's feed: the engine handles each event at once, then drains its queue."""

    def __init__(self, engine: HarvestEngine) -> None:
        self._engine = engine

    async def send(self, event: Event) -> None:
        """Handle `event`, then what it queued."""
        engine = self._engine
        await engine.handle(event)
        if engine.queue:  # only an evaluation can place orders, and so queue events
            await engine.drain()

    async def settle(self) -> None:
        """Handle every queued event."""
        await self._engine.drain()


class Queued:
    """The running daemon's feed: events go on the engine's queue, as a stream's do, and the
    engine's `run` loop handles them; one at a time, so that the simulated market (the
    broker's quote) and the engine see the same bar, as in a backtest."""

    def __init__(self, engine: HarvestEngine) -> None:
        self._engine = engine

    async def send(self, event: Event) -> None:
        """Queue `event` and wait until the engine has handled it and what it caused."""
        self._engine.queue.put(event)
        await self.settle()

    async def settle(self) -> None:
        """Wait until the engine's queue is empty and no event is in hand.

        The `run` loop takes an event and its lock in one step (no await between), and every
        wake-up that a put or a release scheduled runs before this task's next turn: so an
        empty queue and a free lock, seen after a turn, mean the engine is idle. Nothing
        signals that; polling a few turns covers the common case (an event handled without
        I/O), and short naps the rest (a harvest's journal writes).
        """
        engine = self._engine
        spins = 0
        while True:
            await asyncio.sleep(0 if spins < _BUSY_SPINS else 0.001)
            if not engine.queue and not engine.lock.locked():
                return
            spins += 1


class FeedHooks(ScheduledHooks):
    """Deliver each hook through a `Feed`: the engine handles the `Scheduled` event that
    `daemon.hooks.EngineHooks` queues live, and what it caused, before the replay moves the
    clock on."""

    def __init__(self, feed: Feed) -> None:
        self._feed = feed

    async def deliver(self, event: Scheduled) -> None:
        """Send `event` through the feed."""
        await self._feed.send(event)


# -- the shared per-session step ---------------------------------------------------------------


class PriceReplay:
    """Play `prices` session by session through a daemon on the simulator.

    The clock must be the daemon's (its broker's and repository's); `holdings` are imported
    when their trade date comes up (`begin`, then each `play`).
    """

    def __init__(
        self,
        prices: PriceSeries,
        daemon: Daemon,
        broker: SimBroker,
        clock: SimulatedClock,
        *,
        holdings: Sequence[Trade] = (),
        spread_bps: Decimal = Decimal(10),
        timetable: Sequence[HookTime] = DEFAULT_TIMETABLE,
    ) -> None:
        self.prices = prices
        self.calendar = PriceSessions(prices)
        self.timetable = tuple(timetable)
        self.engine = daemon.engine
        self.orders = daemon.orders
        self.broker = broker
        self.clock = clock
        broker.split_calendar = prices  # the split column answers the engine's split checks
        self.waiting = sorted(holdings, key=lambda t: (t.trade_date, t.seq))
        half = Decimal(spread_bps) / Decimal(20000)
        self._lo, self._hi = float(1 - half), float(1 + half)
        self._repeats = _repeat_test(prices)
        self._previous = [-1] * len(prices.symbols)  # each symbol's last row
        self._quoted_at = [clock.now()] * len(prices.symbols)  # when its quote last changed
        self.days = self.quotes = self.splits = self.dividends = 0

    def sessions(
        self, start: date | None = None, end: date | None = None
    ) -> Iterator[tuple[date, range]]:
        """Yield the sessions from `start` to `end` (inclusive; open ends: all) and their rows."""
        for day, rows in self.prices.day_ranges():
            if (start is None or day >= start) and (end is None or day <= end):
                yield day, rows

    def skip(self, day: date, rows: range) -> None:
        """Take note of a session played before a restart, without playing it again: the next
        session's bars are judged repeats of its bars, as they would have been."""
        at = at_close(day)
        sids, previous, quoted_at = self.prices.symbol_ids, self._previous, self._quoted_at
        for i in rows:
            sid = sids[i]
            if not self._repeats(previous[sid], i):
                quoted_at[sid] = at
            previous[sid] = i

    async def begin(self, day: date, feed: Feed, *, last_close: bool = False) -> None:
        """Import the holdings dated on or before `day`, before the first session plays; with
        `last_close`, first quote the bars of the last session before `day`, if any, as the
        market stands before its open (the day's hooks then see prices, as on later days)."""
        if last_close:
            before: tuple[date, range] | None = None
            for session, rows in self.prices.day_ranges():
                if session >= day:
                    break
                before = session, rows
            if before is not None:  # quoted as of its own close: that session's prices
                await self._close(before[1], feed, at=at_close(before[0]))
        await self._import_due(day, feed)

    async def play(self, day: date, rows: range, feed: Feed) -> None:
        """Play one session through the scheduler's timetable on the simulated clock
        (`daemon.scheduler.replay_day`): the holdings due first, then each hook in time order,
        with the day's splits and dividends at the open and its bars at the close."""
        if self.waiting and self.waiting[0].trade_date <= day:
            await self._import_due(day, feed)
        self.days += 1

        async def open_step() -> None:
            await self._open(day, rows, feed)

        async def close_step() -> None:
            await self._close(rows, feed)

        await replay_day(
            day,
            self.calendar,
            self.clock,
            FeedHooks(feed),
            self.timetable,
            at_open=open_step,
            at_close=close_step,
        )

    async def _open(self, day: date, rows: range, feed: Feed) -> None:
        """Apply the day's splits (as a broker does before the open) and quote their split
        prices, then credit its dividends (the ex-date: the holders at the last close are
        paid)."""
        prices, broker, at = self.prices, self.broker, self.clock.now()
        symbols, sids = prices.symbols, prices.symbol_ids
        for row, ratio in splits_of(prices, rows):
            name = symbols[sids[row]]
            broker.apply_split(name, ratio)
            await feed.send(SplitEvent(name, ratio, at))
            self.splits += 1
            # The market opens at split prices: until the day's bar, the last quote divided
            # by the ratio (a hook before the close must not value new shares at old prices).
            last = broker.quote(name)
            if last is not None:
                adjusted = _split_quote(last, ratio)
                broker.set_quote(adjusted)
                await feed.send(adjusted)
        if prices.dividends:
            for i in rows:
                amount = prices.dividends.get(i)
                if amount:
                    paid = broker.credit_dividend(symbols[sids[i]], amount)
                    self.dividends += 1
                    if paid:
                        log.info(
                            "dividend_credited",
                            day=day.isoformat(),
                            symbol=symbols[sids[i]],
                            per_share=str(amount),
                            cash=str(paid),
                        )

    async def _close(self, rows: range, feed: Feed, *, at: datetime | None = None) -> None:
        """Quote each of the day's bars (as of `at`: now unless given), then start the
        replacements still waiting for one."""
        at = at or self.clock.now()
        prices, broker = self.prices, self.broker
        symbols, sids = prices.symbols, prices.symbol_ids
        close, previous, quoted_at, repeats = (
            prices.close_micros,
            self._previous,
            self._quoted_at,
            self._repeats,
        )
        lo, hi = self._lo, self._hi
        for i in rows:
            sid = sids[i]
            # A bar that repeats the symbol's previous bar is that quote again: it keeps the
            # time it was new, and the quote filter judges its age as it judges live.
            if not repeats(previous[sid], i):
                quoted_at[sid] = at
            previous[sid] = i
            c = close[i] / 1_000_000
            bid = math.floor(c * lo * 100) / 100
            ask = max(math.ceil(c * hi * 100) / 100, bid + 0.01)
            quote = Quote(symbols[sid], bid, round(ask, 2), quoted_at[sid])
            broker.set_quote(quote)
            await feed.send(quote)
        self.quotes += len(rows)
        await self._quote_waiting_replacements(feed)

    async def _quote_waiting_replacements(self, feed: Feed) -> None:
        """Start the replacements that began waiting for a symbol after its quote of the day:
        they buy at that quote, as they would at the next live one."""
        orders, quotes = self.orders, self.engine.quotes
        if not orders.awaiting_quotes:
            return
        async with self.engine.lock:  # between events, as the running daemon handles them
            for symbol in sorted(orders.awaiting_quotes):  # a set: fix the order
                q = quotes.get(symbol)
                if q is not None:
                    await orders.on_quote(q)
        await feed.settle()

    async def _import_due(self, day: date, feed: Feed) -> None:
        """Import (and drop from `waiting`) the holdings dated on or before `day`."""
        waiting = self.waiting
        due = 0
        while due < len(waiting) and waiting[due].trade_date <= day:
            due += 1
        if not due:
            return
        batch, self.waiting = waiting[:due], waiting[due:]
        engine = self.engine
        async with engine.lock:
            await engine.import_trades(batch, source="holdings")
        for account, symbol in {(t.account, t.symbol) for t in batch}:
            self.broker.set_position(account, symbol, engine.ledger.position(account, symbol))
        await feed.settle()


# -- `tlh run`: the replay through the running daemon ------------------------------------------


class ReplayFileError(ValueError):
    """The `[sim] replay` prices cannot be played (the message names the file and line)."""


def load_replay(settings: Settings) -> LiveReplay | None:
    """Return the replay `[sim]` asks of `tlh run`, its prices loaded; None when the broker is
    not the simulator or `replay = "none"`. Raise `ReplayFileError` for prices it cannot play."""
    if settings.broker != "sim" or settings.sim.replay == "none":
        return None
    if settings.sim.replay == "demo":
        from daemon.demo_data import demo_prices_path

        path = demo_prices_path()
    else:
        path = Path(settings.sim.replay).expanduser()
    try:
        prices = load_price_dir(path) if path.is_dir() else load_prices(path)
    except OSError as exc:
        raise ReplayFileError(f"[sim] replay: {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a missing column: the message names the file and the column
        raise ReplayFileError(f"[sim] replay: {exc}") from exc
    if not len(prices):
        first = prices.examples[0] if prices.examples else None
        where = f"{first.source}:{first.line}: {first.reason}" if first else f"{path}"
        raise ReplayFileError(
            f"[sim] replay: {where}: no price row can be played "
            f"({prices.skipped_total} skipped, by reason: {dict(prices.skipped)})"
        )
    return LiveReplay(prices, path, settings)


class LiveReplay:
    """Play prices through the running daemon, `[sim] speed` sessions per wall-clock minute.

    The daemon runs on `clock`; `start` starts its engine where an earlier run stopped, and
    `run` feeds the engine's queue while its `run` loop consumes it, then keeps the daemon up
    and idle once the prices are played out. The last session played is kept in the
    repository's state (`LAST_DAY_KEY`): a restarted daemon goes on with the next one.
    """

    def __init__(self, prices: PriceSeries, path: Path, settings: Settings) -> None:
        self.prices = prices
        self.path = path
        self.settings = settings
        self.clock = SimulatedClock(session_start(prices.first_date))
        self._replay: PriceReplay | None = None
        self._after: date | None = None

    async def start(self, daemon: Daemon) -> None:
        """Start the engine (`HarvestEngine.start`) on the simulator as the journal left it.

        The clock is set to the close of the last session played, the simulator given the
        journal's positions (before the engine resumes orders that may sell them), and, when
        the journal is empty, the demo's starting holdings (`demo_holdings`) are due on the
        first session.
        """
        broker = daemon.broker
        if not isinstance(broker, SimBroker):
            raise TypeError(f"[sim] replay needs the simulated broker, not {broker.name}")
        raw = await daemon.repo.get_state(LAST_DAY_KEY)
        self._after = date.fromisoformat(raw) if raw else None
        if self._after is not None and at_close(self._after) > self.clock.now():
            self.clock.advance_to(at_close(self._after))
        records = await daemon.repo.load_journal()
        ledger, _ = replay_journal(make_ledger(self.settings), [r.to_event() for r in records])
        for (account, symbol), quantity in ledger.positions().items():
            if daemon.engine.trades_account(account):  # not an imported outside account
                broker.set_position(account, symbol, quantity)
        holdings = [] if records else demo_holdings(self.prices, self.settings)
        if not records and not holdings:
            log.warning(
                "replay_without_holdings",
                reason="the journal is empty and no [[substitutes]] group's first symbol is "
                "in the prices: nothing is bought, so nothing can be harvested",
            )
        await daemon.engine.start()
        self._replay = PriceReplay(self.prices, daemon, broker, self.clock, holdings=holdings)

    async def run(self, daemon: Daemon, stop: asyncio.Event) -> None:
        """Feed the sessions to the engine while it consumes them, until `stop` is set.

        A stop finishes the session in hand first (the engine consumes until it is played),
        so a restart never plays a session twice. An error in either task stops both.
        """
        halt = asyncio.Event()
        consumer = asyncio.ensure_future(daemon.engine.run(halt))
        feeder = asyncio.ensure_future(self._feed(daemon, stop))
        try:
            done, _ = await asyncio.wait({consumer, feeder}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raise what ended it
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            halt.set()
            await consumer

    async def _feed(self, daemon: Daemon, stop: asyncio.Event) -> None:
        replay = self._replay
        if replay is None:
            raise RuntimeError("LiveReplay.run before start")
        after = self._after
        sessions = []
        for day, rows in replay.sessions():
            if after is not None and day <= after:
                replay.skip(day, rows)
            else:
                sessions.append((day, rows))
        self._log_start(len(sessions), after)
        feed = Queued(daemon.engine)
        await replay.begin(sessions[0][0] if sessions else self.prices.first_date, feed)
        pace = 60.0 / self.settings.sim.speed
        due = time.monotonic()
        for day, rows in sessions:
            if stop.is_set():
                return
            await replay.play(day, rows, feed)
            await daemon.repo.set_state(LAST_DAY_KEY, day.isoformat())
            log.debug("replay_day", day=day.isoformat(), quotes=len(rows))
            due = max(due + pace, time.monotonic())  # late sessions do not pile up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=due - time.monotonic())
        log.info(
            "replay_finished",
            file=str(self.path),
            days=replay.days,
            last_day=self.prices.last_date.isoformat(),
            harvests=daemon.engine.stats.harvests,
            note="the prices are played out; the daemon stays up, serving its state",
        )
        await stop.wait()

    def _log_start(self, days: int, after: date | None) -> None:
        prices = self.prices
        log.info(
            "replay_started",
            file=str(self.path),
            days=days,
            speed=self.settings.sim.speed,
            first_day=prices.first_date.isoformat(),
            last_day=prices.last_date.isoformat(),
            resumed_after=after.isoformat() if after else None,
            holdings=len(self._replay.waiting) if self._replay else 0,
        )
        for example in prices.examples:
            log.warning(
                "replay_row_skipped",
                file=example.source,
                line=example.line,
                reason=example.reason,
                text=example.text,
            )


def _repeat_test(prices: PriceSeries) -> Callable[[int, int], bool]:
    """Return a test of whether row `i` repeats row `p` (-1: none) in every field the file
    gives."""
    op, hi, lo, cl, vol = (
        prices.open_micros,
        prices.high_micros,
        prices.low_micros,
        prices.close_micros,
        prices.volume,
    )
    exact = prices.exact

    def repeats(p: int, i: int) -> bool:
        return (
            p >= 0
            and cl[p] == cl[i]
            and op[p] == op[i]
            and hi[p] == hi[i]
            and lo[p] == lo[i]
            and vol[p] == vol[i]
            and exact.get(p) == exact.get(i)
        )

    return repeats


def splits_of(prices: PriceSeries, rows: range) -> list[tuple[int, Decimal]]:
    if not prices.splits:
        return []
    out = []
    for i in rows:
        coef = prices.splits.get(i)
        if coef is None or coef == 1:
            continue
        # Spin-off price factors are not share ratios: only real splits move shares.
        ratio = split_share_ratio(coef)
        if ratio is not None:
            out.append((i, _decimal(ratio)))
    return out


def _split_quote(quote: Quote, ratio: Decimal) -> Quote:
    """Return `quote` in the shares after a split of `ratio` (new shares per old), on whole
    cents, at least a cent wide, as old as it was."""
    r = float(ratio)
    bid = math.floor(quote.bid / r * 100) / 100
    ask = max(math.ceil(quote.ask / r * 100) / 100, bid + 0.01)
    return Quote(quote.symbol, bid, round(ask, 2), quote.at)


def _decimal(ratio: Fraction) -> Decimal:
    return Decimal(ratio.numerator) / Decimal(ratio.denominator)
