"""The benchmark of a backtest: the same money bought and held, never harvested or rebalanced.

Pure over the price series: no engine, broker or journal. The starting holdings (shares, on
their dates: an ETF-pair backtest's) and the money put in (cash, on its day: a direct index's
start and deposits) are bought and held; each split multiplies the shares at the open of its
day; each day's dividends are reinvested over every holding pro rata to its value at that
day's close, as an index fund does (so the weights drift with prices alone, as the direct
index's floating target does). Cash is bought at the
target weights, renormalised over the names priced at the time, at the prices the daemon
could trade it at: the last close before the day (its rebalance runs before the day's bars),
or, on the first day, when no close is known yet, that day's close. Money no name's price can
take (no price yet) waits as cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from adapters.prices.model import PriceSeries, split_share_ratio

ZERO = Decimal(0)
MICROS = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class BenchmarkDay:
    """The benchmark at one session's close: its `value` and the money `invested` so far
    (cash put in, plus the starting holdings at the close of the day they came in)."""

    day: date
    value: Decimal
    invested: Decimal


def close_of(prices: PriceSeries, row: int) -> Decimal:
    """Return the exact close of price row `row`."""
    exact = prices.exact.get(row) if prices.exact else None
    if exact is not None and "close" in exact:
        return exact["close"]
    return Decimal(prices.close_micros[row]) / MICROS


def buy_and_hold(
    prices: PriceSeries,
    *,
    weights: Mapping[str, Decimal] | None = None,
    cash_in: Mapping[date, Decimal] | None = None,
    shares_in: Mapping[date, Mapping[str, Decimal]] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[BenchmarkDay]:
    """Return the benchmark at each session's close from `start` to `end` (inclusive).

    `weights`: the target the cash buys (any positive scale); `cash_in`: money put in by day;
    `shares_in`: shares bought by day (those dated before `start` come in on the first day).
    """
    cash_days = dict(cash_in or {})
    share_days = dict(shares_in or {})
    if cash_days and not weights:
        raise ValueError("cash put in needs target weights to buy")
    target = {s: w for s, w in (weights or {}).items() if w > 0}
    symbols, sids = prices.symbols, prices.symbol_ids
    shares: dict[str, Decimal] = {}
    last: dict[str, Decimal] = {}  # each symbol's last close
    idle = ZERO  # money no price could take yet
    invested = ZERO
    out: list[BenchmarkDay] = []
    for day, rows in prices.day_ranges():
        if end is not None and day > end:
            break
        before = start is not None and day < start
        if before:
            for i in rows:
                last[symbols[sids[i]]] = close_of(prices, i)
            continue
        first = not out
        put = _due(cash_days, day, first)
        invested += put
        money, idle = idle + put, ZERO
        if money and last:  # at the prices the daemon trades at during the day
            idle = _buy(shares, target, last, money)
            money = ZERO
        _split(prices, rows, shares)
        paid = ZERO
        for i in rows:
            name = symbols[sids[i]]
            last[name] = close_of(prices, i)
            amount = prices.dividends.get(i) if prices.dividends else None
            if amount and shares.get(name):
                paid += shares[name] * amount
        if paid:
            _reinvest(shares, last, paid)
        arriving = _arriving(share_days, day, first)
        for name, qty in arriving.items():
            shares[name] = shares.get(name, ZERO) + qty
            invested += qty * last.get(name, ZERO)
        if money:  # the first day: no close was known before it
            idle = _buy(shares, target, last, money)
        value = idle + sum((q * last.get(s, ZERO) for s, q in shares.items()), ZERO)
        out.append(BenchmarkDay(day, value, invested))
    return out


def _split(prices: PriceSeries, rows: range, shares: dict[str, Decimal]) -> None:
    """Multiply the shares held by the day's splits (at the open)."""
    if not prices.splits:
        return
    symbols, sids = prices.symbols, prices.symbol_ids
    for i in rows:
        name = symbols[sids[i]]
        coef = prices.splits.get(i)
        if coef is not None and coef != 1 and name in shares:
            ratio = split_share_ratio(coef)
            if ratio is not None:
                shares[name] *= Decimal(ratio.numerator) / Decimal(ratio.denominator)


def _reinvest(shares: dict[str, Decimal], last: Mapping[str, Decimal], paid: Decimal) -> None:
    """Reinvest the day's dividends `paid` over every holding pro rata to its value at the
    close, as an index fund does: the weights stay those the prices alone give, the weights
    the direct index's floating target holds (`strategies.index.target.drifted`)."""
    values = {s: q * last[s] for s, q in shares.items() if q and last.get(s)}
    total = sum(values.values(), ZERO)
    if not total:
        return
    for name, value in values.items():
        shares[name] += paid * value / total / last[name]


def _due(days: dict[date, Decimal], day: date, first: bool) -> Decimal:
    """Take the money put in on `day` (on the first day also what was put in before)."""
    if first:
        early = [d for d in days if d <= day]
        return sum((days.pop(d) for d in early), ZERO)
    return days.pop(day, ZERO)


def _arriving(
    days: dict[date, Mapping[str, Decimal]], day: date, first: bool
) -> dict[str, Decimal]:
    """Take the shares bought on `day` (on the first day also those bought before)."""
    due = [d for d in days if d <= day] if first else ([day] if day in days else [])
    out: dict[str, Decimal] = {}
    for d in sorted(due):
        for name, qty in days.pop(d).items():
            out[name] = out.get(name, ZERO) + qty
    return out


def _buy(
    shares: dict[str, Decimal],
    target: Mapping[str, Decimal],
    last: Mapping[str, Decimal],
    money: Decimal,
) -> Decimal:
    """Buy `money` of the target names with a price, at their weights renormalised over
    those; return what no price could take (all of it when none is priced)."""
    priced = {s: w for s, w in target.items() if last.get(s)}
    total = sum(priced.values(), ZERO)
    if not total:
        return money
    for name, weight in priced.items():
        shares[name] = shares.get(name, ZERO) + money * weight / total / last[name]
    return ZERO
