"""The wash-sale guard: the daemon must never create a wash sale itself.

Both directions, household-wide (IRC §1091(a), 30 days either side):

* no harvest of shares the ledger's own matching would wash: replacement shares bought in the
  prior 30 days and still held, in any account (IRA buys and dividend reinvestments included:
  they are purchases in the journal), never the sold lot's own purchase (convention 2); nor
  while a buy of anything substantially identical is pending;
* no buy of anything substantially identical to a security sold at a loss in the last 30 days,
  or whose loss sale is pending;
* no harvest of anything substantially identical to a declared recurring purchase (`[[recurring]]`:
  dividend reinvestment, an automatic investment plan) expected within 30 days either side of
  today and not in the journal (`strategies.recurring.planned_buy`).

The guard asks the ledger through callables (`for_ledger` wires them), so it stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.engine import Ledger
from ledger.identity import Identity
from ledger.model import Parcel
from strategies.recurring import LastBought, Recurring, planned_buy

LastDate = Callable[[str], date | None]
AtLoss = Callable[[Parcel], bool]
Replacements = Callable[[Sequence[Parcel], date, AtLoss], Sequence[Parcel]]


@dataclass(frozen=True, slots=True)
class WashGuard:
    """Decide whether a harvest sale or a purchase would create a wash sale."""

    identity: Identity
    replacements: Replacements
    last_loss_sale: LastDate
    applies: Callable[[str], bool]
    window_days: int = 30
    recurring: Sequence[Recurring] = ()
    last_bought: LastBought = lambda account, symbol: None

    @classmethod
    def for_ledger(
        cls, ledger: Callable[[], Ledger], recurring: Sequence[Recurring] = ()
    ) -> WashGuard:
        """Return the guard over the ledger `ledger()` returns (the current one) and the
        declared recurring purchases."""
        return cls(
            identity=ledger().identity,
            replacements=lambda parcels, day, at_loss: ledger().wash_replacements(
                parcels, day, at_loss
            ),
            last_loss_sale=lambda s: ledger().last_loss_sale(s),
            applies=lambda s: ledger().wash_sales_apply(s),
            window_days=ledger().conventions.window_days,
            recurring=tuple(recurring),
            last_bought=lambda account, s: ledger().last_purchase_in(account, s),
        )

    def harvest_blocked(
        self,
        parcels: Sequence[Parcel],
        today: date,
        pending_buys: Collection[str] = (),
        at_loss: AtLoss = lambda p: True,
    ) -> str | None:
        """Return why selling `parcels` (in relief order; `at_loss` says which at a loss)
        today would be washed, or None."""
        if not parcels or not self.applies(parcels[0].symbol):
            return None
        symbol = parcels[0].symbol
        found = self.replacements(parcels, today, at_loss)
        if found:
            lots = ", ".join(f"{p.lot_id} in {p.account} bought {p.acquired}" for p in found[:3])
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            return (
                f"identical shares bought within {self.window_days} days would replace the "
                f"sold ones: {lots}{more}"
            )
        for pending in sorted(pending_buys):
            if self.identity.identical(pending, symbol):
                return f"a buy of {pending} is pending"
        plans = (r for r in self.recurring if self.identity.identical(r.symbol, symbol))
        planned = planned_buy(plans, today, self.window_days, self.last_bought)
        return planned.describe(today, self.window_days) if planned is not None else None

    def buy_blocked(
        self, symbol: str, today: date, pending_loss_sales: Collection[str] = ()
    ) -> str | None:
        """Return why buying `symbol` today would wash a recent loss, or None."""
        if not self.applies(symbol):
            return None
        sold = self.last_loss_sale(symbol)
        if sold is not None and today - sold <= timedelta(days=self.window_days):
            return f"identical security sold at a loss on {sold} (within {self.window_days} days)"
        for pending in sorted(pending_loss_sales):
            if self.identity.identical(pending, symbol):
                return f"a loss sale of {pending} is pending"
        return None

    def choose_replacement(
        self,
        symbol: str,
        substitutes: Sequence[Sequence[str]],
        today: date,
        pending_loss_sales: Collection[str] = (),
        *,
        priced: Callable[[str], bool] = lambda s: True,
        exclude: Collection[str] = (),
    ) -> tuple[str | None, list[str]]:
        """Return the first allowed and `priced` member of `symbol`'s substitutes group, and
        the refusals.

        Members substantially identical to `symbol`, and those in `exclude`, are never
        replacements.
        """
        refusals: list[str] = []
        for group in substitutes:
            if symbol not in group:
                continue
            for candidate in group:
                if candidate in exclude or self.identity.identical(candidate, symbol):
                    continue
                reason = self.buy_blocked(candidate, today, {*pending_loss_sales, symbol})
                if reason is None and not priced(candidate):
                    reason = "no fresh quote"
                if reason is None:
                    return candidate, refusals
                refusals.append(f"{candidate}: {reason}")
        return None, refusals
