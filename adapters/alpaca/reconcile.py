"""Reconcile the daemon with the Alpaca account: on start and after every stream reconnect.

Alpaca's stream does not replay what it sent while we were away, so each pass:

1. reloads the persisted halts of this account into the engine;
2. after a reconnect, resumes open intents (each is looked up by client order id);
3. reads the broker's positions, then its open orders (paged), then its FILL activities
   (paged, after a persisted watermark) and journals every execution not journaled yet through
   the order manager, so intents account for their own fills and the ledger's lots follow the
   broker's (deduplicated by the source-independent execution key, see `parsing`);
4. compares the ledger's positions with the broker's. A symbol that differs is halted
   (`engine.halted` and `repo.set_halt`) and reported as an ``error`` log event
   ``reconcile_mismatch``. Nothing is ever traded to make them agree: a person clears the halt.

Executions in flight make positions and fills disagree for a moment, so a mismatch on a symbol
with an open order is read again (up to three times) before it halts. A sale the ledger could
not relieve (the history holds fewer shares than it sells, e.g. shares transferred in) is not
journaled: it halts its symbol instead, so the journal never holds an entry the ledger rejects.

The logic only needs the `Broker` interface plus `open_orders`; it lives here because Alpaca is
its first user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import structlog

from adapters.storage.repository import Repository
from daemon.events import Fill, OrderSide
from ledger.model import Action, Trade

if TYPE_CHECKING:
    from daemon.engine import HarvestEngine

log = structlog.get_logger("tlh.alpaca.reconcile")

START = "start"
WATERMARK_OVERLAP = timedelta(days=1)
MISMATCH_READS = 3
ZERO = Decimal(0)
NEW_YORK = ZoneInfo("America/New_York")


class OpenOrder(Protocol):
    """What reconciliation needs of an open order."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def symbol(self) -> str: ...


class AccountBroker(Protocol):
    """The broker operations reconciliation uses."""

    name: str
    account: str

    async def positions(self) -> dict[tuple[str, str], Decimal]: ...
    async def fills_since(self, since: datetime | None) -> list[Fill]: ...
    async def open_orders(self) -> Iterable[OpenOrder]: ...
    async def subscribe(self, symbols: set[str]) -> None: ...


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


def fill_trade(fill: Fill, seq: int, source: str) -> Trade:
    """Return the ledger trade a broker fill journals as (lot ids as the order manager makes)."""
    day = fill.at.astimezone(NEW_YORK).date()
    buy = fill.side is OrderSide.BUY
    return Trade(
        seq,
        day,
        fill.account,
        Action.BUY if buy else Action.SELL,
        fill.symbol,
        fill.quantity,
        fill.price,
        fill.fees,
        f"{fill.symbol}-{day:%Y%m%d}-{fill.execution_id}" if buy else None,
        fill.at,
        f"{source}:fill:{fill.execution_id}",
    )


class Reconciler:
    """Bring the journal, ledger and halts in line with one broker account."""

    def __init__(
        self, *, engine: HarvestEngine, repo: Repository, broker: AccountBroker, pause: float = 0.5
    ) -> None:
        self._engine = engine
        self._repo = repo
        self._broker = broker
        self._pause = pause
        self._lock = asyncio.Lock()
        self._start_begun = False
        self._journaled: set[str] = set()  # external ids of the journal, read up to `_seq`
        self._seq = 0
        self.passes = 0
        self.mismatches: dict[str, tuple[Decimal, Decimal]] = {}

    @property
    def _watermark_key(self) -> str:
        return f"{self._broker.name}:{self._broker.account}:fills_after"

    async def run(self, reason: str) -> None:
        """Reconcile now; a resync asked for before the start pass is covered by that pass."""
        if reason == START:
            self._start_begun = True
        elif not self._start_begun:
            log.info("reconcile_deferred", reason=reason)
            return
        async with self._lock, self._engine.lock:
            await self._pass(reason)

    async def _pass(self, reason: str) -> None:
        engine = self._engine
        await self._load_halts()
        if reason != START:
            await engine.orders.resume()
        for read in range(1, MISMATCH_READS + 1):
            broker_positions = await self._broker.positions()
            open_orders = list(await self._broker.open_orders())
            fills = await self._import_fills()
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
            if halt.account in (None, self._broker.account) and halt.symbol not in (
                self._engine.halted
            ):
                self._engine.halted.add(halt.symbol)
                self._engine.refresh_trigger(halt.symbol)

    async def _read_journal(self) -> None:
        """Learn the external ids journaled since the last pass (by the streams, too)."""
        for record in await self._repo.load_journal(after_seq=self._seq):
            if record.external_id is not None:
                self._journaled.add(record.external_id)
            self._seq = max(self._seq, record.seq)

    async def _import_fills(self) -> int:
        """Journal the broker's executions not journaled yet; return how many were read."""
        raw = await self._repo.get_state(self._watermark_key)
        since = datetime.fromisoformat(raw) if raw else None
        fills = await self._broker.fills_since(since)
        await self._read_journal()
        orders = self._engine.orders
        ours = {i.intent_id for i in orders.open_intents}
        for fill in fills:
            external_id = f"{self._broker.name}:{fill.execution_id}"
            if external_id in self._journaled:
                continue
            if fill.client_order_id not in ours and not self._relievable(fill):
                await self._halt(
                    fill.symbol,
                    "reconcile: a sale the ledger cannot relieve "
                    f"({fill.quantity} sold, execution {fill.execution_id})",
                    sold=fill.quantity,
                    ledger_qty=self._position(fill.symbol),
                )
                continue
            await orders.on_fill(fill, self._broker.name)
            self._journaled.add(external_id)
        if fills:
            newest = max(f.at for f in fills) - WATERMARK_OVERLAP
            if since is None or newest > since:
                await self._repo.set_state(self._watermark_key, newest.isoformat())
        return len(fills)

    def _position(self, symbol: str) -> Decimal:
        return self._engine.ledger.position(self._broker.account, symbol)

    def _relievable(self, fill: Fill) -> bool:
        return fill.side is OrderSide.BUY or fill.quantity <= self._position(fill.symbol)

    def _compare(
        self, broker_positions: dict[tuple[str, str], Decimal]
    ) -> dict[str, tuple[Decimal, Decimal]]:
        return compare_positions(
            self._engine.ledger.positions(), broker_positions, self._broker.account
        )

    async def _check_orders(self, open_orders: list[OpenOrder]) -> None:
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
        await self._repo.set_halt(symbol, reason, account=self._broker.account)
        log.error(
            "reconcile_mismatch",
            symbol=symbol,
            account=self._broker.account,
            reason=reason,
            **{k: str(v) for k, v in details.items()},
        )
