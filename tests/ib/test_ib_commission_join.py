"""Joining executions with commission reports by execId (`adapters.ib.fills.CommissionJoin`).

The daemon journals each execution once, with the fees of its first delivery
(`daemon.orders.OrderManager.on_fill`), so a live execution is held until its commission
report comes, and emitted without one only after `commission_wait` seconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from ib_async import CommissionReport, Contract, Execution, Order, OrderStatus, Trade
from ib_async import Fill as IbFill

from adapters.ib.fills import CommissionJoin

pytestmark = pytest.mark.timeout(10)


def execution(exec_id: str = "e1", perm_id: int = 7) -> tuple[Trade, IbFill]:
    trade = Trade(Contract(symbol="VTI"), Order(permId=perm_id), OrderStatus(), [], [])
    ex = Execution(execId=exec_id, time=datetime.now(UTC), permId=perm_id, shares=1, price=1)
    return trade, IbFill(trade.contract, ex, CommissionReport(), datetime.now(UTC))


def report(fill: IbFill, amount: float) -> CommissionReport:
    fill.commissionReport.execId = fill.execution.execId
    fill.commissionReport.commission = amount
    return fill.commissionReport


class Recorder:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, Decimal | None]] = []
        self.idle: list[int] = []
        self.changed = asyncio.Event()

    def emit(self, fill: IbFill, commission: Decimal | None) -> None:
        self.emitted.append((fill.execution.execId, commission))
        self.changed.set()

    def order_idle(self, perm_id: int) -> None:
        self.idle.append(perm_id)


async def test_an_execution_waits_for_its_commission_then_is_emitted_once() -> None:
    """The fill is emitted when its report comes, with the commission, and only then."""
    seen = Recorder()
    join = CommissionJoin(5.0, seen.emit, order_idle=seen.order_idle)
    trade, fill = execution()
    join.on_execution(trade, fill)
    assert seen.emitted == []
    assert join.busy(7)
    join.on_commission(trade, fill, report(fill, 1.25))
    assert seen.emitted == [("e1", Decimal("1.25"))]
    assert seen.idle == [7]
    assert not join.busy(7)


async def test_without_a_report_the_fill_is_emitted_after_the_wait() -> None:
    """No report within the wait: emitted without fees (not held from the ledger); a report
    that comes later is only logged and counted."""
    seen = Recorder()
    join = CommissionJoin(0.05, seen.emit, order_idle=seen.order_idle)
    trade, fill = execution()
    join.on_execution(trade, fill)
    await asyncio.wait_for(seen.changed.wait(), 2)
    assert seen.emitted == [("e1", None)]
    assert join.stats.without_commission == 1
    join.on_commission(trade, fill, report(fill, 1.0))
    assert seen.emitted == [("e1", None)]
    assert join.stats.late_commissions == 1


async def test_a_read_execution_waits_for_its_report_too() -> None:
    """fills_since's executions whose report has not come wait for it (same fees as the
    stream's fill); ib_async's merged copy answers when it holds the report already."""
    seen = Recorder()
    join = CommissionJoin(2.0, seen.emit, order_idle=seen.order_idle)
    trade, fill = execution()
    waiting = asyncio.ensure_future(join.commission_for(fill, lambda _: None))
    await asyncio.sleep(0)
    join.on_commission(trade, fill, report(fill, 2.5))
    assert await waiting == Decimal("2.5")
    _, other = execution("e2")
    _, merged = execution("e2")
    report(merged, 0.75)
    assert await join.commission_for(other, {"e2": merged}.get) == Decimal("0.75")


async def test_a_read_execution_whose_report_comes_too_late_is_flagged() -> None:
    """fills_since gave up waiting, so its fill carries no fees; the report that comes after
    is logged and counted for the user to book, as on the stream's path (module docstring of
    `adapters.ib.fills`: a late fee is never silently lost)."""
    seen = Recorder()
    join = CommissionJoin(0.05, seen.emit, order_idle=seen.order_idle)
    trade, fill = execution()
    assert await join.commission_for(fill, lambda _: None) is None
    assert join.stats.without_commission == 1
    join.on_commission(trade, fill, report(fill, 1.0))
    assert join.stats.late_commissions == 1
    assert seen.emitted == []
