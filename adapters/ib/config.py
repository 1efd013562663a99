"""The IB adapter's configuration: `[ib]` settings plus what the daemon decides (`BrokerOptions`).

Read-only whenever orders may not leave (`BrokerOptions.orders_allowed` is false: dry run, or
mode live without live trading enabled) or `[ib] readonly` is set: the connection then skips
the order sync and `submit` refuses. The lot relief, fractional shares, order types and hours
are data (`capabilities_for`), known without connecting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from adapters.base import BrokerOptions, Capabilities, LotRelief
from adapters.ib.settings import IBLotMethod, IBSettings
from ledger.conventions import LotMethod

MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
"""`[ib] market_data_type` to the number `reqMarketDataType` takes."""

HOURS = "US stocks in the regular session (9:30-16:00 ET); DAY orders, never outside it"


class IBConfigError(ValueError):
    """The settings cannot configure the IB adapter (e.g. no account code)."""


def lot_relief_for(method: IBLotMethod) -> LotRelief:
    """Return how IB relieves lots under the account's Tax Optimizer default `method`.

    The TWS API names no lot on an order: IB applies the account's default matching method,
    and with ``specific`` the user picks the lots in the Tax Optimizer after the trade (until
    8:30 PM ET on the trade day), as tlh tells them to.
    """
    if method is IBLotMethod.SPECIFIC:
        return LotRelief(specific_lots=True, chosen_by_user=True)
    return LotRelief(specific_lots=False, method=LotMethod(method.value))


def capabilities_for(ib: IBSettings) -> Capabilities:
    """Return what the IB adapter can do with these settings, without connecting."""
    return capabilities_of(ib.lot_method)


def capabilities_of(method: IBLotMethod) -> Capabilities:
    """Return what the IB adapter can do when the account relieves lots by `method`.

    Not fractional: IBKR does not take fractional stock quantities through the TWS API
    (ib_insync discussion #706: "IBKR has never supported fractional equity shares via the
    API"), so tlh sizes IB orders in whole shares. Order look-ups reach today only: the open
    and completed orders and ``reqExecutions`` cover the current day (TWS API, "Executions and
    Commissions"); earlier days come from a Flex statement (`tlh import --ib-flex`).
    """
    return Capabilities(
        lot_relief=lot_relief_for(method),
        fractional=False,
        order_types=frozenset({"market", "limit"}),
        hours=HOURS,
        order_lookup="today",
    )


@dataclass(frozen=True, slots=True)
class IBConfig:
    """Everything the adapter needs, fixed at construction.

    `backoff`: the first and the longest wait between reconnect attempts (seconds, doubling,
    jittered by ±20 %). `request_timeout`: how long one request (orders, executions,
    positions, contract details) may take before it counts as a transient failure.
    `commission_wait`: how long a live execution waits for its commission report before its
    fill is emitted without one (see `adapters.ib.fills`).
    """

    host: str
    port: int
    client_id: int
    account: str
    readonly: bool
    orders_allowed: bool
    live: bool
    market_data_type: str
    lot_method: IBLotMethod
    connect_timeout: float
    stale_after: float
    backoff: tuple[float, float] = (1.0, 60.0)
    request_timeout: float = 10.0
    commission_wait: float = 5.0

    @classmethod
    def from_settings(cls, ib: IBSettings, options: BrokerOptions, **overrides: Any) -> IBConfig:
        """Build the configuration; `overrides` replace any field (tests shorten timings)."""
        if ib.account is None:
            raise IBConfigError(
                "[ib] account is required: the IB account code, e.g. DU1234567 "
                "(declare it under [accounts] too)"
            )
        config = cls(
            host=ib.host,
            port=ib.port,
            client_id=ib.client_id,
            account=ib.account,
            readonly=ib.readonly or not options.orders_allowed,
            orders_allowed=options.orders_allowed and not ib.readonly,
            live=options.live,
            market_data_type=ib.market_data_type,
            lot_method=ib.lot_method,
            connect_timeout=ib.timeout_seconds,
            stale_after=options.stale_after_seconds,
            backoff=(min(1.0, ib.reconnect_max_seconds), ib.reconnect_max_seconds),
            request_timeout=ib.timeout_seconds,
        )
        return replace(config, **overrides)

    @property
    def market_data_number(self) -> int:
        """Return the market-data type as `reqMarketDataType` takes it."""
        return MARKET_DATA_TYPES[self.market_data_type]
