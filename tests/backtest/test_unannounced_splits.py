"""A price drop that looks like a split is never harvested before the split calendar answers.

Issue #13 A.3: "A 4:1 split in raw prices without a split column (or with it a day late, or
written "4:1") produced fake harvests; real AAPL 2020 without its split column made three
harvests and a $5,056 fake loss. A drop whose ratio is near a split ratio (2, 3, 3/2, 4, 5, 7,
8, 10, and reverse) is never harvested until the split calendar for that day has been consulted
(the price file's split column in backtests; the broker's corporate actions live) -- hold the
symbol, log why." The calendar is the broker capability `adapters.base.SplitCalendar`; the
backtest's simulated broker answers it from the price file's split column.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.prices.csvload import load_prices
from adapters.sim.broker import SimBroker
from daemon.app import build_daemon
from daemon.backtest import run_backtest
from daemon.events import Quote
from daemon.settings import Settings, SubstituteGroup
from ledger.model import Action, Trade
from tests.backtest.barkit import HOLDINGS, Row, backtest, flat, settings, write_prices

AAPL_MSFT_2020 = Path(__file__).with_name("data") / "aapl_msft_2020.csv"  # see data/README.md
DROP = 20  # the session the price falls on

FOUR_HUNDRED = [
    Trade(1, date(2023, 12, 1), "taxable", Action.BUY, "XYZ", Decimal(10), Decimal(400)),
]


def four_to_one(n: int) -> list[Row]:
    """XYZ near $400, then near $100 from session DROP: a 4:1 split in raw prices."""
    level = Decimal(400) if n < DROP else Decimal(100)
    return [flat("SUB", Decimal(50), n), flat("XYZ", level, n)]


def halved(n: int) -> list[Row]:
    """XYZ near $100, then near $50 from session DROP: a fall of half, split-like (2:1)."""
    level = Decimal(100) if n < DROP else Decimal(50)
    return [flat("SUB", Decimal(50), n), flat("XYZ", level, n)]


async def test_a_4_to_1_split_without_a_split_column_is_never_harvested(
    tmp_path: Path, sqlite_url: str
) -> None:
    """No split column: the calendar cannot tell, so the symbol stays held and is named."""
    path = write_prices(tmp_path / "p.csv", four_to_one)
    result = await backtest(path, sqlite_url, FOUR_HUNDRED)
    assert result.harvests == 0
    assert result.split_holds == ["XYZ"]
    assert any("XYZ" in w and "split" in w for w in result.warnings)


async def test_a_4_to_1_split_written_4_colon_1_a_day_late_is_applied_not_harvested(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The split column names the split one session after the prices moved, written "4:1":
    the drop is held until the split is applied, then the position is 40 shares at $100."""
    path = write_prices(tmp_path / "p.csv", four_to_one, splits={(DROP + 1, "XYZ"): "4:1"})
    result = await backtest(path, sqlite_url, FOUR_HUNDRED)
    assert result.harvests == 0
    assert result.splits == 1
    assert result.split_holds == []


async def test_a_split_like_fall_the_calendar_denies_is_a_real_loss(
    tmp_path: Path, sqlite_url: str
) -> None:
    """With a split column that shows no split near the fall, the fall is real: harvested."""
    path = write_prices(tmp_path / "p.csv", halved, splits={})
    result = await backtest(path, sqlite_url)
    assert result.harvests == 1
    assert result.split_holds == []


async def test_a_split_like_fall_without_a_calendar_is_held(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The same fall with no split column: nobody can tell it from a 2:1 split, so it is held."""
    path = write_prices(tmp_path / "p.csv", halved)
    result = await backtest(path, sqlite_url)
    assert result.harvests == 0
    assert result.split_holds == ["XYZ"]


def _aapl_msft_2020_without_split_column(out: Path) -> Path:
    """Write AAPL and MSFT of 2020 (raw prices, tests/backtest/data) with no split column."""
    with AAPL_MSFT_2020.open(newline="") as src, out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "symbol", "open", "high", "low", "close", "volume"])
        for r in csv.DictReader(src):
            cols = ("open", "high", "low", "close", "volume")
            w.writerow([r["timestamp"], r["symbol"], *(r[c] for c in cols)])
    return out


async def test_real_aapl_2020_without_its_split_column_makes_no_fake_loss(
    tmp_path: Path, sqlite_url: str
) -> None:
    """AAPL split 4:1 on 2020-08-31 (tests/backtest/data/README.md): 499.23 on 08-28, 129.04
    on 08-31. A lot
    bought 2020-06-01 at 321.85 only gained in 2020, so any harvest is the fake loss."""
    path = _aapl_msft_2020_without_split_column(tmp_path / "aapl.csv")
    lots = [
        Trade(1, date(2020, 6, 1), "taxable", Action.BUY, "AAPL", Decimal(100), Decimal("321.85"))
    ]
    household = Settings(
        accounts={"taxable": "taxable"},
        substitutes=(SubstituteGroup(symbols=("AAPL", "MSFT")),),
    )
    result = await run_backtest(load_prices(path), lots, household, database_url=sqlite_url)
    assert result.harvests == 0
    assert result.harvested_loss == 0
    assert result.split_holds == ["AAPL"]


@pytest.mark.parametrize(("level", "harvests"), [(50.0, 0), (80.0, 1)], ids=["halved", "-20%"])
async def test_live_without_a_split_calendar_a_split_like_fall_holds_the_symbol(
    sqlite_url: str, level: float, harvests: int
) -> None:
    """A broker without a split calendar (the simulator of `tlh run`, Alpaca today) cannot
    tell a halving from a 2:1 split: the symbol is held however long the price stays; a 20 %
    fall is no split ratio and is harvested once confirmed."""
    start = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
    clock = {"now": start}
    broker = SimBroker(lambda: clock["now"])
    daemon = await build_daemon(settings(), broker, lambda: clock["now"], database_url=sqlite_url)
    try:
        await daemon.engine.start()
        await daemon.engine.import_trades(HOLDINGS, source="test")
        broker.set_position("taxable", "XYZ", Decimal(100))
        for k in range(40):
            clock["now"] = start + timedelta(seconds=k)
            bid = 100.0 if k < 10 else level + (k % 3) * 0.01
            for quote in (
                Quote("XYZ", bid, bid + 0.02, clock["now"]),
                Quote("SUB", 50.0, 50.02, clock["now"]),
            ):
                broker.set_quote(quote)
                await daemon.engine.handle(quote)
            await daemon.engine.drain()
        assert daemon.engine.stats.harvests == harvests
        assert ("XYZ" in daemon.engine.split_holds) is (harvests == 0)
    finally:
        await daemon.close()
