"""A rebalance plan in the outbox (issue #12 §4): its stored form, its sales per lot, and its
buys sized by what the sales raised.

`OrderManager.place_plan` stores a plan under `PLAN_KEY` + its id before its first order: the
sales as orders with their deterministic ids, the buys as planned, and the cash the plan spends
beyond its sales. When every sale has ended, the buys are sized once (`size_buys`) and stored
with their ids before the first of them is placed, so a restart finds the very same orders.
Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

PLAN_KEY = "index:plan:"
"""Prefix of the repository state key of each plan (`index:plan:<plan_id>`)."""
OPEN_PLAN_KEY = "index:open-plan:"
"""Prefix of the marker of each plan whose buys are not all placed yet (what a restart reads)."""
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlanOrder:
    """One order of a plan, as stored: `price` is the plan's (the reference without a quote);
    `lot_id` the lot named on the order (a specific-lot broker), `lot_ids` the lots it
    relieves; `part` "k/n" of an order split within `max_order_notional`; `select` the lots
    the user picks at the broker (IB's Tax Optimizer), or None."""

    intent_id: str
    symbol: str
    quantity: Decimal
    price: Decimal
    lot_id: str | None = None
    lot_ids: tuple[str, ...] = ()
    part: str = "1/1"
    reason: str = ""
    select: list[dict[str, str]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the stored form (decimals as strings)."""
        return {
            "intent_id": self.intent_id,
            "symbol": self.symbol,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "lot_id": self.lot_id,
            "lot_ids": list(self.lot_ids),
            "part": self.part,
            "reason": self.reason,
            "select": self.select,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlanOrder:
        """Return the order from its stored form."""
        return cls(
            intent_id=str(raw["intent_id"]),
            symbol=str(raw["symbol"]),
            quantity=Decimal(raw["quantity"]),
            price=Decimal(raw["price"]),
            lot_id=raw.get("lot_id"),
            lot_ids=tuple(raw.get("lot_ids", ())),
            part=str(raw.get("part", "1/1")),
            reason=str(raw.get("reason", "")),
            select=raw.get("select"),
        )


@dataclass(frozen=True, slots=True)
class PlannedBuy:
    """A buy as the plan sized it: `quantity` shares at about `price`."""

    symbol: str
    quantity: Decimal
    price: Decimal
    reason: str = ""


@dataclass(slots=True)
class StoredPlan:
    """A plan in the outbox: its sales, its buys, and how far it got.

    `cash`: what the buys may spend beyond the sales' proceeds; `sized`: the buy orders, set
    once every sale has ended; `done`: every buy order is an intent (the outbox follows them).
    """

    plan_id: str
    account: str
    trade_date: date
    sales: list[PlanOrder]
    buys: list[PlannedBuy]
    cash: Decimal
    sized: list[PlanOrder] | None = None
    done: bool = False
    notes: list[str] = field(default_factory=list)

    def dumps(self) -> str:
        """Return the stored form (JSON)."""
        return json.dumps(
            {
                "plan_id": self.plan_id,
                "account": self.account,
                "trade_date": self.trade_date.isoformat(),
                "sales": [o.to_json() for o in self.sales],
                "buys": [
                    {
                        "symbol": b.symbol,
                        "quantity": str(b.quantity),
                        "price": str(b.price),
                        "reason": b.reason,
                    }
                    for b in self.buys
                ],
                "cash": str(self.cash),
                "sized": None if self.sized is None else [o.to_json() for o in self.sized],
                "done": self.done,
                "notes": self.notes,
            },
            sort_keys=True,
        )

    @classmethod
    def loads(cls, text: str) -> StoredPlan:
        """Return the plan from its stored form."""
        raw = json.loads(text)
        sized = raw.get("sized")
        return cls(
            plan_id=str(raw["plan_id"]),
            account=str(raw["account"]),
            trade_date=date.fromisoformat(raw["trade_date"]),
            sales=[PlanOrder.from_json(o) for o in raw["sales"]],
            buys=[
                PlannedBuy(
                    str(b["symbol"]), Decimal(b["quantity"]), Decimal(b["price"]), b["reason"]
                )
                for b in raw["buys"]
            ],
            cash=Decimal(raw["cash"]),
            sized=None if sized is None else [PlanOrder.from_json(o) for o in sized],
            done=bool(raw["done"]),
            notes=list(raw.get("notes", ())),
        )

    @property
    def buy_symbols(self) -> set[str]:
        """Return the symbols the plan buys (or will)."""
        return {b.symbol for b in self.buys}


def per_lot(
    quantity: Decimal, lot_ids: Sequence[str], held: Mapping[str, Decimal]
) -> list[tuple[str, Decimal]]:
    """Return the shares a sale of `quantity` takes from each of `lot_ids`, in order: each lot
    what it holds (`held`), a lot the ledger does not know the rest. What no lot holds is left
    unsold (the sum may fall short of `quantity`)."""
    out: list[tuple[str, Decimal]] = []
    left = quantity
    for lot in dict.fromkeys(lot_ids):
        if left <= ZERO:
            break
        take = min(left, held[lot]) if lot in held else left
        if take > ZERO:
            out.append((lot, take))
            left -= take
    return out


def merged_buys(buys: Sequence[PlannedBuy]) -> list[PlannedBuy]:
    """Return `buys` with those of one symbol merged (one order id per symbol), in order."""
    out: dict[str, PlannedBuy] = {}
    for b in buys:
        was = out.get(b.symbol)
        out[b.symbol] = (
            b
            if was is None
            else PlannedBuy(b.symbol, was.quantity + b.quantity, was.price, was.reason)
        )
    return list(out.values())


def size_buys(
    buys: Sequence[PlannedBuy], budget: Decimal, step: Decimal
) -> list[tuple[PlannedBuy, Decimal]]:
    """Return each buy with the shares to buy: as planned when `budget` covers the plan's
    buys at their prices, else scaled down alike to fit it (multiples of `step`, rounded down;
    whole shares are then topped up one each, in plan order, while the budget allows)."""
    planned = sum((b.quantity * b.price for b in buys), ZERO)
    if planned <= budget:
        return [(b, _floor(b.quantity, step)) for b in buys]
    factor = max(budget, ZERO) / planned
    sized = [_floor(b.quantity * factor, step) for b in buys]
    spent = sum((q * b.price for b, q in zip(buys, sized, strict=True)), ZERO)
    if step >= 1:
        for i, b in enumerate(buys):
            if sized[i] + step <= b.quantity and spent + step * b.price <= budget:
                sized[i] += step
                spent += step * b.price
    return list(zip(buys, sized, strict=True))


def _floor(quantity: Decimal, step: Decimal) -> Decimal:
    if quantity % step == ZERO:
        return quantity
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step
