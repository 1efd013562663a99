"""`tlh doctor`'s IB checks (`adapters.base.SelfChecks`), connected or not.

Issue #9 §4: connection, account, permissions (read-only vs. orders allowed), market-data type,
and the lot method, with the reminder to check IB's Tax Optimizer default.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fake_tws import FakeTWS
from ibkit import PAPER

from adapters.base import BrokerOptions, CheckResult, SelfChecks
from adapters.ib.broker import IBBroker

pytestmark = pytest.mark.timeout(30)

LIVE = BrokerOptions(orders_allowed=True, live=True)


def by_name(results: list[CheckResult] | tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


async def test_all_checks_pass_against_a_reachable_gateway(
    brokers: Callable[..., IBBroker],
) -> None:
    """Connected, the account managed, orders allowed, live data, the lot-method reminder."""
    broker = brokers()
    assert isinstance(broker, SelfChecks)
    checks = by_name(list(await broker.doctor_checks()))
    assert all(c.ok for c in checks.values()), checks
    assert "server version 178" in checks["ib connection"].detail
    assert "DU1234567 is among" in checks["ib account"].detail
    assert "Tax Optimizer" in checks["ib lot method"].detail
    assert '"First In, First Out"' in checks["ib lot method"].detail


async def test_an_unreachable_gateway_fails_the_connection_check(
    tws: FakeTWS, brokers: Callable[..., IBBroker]
) -> None:
    """Down: the connection and account checks fail; the configuration checks still run."""
    await tws.go_down()
    checks = by_name(list(await brokers().doctor_checks()))
    assert not checks["ib connection"].ok
    assert not checks["ib account"].ok
    assert checks["ib lot method"].ok


async def test_delayed_data_is_refused_for_live_trading(
    tws: FakeTWS,
    brokers: Callable[..., IBBroker],
) -> None:
    """Delayed (15-20 min) quotes cannot price live orders; in paper they are allowed."""
    live = brokers(options=LIVE, settings={"market_data_type": "delayed"})
    assert not by_name(list(await live.doctor_checks()))["ib market data"].ok
    paper = brokers(options=PAPER, settings={"market_data_type": "delayed", "client_id": 18})
    assert by_name(list(await paper.doctor_checks()))["ib market data"].ok


async def test_specific_lots_name_the_deadline(brokers: Callable[..., IBBroker]) -> None:
    """``specific``: pick the lots in the Tax Optimizer before 8:30 PM ET on the trade day."""
    checks = by_name(list(await brokers(settings={"lot_method": "specific"}).doctor_checks()))
    assert "8:30 PM ET" in checks["ib lot method"].detail
