"""Holding periods: long or short term, and the start a replacement inherits."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from ledger.conventions import HoldingPeriodMethod
from ledger.model import Term


@lru_cache(maxsize=8192)
def anniversary(start: date) -> date:
    """Return the date one year after `start` (Feb 29 maps to Feb 28)."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


def term_of(holding_period_start: date, date_sold: date) -> Term:
    """Return long term when sold more than one year after the holding period's start.

    Pub 550, Holding Period: the period starts the day after acquisition and includes the day of
    disposal, so a sale on the anniversary date is still short term.
    """
    return Term.LONG if date_sold > anniversary(holding_period_start) else Term.SHORT


def tacked_start(
    method: HoldingPeriodMethod,
    *,
    sold_start: date,
    date_sold: date,
    replacement_start: date,
    replacement_acquired: date,
) -> date:
    """Return the replacement's holding-period start after a wash sale (IRC §1223(3)).

    The replacement keeps at least the days it was held itself.
    """
    if method is HoldingPeriodMethod.TACK:
        days_held = (date_sold - sold_start).days
        candidate = replacement_acquired - timedelta(days=max(days_held, 0))
    else:
        candidate = sold_start
    return min(candidate, replacement_start)
