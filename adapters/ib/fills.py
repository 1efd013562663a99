"""Join each execution with its commission report, so that its fill is emitted once, complete.

TWS reports an execution (``execDetails``) and its commission (``commissionReport``) as two
messages, keyed by ``execId``. The daemon journals each execution once (`OrderManager.on_fill`
skips repeats), with the fees the first delivery carries: a fee that came later could not be
added. So a live execution is held until its commission report arrives, then emitted as one
`Fill` whose `fees` is the commission. TWS sends the report right after the execution; if none
came within ``commission_wait`` seconds (5 by default), the fill is emitted without fees rather
than held back from the ledger, and a warning names the execution (``ib_commission_missing``);
a report that arrives after that is logged (``ib_commission_late``) with its amount, for the
user to book by hand.

`fills_since` (through `commission_for`) waits the same way for executions whose report has
not come yet, so both paths journal the same fees; a report that comes after it gave up is
logged as late too. While an order has executions waiting here, its status updates wait too:
the order manager sees the fill before the order's "filled".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from ib_async import CommissionReport, Trade
from ib_async import Fill as IbFill

from adapters.ib.parsing import MalformedMessage, commission_of

log = structlog.get_logger("tlh.ib.fills")


@dataclass(slots=True)
class _Waiting:
    fill: IbFill
    timer: asyncio.TimerHandle
    waiters: list[asyncio.Future[Decimal | None]] = field(default_factory=list)


@dataclass(slots=True)
class FillStats:
    """Counters of executions and their commissions."""

    executions: int = 0
    joined: int = 0
    without_commission: int = 0
    late_commissions: int = 0


class CommissionJoin:
    """Hold live executions until their commission report comes (or `wait` seconds pass)."""

    def __init__(
        self,
        wait: float,
        emit: Callable[[IbFill, Decimal | None], None],
        *,
        order_idle: Callable[[int], None],
    ) -> None:
        self.wait = wait
        self.stats = FillStats()
        self._emit = emit
        self._order_idle = order_idle
        self._waiting: dict[str, _Waiting] = {}
        self._given_up: set[str] = set()
        self._reports: dict[str, Decimal] = {}  # execId -> commission, for fills_since
        self._pending_futures: dict[str, list[asyncio.Future[Decimal | None]]] = {}

    def busy(self, perm_id: int) -> bool:
        """Return whether an execution of order `perm_id` waits for its commission."""
        return any(w.fill.execution.permId == perm_id for w in self._waiting.values())

    def on_execution(self, trade: Trade, fill: IbFill) -> None:
        """Handle a live execution (ib_async's ``execDetailsEvent``)."""
        self.stats.executions += 1
        exec_id = fill.execution.execId
        commission = _commission(fill)
        if commission is not None:
            self._emit(fill, commission)
            return
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.wait, self._give_up, exec_id)
        self._waiting[exec_id] = _Waiting(fill, timer)

    def on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        """Handle a commission report (ib_async's ``commissionReportEvent``)."""
        exec_id = report.execId
        try:
            commission = commission_of(fill)
        except MalformedMessage as exc:
            log.warning("ib_commission_malformed", exec_id=exec_id, error=str(exc))
            commission = None
        if commission is not None:
            self._reports[exec_id] = commission
        for future in self._pending_futures.pop(exec_id, []):
            if not future.done():
                future.set_result(commission)
        waiting = self._waiting.pop(exec_id, None)
        if waiting is not None:
            waiting.timer.cancel()
            self.stats.joined += 1
            self._emit(waiting.fill, commission)
            self._idle(waiting.fill)
        if exec_id in self._given_up:
            self._given_up.discard(exec_id)
            self.stats.late_commissions += 1
            log.warning(
                "ib_commission_late",
                exec_id=exec_id,
                commission=str(commission),
                note="the fill was journaled without it: book this fee by hand",
            )

    def _give_up(self, exec_id: str) -> None:
        waiting = self._waiting.pop(exec_id, None)
        if waiting is None:
            return
        self._mark_missing(exec_id, "stream")
        self._emit(waiting.fill, None)
        self._idle(waiting.fill)

    def _mark_missing(self, exec_id: str, source: str) -> None:
        """Count a fill delivered without its commission; flag a report that comes later."""
        self.stats.without_commission += 1
        self._given_up.add(exec_id)
        log.warning("ib_commission_missing", exec_id=exec_id, waited=self.wait, source=source)

    def _idle(self, fill: IbFill) -> None:
        perm_id = fill.execution.permId
        if not self.busy(perm_id):
            self._order_idle(perm_id)

    async def commission_for(
        self, fill: IbFill, merged: Callable[[str], IbFill | None]
    ) -> Decimal | None:
        """Return the commission of an execution read from ``reqExecutions``, waiting up to
        `wait` seconds for its report; None when none came.

        `merged(execId)` returns ib_async's own copy of the execution (``ib.wrapper.fills``),
        which a report updates in place even when no event fires for it (an order that ended
        before this connection): requesting executions again yields copies with empty reports.
        """
        exec_id = fill.execution.execId
        known = self._reports.get(exec_id)
        if known is not None:
            return known
        commission = _commission(merged(exec_id) or fill)
        if commission is not None:
            return commission
        future: asyncio.Future[Decimal | None] = asyncio.get_running_loop().create_future()
        self._pending_futures.setdefault(exec_id, []).append(future)
        try:
            return await asyncio.wait_for(future, self.wait)
        except TimeoutError:
            commission = _commission(merged(exec_id) or fill)
            if commission is None:  # read without fees: a report after this is flagged late
                self._mark_missing(exec_id, "executions")
            return commission
        finally:
            futures = self._pending_futures.get(exec_id)
            if futures is not None and future in futures:
                futures.remove(future)
                if not futures:
                    del self._pending_futures[exec_id]

    def close(self) -> None:
        """Cancel the timers (nothing more is emitted)."""
        for waiting in self._waiting.values():
            waiting.timer.cancel()
        self._waiting.clear()


def _commission(fill: IbFill) -> Decimal | None:
    try:
        return commission_of(fill)
    except MalformedMessage:
        return None
