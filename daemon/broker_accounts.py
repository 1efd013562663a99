"""Which accounts of the journal the running broker trades (issue #11 §3).

The journal holds the whole household: the broker's own account and outside accounts brought
in by `tlh import` or a Plaid sync (an IRA from OFX, a spouse's account). The daemon harvests,
orders and reconciles only the broker's; the others' purchases still reach the wash guard, as
trades of the ledger.

- A broker that reports one account (`adapters.base.AccountReports`: Alpaca, IBKR) trades
  that account and no other.
- The simulator has no account of its own (its book is the journal): it trades every account
  not recorded (`adapters.storage.records.Account`) as another broker's or source's. A first
  import records an account as the simulator's when `[sim] accounts` names it.

An imported account is recorded under its source (``import``, ``ofx``, ``plaid``) unless the
running broker trades it already (its own lots, imported to explain a transfer): that record
keeps its broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from adapters.base import AccountReports, Broker
from adapters.storage.records import Account


class BrokerAccounts:
    """Tell the running broker's accounts from the outside ones."""

    def __init__(
        self,
        broker: str,
        account: str | None,
        recorded: Iterable[Account],
        own: Iterable[str] = (),
    ) -> None:
        """Tell them for the broker named `broker` reporting `account` (None: the simulator,
        whose own accounts are those in the journal already and `own`, `[sim] accounts`)."""
        self.broker = broker
        self.account = account
        self.own = frozenset(own)
        self._recorded = {a.account: a for a in recorded}

    @classmethod
    def of(
        cls, broker: Broker, recorded: Iterable[Account], own: Iterable[str] = ()
    ) -> BrokerAccounts:
        """Tell them for the running `broker` (`own`: the simulator's declared accounts)."""
        account = broker.account if isinstance(broker, AccountReports) else None
        return cls(broker.name, account, recorded, own)

    def trades(self, account: str) -> bool:
        """Return whether the running broker trades `account`."""
        if self.account is not None:
            return account == self.account
        known = self._recorded.get(account)
        return known is None or known.broker == self.broker

    def to_record(self, account: Account, *, in_journal: bool) -> Account:
        """Return `account` as an import stores it: a recorded account keeps its broker and
        lot method; a new one is the running broker's when the broker trades it (for the
        simulator: it is in the journal already), else its source's."""
        known = self._recorded.get(account.account)
        if known is not None:
            return replace(account, broker=known.broker, lot_method=known.lot_method)
        if self.account is not None:
            own = account.account == self.account
        else:
            own = in_journal or account.account in self.own
        return replace(account, broker=self.broker) if own else account

    def note(self, account: Account) -> None:
        """Take `account` as recorded now."""
        self._recorded[account.account] = account

    def recorded(self) -> dict[str, Account]:
        """Return the recorded accounts by name."""
        return dict(self._recorded)
