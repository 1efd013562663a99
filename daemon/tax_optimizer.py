"""Lots the user must select at the broker after a sale (IB's Tax Optimizer).

The TWS API cannot name a lot on an order. Where the user picks lots at IB
(`adapters.base.LotRelief.chosen_by_user`), the daemon still decides as with specific lots and
journals the sale against the lot it chose; the user then matches the sale to that lot in the
Tax Optimizer, which saves changes "until 8:30 PM ET on any given trading day"
(https://www.interactivebrokers.com/en/trading/tax-optimizer.php; matching a sale to an open
lot: https://www.ibkrguides.com/taxoptimizer/ibto/specific%20lot%20example.htm). Each such
sale keeps the lots to select in its intent's payload (`PAYLOAD_KEY`), for the log line at
submission and for `tlh lots select`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ledger.model import Parcel

NEW_YORK = ZoneInfo("America/New_York")
DEADLINE = time(20, 30)
"""IB's Tax Optimizer takes changes until 8:30 PM ET on the trade day."""
PAYLOAD_KEY = "select_lots"
PER_SHARE = Decimal("0.0001")
ZERO = Decimal(0)


def deadline(day: date) -> datetime:
    """Return the last moment to select lots for a sale on `day` (8:30 PM in New York)."""
    return datetime.combine(day, DEADLINE, NEW_YORK)


def deadline_text(day: date) -> str:
    """Return the deadline for a sale on `day` as the user reads it: ``2024-03-04 20:30 ET``."""
    return f"{day.isoformat()} {DEADLINE:%H:%M} ET"


def lots_to_select(
    parcels: Sequence[Parcel], quantity: Decimal, skip: Decimal = ZERO
) -> list[dict[str, str]]:
    """Return the lots a sale of `quantity` shares relieves from `parcels` (in relief order),
    after the first `skip` shares (sold by earlier parts of the same harvest).

    One entry per lot: its id, acquisition date, the shares to select, and its cost and
    adjusted basis per share (IB shows wash-sale-adjusted prices, except same-day washes).
    """
    picks: dict[str, dict[str, Any]] = {}
    left = quantity
    for p in parcels:
        if left <= ZERO:
            break
        take = min(p.quantity, max(ZERO, p.quantity - skip), left)
        skip = max(ZERO, skip - p.quantity)
        if take <= ZERO:
            continue
        left -= take
        pick = picks.setdefault(
            p.lot_id,
            {"acquired": p.acquired, "quantity": ZERO, "cost": ZERO, "adjusted": ZERO},
        )
        pick["quantity"] += take
        pick["cost"] += p.cost * take / p.quantity
        pick["adjusted"] += p.adjusted_basis * take / p.quantity
    return [
        {
            "lot_id": lot_id,
            "acquired": pick["acquired"].isoformat(),
            "quantity": _plain(pick["quantity"]),
            "cost_per_share": str((pick["cost"] / pick["quantity"]).quantize(PER_SHARE)),
            "adjusted_per_share": str((pick["adjusted"] / pick["quantity"]).quantize(PER_SHARE)),
        }
        for lot_id, pick in picks.items()
    ]


def _plain(value: Decimal) -> str:
    return "0" if value == ZERO else format(value.normalize(), "f")
