"""Which lots a sale relieves: the least tax per dollar first, within the broker's lot relief.

A parcel sold at `price` owes ``rate(term) x (price - basis per share) / price`` of tax per
dollar raised (negative for a loss: a saving). When the broker lets us name lots, a sale takes
them least tax per dollar first — so losses first, then the highest basis; long-term before
short-term at equal tax. Otherwise the broker relieves a prefix of its own order (FIFO at
Alpaca; `Holding.parcels` come in that order) and so does the plan. A name whose loss lots may
not be sold (`Lockouts.no_loss_sale`: bought within 30 days, household-wide) sells none of
them, and a rebalance sells no short-term gain lot of a name the index holds (the portfolio
drifts back after a harvest, never by realising a short-term gain: issue #12 §3): with named
lots such lots are skipped; in the broker's order the sale stops before the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter

from ledger.holding import term_of
from ledger.model import Parcel, Term

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TaxRates:
    """The rates a realised gain or loss is valued at (a loss saves tax at the same rate)."""

    short_term: Decimal
    long_term: Decimal

    def rate(self, term: Term) -> Decimal:
        """Return the rate of `term`."""
        return self.short_term if term is Term.SHORT else self.long_term


def basis_per_share(parcel: Parcel) -> Decimal:
    """Return the parcel's adjusted basis per share."""
    return parcel.adjusted_basis / parcel.quantity


def at_loss(parcel: Parcel, price: Decimal) -> bool:
    """Return whether selling `parcel` at `price` realises a loss."""
    return parcel.adjusted_basis > parcel.quantity * price


def tax_per_dollar(parcel: Parcel, price: Decimal, today: date, rates: TaxRates) -> Decimal:
    """Return the tax owed per dollar raised by selling `parcel` at `price` today."""
    rate = rates.rate(term_of(parcel.holding_period_start, today))
    return _tax_per_dollar(rate, basis_per_share(parcel), price)


def _tax_per_dollar(rate: Decimal, basis_per_share: Decimal, price: Decimal) -> Decimal:
    return rate * (price - basis_per_share) / price


def sale_order(
    parcels: Iterable[Parcel], price: Decimal, today: date, rates: TaxRates, specific_lots: bool
) -> list[Parcel]:
    """Return the order a sale relieves `parcels` (given in the broker's relief order) in."""
    return [p for p, _, _ in _priced_order(parcels, price, today, rates, specific_lots)]


def _priced_order(
    parcels: Iterable[Parcel], price: Decimal, today: date, rates: TaxRates, specific_lots: bool
) -> list[tuple[Parcel, Decimal, Term]]:
    """Return `sale_order`'s parcels, each with its tax per dollar (`tax_per_dollar`) and
    term."""
    terms: dict[date, Term] = {}
    keyed = []
    for p in parcels:
        if p.quantity <= ZERO:
            continue
        start = p.holding_period_start
        term = terms.get(start)
        if term is None:
            term = terms[start] = term_of(start, today)
        basis = basis_per_share(p)
        tax = _tax_per_dollar(rates.rate(term), basis, price)
        keyed.append(((tax, 0 if term is Term.LONG else 1, -basis), p, term))
    if specific_lots:
        keyed.sort(key=itemgetter(0))  # stable: equals keep the broker's order
    return [(p, key[0], term) for key, p, term in keyed]


def sellable(
    parcels: Iterable[Parcel],
    price: Decimal,
    today: date,
    rates: TaxRates,
    *,
    specific_lots: bool,
    loss_locked: bool,
    short_gains: bool = True,
) -> list[tuple[Parcel, Decimal]]:
    """Return the parcels a sale may relieve, in the order it relieves them, each with its tax
    per dollar (`tax_per_dollar`): without the loss lots when `loss_locked`, without the
    short-term gain lots unless `short_gains`."""
    allowed: list[tuple[Parcel, Decimal]] = []
    for p, tax, term in _priced_order(parcels, price, today, rates, specific_lots):
        if (loss_locked and at_loss(p, price)) or (
            not short_gains and term is Term.SHORT and p.adjusted_basis < p.quantity * price
        ):
            if specific_lots:
                continue
            break  # the broker relieves this lot before the rest
        allowed.append((p, tax))
    return allowed


@dataclass(frozen=True, slots=True)
class Relief:
    """The part of one parcel a sale relieves."""

    parcel: Parcel
    quantity: Decimal

    def tax(self, price: Decimal, today: date, rates: TaxRates) -> Decimal:
        """Return the tax this part of the sale owes at `price` (negative: a saving)."""
        basis = self.parcel.adjusted_basis * self.quantity / self.parcel.quantity
        rate = rates.rate(term_of(self.parcel.holding_period_start, today))
        return rate * (self.quantity * price - basis)


ROUNDING_SLACK = Decimal("1e-12")
"""Shares a sale may fall short of its quantity by rounding alone (the finest share a broker
trades is 1e-9)."""


def relieve(ordered: Sequence[Parcel], quantity: Decimal) -> list[Relief]:
    """Return the reliefs of selling `quantity` shares from `ordered` parcels, in order.

    Raise `ValueError` when the parcels hold fewer shares.
    """
    left = quantity
    out: list[Relief] = []
    for p in ordered:
        if left <= ZERO:
            break
        take = min(left, p.quantity)
        out.append(Relief(p, take))
        left -= take
    # Parcels split by wash sales and odd split ratios carry 28 significant digits: a sum and
    # its parts may then differ in the last digit, far below any share a broker trades.
    if left > ROUNDING_SLACK:
        raise ValueError(f"cannot sell {quantity} shares: the sellable lots hold {quantity - left}")
    return out


def lot_ids(reliefs: Iterable[Relief]) -> tuple[str, ...]:
    """Return the lot ids of `reliefs`, in order, each once."""
    return tuple(dict.fromkeys(r.parcel.lot_id for r in reliefs))
