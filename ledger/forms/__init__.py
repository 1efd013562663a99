"""Renderers of a `TaxReport`: JSON, Form 8949 CSV and TXF. Pure functions returning text.

The helpers here fix how every renderer writes money (to the cent, no thousands separators),
quantities (exact, never in exponent notation) and dates, and which date the forms give as the
date acquired (`DateAcquired`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from ledger.model import SaleRow


class DateAcquired(StrEnum):
    """The date Form 8949 column (b) and the TXF give as "date acquired".

    ``holding_period`` (default): the start of the sold shares' holding period, which for
    replacement shares of a wash sale is tacked to the washed shares' (IRC §1223(3)); the date
    brokers report as acquired on Form 1099-B for such shares, and the date that agrees with the
    row's term (a sale within a year of it is short-term). ``purchase``: the day the shares were
    bought, which for tacked shares can make a long-term row look short.
    """

    HOLDING_PERIOD = "holding_period"
    PURCHASE = "purchase"


def date_acquired(sale: SaleRow, which: DateAcquired = DateAcquired.HOLDING_PERIOD) -> date:
    """Return the date acquired `which` names for `sale`."""
    return sale.holding_period_start if which is DateAcquired.HOLDING_PERIOD else sale.acquired


def money(amount: Decimal) -> str:
    """Return `amount` to the cent as plain text: ``1234.50``, ``-3.00``, never ``-0.00``."""
    if not amount:
        return "0.00"
    # Decimal's own formatting rounds half to even, as `ledger.money.cents` does.
    text = f"{amount:.2f}"
    return "0.00" if text == "-0.00" else text


def quantity(amount: Decimal) -> str:
    """Return a quantity exactly, without trailing zeros or exponent: ``10``, ``0.5``."""
    value = amount.normalize()
    if value == 0:
        value = abs(value)
    return f"{value:f}"


def mdy(day: date) -> str:
    """Return `day` as MM/DD/YYYY (Form 8949 and TXF dates)."""
    return f"{day.month:02d}/{day.day:02d}/{day.year:04d}"


def description(sale: SaleRow) -> str:
    """Return the Form 8949 column (a) description of a sale: quantity and symbol, ``10 VTI``."""
    return f"{quantity(sale.quantity)} {sale.symbol}"
