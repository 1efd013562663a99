"""Small builders that keep ledger tests readable."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from ledger.conventions import LotMethod, WashSaleConventions
from ledger.engine import Ledger
from ledger.identity import Identity
from ledger.model import AccountType, Action, SaleRow, Split, Trade

_seq = itertools.count(1)


def buy(
    day: str,
    symbol: str,
    qty: str,
    price: str,
    *,
    account: str = "brokerage",
    lot: str | None = None,
    fees: str = "0",
) -> Trade:
    """Return a BUY on `day` (YYYY-MM-DD)."""
    return Trade(
        next(_seq),
        date.fromisoformat(day),
        account,
        Action.BUY,
        symbol,
        Decimal(qty),
        Decimal(price),
        Decimal(fees),
        lot,
    )


def sell(
    day: str,
    symbol: str,
    qty: str,
    price: str,
    *,
    account: str = "brokerage",
    lot: str | None = None,
    fees: str = "0",
) -> Trade:
    """Return a SELL on `day` (YYYY-MM-DD)."""
    return Trade(
        next(_seq),
        date.fromisoformat(day),
        account,
        Action.SELL,
        symbol,
        Decimal(qty),
        Decimal(price),
        Decimal(fees),
        lot,
    )


def split(day: str, symbol: str, ratio: str) -> Split:
    """Return a stock split of `ratio` new shares per old share."""
    return Split(next(_seq), date.fromisoformat(day), symbol, Decimal(ratio))


def run(
    *events: Trade | Split,
    identical: list[list[str]] | None = None,
    accounts: dict[str, AccountType] | None = None,
    methods: dict[str, LotMethod] | None = None,
    conventions: WashSaleConventions | None = None,
) -> Ledger:
    """Apply `events` to a fresh ledger and return it."""
    ledger = Ledger(
        identity=Identity(identical or []),
        conventions=conventions,
        account_types=accounts,
        lot_methods=methods,
    )
    ledger.apply_all(events)
    return ledger


def total(rows: list[SaleRow], attr: str) -> Decimal:
    """Sum one Decimal attribute over sale rows."""
    return sum((getattr(r, attr) for r in rows), Decimal(0))


def D(text: str) -> Decimal:
    """Return Decimal(text)."""
    return Decimal(text)
