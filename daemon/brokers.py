"""The one broker factory: the adapter `settings.broker` selects, and what it can do.

Every command builds its broker here: `tlh run` and `tlh doctor` through `build_broker`,
backtests and the demo the simulator through `sim_broker`, on their own clock. Each adapter is
built from its own settings section and the `BrokerOptions` the daemon decides
(`broker_options`), so that no adapter reads the daemon's settings. `broker_capabilities`
tells what the configured broker can do without connecting to it (`tlh harvest --dry-run`).
Adapters are imported when chosen: a command on the simulator never loads a broker's SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.base import Broker, BrokerOptions, Capabilities
from daemon.settings import Settings

if TYPE_CHECKING:
    from adapters.sim.broker import SimBroker, SimCosts


class BrokerUnavailableError(RuntimeError):
    """The configured broker's adapter is not part of this build."""


def broker_options(settings: Settings) -> BrokerOptions:
    """Return what the daemon decides for every adapter, from its own settings.

    Orders may leave in mode paper, or in mode live with live trading enabled, unless the
    adapter is told to connect read-only (`[ib] readonly`); the live account may be used once
    live trading is enabled, except in mode paper.
    """
    by_mode = settings.mode == "paper" or (
        settings.mode == "live" and settings.live_trading_enabled
    )
    return BrokerOptions(
        orders_allowed=by_mode and not (settings.broker == "ib" and settings.ib.readonly),
        live=settings.live_trading_enabled and settings.mode != "paper",
        stale_after_seconds=settings.prices.stale_after_seconds,
    )


def sim_broker(
    settings: Settings, now: Callable[[], datetime], costs: SimCosts | None = None
) -> SimBroker:
    """Return the simulated broker on the clock `now`, charging `[harvest] fee_per_order`
    per order unless `costs` says otherwise."""
    from adapters.sim.broker import SimBroker, SimCosts

    return SimBroker(now, costs or SimCosts(fee_per_order=settings.harvest.fee_per_order))


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def build_broker(settings: Settings, now: Callable[[], datetime] = _wall_clock) -> Broker:
    """Return the adapter `settings.broker` selects (the simulator on the clock `now`).

    Raise `BrokerUnavailableError` when the adapter is not part of this build.
    """
    if settings.broker == "sim":
        return sim_broker(settings, now)
    options = broker_options(settings)
    if settings.broker == "alpaca":
        try:
            from adapters.alpaca.broker import AlpacaBroker
        except ImportError as exc:
            raise _unavailable("alpaca", exc) from None
        return AlpacaBroker.from_settings(settings.alpaca, options)
    try:
        from adapters.ib.broker import IBBroker
    except ImportError as exc:
        raise _unavailable(settings.broker, exc) from None
    broker: Broker = IBBroker.from_settings(settings.ib, options)
    return broker


def broker_capabilities(settings: Settings) -> Capabilities:
    """Return what the configured broker can do (lot relief, fractions, order types, hours),
    without connecting to it."""
    if settings.broker == "sim":
        from adapters.sim.broker import SimBroker

        return SimBroker.capabilities
    if settings.broker == "alpaca":
        try:
            from adapters.alpaca.broker import AlpacaBroker
        except ImportError as exc:
            raise _unavailable("alpaca", exc) from None
        return AlpacaBroker.capabilities
    try:
        from adapters.ib.broker import IBBroker
    except ImportError as exc:
        raise _unavailable(settings.broker, exc) from None
    capabilities: Capabilities = IBBroker.capabilities_for(settings.ib)
    return capabilities


def broker_account(settings: Settings) -> str | None:
    """Return the account the configured broker reports, without connecting to it (Alpaca's
    one account, `[ib] account`); None for the simulator, which reports none."""
    if settings.broker == "alpaca":
        from adapters.alpaca.config import DEFAULT_ACCOUNT

        return DEFAULT_ACCOUNT
    return None if settings.broker == "sim" else settings.ib.account


def _unavailable(name: str, exc: ImportError) -> BrokerUnavailableError:
    return BrokerUnavailableError(
        f"broker {name!r}: the adapter is not available in this build ({exc})"
    )
