"""The wash-sale guard: the daemon must never create a wash sale itself.

Both directions, household-wide, from the ledger (IRC §1091(a), 30 days either side):

* no harvest of a lot while anything substantially identical was bought in the prior 30 days
  in any account (IRA buys and dividend reinvestments included: they are purchases in the
  journal) or a buy of it is pending;
* no buy of anything substantially identical to a security sold at a loss in the last 30 days,
  or whose loss sale is pending.

The guard reads two facts per identical group, the last purchase date and the last loss-sale
date, through callables, so it stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.identity import Identity

LastDate = Callable[[str], date | None]


@dataclass(frozen=True, slots=True)
class WashGuard:
    """Decide whether a harvest sale or a purchase would create a wash sale."""

    identity: Identity
    last_purchase: LastDate
    last_loss_sale: LastDate
    applies: Callable[[str], bool]
    window_days: int = 30

    def harvest_blocked(
        self, symbol: str, today: date, pending_buys: Collection[str] = ()
    ) -> str | None:
        """Return why selling `symbol` at a loss today would be washed, or None."""
        if not self.applies(symbol):
            return None
        bought = self.last_purchase(symbol)
        if bought is not None and today - bought <= timedelta(days=self.window_days):
            return f"identical security bought on {bought} (within {self.window_days} days)"
        for pending in pending_buys:
            if self.identity.identical(pending, symbol):
                return f"a buy of {pending} is pending"
        return None

    def buy_blocked(
        self, symbol: str, today: date, pending_loss_sales: Collection[str] = ()
    ) -> str | None:
        """Return why buying `symbol` today would wash a recent loss, or None."""
        if not self.applies(symbol):
            return None
        sold = self.last_loss_sale(symbol)
        if sold is not None and today - sold <= timedelta(days=self.window_days):
            return f"identical security sold at a loss on {sold} (within {self.window_days} days)"
        for pending in pending_loss_sales:
            if self.identity.identical(pending, symbol):
                return f"a loss sale of {pending} is pending"
        return None

    def choose_replacement(
        self,
        symbol: str,
        substitutes: Sequence[Sequence[str]],
        today: date,
        pending_loss_sales: Collection[str] = (),
    ) -> tuple[str | None, list[str]]:
        """Return the first allowed member of `symbol`'s substitutes group, and the refusals.

        Members substantially identical to `symbol` are never replacements.
        """
        refusals: list[str] = []
        for group in substitutes:
            if symbol not in group:
                continue
            for candidate in group:
                if self.identity.identical(candidate, symbol):
                    continue
                reason = self.buy_blocked(candidate, today, {*pending_loss_sales, symbol})
                if reason is None:
                    return candidate, refusals
                refusals.append(f"{candidate}: {reason}")
        return None, refusals
