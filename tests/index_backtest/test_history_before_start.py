"""A direct-index backtest started after the first session of its prices starts its risk
model from the sessions before the start, as the daemon would have kept them had it run then
(issue #12 §2: a shrunk covariance from daily returns, "never looking ahead in a backtest";
`daemon.backtest._keep_history`, `IndexManager.load_history`)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from adapters.prices.csvload import load_prices
from daemon.app import Daemon
from daemon.backtest import IndexBacktest, run_backtest
from daemon.index_settings import IndexSettings
from tests.index_backtest.kit import household, weekdays, write_prices

NAMES = ("A", "B", "C")
PLAN = IndexBacktest(cash=Decimal(30_000), weights=dict.fromkeys(NAMES, Decimal(1)))
SPLIT_SESSION = 25  # A splits 2:1 here, inside the history kept before the start
START_SESSION = 40
WINDOW = 20


def _close(name: int, n: int) -> Decimal:
    """A wavy price of its own for each name, within a few per cent of $100."""
    return Decimal(str(round(100 + 3 * math.sin(n * (0.7 + 0.4 * name)), 2)))


def _prices(tmp_path: Path, days: list[date]) -> Path:
    rows = []
    for n, day in enumerate(days):
        bars = []
        for k, name in enumerate(NAMES):
            close = _close(k, n)
            split = "1"
            if name == "A" and n >= SPLIT_SESSION:
                close /= 2
                split = "2" if n == SPLIT_SESSION else "1"
            bars.append((name, str(close), split, "0"))
        rows.append((day, bars))
    return write_prices(tmp_path / "prices.csv", rows)


async def test_the_first_session_has_the_risk_window_of_history_with_its_split(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Started on session 40 with a 20-session window: on its first day the risk model is
    estimated from the 20 returns before it (no prior model), and A's 2:1 split within them
    is a split, not a 50 % fall."""
    days = weekdays(60)
    prices = load_prices(_prices(tmp_path, days))
    index = IndexSettings(weights="equal", universe=NAMES, account="taxable")
    settings = household().model_copy(
        update={"index": index.model_copy(update={"risk_window_days": WINDOW})}
    )
    seen: dict[str, object] = {}

    def first_day(day: date, daemon: Daemon) -> None:
        if seen or daemon.index is None:
            return
        returns, _as_of = daemon.index.returns.matrix(NAMES)
        seen.update(day=day, risk=daemon.index.risk, returns=returns)

    await run_backtest(
        prices,
        [],
        settings,
        database_url=sqlite_url,
        start=days[START_SESSION],
        on_day=first_day,
        index=PLAN,
    )

    assert seen["day"] == days[START_SESSION]
    assert seen["risk"] is not None
    returns = seen["returns"]
    assert isinstance(returns, np.ndarray)
    assert returns.shape[0] >= WINDOW
    assert float(np.abs(returns).max()) < 0.1  # the split is no -50 % return


async def test_without_earlier_sessions_the_first_day_has_the_prior_model(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Started on the prices' first session there is no history to keep: the first day runs
    on the prior model (`daemon.index_manager.prior_model`), as a new daemon does."""
    days = weekdays(60)
    prices = load_prices(_prices(tmp_path, days))
    settings = household().model_copy(
        update={"index": IndexSettings(weights="equal", universe=NAMES, account="taxable")}
    )
    seen: dict[str, object] = {}

    def first_day(day: date, daemon: Daemon) -> None:
        if not seen and daemon.index is not None:
            seen.update(day=day, risk=daemon.index.risk)

    await run_backtest(prices, [], settings, database_url=sqlite_url, on_day=first_day, index=PLAN)

    assert seen == {"day": days[0], "risk": None}


async def test_the_index_is_bought_on_the_first_session_at_the_last_close_before_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The market before the first session's open stands at the last close before it
    (`PriceReplay.begin(last_close=True)`): the first session's rebalance, before its bars,
    buys every name that day, at about that close (within the replay's spread)."""
    days = weekdays(60)
    prices = load_prices(_prices(tmp_path, days))
    settings = household().model_copy(
        update={"index": IndexSettings(weights="equal", universe=NAMES, account="taxable")}
    )

    result = await run_backtest(
        prices, [], settings, database_url=sqlite_url, start=days[START_SESSION], index=PLAN
    )

    first = [t for t in result.daemon_trades if t.trade_date == days[START_SESSION]]
    assert sorted(t.symbol for t in first) == list(NAMES)
    for t in first:
        close = _close(NAMES.index(t.symbol), START_SESSION - 1)
        close = close / 2 if t.symbol == "A" else close
        assert abs(t.price / close - 1) < Decimal("0.002")


async def test_the_build_day_samples_the_tracking_error_of_the_index_bought(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The first session's ex-ante tracking error is that of the holdings its build put in
    place (`IndexManager.place`), not that of the cash it started from (an all-cash book
    tracks the index by the index's whole volatility)."""
    days = weekdays(60)
    prices = load_prices(_prices(tmp_path, days))
    settings = household().model_copy(
        update={"index": IndexSettings(weights="equal", universe=NAMES, account="taxable")}
    )

    result = await run_backtest(
        prices, [], settings, database_url=sqlite_url, start=days[START_SESSION], index=PLAN
    )

    assert result.series is not None
    first = result.series.samples[0]
    assert first.day == days[START_SESSION]
    assert first.tracking_error_ex_ante is not None
    assert first.tracking_error_ex_ante < 0.01


async def test_each_session_from_the_first_keeps_its_own_closes(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The last close before the start is quoted as of its own session, so the first
    session's closes are kept under its date: after the second session the window's last
    return is the second session's over the first, as the prices have it."""
    days = weekdays(60)
    prices = load_prices(_prices(tmp_path, days))
    index = IndexSettings(weights="equal", universe=NAMES, account="taxable")
    settings = household().model_copy(
        update={"index": index.model_copy(update={"risk_window_days": WINDOW})}
    )
    seen: dict[date, tuple[date | None, list[float]]] = {}

    def on_day(day: date, daemon: Daemon) -> None:
        assert daemon.index is not None
        returns, _as_of = daemon.index.returns.matrix(NAMES)
        seen[day] = (daemon.index.returns.last_day, [float(x) for x in returns[-1]])

    await run_backtest(
        prices,
        [],
        settings,
        database_url=sqlite_url,
        start=days[START_SESSION],
        end=days[START_SESSION + 2],
        on_day=on_day,
        index=PLAN,
    )

    last_day, last_returns = seen[days[START_SESSION + 2]]
    assert last_day == days[START_SESSION + 1]
    expected = [
        float(_close(k, START_SESSION + 1) / _close(k, START_SESSION)) - 1 for k in range(3)
    ]
    assert last_returns == pytest.approx(expected, abs=1e-9)
