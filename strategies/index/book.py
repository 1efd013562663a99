"""The portfolio as the optimiser sees it: holdings with their lots, prices, cash, lockouts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter

from ledger.identity import Identity
from ledger.model import Parcel

_QUANTITY = attrgetter("quantity")


@dataclass(frozen=True, slots=True)
class Holding:
    """One held name: its parcels in the broker's relief order (`decision.relief_order`).

    A holding is a snapshot of the ledger's parcels: read while the ledger has not changed
    since (the quantity is summed once).
    """

    symbol: str
    parcels: Sequence[Parcel]
    _quantity: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def quantity(self) -> Decimal:
        """Return the shares held."""
        quantity = self._quantity
        if quantity is None:
            quantity = sum(map(_QUANTITY, self.parcels), Decimal(0))
            object.__setattr__(self, "_quantity", quantity)
        return quantity


@dataclass(frozen=True, slots=True)
class Lockouts:
    """The wash-sale lockouts, household-wide (Rev. Rul. 2008-5): names that may not be bought
    (sold at a loss within 30 days, or a loss sale pending) and names whose loss lots may not
    be sold (bought within 30 days, in any account, or a buy pending); each with its reason."""

    no_buy: Mapping[str, str] = field(default_factory=dict)
    no_loss_sale: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Book:
    """The account's holdings, the prices to trade at, and the cash, on `today`.

    `prices` holds a price for every held and every target name that may be traded (a name
    without a price is neither bought nor sold); `cash` is what may be spent before the buffer.
    `identity` says which names are substantially identical (share classes such as GOOG and
    GOOGL, `[[identical]]`): a plan never sells one at a loss and buys another.
    """

    account: str
    today: date
    cash: Decimal
    holdings: Mapping[str, Holding]
    prices: Mapping[str, Decimal]
    lockouts: Lockouts = Lockouts()
    identity: Identity = field(default_factory=Identity)
    _value: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def value(self) -> Decimal:
        """Return the priced holdings' value plus the cash (summed once)."""
        value = self._value
        if value is None:
            value = self.cash + sum(
                (h.quantity * self.prices[s] for s, h in self.holdings.items() if s in self.prices),
                Decimal(0),
            )
            object.__setattr__(self, "_value", value)
        return value
