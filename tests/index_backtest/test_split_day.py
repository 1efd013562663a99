"""A split day makes no fake harvest (issue #12 §8). The replay applies a split at the open,
before any hook of the day, and quotes the split name at split prices until its bar: the
ledger's lots are split before any price is judged, and a rebalance before the close never
values new shares at old prices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_prices
from daemon.app import build_daemon
from daemon.backtest import IndexBacktest, run_backtest
from daemon.brokers import sim_broker
from daemon.clock import SimulatedClock
from daemon.engine import HarvestEngine
from daemon.events import Event, Scheduled
from daemon.index_settings import IndexSettings
from daemon.replay import InPlace, PriceReplay, session_start
from daemon.settings import Settings
from ledger.model import Action, Trade
from tests.index_backtest.kit import household, weekdays, write_prices

HELD = [Trade(1, date(2023, 12, 1), "taxable", Action.BUY, "XYZ", Decimal(100), Decimal(100))]
PLAN = IndexBacktest(
    cash=Decimal(1_000), weights={"XYZ": Decimal(1), "SUB": Decimal(1)}, account="taxable"
)
SPLIT_SESSION = 10
FAKE_LOSS = Decimal(1_000)  # a 2:1 split taken for a fall would realise about $5,000


def with_index() -> Settings:
    """The household with XYZ and SUB as substitutes, and `[index]` equal weights over both
    in the same account."""
    settings = household(("XYZ", "SUB"))
    index = IndexSettings(weights="equal", universe=("XYZ", "SUB"), account="taxable")
    return settings.model_copy(update={"index": index})


def _write(path: Path, *, split: bool) -> Path:
    """XYZ at $100 (no two sessions alike), then from session 10 at half: by a 2:1 split, or
    (`split` False) a real fall to $80."""
    rows = []
    for n, day in enumerate(weekdays(30)):
        wiggle = Decimal("0.10") * (n % 3)
        after = n >= SPLIT_SESSION
        level = (Decimal(50) if split else Decimal(80)) if after else Decimal(100)
        coef = "2" if split and n == SPLIT_SESSION else "1"
        rows.append(
            (day, [("SUB", str(50 + wiggle), "1", "0"), ("XYZ", str(level + wiggle), coef, "0")])
        )
    return write_prices(path, rows)


async def test_a_split_day_makes_no_fake_harvest(tmp_path: Path, sqlite_url: str) -> None:
    """XYZ halves by a 2:1 split: the 100 shares bought at $100 become 200 at $50, no loss:
    no harvest, and no loss realised from the split day on beyond the spread's cents."""
    prices = load_prices(_write(tmp_path / "prices.csv", split=True))

    result = await run_backtest(prices, HELD, with_index(), database_url=sqlite_url, index=PLAN)

    assert result.splits == 1
    assert result.harvests == 0
    assert result.series is not None
    losses = [s.harvested_loss for s in result.series.samples]
    assert losses[-1] - losses[SPLIT_SESSION - 1] < FAKE_LOSS


async def test_the_same_fall_without_a_split_is_harvested(tmp_path: Path, sqlite_url: str) -> None:
    """The control: a real 20 % fall of the same lot crosses the threshold and is harvested
    (by the substitutes: a two-name index may keep it for its tracking-error budget)."""
    prices = load_prices(_write(tmp_path / "prices.csv", split=False))
    settings = household(("XYZ", "SUB"))

    result = await run_backtest(prices, HELD, settings, database_url=sqlite_url, index=PLAN)

    assert result.harvests >= 1
    assert result.series is not None
    losses = [s.harvested_loss for s in result.series.samples]
    assert losses[-1] - losses[SPLIT_SESSION - 1] > FAKE_LOSS


class QuoteAtRebalance(InPlace):
    """The backtest's feed, noting the split name's quote (engine's and broker's) as each
    session's `index_rebalance` reaches the engine."""

    def __init__(self, engine: HarvestEngine) -> None:
        super().__init__(engine)
        self.bids: dict[date, tuple[float, float]] = {}

    async def send(self, event: Event) -> None:
        if isinstance(event, Scheduled) and event.hook == "index_rebalance":
            broker = self._engine.broker
            held = self._engine.quotes.get("XYZ")
            market = broker.quote("XYZ")  # type: ignore[attr-defined]
            if held is not None and market is not None:
                self.bids[event.day] = (held.bid, market.bid)
        await super().send(event)


async def test_before_its_bar_a_split_name_is_quoted_at_split_prices(
    tmp_path: Path, sqlite_url: str
) -> None:
    """At each rebalance (15:30, before the day's bar) the engine and the simulated market
    quote the last close; on the split day, over the ratio: session 9's close, $100.00 (bid
    less half the 10 bp spread: $99.95), is $49.97 at session 10's rebalance."""
    prices = load_prices(_write(tmp_path / "prices.csv", split=True))
    settings = household(("XYZ", "SUB"))
    days = weekdays(30)
    clock = SimulatedClock(session_start(HELD[0].trade_date))
    broker = sim_broker(settings, clock.now)
    daemon = await build_daemon(settings, broker, clock.now, database_url=sqlite_url)
    try:
        await daemon.engine.start()
        replay = PriceReplay(prices, daemon, broker, clock, holdings=HELD)
        feed = QuoteAtRebalance(daemon.engine)
        await replay.begin(days[0], feed)
        for day, rows in replay.sessions():
            await replay.play(day, rows, feed)
    finally:
        await daemon.close()

    assert feed.bids[days[SPLIT_SESSION - 1]] == (100.14, 100.14)  # session 8's $100.20
    assert feed.bids[days[SPLIT_SESSION]] == (49.97, 49.97)
