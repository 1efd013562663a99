"""Reconcile the daemon with a broker account: on start, after reconnects, and on a schedule.

Runs in the daemon for every broker that reports one account (`adapters.base.AccountReports`),
through the broker port only: `positions`, `open_orders`, `fills_since`, and the order
manager's lookups by client order id. A broker whose streams do not replay what they sent
while away asks for a pass after reconnecting (`adapters.base.ResyncRequests`). Each pass:

1. reloads the persisted halts of this account into the engine;
2. after a reconnect, resumes open intents (each is looked up by client order id);
3. reads the broker's positions, then its open orders, then its fills (after a persisted
   watermark) and hands every one to the order manager's `on_fill`, the one path that
   journals fills: it skips what is journaled already and refuses, halting its symbol, an
   entry the ledger would reject (a sale of shares the history does not explain);
4. journals and applies the broker's non-trade activities after a persisted watermark
   (`adapters.base.ActivityReports`, `daemon.corporate_actions`): mergers, symbol changes,
   spin-offs, dividend reinvestments, transfers in and out; one it cannot apply halts its
   symbol, named, and the watermark stays before one that may apply later (a spin-off
   awaiting its basis, one the ledger refused for lots it lacks), so it is read again;
5. journals the splits in effect at the broker for the symbols the ledger then holds
   (`adapters.base.SplitReports`) through the engine's `on_split`, which journals each once:
   the broker has applied them to its positions, so the ledger follows before the two are
   compared (a calendar that cannot be read is logged, and a split it hides is a mismatch);
6. compares the ledger's positions with the broker's. A symbol that differs is halted
   (`engine.halted` and `repo.set_halt`) and reported as an ``error`` log event
   ``reconcile_mismatch``. Nothing is ever traded to make them agree: a person clears the halt.

Executions in flight make positions and fills disagree for a moment, so a mismatch on a symbol
with an open order is read again (up to three times) before it halts.

`OrderWatch` keeps orders in flight honest while the session runs: every ``[orders]
poll_seconds`` it looks each one up at the broker (a fill whose stream event was lost on a
connection that stayed up is noticed there), and every ``reconcile_seconds`` while orders are
in flight it runs a reconciliation pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog

from adapters.base import ActivityReports, Broker, BrokerError, OrderSnapshot, SplitReports
from adapters.storage.repository import Repository
from daemon.corporate_actions import apply_activities

if TYPE_CHECKING:
    from daemon.engine import HarvestEngine

log = structlog.get_logger("tlh.reconcile")

START = "start"
WATERMARK_OVERLAP = timedelta(days=1)
MISMATCH_READS = 3
ZERO = Decimal(0)
NEW_YORK = ZoneInfo("America/New_York")


def _key(symbol: str) -> str:
    # Alpaca names crypto pairs BTC/USD in orders but BTCUSD in positions.
    return symbol.replace("/", "")


def compare_positions(
    ledger_positions: dict[tuple[str, str], Decimal],
    broker_positions: dict[tuple[str, str], Decimal],
    account: str,
) -> dict[str, tuple[Decimal, Decimal]]:
    """Return {symbol: (ledger qty, broker qty)} for every position of `account` that differs."""
    ledger = {_key(s): (s, q) for (a, s), q in ledger_positions.items() if a == account}
    broker = {_key(s): (s, q) for (a, s), q in broker_positions.items() if a == account}
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for key in ledger.keys() | broker.keys():
        ledger_symbol, ledger_qty = ledger.get(key, ("", ZERO))
        broker_symbol, broker_qty = broker.get(key, ("", ZERO))
        if ledger_qty != broker_qty:
            out[ledger_symbol or broker_symbol] = (ledger_qty, broker_qty)
    return out


class Reconciler:
    """Bring the journal, ledger and halts in line with one broker account."""

    def __init__(
        self,
        *,
        engine: HarvestEngine,
        repo: Repository,
        broker: Broker,
        account: str,
        pause: float = 0.5,
    ) -> None:
        self._engine = engine
        self._repo = repo
        self._broker = broker
        self._account = account
        self._pause = pause
        self._lock = asyncio.Lock()
        self._start_begun = False
        self.passes = 0
        self.last_pass: float | None = None  # time.monotonic() of the last finished pass
        self.resync_asked: float | None = None  # time.monotonic() of the last reconnect's ask
        self.failure = ""  # why the last pass failed ("" when it succeeded)
        self.mismatches: dict[str, tuple[Decimal, Decimal]] = {}

    @property
    def _watermark_key(self) -> str:
        return f"{self._broker.name}:{self._account}:fills_after"

    async def run(self, reason: str) -> None:
        """Reconcile now; a resync asked for before the start pass is covered by that pass."""
        if reason == START:
            self._start_begun = True
        elif not self._start_begun:
            log.info("reconcile_deferred", reason=reason)
            return
        async with self._lock, self._engine.lock:
            try:
                await self._pass(reason)
            except Exception as exc:
                self.failure = str(exc) or type(exc).__name__
                raise
            self.failure = ""

    async def resync(self, reason: str) -> None:
        """Reconcile because the broker asked after a reconnect (`ResyncRequests`): until a
        pass finishes after this, the daemon is not reconciled (`problem`)."""
        self.resync_asked = time.monotonic()
        await self.run(reason)

    def problem(self) -> str:
        """Return why the daemon is not reconciled with the broker now, "" when it is: the
        last pass succeeded, after the last reconnect."""
        if self.failure:
            return f"the last reconciliation failed: {self.failure}"
        if self.last_pass is None:
            return "not reconciled yet"
        if self.resync_asked is not None and self.resync_asked > self.last_pass:
            return "not reconciled since the broker reconnected"
        return ""

    async def _pass(self, reason: str) -> None:
        engine = self._engine
        await self._load_halts()
        if reason != START:
            await engine.orders.resume()
        for read in range(1, MISMATCH_READS + 1):
            broker_positions = await self._broker.positions()
            open_orders = list(await self._broker.open_orders())
            fills = await self._import_fills()
            await self._import_activities()
            await self._journal_splits()
            mismatches = self._compare(broker_positions)
            busy = {_key(o.symbol) for o in open_orders}
            busy |= {_key(i.symbol) for i in engine.orders.open_intents}
            if not any(_key(s) in busy for s in mismatches) or read == MISMATCH_READS:
                break
            await asyncio.sleep(self._pause)
        self.mismatches = mismatches
        for symbol, (ledger_qty, broker_qty) in sorted(mismatches.items()):
            await self._halt(
                symbol,
                f"reconcile: broker holds {broker_qty}, ledger {ledger_qty}",
                ledger_qty=ledger_qty,
                broker_qty=broker_qty,
            )
        await self._check_orders(open_orders)
        if reason != START:
            await self._broker.subscribe(engine.watched_symbols())
        self.passes += 1
        self.last_pass = time.monotonic()
        log.info(
            "reconciled",
            reason=reason,
            fills=fills,
            positions=len(broker_positions),
            open_orders=len(open_orders),
            mismatches=sorted(mismatches),
        )

    async def _load_halts(self) -> None:
        for halt in await self._repo.active_halts():
            if halt.account in (None, self._account) and halt.symbol not in (self._engine.halted):
                self._engine.halted.add(halt.symbol)
                self._engine.refresh_trigger(halt.symbol)

    async def _journal_splits(self) -> None:
        """Journal the splits in effect at the broker for this account's symbols."""
        broker = self._broker
        if not isinstance(broker, SplitReports):
            return
        held = {s for (account, s) in self._engine.ledger.positions() if account == self._account}
        try:
            splits = await broker.splits_due(held)
        except BrokerError as exc:
            log.warning("reconcile_splits_unknown", error=str(exc)[:200])
            return
        for split in splits:
            await self._engine.on_split(split)

    async def _import_activities(self) -> None:
        """Journal and apply the broker's non-trade activities after the watermark."""
        broker = self._broker
        if not isinstance(broker, ActivityReports):
            return
        key = f"{broker.name}:{self._account}:activities_after"
        raw = await self._repo.get_state(key)
        since = datetime.fromisoformat(raw) if raw else None
        activities = await broker.activities_since(since)
        applied = await apply_activities(
            self._engine,
            self._repo,
            activities,
            account=self._account,
            source=f"{broker.name}:activity",
            halt=lambda symbol, reason: self._halt(symbol, reason),
        )
        if activities:
            # Never past an activity that may still apply (a spin-off awaiting its basis):
            # it is read again on every pass until it is journaled.
            newest = max(a.at for a in activities)
            if applied.waiting is not None:
                newest = min(newest, applied.waiting)
            mark = newest - WATERMARK_OVERLAP
            if since is None or mark > since:
                await self._repo.set_state(key, mark.isoformat())

    async def _import_fills(self) -> int:
        """Hand the broker's fills after the watermark to `on_fill`; return how many were read.

        `on_fill` journals each execution once and refuses what the ledger would reject, so
        this needs no check of its own: a fill seen before is a repeat there.
        """
        raw = await self._repo.get_state(self._watermark_key)
        since = datetime.fromisoformat(raw) if raw else None
        fills = await self._broker.fills_since(since)
        for fill in fills:
            await self._engine.orders.on_fill(fill, self._broker.name)
        if fills:
            newest = max(f.at for f in fills) - WATERMARK_OVERLAP
            if since is None or newest > since:
                await self._repo.set_state(self._watermark_key, newest.isoformat())
        return len(fills)

    def _compare(
        self, broker_positions: dict[tuple[str, str], Decimal]
    ) -> dict[str, tuple[Decimal, Decimal]]:
        return compare_positions(self._engine.ledger.positions(), broker_positions, self._account)

    async def _check_orders(self, open_orders: list[OrderSnapshot]) -> None:
        """Halt a symbol with an open tlh order that no intent of ours knows."""
        for order in open_orders:
            cid = order.client_order_id
            if cid.startswith("tlh-") and await self._repo.get_intent(cid) is None:
                await self._halt(
                    order.symbol, f"reconcile: open order {cid} has no intent", client_order_id=cid
                )

    async def _halt(self, symbol: str, reason: str, **details: object) -> None:
        engine = self._engine
        engine.halted.add(symbol)
        engine.refresh_trigger(symbol)
        await self._repo.set_halt(symbol, reason, account=self._account)
        log.error(
            "reconcile_mismatch",
            symbol=symbol,
            account=self._account,
            reason=reason,
            **{k: str(v) for k, v in details.items()},
        )


class OrderWatch:
    """Look up orders in flight at the broker, and reconcile, on a schedule during a session.

    A broker's stream may lose an order's event on a connection that stays up; nothing else
    would notice before a reconnect or a restart. While any order is in flight, each one is
    looked up every `poll_seconds` (the order manager follows what the broker says: fills are
    journaled and the replacement bought), and a reconciliation pass runs every
    `reconcile_seconds`.
    """

    def __init__(
        self,
        *,
        engine: HarvestEngine,
        reconciler: Reconciler | None,
        poll_seconds: float,
        reconcile_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._reconciler = reconciler
        self._poll = poll_seconds
        self._reconcile = reconcile_seconds
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def start(self) -> None:
        """Start watching (once; the engine calls this when it has started)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="tlh-order-watch")

    async def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.tick()
            except Exception:  # a broker error must not end the watch; the next tick retries
                log.exception("order_watch_failed")

    async def tick(self) -> None:
        """Look up the orders in flight; reconcile too when the last pass is old enough."""
        orders = self._engine.orders
        if not orders.open_intents:
            return
        async with self._engine.lock:
            looked = await orders.poll()
        self.polls += 1
        log.debug("orders_polled", orders=looked)
        reconciler = self._reconciler
        if reconciler is None or not orders.open_intents:
            return
        last = reconciler.last_pass
        if last is None or self._clock() - last >= self._reconcile:
            await reconciler.run("scheduled: orders in flight")
