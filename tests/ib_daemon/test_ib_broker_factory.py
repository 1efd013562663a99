"""The daemon's one broker factory builds the IB adapter from ``[ib]`` and the daemon's options.

Issue #9 §1: "each adapter owns its settings model"; `daemon.brokers` hands it only its own
section and the `BrokerOptions` the daemon decides (orders allowed by the mode, live money).
Building connects to nothing.
"""

from __future__ import annotations

import pytest

from adapters.ib.broker import IBBroker
from adapters.ib.config import HOURS
from daemon.app import trading_enabled
from daemon.brokers import broker_capabilities, broker_options, build_broker
from daemon.settings import Settings, load_settings
from ledger.conventions import LotMethod

ACCOUNT = "DU1234567"


def ib(mode: str, **variables: str) -> Settings:
    """Return settings selecting IB in `mode` (port 1: nothing listens there)."""
    return load_settings(
        None,
        {
            "TLH_BROKER": "ib",
            "TLH_MODE": mode,
            "TLH_IB__ACCOUNT": ACCOUNT,
            "TLH_IB__PORT": "1",
            **variables,
        },
    )


@pytest.mark.parametrize(
    ("mode", "variables", "readonly", "orders_allowed", "live"),
    [
        ("dry_run", {}, True, False, False),
        ("paper", {}, False, True, False),
        ("paper", {"TLH_IB__READONLY": "true"}, True, False, False),
        (
            "live",
            {"TLH_LIVE_TRADING_ENABLED": "true", "TLH_IB__PORT": "4001"},
            False,
            True,
            True,
        ),
    ],
)
def test_ib_is_built_from_its_section_and_the_daemons_options(
    mode: str, variables: dict[str, str], readonly: bool, orders_allowed: bool, live: bool
) -> None:
    """README "From paper to live": a dry run connects read-only and places nothing; paper
    trades; `[ib] readonly` wins over the mode (the daemon then denies its orders, as in a
    dry run, rather than have the adapter refuse them); live needs live_trading_enabled."""
    broker = build_broker(ib(mode, **variables))

    assert isinstance(broker, IBBroker)
    c = broker.config
    assert (c.account, c.readonly, c.orders_allowed, c.live) == (
        ACCOUNT,
        readonly,
        orders_allowed,
        live,
    )
    assert not broker.ib.isConnected()
    assert trading_enabled(settings := ib(mode, **variables), broker) is orders_allowed
    assert broker_options(settings).orders_allowed is orders_allowed


def test_the_stale_quote_limit_and_timings_reach_the_adapter() -> None:
    """`[prices] stale_after_seconds` is the daemon's and reaches the adapter through its
    options; `[ib]` timeouts and the reconnect cap are its own."""
    broker = build_broker(
        ib(
            "paper",
            TLH_PRICES__STALE_AFTER_SECONDS="15",
            TLH_IB__TIMEOUT_SECONDS="4",
            TLH_IB__RECONNECT_MAX_SECONDS="20",
        )
    )

    assert isinstance(broker, IBBroker)
    c = broker.config
    assert (c.stale_after, c.connect_timeout, c.request_timeout, c.backoff) == (
        15.0,
        4.0,
        4.0,
        (1.0, 20.0),
    )


@pytest.mark.parametrize(
    ("lot_method", "specific", "method"),
    [("fifo", False, LotMethod.FIFO), ("hifo", False, LotMethod.HIFO), ("specific", True, None)],
)
def test_capabilities_follow_the_declared_lot_method_without_connecting(
    lot_method: str, specific: bool, method: LotMethod | None
) -> None:
    """Issue #9 §2: IB relieves lots by the account's Tax Optimizer default, which `[ib]
    lot_method` declares; with ``specific`` the user picks lots after the trade. Whole shares
    only, limit and market orders, regular hours."""
    harvest = lot_method if method is not None else "fifo"  # the ledger relieves as IB does
    settings = ib("paper", TLH_IB__LOT_METHOD=lot_method, TLH_HARVEST__LOT_METHOD=harvest)
    caps = broker_capabilities(settings)

    assert caps.lot_relief.specific_lots is specific
    assert caps.lot_relief.chosen_by_user is specific
    if method is not None:
        assert caps.lot_relief.method is method
    assert (caps.fractional, caps.order_types, caps.hours) == (
        False,
        frozenset({"market", "limit"}),
        HOURS,
    )
    assert build_broker(settings).capabilities == caps
