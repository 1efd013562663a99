"""Small hand-built backtest series for the metrics' and the report's tests."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from daemon.backtest_series import BacktestSeries, DaySample

SHORT_RATE = Decimal("0.40")
LONG_RATE = Decimal("0.20")


def series(*samples: DaySample, label: str = "direct index") -> BacktestSeries:
    """Return `samples` as a series valued at 40 % short-term and 20 % long-term."""
    return BacktestSeries(SHORT_RATE, LONG_RATE, list(samples), label)


def weekdays(start: date, count: int) -> list[date]:
    """Return the first `count` weekdays from `start` on."""
    out: list[date] = []
    day = start
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def two_years() -> BacktestSeries:
    """Two whole calendar years, 2020 and 2021, with a deposit, harvests, and realised gains.

    2020: starts with 1,000 invested; 200 deposited; net short-term −100, long-term +50;
    150 harvested. 2021: net long-term −100; 100 more harvested. Notional traded: 4,000.
    """
    return series(
        DaySample(date(2020, 1, 1), Decimal(1000), Decimal(1000), Decimal(1000)),
        DaySample(
            date(2020, 12, 31),
            Decimal(1300),
            Decimal(1200),
            Decimal(1200),
            harvested_loss=Decimal(150),
            realized_short=Decimal(-100),
            realized_long=Decimal(50),
            tracking_error_ex_ante=0.012,
            lots=40,
            traded=Decimal(2500),
            harvests=3,
        ),
        DaySample(
            date(2021, 12, 31),
            Decimal(1300),
            Decimal(1320),
            Decimal(1200),
            harvested_loss=Decimal(250),
            realized_short=Decimal(-100),
            realized_long=Decimal(-50),
            tracking_error_ex_ante=0.009,
            lots=55,
            traded=Decimal(4000),
            harvests=5,
        ),
    )


def walk(start: date = date(2019, 1, 2), days: int = 800, seed: int = 12) -> BacktestSeries:
    """Return a seeded random walk of a harvesting portfolio and its benchmark over `days`
    weekdays: monthly deposits, losses harvested in down days, ex-ante tracking error once
    the risk model has 60 days."""
    rng = random.Random(seed)
    value = bench = invested = Decimal(1_000_000)
    harvested = short = long = traded = Decimal(0)
    lots, harvests, out = 500, 0, []
    for n, day in enumerate(weekdays(start, days)):
        deposit = Decimal(10_000) if n and day.day <= 7 and day.weekday() == 0 else Decimal(0)
        market = Decimal(str(round(rng.gauss(0.0004, 0.012), 6)))
        own = market + Decimal(str(round(rng.gauss(0, 0.0006), 6)))
        invested += deposit
        value = (value * (1 + own) + deposit).quantize(Decimal("0.01"))
        bench = (bench * (1 + market) + deposit).quantize(Decimal("0.01"))
        if market < Decimal("-0.01"):
            loss = (value * -market / 4).quantize(Decimal("0.01"))
            harvested += loss
            short -= loss
            traded += 2 * loss * 10
            harvests += 1
            lots += 3
        if n % 250 == 200:
            long += Decimal(5_000)
        traded += deposit
        te = 0.006 + 0.002 * rng.random() if n >= 60 else None
        out.append(
            DaySample(
                day, value, bench, invested, harvested, short, long, te, lots, traded, harvests
            )
        )
    return BacktestSeries(SHORT_RATE, LONG_RATE, out, "direct index, equal weights")
