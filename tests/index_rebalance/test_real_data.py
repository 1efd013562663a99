"""Building the S&P set's equal-weight index from cash on a real day (issue 12 §8: real data
slices from ../shared/data, skipped with a reason when absent)."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rebalancekit import book, risk, target, weights_after

from ledger.model import Action
from strategies.index.rebalance import RebalanceParams, plan_rebalance

SET = Path(__file__).resolve().parents[3] / "shared" / "data" / "prices" / "sp500_1999_2021"
DAY = date(2008, 12, 31)


def closes(day: date) -> dict[str, Decimal]:
    """Return each symbol's raw close on `day` (symbols not trading that day left out)."""
    wanted = day.isoformat()
    out = {}
    for path in sorted((SET / "daily_adjusted").glob("DA-*-T-2021-04-21.csv.gz")):
        with gzip.open(path, "rt", newline="") as f:
            for row in csv.DictReader(f):
                if row["timestamp"] == wanted:
                    out[path.name.split("-T-")[0][3:]] = Decimal(row["close"])
                    break
                if row["timestamp"] > wanted:
                    break
    return out


def sectors() -> dict[str, str]:
    """Return the constituents list's sectors."""
    with gzip.open(SET / "constituents.csv.gz", "rt", newline="") as f:
        return {row["Symbol"]: row["Sector"] for row in csv.DictReader(f)}


def test_building_the_sp500_set_from_cash_in_whole_shares_hits_the_weights() -> None:
    """§5 and §8: $1 M into every name of the S&P set priced on 2008-12-31, equal weights,
    whole shares: each name within its band, sectors within theirs, less than the cheapest
    share's price left above the buffer."""
    if not SET.exists():
        pytest.skip(f"shared price data not present: {SET}")
    prices = closes(DAY)
    assert len(prices) > 400
    goal = target(dict.fromkeys(prices, 1), sectors())
    b = book(1_000_000, [], prices)
    params = RebalanceParams(fractional=False)

    plan = plan_rebalance(b, goal, risk(prices), params)

    assert all(t.side is Action.BUY and t.quantity % 1 == 0 for t in plan.trades)
    after = weights_after(b, plan.trades)
    assert all(
        abs(after.get(s, 0.0) - float(w)) <= params.name_band for s, w in goal.weights.items()
    )
    by_sector: dict[str, float] = {}
    for s, w in goal.weights.items():
        sec = goal.sector(s)
        by_sector[sec] = by_sector.get(sec, 0.0) + after.get(s, 0.0) - float(w)
    assert all(abs(gap) <= params.sector_band for gap in by_sector.values())
    residual = plan.cash_after - params.cash_buffer * b.value
    assert Decimal(0) <= residual < min(prices.values())
    assert plan.tracking_error_after <= params.max_tracking_error
