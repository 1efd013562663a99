"""What the observers' tests share: a status snapshot factory and the metric names' contract.

The web listener's, the status page's, the MQTT publisher's and the deployment's tests each
build a `StatusSnapshot` with their own figures from `status_snapshot`, so a field added to the
contract (daemon/observation.py) is added here once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from daemon.observation import NOT_PAUSED, HarvestRecord, OpenLot, StatusSnapshot

# The metric names of issue #10 §1, a contract: counters end in _total, the latency is a
# histogram, the others are gauges (prometheus/docs practices/naming.md).
CONTRACT_METRICS = (
    "tlh_quotes_total",
    "tlh_harvests_total",
    "tlh_harvested_loss_dollars_total",
    "tlh_estimated_tax_saved_dollars_total",
    "tlh_wash_sales_avoided_total",
    "tlh_decisions_total",
    "tlh_orders_total",
    "tlh_order_latency_seconds",
    "tlh_intents_in_flight",
    "tlh_halted_symbols",
    "tlh_stream_connected",
    "tlh_last_quote_age_seconds",
    "tlh_unrealized_loss_dollars",
    "tlh_open_lots",
    "tlh_harvest_yield_ratio",
    "tlh_tracking_error_ratio",
)
HISTOGRAMS = frozenset({"tlh_order_latency_seconds"})


def contract_type(name: str) -> str:
    """Return the Prometheus type the contract gives the metric `name`."""
    if name.endswith("_total"):
        return "counter"
    return "histogram" if name in HISTOGRAMS else "gauge"


def status_snapshot(**changes: Any) -> StatusSnapshot:
    """Return a running dry-run daemon's snapshot on the simulated broker, on 4 December 2026,
    with nothing held, harvested, halted or in flight; `changes` replace its fields."""
    fields: dict[str, Any] = {
        "at": datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
        "today": date(2026, 12, 4),
        "mode": "dry_run",
        "live_trading_enabled": False,
        "trading_enabled": False,
        "broker": "sim",
        "state": "running",
        "pause": NOT_PAUSED,
        "connected": True,
        "journal_entries": 0,
        "orders_in_flight": 0,
        "halted_symbols": (),
        "open_lots": (),
        "harvests": (),
        "wash_windows": (),
    }
    return StatusSnapshot(**(fields | changes))


def open_lot(
    symbol: str,
    basis: str,
    value: str | None,
    *,
    quantity: int,
    account: str,
    acquired: date,
) -> OpenLot:
    """Return an open lot of `quantity` `symbol` at cost `basis`, worth `value` (None:
    unpriced), its price and unrealised gain derived from them."""
    market = None if value is None else Decimal(value)
    return OpenLot(
        account=account,
        symbol=symbol,
        lot_id=f"{symbol}-1",
        quantity=Decimal(quantity),
        acquired=acquired,
        basis=Decimal(basis),
        price=None if market is None else market / quantity,
        market_value=market,
        unrealized=None if market is None else market - Decimal(basis),
    )


def harvest_record(
    intent_id: str,
    day: date,
    symbol: str,
    loss: str | Decimal,
    saved: str | Decimal,
    *,
    account: str,
    replacement: str,
) -> HarvestRecord:
    """Return a harvest of 10 `symbol` on `day` at a `loss`, saving `saved`."""
    return HarvestRecord(
        intent_id=intent_id,
        day=day,
        account=account,
        symbol=symbol,
        quantity=Decimal(10),
        loss=Decimal(loss),
        estimated_tax_saved=Decimal(saved),
        replacement=replacement,
    )
