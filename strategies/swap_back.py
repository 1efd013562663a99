"""Swap back: after the wash-sale window, return from the replacement to the original.

Optional (`harvest.swap_back`). A replacement bought by a harvest may be sold and the harvested
security bought back once more than 30 days have passed since the loss sale (IRC §1091(a):
buying it back any earlier would wash the harvested loss). It never happens when selling the
replacement would realize a net short-term gain above `max_short_term_gain`, since that would
give back part of the harvest at the highest rate. A sale of the replacement at a loss must
pass the wash guard a harvest passes (`WashGuard.harvest_blocked`: identical shares bought in
the last 30 days in any account, a pending buy, a declared recurring purchase expected): the
daemon never creates a wash sale itself.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger.holding import term_of
from ledger.model import Parcel, Term
from strategies.wash_guard import WashGuard

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SwapBackDecision:
    """Whether to swap back now, and why (or why not)."""

    go: bool
    reason: str
    short_term_gain: Decimal = ZERO


def window_over(loss_sale_day: date, today: date, window_days: int = 30) -> bool:
    """Return whether buying the harvested security back today can no longer wash its loss."""
    return (today - loss_sale_day).days > window_days


def short_term_gain(parcels: Sequence[Parcel], bid: Decimal, today: date) -> Decimal:
    """Return the net short-term gain of selling `parcels` at `bid` today (losses offset)."""
    total = ZERO
    for p in parcels:
        if term_of(p.holding_period_start, today) is Term.SHORT:
            total += p.quantity * bid - p.adjusted_basis
    return total


def decide_swap_back(
    parcels: Sequence[Parcel],
    *,
    bid: Decimal,
    loss_sale_day: date,
    today: date,
    max_short_term_gain: Decimal,
    guard: WashGuard,
    pending_buys: Collection[str] = (),
    window_days: int = 30,
) -> SwapBackDecision:
    """Decide whether to sell the replacement `parcels` (in relief order) and buy the original
    back today; a sale at a loss only if `guard` allows it as a harvest (`pending_buys`: the
    symbols of buys in flight)."""
    if not parcels:
        return SwapBackDecision(False, "replacement no longer held")
    if not window_over(loss_sale_day, today, window_days):
        return SwapBackDecision(
            False, f"wash-sale window open until {window_days} days after {loss_sale_day}"
        )
    gain = short_term_gain(parcels, bid, today)
    if gain > max_short_term_gain:
        return SwapBackDecision(
            False,
            f"would realize a short-term gain of {gain:.2f} (limit {max_short_term_gain})",
            gain,
        )

    def at_loss(p: Parcel) -> bool:
        return p.adjusted_basis > p.quantity * bid

    if any(map(at_loss, parcels)):
        blocked = guard.harvest_blocked(parcels, today, pending_buys, at_loss)
        if blocked is not None:
            return SwapBackDecision(False, f"wash_guard: {blocked}", gain)
    return SwapBackDecision(True, "window over", gain)
