"""Renderers of a `TaxReport`: JSON, Form 8949 CSV and TXF. Pure functions returning text.

The helpers here fix how every renderer writes money (to the cent, no thousands separators),
quantities (exact, never in exponent notation) and dates.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.model import SaleRow


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
