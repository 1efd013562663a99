"""Small books, targets and risk models for the rebalance specifications.

TODAY is a Monday; "old" lots were bought two years before (long term), "fresh" ones ten days
before (inside the 30-day wash window). The risk model is one market factor (16 % a year) plus
25 % specific risk per name, built directly from its arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from ledger.model import AccountType, Parcel
from strategies.index.book import Book, Holding, Lockouts
from strategies.index.risk import RiskModel
from strategies.index.target import IndexTarget

TODAY = date(2026, 12, 7)
OLD = TODAY - timedelta(days=730)
FRESH = TODAY - timedelta(days=10)
ACCOUNT = "me"

_seq = itertools.count(1)


def lot(
    symbol: str, qty: Decimal | str | int, cost_per_share: Decimal | str | int, acquired: date = OLD
) -> Parcel:
    """Return one lot of `qty` shares of `symbol` bought at `cost_per_share` on `acquired`."""
    n = next(_seq)
    q = Decimal(qty)
    return Parcel(
        lot_id=f"{symbol}-{n}",
        account=ACCOUNT,
        account_type=AccountType.TAXABLE,
        symbol=symbol,
        quantity=q,
        cost=q * Decimal(cost_per_share),
        acquired=acquired,
        holding_period_start=acquired,
        acquired_at=datetime.combine(acquired, time(15), UTC),
        seq=n,
    )


def book(
    cash: Decimal | str | int,
    lots: Iterable[Parcel],
    prices: Mapping[str, Decimal | str | int],
    *,
    no_buy: Iterable[str] = (),
    no_loss_sale: Iterable[str] = (),
) -> Book:
    """Return the book of `lots` (each name's in acquisition order) at `prices`."""
    by_symbol: dict[str, list[Parcel]] = {}
    for p in lots:
        by_symbol.setdefault(p.symbol, []).append(p)
    return Book(
        account=ACCOUNT,
        today=TODAY,
        cash=Decimal(cash),
        holdings={s: Holding(s, tuple(ps)) for s, ps in by_symbol.items()},
        prices={s: Decimal(p) for s, p in prices.items()},
        lockouts=Lockouts(
            no_buy=dict.fromkeys(no_buy, "sold at a loss within 30 days"),
            no_loss_sale=dict.fromkeys(no_loss_sale, "bought within 30 days"),
        ),
    )


def target(
    weights: Mapping[str, str | float], sectors: Mapping[str, str] | None = None
) -> IndexTarget:
    """Return the target of `weights` (normalised)."""
    raw = {s: Decimal(str(w)) for s, w in weights.items()}
    total = sum(raw.values(), Decimal(0))
    return IndexTarget(
        weights={s: w / total for s, w in raw.items()},
        sectors=dict(sectors or {}),
        source="test",
    )


def equal(symbols: Iterable[str]) -> IndexTarget:
    """Return equal weights over `symbols`."""
    return target(dict.fromkeys(symbols, 1))


def risk(symbols: Iterable[str], specific: float = 0.25, market: float = 0.16) -> RiskModel:
    """Return a one-factor model: every name's market loading `market`, specific `specific`."""
    names = tuple(symbols)
    return RiskModel(
        symbols=names,
        loadings=np.full((1, len(names)), market),
        specific=np.full(len(names), specific),
        as_of=TODAY,
    )


def weights_after(b: Book, trades: Iterable[object]) -> dict[str, float]:
    """Return each name's weight of the book's value after `trades` at their prices."""
    from strategies.index.rebalance import PlannedTrade

    held = {s: h.quantity for s, h in b.holdings.items()}
    cash = b.cash
    for t in trades:
        assert isinstance(t, PlannedTrade)
        sign = 1 if t.side.value == "BUY" else -1
        held[t.symbol] = held.get(t.symbol, Decimal(0)) + sign * t.quantity
        cash -= sign * t.quantity * t.price
    value = cash + sum((q * b.prices[s] for s, q in held.items()), Decimal(0))
    return {s: float(q * b.prices[s] / value) for s, q in held.items()}
