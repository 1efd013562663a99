"""The IB adapter's capabilities and configuration, known without connecting.

Issue #9 §2: IB relieves lots by the account's Tax Optimizer default, which `[ib] lot_method`
declares; ``specific`` lots are picked by the user in the Tax Optimizer after the trade. The
TWS API takes whole shares only (ib_insync discussion #706). Orders leave only when the daemon
allows them and `[ib] readonly` is not set.
"""

from __future__ import annotations

import pytest

from adapters.base import BrokerOptions, LotRelief
from adapters.ib.broker import IBBroker
from adapters.ib.config import IBConfig, IBConfigError
from adapters.ib.settings import IBLotMethod, IBSettings
from ledger.conventions import LotMethod

PAPER = BrokerOptions(orders_allowed=True, live=False)
DRY = BrokerOptions(orders_allowed=False, live=False)


@pytest.mark.parametrize(
    "method", ["fifo", "lifo", "hifo", "max_lt_gain", "max_lt_loss", "max_st_gain", "max_st_loss"]
)
def test_a_fixed_method_is_modelled_as_that_method(method: str) -> None:
    """A fixed Tax Optimizer method: no lot can be named, IB relieves by the method (the
    ledger models each: `ledger.conventions.LotMethod`)."""
    caps = IBBroker.capabilities_for(IBSettings(lot_method=IBLotMethod(method)))
    assert caps.lot_relief == LotRelief(specific_lots=False, method=LotMethod(method))


def test_specific_lots_are_chosen_by_the_user_after_the_trade() -> None:
    """``specific``: the user picks each sale's lots in the Tax Optimizer (issue #9 §2)."""
    caps = IBBroker.capabilities_for(IBSettings(lot_method=IBLotMethod.SPECIFIC))
    assert caps.lot_relief.specific_lots
    assert caps.lot_relief.chosen_by_user


def test_whole_shares_limit_and_market_orders_in_the_regular_session() -> None:
    """IB orders are whole shares, market or limit, regular session only."""
    caps = IBBroker.capabilities_for(IBSettings())
    assert caps.fractional is False
    assert caps.order_types == frozenset({"market", "limit"})
    assert not caps.extended_hours
    assert "regular session" in caps.hours


def test_the_broker_carries_the_capabilities_of_its_settings() -> None:
    """The adapter's `capabilities` and `lot_relief` are those `capabilities_for` gives."""
    settings = IBSettings(account="DU1234567", lot_method=IBLotMethod.LIFO)
    broker = IBBroker.from_settings(settings, PAPER)
    assert broker.capabilities == IBBroker.capabilities_for(settings)
    assert broker.lot_relief == broker.capabilities.lot_relief
    assert broker.account == "DU1234567"


def test_read_only_unless_orders_are_allowed_and_readonly_is_off() -> None:
    """Dry run or ``readonly = true`` connects read-only and refuses orders."""
    on = IBConfig.from_settings(IBSettings(account="DU1"), PAPER)
    assert (on.readonly, on.orders_allowed) == (False, True)
    dry = IBConfig.from_settings(IBSettings(account="DU1"), DRY)
    assert (dry.readonly, dry.orders_allowed) == (True, False)
    ro = IBConfig.from_settings(IBSettings(account="DU1", readonly=True), PAPER)
    assert (ro.readonly, ro.orders_allowed) == (True, False)


def test_the_account_code_is_required() -> None:
    """The account names the ledger's account and filters IB's reports: it must be set."""
    with pytest.raises(IBConfigError, match=r"\[ib\] account is required"):
        IBConfig.from_settings(IBSettings(), PAPER)


@pytest.mark.parametrize(
    ("kind", "number"), [("live", 1), ("frozen", 2), ("delayed", 3), ("delayed_frozen", 4)]
)
def test_market_data_type_numbers(kind: str, number: int) -> None:
    """`reqMarketDataType` takes 1 live, 2 frozen, 3 delayed, 4 delayed frozen (TWS API)."""
    config = IBConfig.from_settings(IBSettings(account="DU1", market_data_type=kind), PAPER)
    assert config.market_data_number == number
