"""A household for the harvest decision's wash-guard specifications (`strategies.decision`).

"me" (taxable) holds 40 VTI bought at $200 two years ago; VTI is quoted at $180, a loss the
harvest thresholds take. "spouse" is another taxable account of the household, "ira" an IRA.
Substitutes VTI -> SCHB -> ITOT, all quoted; declared identical VTI ~ VTSAX, SCHB ~ SWTSX.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ledger.engine import Ledger
from ledger.identity import Identity
from ledger.model import AccountType, Action, Trade
from strategies.decision import Decision, Policy, Price, decide_positions
from strategies.harvest import HarvestParams
from strategies.recurring import Recurring, Schedule

TODAY = date(2026, 12, 7)
ME, SPOUSE, IRA = "me", "spouse", "ira"
SUBSTITUTES = (("VTI", "SCHB", "ITOT"),)
BIDS = {"VTI": "180", "SCHB": "50", "ITOT": "100", "VTSAX": "180", "SWTSX": "50"}


def household() -> Ledger:
    """Return the household's ledger with the old VTI lot in "me"."""
    ledger = Ledger(
        identity=Identity([["VTI", "VTSAX"], ["SCHB", "SWTSX"]]),
        account_types={ME: AccountType.TAXABLE, SPOUSE: AccountType.TAXABLE, IRA: AccountType.IRA},
    )
    ledger.apply(trade(ledger, TODAY - timedelta(days=730), ME, Action.BUY, "VTI", "40", "200"))
    return ledger


_seq = itertools.count(1)


def trade(
    ledger: Ledger, day: date, account: str, action: Action, symbol: str, qty: str, price: str
) -> Trade:
    """Return a trade to apply to `ledger` (numbered in order)."""
    return Trade(next(_seq), day, account, action, symbol, Decimal(qty), Decimal(price))


def plan(
    schedule: str,
    *,
    account: str = SPOUSE,
    symbol: str = "VTI",
    slack_days: int = 3,
    until: date | None = None,
) -> Recurring:
    """Return a declared recurring purchase, as `[[recurring]]` number 0."""
    return Recurring(
        account, symbol, Schedule.parse(schedule), slack_days, until, where="recurring[0]"
    )


def decide(
    ledger: Ledger,
    recurring: Sequence[Recurring] = (),
    *,
    today: date = TODAY,
    substitutes: Sequence[Sequence[str]] = SUBSTITUTES,
) -> Decision:
    """Return the decision about VTI in "me" (the one function the engine, previews and
    doctor share), at the household's quotes on `today`."""
    at = datetime(today.year, today.month, today.day, 16, tzinfo=UTC)
    prices = {s: Price(Decimal(b), Decimal(b) + Decimal("0.04"), at) for s, b in BIDS.items()}
    policy = Policy(
        params=HarvestParams(
            min_loss_pct=Decimal("0.05"),
            min_loss_usd=Decimal(100),
            short_term_rate=Decimal("0.24"),
            long_term_rate=Decimal("0.15"),
        ),
        specific_lots=True,
        substitutes=substitutes,
    )
    decisions = decide_positions(
        ledger,
        policy,
        method=ledger.lot_method(ME),
        prices=prices,
        today=today,
        recurring=recurring,
    )
    [decision] = [d for account, symbol, d in decisions if (account, symbol) == (ME, "VTI")]
    return decision
