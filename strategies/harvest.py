"""Harvest decisions: is a position's loss worth taking now, and which shares to sell.

Two paths share one rule. The tick path keeps, per symbol, the highest *trigger price* over the
symbol's harvestable share sets (a float upper bound: above it nothing can qualify), so a quote
that crosses no trigger costs one comparison. When the bid is at or below it, `evaluate`
recomputes everything in `Decimal` from the ledger and the quote and decides.

A share set is one lot when the broker lets us name lots, otherwise a prefix of the position in
the broker's own relief order (Alpaca relieves FIFO; IB its account's Tax Optimizer method, an
order that may depend on the price: `strategies.decision.relief_order`, and then the trigger
bounds every set of parcels, `subset_trigger`): the realized P&L of a sale is what the broker
will report, so that is what must be a loss beyond the threshold.

The rule, for a share set of quantity q and adjusted basis B sold at the bid:

* proceeds P = q x bid - fee; estimated costs C = spread_cost_factor x (ask - bid) x q for the
  replacement purchase + its fee;
* net loss N = B - P - C must reach both `min_loss_usd` and `min_loss_pct` x B;
* the tax value, each parcel's loss at the user's short- or long-term rate, must exceed C.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger.holding import term_of
from ledger.model import Parcel, Term

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class HarvestParams:
    """Thresholds, costs and tax rates that decide a harvest."""

    min_loss_pct: Decimal
    min_loss_usd: Decimal
    short_term_rate: Decimal
    long_term_rate: Decimal
    spread_cost_factor: Decimal = Decimal("0.5")
    fee_per_order: Decimal = ZERO

    def rate(self, term: Term) -> Decimal:
        """Return the tax rate a loss of this term offsets."""
        return self.short_term_rate if term is Term.SHORT else self.long_term_rate


@dataclass(frozen=True, slots=True)
class Candidate:
    """A share set that qualifies for harvesting at the current quote."""

    account: str
    symbol: str
    lot_ids: tuple[str, ...]
    quantity: Decimal
    adjusted_basis: Decimal
    proceeds: Decimal
    costs: Decimal
    net_loss: Decimal
    tax_value: Decimal
    specific_lot: str | None
    parcels: tuple[Parcel, ...] = ()

    @property
    def estimated_tax_saved(self) -> Decimal:
        """Return the tax value of the loss net of trading costs."""
        return self.tax_value - self.costs


def share_sets(parcels: Sequence[Parcel], specific_lots: bool) -> list[list[Parcel]]:
    """Return the sets of parcels a single harvest sale could relieve.

    `parcels` come in the broker's relief order. With specific lots each lot (all parcels of
    one lot id) is a set; otherwise every prefix of the relief order is.
    """
    if specific_lots:
        by_lot: dict[str, list[Parcel]] = {}
        for p in parcels:
            by_lot.setdefault(p.lot_id, []).append(p)
        return list(by_lot.values())
    return [list(parcels[: i + 1]) for i in range(len(parcels))]


def trigger_price(parcels: Iterable[Parcel], params: HarvestParams) -> float:
    """Return the bid at or below which this share set may qualify (an upper bound)."""
    qty = ZERO
    basis = ZERO
    for p in parcels:
        qty += p.quantity
        basis += p.adjusted_basis
    if qty <= ZERO:
        return float("-inf")
    threshold = max(params.min_loss_usd, params.min_loss_pct * basis)
    return float((basis + params.fee_per_order - threshold) / qty)


def symbol_trigger(parcels: Sequence[Parcel], params: HarvestParams, specific_lots: bool) -> float:
    """Return the highest trigger over every share set of one position."""
    if not parcels:
        return float("-inf")
    if specific_lots:
        return max(trigger_price(s, params) for s in share_sets(parcels, True))
    # Prefix sums keep this linear in the number of parcels.
    best = float("-inf")
    qty = ZERO
    basis = ZERO
    for p in parcels:
        qty += p.quantity
        basis += p.adjusted_basis
        threshold = max(params.min_loss_usd, params.min_loss_pct * basis)
        best = max(best, float((basis + params.fee_per_order - threshold) / qty))
    return best


def subset_trigger(parcels: Sequence[Parcel], params: HarvestParams) -> float:
    """Return a bid at or above which no set of these parcels qualifies (a float upper bound).

    For a broker whose relief order depends on the price. The trigger of a set of quantity Q
    and basis B, (B + fee - max(min_usd, pct x B)) / Q, never falls as B grows (pct < 1), and
    no set of quantity Q has more basis than the highest-basis shares taken first, split if
    need be. So the bound is the largest trigger along that fractional curve, from the
    smallest parcel's quantity up: on each parcel's stretch it is monotone but for the kink
    where pct x B reaches min_usd, so the stretch ends and that kink are checked.
    """
    blocks = sorted(
        (
            (p.adjusted_basis / p.quantity, p.quantity, p.adjusted_basis)
            for p in parcels
            if p.quantity > ZERO
        ),
        key=lambda block: -block[0],
    )
    if not blocks:
        return float("-inf")
    fee, floor, pct = params.fee_per_order, params.min_loss_usd, params.min_loss_pct
    kink = floor / pct if pct > ZERO else None  # the basis where pct x B = min_usd

    def trigger(qty: Decimal, basis: Decimal) -> Decimal:
        return (basis + fee - max(floor, pct * basis)) / qty

    smallest = min(q for _b, q, _a in blocks)
    best = trigger(smallest, blocks[0][0] * smallest)
    qty = basis = ZERO
    for per_share, q, adjusted in blocks:
        if kink is not None and basis < kink <= basis + adjusted:
            at = qty + (kink - basis) / per_share
            if at >= smallest:
                best = max(best, trigger(at, kink))
        qty += q
        basis += adjusted
        best = max(best, trigger(qty, basis))
    return float(best)


def evaluate(
    account: str,
    parcels: Sequence[Parcel],
    *,
    bid: Decimal,
    ask: Decimal,
    today: date,
    params: HarvestParams,
    specific_lots: bool,
) -> Candidate | None:
    """Return the share set with the largest qualifying net loss, or None."""
    found = candidates(
        account,
        parcels,
        bid=bid,
        ask=ask,
        today=today,
        params=params,
        specific_lots=specific_lots,
    )
    return found[0] if found else None


def candidates(
    account: str,
    parcels: Sequence[Parcel],
    *,
    bid: Decimal,
    ask: Decimal,
    today: date,
    params: HarvestParams,
    specific_lots: bool,
) -> list[Candidate]:
    """Return every qualifying share set, the largest net loss first (ties: relief order)."""
    found = []
    for chosen in share_sets(parcels, specific_lots):
        c = _judge(
            account,
            chosen,
            bid=bid,
            ask=ask,
            today=today,
            params=params,
            specific_lots=specific_lots,
        )
        if c is not None:
            found.append(c)
    found.sort(key=lambda c: -c.net_loss)  # stable: equal losses keep the relief order
    return found


def _judge(
    account: str,
    parcels: Sequence[Parcel],
    *,
    bid: Decimal,
    ask: Decimal,
    today: date,
    params: HarvestParams,
    specific_lots: bool,
) -> Candidate | None:
    qty = sum((p.quantity for p in parcels), ZERO)
    if qty <= ZERO:
        return None
    basis = sum((p.adjusted_basis for p in parcels), ZERO)
    proceeds = qty * bid - params.fee_per_order
    costs = params.spread_cost_factor * (ask - bid) * qty + params.fee_per_order
    net_loss = basis - proceeds - costs
    if net_loss < params.min_loss_usd or net_loss < params.min_loss_pct * basis:
        return None
    tax_value = ZERO
    for p in parcels:
        loss = p.adjusted_basis - p.quantity * bid
        tax_value += loss * params.rate(term_of(p.holding_period_start, today))
    if tax_value <= costs:
        return None
    lot_ids = tuple(dict.fromkeys(p.lot_id for p in parcels))
    return Candidate(
        account=account,
        symbol=parcels[0].symbol,
        lot_ids=lot_ids,
        quantity=qty,
        adjusted_basis=basis,
        proceeds=proceeds,
        costs=costs,
        net_loss=net_loss,
        tax_value=tax_value,
        specific_lot=lot_ids[0] if specific_lots else None,
        parcels=tuple(parcels),
    )
