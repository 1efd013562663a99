"""One driver (issue #12 §6): "a backtest feeds the engine's own queue and runs the scheduled
jobs ... through the scheduler's replay on the simulated clock — the very dispatch that runs
live". Each replayed session runs `plan_day`'s timetable, in time order, on the prices' own
calendar (09:30 to 16:00 New York), the day's splits at the open and its bars at the close.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_prices
from daemon.app import build_daemon
from daemon.brokers import sim_broker
from daemon.clock import SimulatedClock
from daemon.engine import HarvestEngine
from daemon.events import Event, Quote, Scheduled, SplitEvent
from daemon.replay import NEW_YORK, InPlace, PriceReplay, PriceSessions, session_start
from daemon.scheduler import DEFAULT_TIMETABLE, replay_day
from ledger.model import Action, Trade
from tests.index_backtest.kit import household, write_prices

DAY_ONE, DAY_TWO = date(2024, 3, 1), date(2024, 3, 4)
HOOKS_IN_ORDER = [
    "daily_reconcile",
    "wash_window_expiry",
    "on_market_open",
    "swap_back_check",
    "index_rebalance",
    "on_market_close",
    "end_of_day_summary",
]


class Recorder:
    """Hooks that record each call with the simulated clock's time (New York)."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, time]] = []

    def _at(self, name: str) -> None:
        self.calls.append((name, self.clock.now().astimezone(NEW_YORK).time()))

    async def daily_reconcile(self, day: date) -> None:
        self._at("daily_reconcile")

    async def wash_window_expiry(self, day: date) -> None:
        self._at("wash_window_expiry")

    async def on_market_open(self, day: date) -> None:
        self._at("on_market_open")

    async def swap_back_check(self, day: date) -> None:
        self._at("swap_back_check")

    async def index_rebalance(self, day: date) -> None:
        self._at("index_rebalance")

    async def on_market_close(self, day: date) -> None:
        self._at("on_market_close")

    async def end_of_day_summary(self, day: date) -> None:
        self._at("end_of_day_summary")


def _prices(tmp_path: Path) -> Path:
    return write_prices(
        tmp_path / "prices.csv",
        [
            (DAY_ONE, [("XYZ", "100", "1", "0"), ("SUB", "50", "1", "0")]),
            (DAY_TWO, [("XYZ", "50", "2", "0.25"), ("SUB", "51", "1", "0")]),
        ],
    )


async def test_replay_day_runs_the_timetable_in_time_order_with_the_open_and_close_steps(
    tmp_path: Path,
) -> None:
    """`replay_day` over the prices' calendar: every `DEFAULT_TIMETABLE` hook at its New York
    time, the open step at 09:30 before `on_market_open`, the close step at 16:00 before
    `on_market_close`; a day the prices lack has no session."""
    prices = load_prices(_prices(tmp_path))
    clock = SimulatedClock(session_start(DAY_ONE))
    hooks = Recorder(clock)

    async def at_open() -> None:
        hooks._at("splits")

    async def at_close() -> None:
        hooks._at("bars")

    ran = await replay_day(
        DAY_ONE, PriceSessions(prices), clock, hooks, at_open=at_open, at_close=at_close
    )
    skipped = await replay_day(date(2024, 3, 2), PriceSessions(prices), clock, hooks)

    assert [job.hook_name for job in ran] == HOOKS_IN_ORDER
    assert len(DEFAULT_TIMETABLE) == len(HOOKS_IN_ORDER)
    assert hooks.calls == [
        ("daily_reconcile", time(9, 0)),
        ("wash_window_expiry", time(9, 15)),
        ("splits", time(9, 30)),
        ("on_market_open", time(9, 30)),
        ("swap_back_check", time(10, 0)),
        ("index_rebalance", time(15, 30)),
        ("bars", time(16, 0)),
        ("on_market_close", time(16, 0)),
        ("end_of_day_summary", time(16, 15)),
    ]
    assert skipped == []


class RecordingFeed(InPlace):
    """The backtest's feed, recording each event it hands the engine."""

    def __init__(self, engine: HarvestEngine) -> None:
        super().__init__(engine)
        self.sent: list[Event] = []

    async def send(self, event: Event) -> None:
        self.sent.append(event)
        await super().send(event)


async def test_a_replayed_session_reaches_the_engine_as_the_timetable_orders_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Through `PriceReplay.play`, each session reaches the engine as `Scheduled` events in
    the timetable's order, the split (its name quoted anew, and the dividend's cash) at the
    open, one quote per bar before `on_market_close`: one driver, for backtests and `tlh run`
    with `[sim] replay`."""
    prices = load_prices(_prices(tmp_path))
    settings = household(("XYZ", "SUB"))
    clock = SimulatedClock(session_start(DAY_ONE))
    broker = sim_broker(settings, clock.now)
    daemon = await build_daemon(settings, broker, clock.now, database_url=sqlite_url)
    try:
        await daemon.engine.start()
        held = Trade(1, DAY_ONE, "taxable", Action.BUY, "XYZ", Decimal(10), Decimal(100))
        replay = PriceReplay(prices, daemon, broker, clock, holdings=[held])
        feed = RecordingFeed(daemon.engine)
        await replay.begin(DAY_ONE, feed)
        for day, rows in replay.sessions():
            await replay.play(day, rows, feed)
        cash = await broker.cash_balance("taxable")
    finally:
        await daemon.close()

    def name(event: Event) -> str:
        if isinstance(event, Scheduled):
            return event.hook
        if isinstance(event, SplitEvent):
            return "split"
        assert isinstance(event, Quote)
        return f"quote {event.symbol}"

    second = [name(e) for e in feed.sent if not isinstance(e, Scheduled) or e.day == DAY_TWO]
    second = second[second.index("daily_reconcile") :]
    assert second == [
        "daily_reconcile",
        "wash_window_expiry",
        "split",
        "quote XYZ",  # at split prices, until its bar
        "on_market_open",
        "swap_back_check",
        "index_rebalance",
        "quote SUB",
        "quote XYZ",
        "on_market_close",
        "end_of_day_summary",
    ]
    split = next(e for e in feed.sent if isinstance(e, SplitEvent))
    assert split.at == datetime(2024, 3, 4, 9, 30, tzinfo=NEW_YORK)
    quote = next(e for e in reversed(feed.sent) if isinstance(e, Quote))
    assert quote.at == datetime(2024, 3, 4, 16, 0, tzinfo=NEW_YORK)
    assert replay.splits == 1
    assert cash == Decimal("5.00")  # 20 shares after the split, $0.25 each
