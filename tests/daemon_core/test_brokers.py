"""The one broker factory (`daemon.brokers`): options, adapters and capabilities from settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.alpaca.broker import AlpacaBroker
from adapters.base import BrokerOptions, OrderRequest
from adapters.sim.broker import SimBroker
from daemon.brokers import broker_capabilities, broker_options, build_broker, sim_broker
from daemon.events import OrderSide, Quote
from daemon.settings import Settings, load_settings
from ledger.conventions import LotMethod

KEYS = {"TLH_ALPACA__API_KEY": "PKTESTKEY0123456789", "TLH_ALPACA__SECRET_KEY": "s" * 24}
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def alpaca(mode: str, live_trading: bool = False, paper: bool = True) -> Settings:
    """Return settings selecting Alpaca in `mode`."""
    return load_settings(
        None,
        {
            "TLH_BROKER": "alpaca",
            "TLH_MODE": mode,
            "TLH_LIVE_TRADING_ENABLED": str(live_trading).lower(),
            "TLH_ALPACA__PAPER": str(paper).lower(),
            **KEYS,
        },
    )


@pytest.mark.parametrize(
    ("mode", "live_trading", "paper", "orders_allowed", "live"),
    [
        ("dry_run", False, True, False, False),
        ("dry_run", True, False, False, True),  # a dry run may watch the live account
        ("paper", False, True, True, False),
        ("paper", True, True, True, False),
        ("live", True, False, True, True),
    ],
)
def test_the_daemon_decides_whether_orders_leave_and_money_is_real(
    mode: str, live_trading: bool, paper: bool, orders_allowed: bool, live: bool
) -> None:
    """README "From paper to live": orders leave in mode paper, or live with
    live_trading_enabled; the live account needs live_trading_enabled (and mode not paper)."""
    options = broker_options(alpaca(mode, live_trading, paper))

    assert options == BrokerOptions(orders_allowed=orders_allowed, live=live)


@pytest.mark.parametrize(
    ("mode", "live_trading", "paper", "rest_url", "orders_allowed"),
    [
        ("dry_run", False, False, "https://paper-api.alpaca.markets", False),
        ("dry_run", True, False, "https://api.alpaca.markets", False),
        ("paper", True, True, "https://paper-api.alpaca.markets", True),
        ("live", True, False, "https://api.alpaca.markets", True),
    ],
)
def test_alpaca_is_built_from_its_section_and_the_daemons_options(
    mode: str, live_trading: bool, paper: bool, rest_url: str, orders_allowed: bool
) -> None:
    """README "From paper to live": `alpaca.paper = false` without live_trading_enabled still
    connects to paper; orders leave only as the mode allows. Building connects to nothing."""
    broker = build_broker(alpaca(mode, live_trading, paper))

    assert isinstance(broker, AlpacaBroker)
    assert (broker.config.rest_url, broker.config.orders_allowed) == (rest_url, orders_allowed)


def test_the_stale_quote_limit_reaches_the_adapter() -> None:
    """`[prices] stale_after_seconds` is the daemon's: it reaches each adapter through its
    options."""
    settings = load_settings(
        None,
        {"TLH_BROKER": "alpaca", "TLH_MODE": "paper", "TLH_PRICES__STALE_AFTER_SECONDS": "15"}
        | KEYS,
    )

    broker = build_broker(settings)

    assert broker_options(settings).stale_after_seconds == 15.0
    assert isinstance(broker, AlpacaBroker)
    assert broker.config.stale_after == 15.0


async def test_the_simulator_runs_on_the_given_clock_and_charges_the_configured_fee() -> None:
    """One simulator for `tlh run`, backtests and the demo: on the caller's clock, charging
    `[harvest] fee_per_order`."""
    settings = load_settings(None, {"TLH_HARVEST__FEE_PER_ORDER": "1.25"})
    broker = build_broker(settings, lambda: T0)
    assert isinstance(broker, SimBroker)
    events: list[object] = []
    await broker.connect(events.append)
    broker.set_quote(Quote("VTI", 100.0, 100.02, T0))

    await broker.submit(OrderRequest("c1", "taxable", "VTI", OrderSide.BUY, Decimal(2)))

    (fill,) = await broker.fills_since(None)
    assert (fill.at, fill.fees) == (T0, Decimal("1.25"))
    assert sim_broker(settings, lambda: T0).costs == broker.costs


def test_capabilities_are_known_without_connecting() -> None:
    """Issue #9 §1: capabilities are data on the adapter: Alpaca relieves FIFO, without
    specific lots; the simulator names lots."""
    at_alpaca = broker_capabilities(alpaca("paper"))
    at_sim = broker_capabilities(Settings())

    assert at_alpaca is AlpacaBroker.capabilities
    assert (at_alpaca.lot_relief.specific_lots, at_alpaca.lot_relief.method) == (
        False,
        LotMethod.FIFO,
    )
    assert at_sim is SimBroker.capabilities
    assert at_sim.lot_relief.specific_lots
