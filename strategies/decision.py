"""The harvest decision: one pure function for the engine, `tlh harvest --dry-run` and doctor.

Given one position (its parcels in the broker's relief order), the quote, the wash-sale guard,
the fresh quotes of its substitutes, the state of orders and halts, and the New York trading
date, `decide_harvest` returns what to do and why:

* `HARVEST`: sell `candidate` and buy `replacement` (None: hold cash, `allow_cash`);
* `SKIP`: a loss qualifies but may not be taken today (the wash guard, no replacement);
* `NONE`: nothing to do (no qualifying loss, a tax-advantaged account, an outside account
  the broker does not trade, a halt, an order in flight).

Order of the checks: the share sets that qualify (`strategies.harvest`), largest net loss
first, the first one the guard allows (the ledger's own matching, `Ledger.wash_replacements`);
then a replacement that the guard allows and that has a fresh quote. A replacement without a
price is never chosen, so a harvest never starts that could only end in cash. A direct index
(`Policy.ranked`) replaces a stock by the names its tracking error ranks best, in that order,
instead of a `[[substitutes]]` group.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum

from ledger.conventions import LotMethod
from ledger.engine import Ledger
from ledger.model import Parcel
from ledger.relief import PRICE_RANKED, relief_rank
from strategies.harvest import Candidate, HarvestParams, candidates, subset_trigger, symbol_trigger
from strategies.recurring import Recurring
from strategies.wash_guard import WashGuard

REPLACEMENT_QUOTE_MAX_AGE = timedelta(days=4)
"""How old a substitute's quote may be for it to price a replacement: a daily close of the
last session before a long weekend still counts; a symbol not quoted for longer (delisted, not
listed yet) does not."""


OUTSIDE_ACCOUNT = "outside account: watched by the wash guard, not traded"
"""The reason a loss in an account the broker does not trade is not harvested."""


class Action(Enum):
    """What the decision says to do with a position."""

    HARVEST = "harvest"
    SKIP = "skip"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Price:
    """A quote as the decision sees it."""

    bid: Decimal
    ask: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class Policy:
    """What the configuration decides: thresholds, lot relief, substitutes, cash.

    `ranked`, set for a direct index (`[index]`), returns the names that may replace a
    harvested symbol, best first (`daemon.index_manager`); it replaces `substitutes` for the
    replacement, and an empty ranking skips the harvest with its `reason` (`RankedNames`).
    """

    params: HarvestParams
    specific_lots: bool
    substitutes: Sequence[Sequence[str]]
    allow_cash: bool = False
    replacement_max_age: timedelta = REPLACEMENT_QUOTE_MAX_AGE
    ranked: Callable[[str], Sequence[str]] | None = None


class RankedNames(tuple[str, ...]):
    """A ranking of replacements, best first, with why it is empty (or short), e.g.
    ``tracking_error: every replacement raises it above the 1.00% budget``."""

    reason: str

    def __new__(cls, names: Sequence[str] = (), reason: str = "") -> RankedNames:
        """Return the ranking of `names` (best first) with its `reason`."""
        ranked = super().__new__(cls, names)
        ranked.reason = reason
        return ranked


@dataclass(frozen=True, slots=True)
class Position:
    """One position and the state around it at the moment of the decision."""

    account: str
    symbol: str
    parcels: Sequence[Parcel]  # in the broker's relief order
    quote: Price
    today: date  # the New York trading date
    tax_advantaged: bool = False
    # False for an outside account (an imported IRA, a spouse's account): its purchases count
    # in the wash guard, but the broker does not trade it (`daemon.broker_accounts`).
    traded: bool = True
    halted: bool = False
    busy: bool = False  # an order of this position is in flight
    pending_buys: Collection[str] = ()
    pending_loss_sales: Collection[str] = ()
    # The fresh quote of a substitute (None: none), asked only once a loss may be harvested.
    replacement_quote: Callable[[str], Price | None] = lambda symbol: None


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision about one position, with its reason."""

    action: Action
    reason: str
    candidate: Candidate | None = None
    replacement: str | None = None
    unpriced: tuple[str, ...] = ()  # allowed replacements refused only for want of a quote


def relief_order(
    parcels: Iterable[Parcel],
    specific_lots: bool,
    method: LotMethod,
    *,
    bid: Decimal,
    today: date,
) -> list[Parcel]:
    """Return a position's parcels (acquisition order) in the order the broker relieves them
    in a sale at `bid` today, as the ledger does (`Ledger` relief by `method`).

    With a fixed method the broker relieves a prefix of this order, so a harvest may only
    sell such prefixes (`strategies.harvest.share_sets`). IB's Tax Optimizer methods depend
    on the price and date (`ledger.relief`); the sale's fees are not known yet, so gain or
    loss is judged at the bid (a block within the fees of break-even may rank otherwise at
    the fill, where the ledger follows the broker).
    """
    ordered = list(parcels)
    if specific_lots or method not in PRICE_RANKED:
        return _fixed_order(ordered, specific_lots, method)
    rank = relief_rank(method, bid, today)
    # Stable: equals keep acquisition order (lot, then its blocks), as in the ledger.
    ordered.sort(key=lambda p: rank(p.adjusted_basis / p.quantity, p.holding_period_start))
    return ordered


def _fixed_order(ordered: list[Parcel], specific_lots: bool, method: LotMethod) -> list[Parcel]:
    """Order `ordered` (acquisition order) by a method that does not depend on the price."""
    if specific_lots or method is LotMethod.FIFO:
        return ordered
    if method is LotMethod.LIFO:
        ordered.reverse()
    elif method is LotMethod.HIFO:  # highest adjusted basis per share first, stable
        ordered.sort(key=lambda p: -(p.adjusted_basis / p.quantity))
    else:
        raise ValueError(f"lot method {method.value} depends on the sale price")
    return ordered


def relief_trigger(
    parcels: Iterable[Parcel], params: HarvestParams, specific_lots: bool, method: LotMethod
) -> float:
    """Return the bid at or below which some share set of a position (parcels in acquisition
    order) may qualify, whatever the broker's relief at that bid (a float upper bound).

    A method ranked by price relieves different prefixes at different bids: the bound then
    covers every set of parcels (`strategies.harvest.subset_trigger`).
    """
    ordered = list(parcels)
    if not specific_lots and method in PRICE_RANKED:
        return subset_trigger(ordered, params)
    return symbol_trigger(_fixed_order(ordered, specific_lots, method), params, specific_lots)


def fresh(
    price: Price | None, now: datetime, max_age: timedelta = REPLACEMENT_QUOTE_MAX_AGE
) -> bool:
    """Return whether `price` may price a purchase at `now`: positive ask, recent enough."""
    return (
        price is not None and price.ask.is_finite() and price.ask > 0 and now - price.at <= max_age
    )


def replacement_groups(symbol: str, policy: Policy) -> tuple[Sequence[Sequence[str]], str]:
    """Return the substitutes groups a harvest of `symbol` replaces from, and why there is no
    replacement at all ("" when there may be one): for a direct index its ranking
    (`[[symbol, *ranked]]`, the best first), else the `[[substitutes]]` groups."""
    if policy.ranked is None:
        return policy.substitutes, ""
    ranking = policy.ranked(symbol)
    if not ranking:
        why = ranking.reason if isinstance(ranking, RankedNames) else ""
        return (), why or "no_replacement: no name is ranked"
    return [[symbol, *ranking]], ""


def decide_harvest(position: Position, policy: Policy, guard: WashGuard) -> Decision:
    """Decide whether to harvest `position` now, and why (or why not)."""
    if position.tax_advantaged:
        return Decision(Action.NONE, "tax-advantaged account: no loss to harvest")
    found = candidates(
        position.account,
        position.parcels,
        bid=position.quote.bid,
        ask=position.quote.ask,
        today=position.today,
        params=policy.params,
        specific_lots=policy.specific_lots,
    )
    if not found:
        return Decision(Action.NONE, "no share set the broker can sell has a qualifying loss")
    best = found[0]
    if not position.traded:
        return Decision(Action.NONE, OUTSIDE_ACCOUNT, best)
    if position.halted:
        return Decision(Action.NONE, f"halted: trading in {position.symbol} is halted", best)
    if position.busy:
        return Decision(Action.NONE, "an order of this position is in flight", best)
    chosen: Candidate | None = None
    blocked: str | None = None
    bid = position.quote.bid

    def at_loss(p: Parcel) -> bool:
        return p.adjusted_basis > p.quantity * bid

    for c in found:
        why = guard.harvest_blocked(c.parcels, position.today, position.pending_buys, at_loss)
        if why is None:
            chosen = c
            break
        blocked = blocked or why
    if chosen is None:
        return Decision(Action.SKIP, f"wash_guard: {blocked}", best)
    now = position.quote.at
    unpriced: list[str] = []

    def priced(symbol: str) -> bool:
        ok = fresh(position.replacement_quote(symbol), now, policy.replacement_max_age)
        if not ok:
            unpriced.append(symbol)
        return ok

    groups, why_none = replacement_groups(position.symbol, policy)
    if why_none:
        return Decision(Action.SKIP, why_none, chosen)
    replacement, refusals = guard.choose_replacement(
        position.symbol,
        groups,
        position.today,
        position.pending_loss_sales,
        priced=priced,
    )
    if replacement is None and not policy.allow_cash:
        why = "; ".join(refusals) or "no [[substitutes]] group"
        return Decision(Action.SKIP, f"no_replacement: {why}", chosen, unpriced=tuple(unpriced))
    return Decision(
        Action.HARVEST,
        f"net loss {chosen.net_loss:.2f}"
        + (f", replaced by {replacement}" if replacement else ", into cash (allow_cash)"),
        chosen,
        replacement,
    )


def decide_positions(
    ledger: Ledger,
    policy: Policy,
    *,
    method: LotMethod,
    prices: Mapping[str, Price],
    today: date,
    halted: Collection[str] = (),
    busy: Collection[tuple[str, str]] = (),
    pending_buys: Collection[str] = (),
    pending_loss_sales: Collection[str] = (),
    recurring: Sequence[Recurring] = (),
    traded: Callable[[str], bool] = lambda account: True,
) -> list[tuple[str, str, Decision]]:
    """Decide every priced position of `ledger` as the engine would on these quotes.

    For previews (`tlh harvest --dry-run`, `tlh doctor`): the same `decide_harvest`, the same
    guard over the ledger and the `recurring` purchases, the broker's relief order, halts, the
    orders in flight, and the accounts the broker trades (`traded`; the engine's rule).
    """
    guard = WashGuard.for_ledger(lambda: ledger, recurring)
    out = []
    for account, symbol in sorted(ledger.positions()):
        price = prices.get(symbol)
        if price is None:
            continue
        position = Position(
            account=account,
            symbol=symbol,
            parcels=relief_order(
                ledger.parcels(account, symbol),
                policy.specific_lots,
                method,
                bid=price.bid,
                today=today,
            ),
            quote=price,
            today=today,
            tax_advantaged=ledger.account_type(account).tax_advantaged,
            traded=traded(account),
            halted=symbol in halted,
            busy=(account, symbol) in busy,
            pending_buys=pending_buys,
            pending_loss_sales=pending_loss_sales,
            replacement_quote=prices.get,
        )
        out.append((account, symbol, decide_harvest(position, policy, guard)))
    return out
