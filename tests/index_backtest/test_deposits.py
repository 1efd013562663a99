"""Money in (issue #12 §6: "`--cash USD [--deposits USD/month]` starts from cash"): the start
cash on the first session, each deposit on the first session of each later month, into the
simulator's cash, and one day sample per session."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from adapters.prices.csvload import load_prices
from daemon.backtest import IndexBacktest, deposit_days, run_backtest
from daemon.backtest_benchmark import buy_and_hold
from tests.index_backtest.kit import household, weekdays, write_prices

PLAN = IndexBacktest(
    cash=Decimal(10_000),
    weights={"A": Decimal(1), "B": Decimal(1)},
    deposits_per_month=Decimal(500),
)


def test_deposits_fall_on_the_first_session_of_each_later_month() -> None:
    """The start on the first session (Jan 30); Feb 1 and Mar 1 (Feb 29 is no new month)."""
    sessions = [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 29)]
    sessions += [date(2024, 3, 1), date(2024, 3, 4)]

    assert deposit_days(sessions, PLAN) == {
        date(2024, 1, 30): Decimal(10_000),
        date(2024, 2, 1): Decimal(500),
        date(2024, 3, 1): Decimal(500),
    }


async def test_a_backtest_from_cash_samples_every_session(tmp_path: Path, sqlite_url: str) -> None:
    """Over 2024-01-29..2024-03-08, with no `[index]` to invest it the money stays in the
    simulator's cash: each sample's value is the money put in so far, which steps up on Feb 1
    and Mar 1; the benchmark is the same money bought and held."""
    days = weekdays(30, date(2024, 1, 29))
    path = write_prices(
        tmp_path / "prices.csv",
        [(d, [("A", str(100 + n), "1", "0"), ("B", "50", "1", "0")]) for n, d in enumerate(days)],
    )
    prices = load_prices(path)

    result = await run_backtest(prices, [], household(), database_url=sqlite_url, index=PLAN)

    assert result.series is not None
    samples = result.series.samples
    assert [s.day for s in samples] == days
    invested = {s.day: s.invested for s in samples}
    assert invested[date(2024, 1, 31)] == Decimal(10_000)
    assert invested[date(2024, 2, 1)] == Decimal(10_500)
    assert invested[date(2024, 2, 29)] == Decimal(10_500)
    assert invested[date(2024, 3, 1)] == Decimal(11_000)
    assert all(s.value == s.invested for s in samples)
    bench = buy_and_hold(prices, weights=PLAN.weights, cash_in=deposit_days(days, PLAN))
    assert [s.benchmark_value for s in samples] == [b.value for b in bench]
    assert result.trades == 0
