"""Tiny hand-written price files for the index backtests (long format, with split and
dividend columns), and the settings of a household with one taxable account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from daemon.settings import Settings, SubstituteGroup

HEADER = "date,symbol,open,high,low,close,split_coefficient,dividend_amount"

Bar = tuple[str, str, str, str]  # symbol, close, split coefficient, dividend per share


def write_prices(path: Path, days: Sequence[tuple[date, Sequence[Bar]]]) -> Path:
    """Write a long-format price file (open = high = low = close) of `days`."""
    lines = [HEADER]
    for day, bars in days:
        for symbol, close, split, dividend in bars:
            lines.append(f"{day},{symbol},{close},{close},{close},{close},{split},{dividend}")
    path.write_text("\n".join(lines) + "\n")
    return path


def household(*groups: Sequence[str]) -> Settings:
    """Return one taxable account and the substitute `groups`."""
    return Settings(
        accounts={"taxable": "taxable"},
        substitutes=tuple(SubstituteGroup(symbols=tuple(g)) for g in groups),
    )


def weekdays(n: int, start: date = date(2024, 1, 2)) -> list[date]:
    """Return the first `n` weekdays from `start` (the sessions of the tiny price files)."""
    days, day = [], start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days
