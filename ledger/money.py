"""Rounding and pro-rata allocation of money, exact to the cent and conserving totals."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    """Round `amount` to the cent, half to even (banker's rounding)."""
    return amount.quantize(CENT, ROUND_HALF_EVEN)


def share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """Return the part of `total` that `part` of `whole` units carries, to the cent.

    When `part` is all of `whole` the whole `total` is returned unrounded, so that allocating
    successive parts and keeping the remainder conserves the total exactly; so is a zero
    `total`, whose every part is zero.
    """
    if part == whole or not total:
        return total
    return (total * part / whole).quantize(CENT, ROUND_HALF_EVEN)
