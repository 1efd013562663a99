"""The order manager: every order starts as a persisted intent (outbox) with a deterministic id.

Flow: a harvest decision saves a harvest-sell intent, then submits it with the intent id as the
client order id. Fills go to the journal (deduplicated by execution id) and the ledger. When the
sale is done, a replacement-buy intent is sized from the sale's actual proceeds and submitted,
and what its fill leaves over is bought too (`_start_replacement`). A sale above
`max_order_notional` goes out as several orders within it (`split_quantity`).

A direct index's rebalance plan (`place_plan`, issue #12 §4) is stored whole before its first
order (`daemon.plan_orders`): its sales go first, against the lots it names; its buys, sized
by what the sales raised, once every sale has ended. Every order passes the wash guard and
the same risk limits and dry run as a harvest.

Crash-only: `resume()` is both startup and recovery. It walks every open intent, asks the broker
about its client order id before (re)submitting anything, and creates the replacement of a sale
that finished while the daemon was down. A timeout or error on submit leaves the intent
`submitted` (outcome unknown) until the broker says what happened; a reject is never assumed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from adapters.base import Broker, BrokerError, OrderRequest, OrderSnapshot
from adapters.storage.records import (
    Intent,
    IntentKind,
    IntentStatus,
    JournalEntry,
    OrderEvent,
    counted_fill,
    transition_allowed,
)
from daemon.events import Fill, OrderSide, OrderStatus, OrderUpdate, Quote
from daemon.order_stats import OrderStats
from daemon.plan_orders import (
    OPEN_PLAN_KEY,
    PLAN_KEY,
    PlannedBuy,
    PlanOrder,
    StoredPlan,
    merged_buys,
    per_lot,
    size_buys,
)
from daemon.tax_optimizer import PAYLOAD_KEY, deadline, deadline_text, lots_to_select
from ledger.model import Action, Parcel
from strategies.decision import REPLACEMENT_QUOTE_MAX_AGE, Price, fresh
from strategies.index.rebalance import PlannedTrade

log = structlog.get_logger("tlh.orders")
NEW_YORK = ZoneInfo("America/New_York")
CENT = Decimal("0.01")
ZERO = Decimal(0)

_STATUS = {
    OrderStatus.NEW: IntentStatus.SUBMITTED,
    OrderStatus.ACCEPTED: IntentStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED: IntentStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED: IntentStatus.FILLED,
    OrderStatus.CANCELED: IntentStatus.CANCELED,
    OrderStatus.REJECTED: IntentStatus.REJECTED,
    OrderStatus.EXPIRED: IntentStatus.EXPIRED,
    OrderStatus.UNKNOWN: IntentStatus.SUBMITTED,
}


class Repository(Protocol):
    """The storage operations the order manager needs."""

    async def admit_intent(
        self,
        intent: Intent,
        state_key: str,
        decide: Callable[[Intent, str | None], tuple[Intent, str | None]],
    ) -> tuple[Intent, bool]: ...
    async def update_intent(
        self, intent_id: str, *, current: Intent | None = None, **changes: Any
    ) -> Intent: ...
    async def get_intent(self, intent_id: str) -> Intent | None: ...
    async def open_intents(self) -> list[Intent]: ...
    async def append_journal(self, entries: Iterable[JournalEntry]) -> list[int]: ...
    async def append_fill(
        self, entry: JournalEntry, intent: Intent, count: Callable[[], dict[str, Any]]
    ) -> tuple[list[int], Intent] | None: ...
    async def append_order_event(self, event: OrderEvent) -> int: ...
    async def finished_harvests_without_replacement(self) -> list[Intent]: ...
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...
    async def states(self, prefix: str) -> dict[str, str]: ...
    async def delete_state(self, key: str) -> bool: ...
    async def set_halt(self, symbol: str, reason: str, *, account: str | None = None) -> object: ...
    async def intents_of_kind(
        self,
        kind: IntentKind,
        statuses: Iterable[IntentStatus] = (),
        *,
        since: datetime | None = None,
    ) -> list[Intent]: ...
    def transaction(self) -> AbstractAsyncContextManager[Repository]: ...


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Hard limits no decision may exceed; `kill_switch` stops all new orders."""

    max_order_notional: Decimal = Decimal("50000")
    max_daily_notional: Decimal = Decimal("200000")
    max_harvests_per_day: int = 20
    kill_switch: bool = False


@dataclass(frozen=True, slots=True)
class HarvestPlan:
    """A decided harvest: sell these shares, buy `replacement` (or hold cash when None).

    `parcels`: the shares sold, in relief order (for the lots the user selects at a broker
    that lets them choose after the trade, `daemon.tax_optimizer`).
    """

    account: str
    symbol: str
    quantity: Decimal
    lot_id: str | None
    lot_ids: tuple[str, ...]
    replacement: str | None
    net_loss: Decimal
    estimated_tax_saved: Decimal
    parcels: tuple[Parcel, ...] = ()


def intent_id(kind: IntentKind, *parts: object) -> str:
    """Return a deterministic client order id for an intent made of `parts`."""
    digest = hashlib.sha256("|".join(str(p) for p in (kind, *parts)).encode()).hexdigest()
    return f"tlh-{_PREFIX[kind]}-{digest[:24]}"


def part_ids(
    kind: IntentKind, ident: tuple[object, ...], quantity: Decimal, count: int
) -> list[tuple[str, str]]:
    """Return the deterministic id and the "k/n" of each of `count` parts of one planned
    order of `quantity` (one part: the order's own id)."""
    if count == 1:
        return [(intent_id(kind, *ident), "1/1")]
    return [
        (intent_id(kind, *ident, quantity, f"{k}/{count}"), f"{k}/{count}")
        for k in range(1, count + 1)
    ]


def first_part(sale: Intent) -> bool:
    """Return whether `sale` is a whole harvest or the first order of one split in parts."""
    return str(sale.payload.get("part", "1/1")).startswith("1/")


def denial_kind(reason: str) -> str:
    """Return the limit a denial's reason names (e.g. "max_order_notional"), else its kind."""
    named = re.search(r"\b(max_\w+|kill switch)", reason)
    return named.group(1).replace(" ", "_") if named else reason.split(":", 1)[0]


def pending_buys_of(open_intents: Iterable[Intent], awaiting: Iterable[str] = ()) -> set[str]:
    """Return the symbols open intents will buy: open buys, the replacements of open harvest
    sales, and the `awaiting` replacements of finished sales."""
    symbols: set[str] = set(awaiting)
    for i in open_intents:
        if i.side is Action.BUY:
            symbols.add(i.symbol)
        elif i.kind is IntentKind.HARVEST_SELL and i.payload.get("replacement"):
            symbols.add(str(i.payload["replacement"]))
    return symbols


def pending_sells_of(open_intents: Iterable[Intent]) -> set[str]:
    """Return the symbols open intents sell."""
    return {i.symbol for i in open_intents if i.side is Action.SELL}


def follow_up_id(kind: IntentKind, sale_id: str, n: int = 1) -> str:
    """Return the id of the `n`th buy that spends a sale's proceeds (the first: as ever)."""
    return intent_id(kind, sale_id) if n == 1 else intent_id(kind, sale_id, n)


def split_quantity(total: Decimal, price: Decimal, max_notional: Decimal) -> list[Decimal]:
    """Split `total` shares into near-equal parts worth at most `max_notional` at `price`.

    Parts are whole shares when `total` is, else multiples of 1e-9 shares; they sum to
    `total` exactly. One part when it fits, or when not even one step would (the risk limit
    then denies it).
    """
    if price <= ZERO or total * price <= max_notional:
        return [total]
    step = Decimal(1) if total == total.to_integral_value() else SHARE_STEP
    most = (max_notional / price).quantize(step, rounding=ROUND_DOWN)
    if most <= ZERO:
        return [total]
    n = int((total / most).to_integral_value(rounding=ROUND_CEILING))
    base = (total / n).quantize(step, rounding=ROUND_DOWN)
    extra = int((total - base * n) / step)  # < n steps, spread over the first parts
    return [base + step if i < extra else base for i in range(n)]


_FOLLOW_UP = {
    IntentKind.HARVEST_SELL: IntentKind.REPLACEMENT_BUY,
    IntentKind.SWAP_BACK_SELL: IntentKind.SWAP_BACK_BUY,
}

_FOLLOWS = frozenset(_FOLLOW_UP.values())

_PREFIX = {
    IntentKind.HARVEST_SELL: "hs",
    IntentKind.REPLACEMENT_BUY: "rb",
    IntentKind.SWAP_BACK_SELL: "ss",
    IntentKind.SWAP_BACK_BUY: "sb",
    IntentKind.REBALANCE_SELL: "xs",
    IntentKind.REBALANCE_BUY: "xb",
}

JournalHook = Callable[[list[int], list[JournalEntry]], Awaitable[None]]
RECOVERY_OVERLAP = timedelta(days=1)  # broker fills are read from this long before an intent
CREATED_MARGIN = timedelta(days=7)  # how long before its trade date an intent may be stamped


class _Refused(Exception):
    """Roll back a journal entry the ledger would reject (its reason is the message)."""


ReplacementCheck = Callable[[str, str, bool], tuple[str | None, str]]
BuyCheck = Callable[[str], str | None]
SellCheck = Callable[[str, str, tuple[str, ...], Decimal, Decimal], str | None]
ParcelLookup = Callable[[str, str], Sequence[Parcel]]
DRY_RUN = "dry_run: trading is not enabled"
ENDED_KEPT = 10_000  # intents that ended here kept in memory (the latest)
SHARE_STEP = Decimal("1e-9")  # the ledger's and brokers' finest fractional share
SENT_ON = "sent_on"  # payload key: the New York day a PENDING intent was sent on
QuoteLookup = Callable[[str], Quote | None]


class OrderManager:
    """Turn harvest and rebalance plans into broker orders, exactly once, and follow them to
    the end."""

    def __init__(
        self,
        *,
        repo: Repository,
        broker: Broker,
        now: Callable[[], datetime],
        quotes: QuoteLookup,
        on_journal: JournalHook,
        risk: RiskLimits,
        trading_enabled: bool,
        slippage: Decimal = Decimal("0.002"),
        fee_per_order: Decimal = ZERO,
    ) -> None:
        self._repo = repo
        self._broker = broker
        self._now = now
        self._quotes = quotes
        self._on_journal = on_journal
        self.risk = risk
        self.trading_enabled = trading_enabled
        self._slippage = slippage
        self._fee = fee_per_order
        self._open: dict[str, Intent] = {}
        # The latest intents that ended here, as stored (written through): their id is looked
        # up again when their fills are reported again and when the next buy of a sale's
        # proceeds is sized.
        self._ended: dict[str, Intent] = {}
        # symbol -> the sales whose replacement waits on its quote, in the order they came
        # (a dict as an ordered set: replacements are sized and placed in that order).
        self._awaiting: dict[str, dict[str, None]] = {}
        # Told when a symbol starts or stops being waited on (the engine's quote gate).
        self.on_awaiting: Callable[[str], None] = lambda symbol: None
        self.harvests_completed: list[Intent] = []
        # The orders the risk limits denied (warned in the log; counted in summaries).
        self.denials: list[Intent] = []
        # The wash guard's say on a replacement when it is sent (the engine's): given the
        # sold symbol, the planned replacement and whether a fresh quote is required, return
        # the member to buy (the planned one first) or None, and the refusals.
        self.replacement_check: ReplacementCheck | None = None
        # The wash guard's say on a rebalance order (the engine's), why it may not go out or
        # None: `buy_check(symbol)` for a buy (a loss sale of anything identical within 30
        # days, household-wide); `sell_check(account, symbol, lot_ids, quantity, price)` for a
        # sale (a loss sale of shares identical ones bought within 30 days would wash).
        self.buy_check: BuyCheck = lambda symbol: None
        self.sell_check: SellCheck = lambda account, symbol, lots, quantity, price: None
        # The ledger's open parcels of a position (the engine's), in acquisition order: the
        # shares each lot of a rebalance sale holds, and the lots picked at the broker.
        self.parcels: ParcelLookup = lambda account, symbol: ()
        self._plans: dict[str, StoredPlan] = {}  # the rebalance plans whose buys are not placed
        self._advancing: set[str] = set()  # plans whose buys are being placed
        # Whole shares only at a broker without fractional shares (its capabilities).
        self._step = SHARE_STEP if broker.capabilities.fractional else Decimal(1)
        # sale id -> (number of its next buy, what the earlier ones spent, their symbol)
        self._chains: dict[str, tuple[int, Decimal, str | None]] = {}
        self._sales: dict[str, Intent] = {}  # finished sales whose proceeds are being spent
        self.halted: set[str] = set()  # symbols no order may be placed in (the engine's too)
        # Set by the pause switch (daemon.pause, issue #10 §4): the engine starts no new sale
        # while it is set; replacements of sales already filled, cancels and reconciliation
        # go on (`[risk] kill_switch` is the hard stop of every order).
        self.paused = False
        self.stats = OrderStats()  # orders by side and status, order latency (issue #10 §1)
        # Set by the engine: why the ledger would reject an entry (None: it accepts it), and
        # what to do instead of journaling one it would (halt its symbol).
        self.check_entry: Callable[[JournalEntry], str | None] = lambda entry: None
        self.on_refused: Callable[[JournalEntry, str], Awaitable[None]] = self._halt_refused

    # -- queries ---------------------------------------------------------------------------

    def pending_buy_symbols(self) -> set[str]:
        """Return the symbols a buy is open or planned for.

        Planned buys are the replacements of harvest sales still in flight and of finished
        sales waiting for a quote: they will be bought, so a loss sale of anything identical
        now would be washed by them (IRC §1091(a)).
        """
        planned = (s for p in self._plans.values() for s in p.buy_symbols)
        return pending_buys_of(self._open.values(), [*self._awaiting, *planned])

    def pending_sell_symbols(self) -> set[str]:
        """Return the symbols with a sell intent still open."""
        return pending_sells_of(self._open.values())

    def busy(self, account: str, symbol: str) -> bool:
        """Return whether an order for this position is still in flight."""
        return any(i.account == account and i.symbol == symbol for i in self._open.values())

    @property
    def plans_in_flight(self) -> set[str]:
        """Return the ids of the rebalance plans whose buys are not all placed yet."""
        return set(self._plans)

    @property
    def open_intents(self) -> list[Intent]:
        """Return the intents not yet in a terminal state."""
        return list(self._open.values())

    # -- harvests --------------------------------------------------------------------------

    async def harvest(
        self, plan: HarvestPlan, quote: Quote, kind: IntentKind = IntentKind.HARVEST_SELL
    ) -> Intent:
        """Persist sell intents for `plan` (a harvest, or a swap back) and submit them.

        A sale above `max_order_notional` is split into parts within it, each with its own
        deterministic id and its own replacement (bought with that part's proceeds). Return
        the first part's intent; when the sale is done, `plan.replacement` is bought.
        """
        started = time.perf_counter()  # the order latency runs from here to the ack
        today = self.today()
        limit = _down(quote.bid_decimal * (1 - self._slippage))
        parts = split_quantity(plan.quantity, quote.bid_decimal, self.risk.max_order_notional)
        first: Intent | None = None
        # Taken now: the ledger's parcels change as the parts fill.
        picks = self._lots_to_select(plan, parts)
        for k, quantity in enumerate(parts, 1):
            ident: tuple[object, ...] = (plan.account, plan.symbol, ",".join(plan.lot_ids), today)
            if len(parts) > 1:
                ident = (*ident, plan.quantity, f"{k}/{len(parts)}")
            saved = await self._harvest_part(
                plan,
                quote,
                kind,
                intent_id(kind, *ident),
                quantity,
                limit,
                today,
                part=f"{k}/{len(parts)}",
                select=picks[k - 1] if picks else None,
                started=started,
            )
            first = first or saved
            if saved.status is IntentStatus.DENIED:
                break  # the later parts would be denied too, or split the harvest unevenly
        assert first is not None
        return first

    async def place_plan(
        self,
        plan_id: str,
        account: str,
        trades: Sequence[PlannedTrade],
        *,
        cash: Decimal | None = None,
    ) -> list[Intent]:
        """Persist a rebalance plan's orders as intents and submit them; return them.

        Each order's id is deterministic (`intent_id` of its kind, `plan_id`, account, symbol
        and lots), so a crash or a retry never submits one twice; the sales go first and the
        buys once the sales are done (the buys spend their proceeds), and a restart resumes
        the plan where it stood (`resume`: startup and recovery are one code path).

        The plan is stored (`daemon.plan_orders`) before its first order; calling again with
        the same `plan_id` places nothing new. A sale relieves the lots it names: at a broker
        that takes a lot on the order, one order per lot, journaled against it; at IB's Tax
        Optimizer the lots to pick ride in the payload. The buys never spend more than the
        sales raised plus `cash` (default: what the plan's own prices say it spends beyond
        its sales), scaled down alike when they would. Every order passes the wash guard
        (`sell_check`, `buy_check`) and the risk limits (`max_order_notional`,
        `max_daily_notional`; not `max_harvests_per_day`), and is split within
        `max_order_notional` like a harvest. Paused (`paused`), a new plan is not started.
        """
        stored = self._plans.get(plan_id) or await self._load_plan(plan_id)
        if stored is None:
            if self.paused:
                log.info("plan_paused", plan_id=plan_id, account=account)
                return []
            stored = self._new_plan(plan_id, account, trades, cash)
            # Stored before its first order: a restart finds every order it may have sent.
            await self._save_plan(stored)
        if not stored.done:
            self._plans[plan_id] = stored
            await self._run_plan(stored)
        found = [await self._intent(o.intent_id) for o in [*stored.sales, *(stored.sized or ())]]
        return [i for i in found if i is not None]

    def _new_plan(
        self, plan_id: str, account: str, trades: Sequence[PlannedTrade], cash: Decimal | None
    ) -> StoredPlan:
        """Return the plan with its sale orders (ids, lots, parts) decided now."""
        today = self.today()
        sales = [
            order
            for t in trades
            if t.side is Action.SELL and t.quantity > ZERO
            for order in self._sale_orders(plan_id, account, t)
        ]
        buys = merged_buys(
            [
                PlannedBuy(t.symbol, t.quantity, t.price, t.reason)
                for t in trades
                if t.side is Action.BUY and t.quantity > ZERO
            ]
        )
        if cash is None:
            spend = sum((b.quantity * b.price for b in buys), ZERO)
            raise_ = sum((t.quantity * t.price for t in trades if t.side is Action.SELL), ZERO)
            cash = max(ZERO, spend - raise_)
        log.info(
            "plan_stored",
            plan_id=plan_id,
            account=account,
            sales=len(sales),
            buys=len(buys),
            cash=str(cash),
        )
        return StoredPlan(plan_id, account, today, sales, buys, cash)

    def _sale_orders(self, plan_id: str, account: str, trade: PlannedTrade) -> list[PlanOrder]:
        """Return the orders of one planned sale: per lot where the broker relieves the lot
        named (or picked) for the order, each split within `max_order_notional`."""
        relief = self._broker.capabilities.lot_relief
        parcels = list(self.parcels(account, trade.symbol))
        pieces: list[tuple[str | None, Decimal]] = [(None, trade.quantity)]
        if relief.specific_lots and trade.lot_ids:
            held: dict[str, Decimal] = {}
            for p in parcels:
                held[p.lot_id] = held.get(p.lot_id, ZERO) + p.quantity
            pieces = list(per_lot(trade.quantity, trade.lot_ids, held))
            short = trade.quantity - sum((q for _, q in pieces), ZERO)
            if short > ZERO:
                log.warning(
                    "plan_sale_short",
                    plan_id=plan_id,
                    symbol=trade.symbol,
                    lots=list(trade.lot_ids),
                    unsold=str(short),
                )
        reference = self._reference(trade.symbol, Action.SELL, trade.price)
        orders: list[PlanOrder] = []
        for lot, quantity in pieces:
            lots = (lot,) if lot is not None else trade.lot_ids
            ident: tuple[object, ...] = (plan_id, account, trade.symbol, ",".join(lots))
            parts = split_quantity(quantity, reference, self.risk.max_order_notional)
            mine = [p for p in parcels if p.lot_id == lot]
            sold = ZERO
            for (iid, n), part in zip(
                part_ids(IntentKind.REBALANCE_SELL, ident, quantity, len(parts)), parts, strict=True
            ):
                pick = None
                if relief.chosen_by_user and mine:
                    pick = lots_to_select(mine, part, skip=sold)
                sold += part
                orders.append(
                    PlanOrder(
                        intent_id=iid,
                        symbol=trade.symbol,
                        quantity=part,
                        price=trade.price,
                        lot_id=lot,
                        lot_ids=lots,
                        part=n,
                        reason=trade.reason,
                        select=pick,
                    )
                )
        return orders

    def _reference(self, symbol: str, side: Action, planned: Decimal) -> Decimal:
        """Return the price a rebalance order is limited from: the fresh bid (a sale) or ask
        (a buy), else the plan's price."""
        quote = self._quotes(symbol)
        if quote is None or not fresh(
            Price(quote.bid_decimal, quote.ask_decimal, quote.at), self._now()
        ):
            return planned
        price = quote.bid_decimal if side is Action.SELL else quote.ask_decimal
        return price if price > ZERO else planned

    async def _load_plan(self, plan_id: str) -> StoredPlan | None:
        raw = await self._repo.get_state(PLAN_KEY + plan_id)
        return None if raw is None else StoredPlan.loads(raw)

    async def _save_plan(self, plan: StoredPlan) -> None:
        """Store `plan` and, in the same transaction, mark it open (or no longer open)."""
        async with self._repo.transaction() as tx:
            await tx.set_state(PLAN_KEY + plan.plan_id, plan.dumps())
            if plan.done:
                await tx.delete_state(OPEN_PLAN_KEY + plan.plan_id)
            else:
                await tx.set_state(OPEN_PLAN_KEY + plan.plan_id, plan.trade_date.isoformat())

    async def _run_plan(self, plan: StoredPlan) -> None:
        """Place the plan's sales not placed yet (on its own day only: later, prices and the
        wash-sale window have moved), then its buys once every sale has ended."""
        if plan.sized is None:
            for order in plan.sales:
                if await self._intent(order.intent_id) is not None:
                    continue
                if plan.trade_date != self.today():
                    continue  # never sent: counts as ended unsold (`_sales_ended`)
                await self._place_sale(plan, order)
        await self._advance_plan(plan.plan_id)

    async def _place_sale(self, plan: StoredPlan, order: PlanOrder) -> None:
        """Persist one sale of `plan` (or deny it) and submit it."""
        reference = self._reference(order.symbol, Action.SELL, order.price)
        today = self.today()
        intent = Intent(
            intent_id=order.intent_id,
            kind=IntentKind.REBALANCE_SELL,
            account=plan.account,
            symbol=order.symbol,
            side=Action.SELL,
            quantity=order.quantity,
            limit_price=_down(reference * (1 - self._slippage)),
            lot_id=order.lot_id,
            reason=order.reason or "rebalance",
            payload={
                "plan": plan.plan_id,
                "lot_ids": list(order.lot_ids),
                "planned_price": str(order.price),
                "bid": str(reference),
                "trade_date": today.isoformat(),
            },
        )
        if order.part != "1/1":
            intent.payload["part"] = order.part
        if order.select is not None:
            intent.payload[PAYLOAD_KEY] = order.select
            intent.payload["select_by"] = deadline(today).isoformat()
        refusal = self.sell_check(
            plan.account, order.symbol, order.lot_ids, order.quantity, reference
        )
        await self._place_rebalance(intent, refusal)
        if order.select is not None and intent.intent_id in self._open:
            log.warning(
                "select_lots_in_tax_optimizer",
                intent_id=intent.intent_id,
                account=plan.account,
                symbol=order.symbol,
                quantity=str(order.quantity),
                lots=order.select,
                deadline=deadline_text(today),
            )

    async def _place_rebalance(self, intent: Intent, refusal: str | None) -> None:
        """Admit a new rebalance order (risk limits, dry run, the guard's `refusal`) and
        send it, or note its denial."""
        saved, created = await self._admit(intent, harvest=False, refusal=refusal)
        if not created:
            return
        if saved.status is IntentStatus.DENIED:
            self.denials.append(saved)
            log.warning(
                "rebalance_denied",
                intent_id=saved.intent_id,
                plan_id=saved.payload.get("plan"),
                side=saved.side.value,
                symbol=saved.symbol,
                reason=saved.reason,
            )
            return
        self._open[saved.intent_id] = saved
        log.info(
            "rebalance_intent",
            intent_id=saved.intent_id,
            plan_id=saved.payload.get("plan"),
            side=saved.side.value,
            symbol=saved.symbol,
            quantity=str(saved.quantity),
            limit_price=str(saved.limit_price),
        )
        await self._send(saved)  # new, so nothing to ask the broker first

    async def _sales_ended(self, plan: StoredPlan) -> list[Intent] | None:
        """Return the plan's sales once every one has ended (one never placed, on a later day,
        ended unsold), else None."""
        ended = []
        for order in plan.sales:
            sale = await self._intent(order.intent_id)
            if sale is None:
                if plan.trade_date == self.today():
                    return None
                continue
            if not sale.status.terminal:
                return None
            ended.append(sale)
        return ended

    async def _advance_plan(self, plan_id: str) -> None:
        """Place the plan's buys once every sale has ended: sized (once, stored) by what the
        sales raised, then each placed unless placed already."""
        plan = self._plans.get(plan_id)
        if plan is None or plan.done or plan_id in self._advancing:
            return
        self._advancing.add(plan_id)
        try:
            if plan.sized is None:
                sales = await self._sales_ended(plan)
                if sales is None:
                    return
                if plan.trade_date != self.today():
                    # Decided on an earlier day, its buys never sized: prices and the wash-sale
                    # window have moved, so the next rebalance decides afresh with the cash.
                    plan.sized, plan.done = [], True
                    await self._save_plan(plan)
                    self._plans.pop(plan_id, None)
                    log.info("plan_stale", plan_id=plan_id, decided=plan.trade_date.isoformat())
                    return
                plan.sized = self._size_plan_buys(plan, sales)
                await self._save_plan(plan)  # before the first buy: a restart buys the same
            for order in plan.sized:
                if await self._intent(order.intent_id) is None:
                    await self._place_buy(plan, order)
            plan.done = True
            await self._save_plan(plan)
            self._plans.pop(plan_id, None)
            log.info("plan_placed", plan_id=plan_id, buys=len(plan.sized))
        finally:
            self._advancing.discard(plan_id)

    def _size_plan_buys(self, plan: StoredPlan, sales: Sequence[Intent]) -> list[PlanOrder]:
        """Return the plan's buy orders, sized within what the sales raised plus the plan's
        cash (a sale denied only because trading is off counts as planned: the dry run shows
        the plan's orders), each split within `max_order_notional`."""
        planned = {o.intent_id: o for o in plan.sales}
        raised = ZERO
        for sale in sales:
            raised += sale.filled_notional
            if sale.status is IntentStatus.DENIED and sale.reason == DRY_RUN:
                raised += sale.quantity * planned[sale.intent_id].price
        budget = plan.cash + raised - self._fee * len(plan.buys)
        # Sized at today's asks, not the plan's prices: the sales may have taken hours, and a
        # rise would otherwise spend beyond the budget.
        buys = [replace(b, price=self._reference(b.symbol, Action.BUY, b.price)) for b in plan.buys]
        orders: list[PlanOrder] = []
        for buy, quantity in size_buys(buys, budget, self._step):
            if quantity <= ZERO:
                log.warning("plan_buy_dropped", plan_id=plan.plan_id, symbol=buy.symbol)
                continue
            if quantity != buy.quantity:
                log.info(
                    "plan_buy_scaled",
                    plan_id=plan.plan_id,
                    symbol=buy.symbol,
                    planned=str(buy.quantity),
                    quantity=str(quantity),
                    budget=str(budget),
                )
            limit = _up(self._reference(buy.symbol, Action.BUY, buy.price) * (1 + self._slippage))
            parts = split_quantity(quantity, limit, self.risk.max_order_notional)
            ident: tuple[object, ...] = (plan.plan_id, plan.account, buy.symbol, "")
            for (iid, n), part in zip(
                part_ids(IntentKind.REBALANCE_BUY, ident, quantity, len(parts)), parts, strict=True
            ):
                orders.append(
                    PlanOrder(
                        intent_id=iid,
                        symbol=buy.symbol,
                        quantity=part,
                        price=buy.price,
                        part=n,
                        reason=buy.reason,
                    )
                )
        return orders

    async def _place_buy(self, plan: StoredPlan, order: PlanOrder) -> None:
        """Persist one buy of `plan` (or deny it: the wash guard, the limits) and submit it."""
        reference = self._reference(order.symbol, Action.BUY, order.price)
        intent = Intent(
            intent_id=order.intent_id,
            kind=IntentKind.REBALANCE_BUY,
            account=plan.account,
            symbol=order.symbol,
            side=Action.BUY,
            quantity=order.quantity,
            limit_price=_up(reference * (1 + self._slippage)),
            reason=order.reason or "rebalance",
            payload={
                "plan": plan.plan_id,
                "planned_price": str(order.price),
                "ask": str(reference),
                "trade_date": self.today().isoformat(),
            },
        )
        if order.part != "1/1":
            intent.payload["part"] = order.part
        await self._place_rebalance(intent, self.buy_check(order.symbol))

    async def _resume_plans(self) -> None:
        """Continue the rebalance plans a stop interrupted (their sales not all placed, or
        their buys not all placed)."""
        for key in await self._repo.states(OPEN_PLAN_KEY):
            plan_id = key.removeprefix(OPEN_PLAN_KEY)
            plan = self._plans.get(plan_id) or await self._load_plan(plan_id)
            if plan is None or plan.done:
                await self._repo.delete_state(key)
                continue
            self._plans[plan_id] = plan
            await self._run_plan(plan)

    def _lots_to_select(
        self, plan: HarvestPlan, parts: list[Decimal]
    ) -> list[list[dict[str, str]]] | None:
        """Return, per part of `plan`, the lots the user selects at the broker, or None when
        the broker takes the lot on the order (`LotRelief.chosen_by_user`)."""
        if not (self._broker.capabilities.lot_relief.chosen_by_user and plan.parcels):
            return None
        picks, sold = [], ZERO
        for quantity in parts:
            picks.append(lots_to_select(plan.parcels, quantity, skip=sold))
            sold += quantity
        return picks

    async def _harvest_part(
        self,
        plan: HarvestPlan,
        quote: Quote,
        kind: IntentKind,
        iid: str,
        quantity: Decimal,
        limit: Decimal,
        today: date,
        *,
        part: str,
        select: list[dict[str, str]] | None = None,
        started: float | None = None,
    ) -> Intent:
        """Persist and submit one sell order (`part` "k/n") of a harvest; `select`: the lots
        the user picks for it at the broker; `started`: when the quote crossing its trigger
        was handed over (`time.perf_counter()`), to time the order until it is acknowledged."""
        counted = part.startswith("1/")
        harvest = kind is IntentKind.HARVEST_SELL
        intent = Intent(
            intent_id=iid,
            kind=kind,
            account=plan.account,
            symbol=plan.symbol,
            side=Action.SELL,
            quantity=quantity,
            limit_price=limit,
            lot_id=plan.lot_id,
            reason=(
                f"harvest: net loss {plan.net_loss:.2f}"
                if harvest
                else f"swap back to {plan.replacement}"
            ),
            payload={
                "replacement": plan.replacement,
                "lot_ids": list(plan.lot_ids),
                "net_loss": str(plan.net_loss),
                "estimated_tax_saved": str(plan.estimated_tax_saved),
                "bid": str(quote.bid_decimal),
                "trade_date": today.isoformat(),
            },
        )
        if quantity != plan.quantity:
            intent.payload["harvest_quantity"] = str(plan.quantity)
            intent.payload["part"] = part
        if select is not None:
            intent.payload[PAYLOAD_KEY] = select
            intent.payload["select_by"] = deadline(today).isoformat()
        # The replacement spends about the sale's proceeds the same day: the limits must hold
        # for both, or the harvest would end in cash when its replacement is denied. So its
        # notional is reserved in the day's count now, and the replacement draws on it.
        follow_up = quantity * quote.bid_decimal if plan.replacement else ZERO
        if follow_up:
            intent.payload["reserved_notional"] = str(follow_up)
        # One write transaction, committed before the order leaves: the intent is stored
        # SUBMITTED at once (a crash before the send is resolved by resume()'s lookup), with
        # the day's risk counters it was admitted against. A harvest split into parts counts
        # once towards max_harvests_per_day.
        saved, created = await self._admit(
            intent, harvest=harvest, follow_up=follow_up, counted=counted
        )
        if not created:
            return saved
        if saved.status is IntentStatus.DENIED:
            self.denials.append(saved)
            log.warning(
                "harvest_denied",
                intent_id=iid,
                account=plan.account,
                symbol=plan.symbol,
                reason=saved.reason,
            )
            return saved
        self._open[iid] = saved
        await self._send(saved, started=started)  # new, so nothing to ask the broker first
        if PAYLOAD_KEY in saved.payload:
            log.warning(
                "select_lots_in_tax_optimizer",
                intent_id=iid,
                account=plan.account,
                symbol=plan.symbol,
                quantity=str(quantity),
                lots=saved.payload[PAYLOAD_KEY],
                deadline=deadline_text(today),
            )
        log.info(
            "harvest_intent",
            intent_id=iid,
            account=plan.account,
            symbol=plan.symbol,
            quantity=str(quantity),
            lots=list(plan.lot_ids),
            replacement=plan.replacement,
            net_loss=str(plan.net_loss),
        )
        return saved

    async def _admit(
        self,
        intent: Intent,
        *,
        harvest: bool,
        follow_up: Decimal = ZERO,
        reserved: Decimal = ZERO,
        counted: bool = True,
        refusal: str | None = None,
    ) -> tuple[Intent, bool]:
        """Store a new intent SUBMITTED, or DENIED by the risk limits (or with `refusal`,
        the wash guard's, when trading is enabled), counting it in the day's limits in the
        same transaction; return (stored intent, whether it is new).

        The day's notional grows by the order's notional and the `follow_up` it commits to,
        less what its parent `reserved` for it. An intent whose id is stored already is
        returned as it is, and counted no further.
        """
        notional = intent.quantity * (intent.limit_price or ZERO)
        added = max(ZERO, notional + follow_up - reserved)

        def admit(new: Intent, counters: str | None) -> tuple[Intent, str | None]:
            count, spent = _parse_counters(counters)
            counts = harvest and counted
            denial = refusal if self.trading_enabled else None
            denial = denial or self._risk_denial(
                new, harvest=counts, follow_up=follow_up, count=count, day=spent + added
            )
            if denial is not None:
                return replace(new, status=IntentStatus.DENIED, reason=denial), None
            return (
                replace(new, status=IntentStatus.SUBMITTED),
                _format_counters(count + (1 if counts else 0), spent + added),
            )

        saved, created = await self._repo.admit_intent(intent, _risk_key(self.today()), admit)
        if created:
            self._count(saved)
        return saved, created

    def _risk_denial(
        self, intent: Intent, *, harvest: bool, follow_up: Decimal, count: int, day: Decimal
    ) -> str | None:
        """Return why `intent` may not go out, given the day's harvest `count` and the `day`
        notional it would bring the day to."""
        if not self.trading_enabled:
            return "dry_run: trading is not enabled"  # DRY_RUN, spelled out for the label scan
        if self.risk.kill_switch:
            return "risk: kill switch is on"
        if intent.symbol in self.halted:
            return f"halted: trading in {intent.symbol} is halted"
        notional = intent.quantity * (intent.limit_price or ZERO)
        if notional > self.risk.max_order_notional:
            return f"risk: order notional {notional:.2f} above max_order_notional"
        if follow_up > self.risk.max_order_notional:
            return f"risk: replacement notional {follow_up:.2f} above max_order_notional"
        if day > self.risk.max_daily_notional:
            return f"risk: daily notional {day:.2f} above max_daily_notional"
        if harvest and count >= self.risk.max_harvests_per_day:
            return f"risk: {count} harvests today, max_harvests_per_day reached"
        return None

    # -- submission ------------------------------------------------------------------------

    async def _submit(self, intent: Intent) -> None:
        """Send `intent` to the broker, asking first whether it already went out."""
        if intent.status is IntentStatus.PENDING:
            # Never sent: SUBMITTED is stored before an order leaves, so nothing to ask.
            sent = {**intent.payload, SENT_ON: self.today().isoformat()}
            intent = await self._set(intent, status=IntentStatus.SUBMITTED, payload=sent)
        else:
            known = await self._lookup(intent.intent_id)
            if known is not None:
                await self._apply_snapshot(intent, known)
                return
        await self._send(intent)

    async def _send(self, intent: Intent, started: float | None = None) -> None:
        """Place the SUBMITTED `intent` and follow the broker's answer; time it from
        `started` (`time.perf_counter()`) to its acknowledgement when given."""
        request = OrderRequest(
            client_order_id=intent.intent_id,
            account=intent.account,
            symbol=intent.symbol,
            side=OrderSide.SELL if intent.side is Action.SELL else OrderSide.BUY,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            lot_id=intent.lot_id,
        )
        try:
            snapshot = await self._broker.submit(request)
        except BrokerError as exc:
            if exc.transient:
                log.warning("order_submit_unknown", intent_id=intent.intent_id, error=str(exc))
                return  # stays SUBMITTED; resume() or the next update resolves it
            log.warning("order_rejected", intent_id=intent.intent_id, error=str(exc))
            # Ended: left open, it would hold every later rebalance back ("orders in flight").
            await self._finish(
                await self._set(intent, status=IntentStatus.REJECTED, reason=str(exc))
            )
            return
        if started is not None:
            self.stats.latency.observe(time.perf_counter() - started)
        log.info(
            "order_submitted",
            intent_id=intent.intent_id,
            symbol=intent.symbol,
            side=request.side.value,
            quantity=str(intent.quantity),
            limit_price=str(intent.limit_price),
        )
        await self._apply_snapshot(intent, snapshot)

    async def _lookup(self, client_order_id: str) -> OrderSnapshot | None:
        try:
            return await self._broker.get_order(client_order_id)
        except BrokerError as exc:
            log.warning("order_lookup_failed", intent_id=client_order_id, error=str(exc))
            raise

    # -- broker events ---------------------------------------------------------------------

    async def on_order_update(self, update: OrderUpdate) -> None:
        """Follow a broker order update for one of our intents."""
        intent = self._open.get(update.client_order_id)
        if intent is None:
            return
        await self._repo.append_order_event(
            OrderEvent(
                intent_id=intent.intent_id,
                status=update.status.value,
                at=update.at,
                filled_quantity=update.filled_quantity,
                price=update.average_price,
                raw=update.reason,
            )
        )
        snapshot = OrderSnapshot(
            client_order_id=update.client_order_id,
            broker_order_id=update.broker_order_id or intent.broker_order_id or "",
            status=update.status,
            filled_quantity=update.filled_quantity,
            average_price=update.average_price,
        )
        await self._apply_snapshot(intent, snapshot, reason=update.reason)

    async def on_fill(self, fill: Fill, source: str) -> None:
        """Journal one execution, once, unless the ledger would reject it.

        The one path by which fills reach the journal: the stream's, the recovery of an
        order's fills, and reconciliation's all come here.

        Identity: one execution reaches us from several sources under unrelated ids, with
        cumulative quantities that may disagree, so the journal follows each order's
        cumulative quantity (`new_fill_entry`). The journaled quantity is the intent's
        ``filled_quantity`` for our orders, a state entry per broker order for others
        (`journaled_key`). Each entry's external id names the execution (or, for a part of
        one, the order's journaled span), so a replay of the same delivery appends nothing.

        An entry the ledger would reject (a sale of shares it does not hold) is never
        written: `on_refused` halts its symbol instead.
        """
        intent = await self._intent(fill.client_order_id)
        state_key = "" if intent is not None else journaled_key(fill, source)
        done: Decimal | None = None
        if intent is not None:
            done = intent.filled_quantity
        elif state_key:
            done = Decimal(await self._repo.get_state(state_key) or "0")
        cumulative = fill.cumulative_quantity
        entry = new_fill_entry(fill, source, done, intent)
        if entry is None:
            log.info(
                "fill_repeat",
                intent_id=fill.client_order_id,
                execution_id=fill.execution_id,
                cumulative=str(cumulative),
                journaled=str(done),
            )
            return
        assert entry.quantity is not None
        quantity = entry.quantity
        try:
            seqs = await self._journal_fill(entry, intent, state_key, done, cumulative)
        except _Refused as refused:
            await self.on_refused(entry, str(refused))
            return
        if not seqs:
            return  # already journaled (a replayed or reconciled execution)
        log.info(
            "fill",
            intent_id=fill.client_order_id,
            symbol=fill.symbol,
            side=fill.side.value,
            quantity=str(quantity),
            price=str(fill.price),
            external_id=entry.external_id,
        )
        await self._on_journal(seqs, [entry])

    async def _journal_fill(
        self,
        entry: JournalEntry,
        intent: Intent | None,
        state_key: str,
        done: Decimal | None,
        cumulative: Decimal | None,
    ) -> list[int]:
        """Append `entry` and count it in what the journal holds of its order, in one
        transaction; return its seq, or [] when it is journaled already.

        The journal entry and the order's journaled quantity commit together: a crash between
        them would leave a replayed fill journaled but never counted. The ledger's check comes
        after the external id's (a repeat is no refusal) and before the commit.
        """
        assert entry.quantity is not None
        if intent is not None and self._open.get(intent.intent_id) is intent:
            # An order followed here: one write over its copy, which on a SQLite file needs no
            # round trip per statement (None: the copy is stale; the row is read below).
            followed = intent

            def count() -> dict[str, Any]:
                refusal = self.check_entry(entry)
                if refusal is not None:
                    raise _Refused(refusal)
                return counted_fill(followed, entry)

            written = await self._repo.append_fill(entry, followed, count)
            if written is not None:
                seqs, saved = written
                if seqs:
                    self._keep(saved)
                return seqs
        async with self._repo.transaction() as tx:
            seqs = await tx.append_journal([entry])
            if not seqs:
                if state_key and cumulative is not None and done is not None:
                    # Journaled before this order was followed here (an older version).
                    await tx.set_state(state_key, str(max(done, cumulative)))
                return []
            refusal = self.check_entry(entry)
            if refusal is not None:
                raise _Refused(refusal)
            if intent is not None:
                await self._count_fill(tx, intent, entry)
            elif state_key and done is not None:
                await tx.set_state(state_key, str(done + entry.quantity))
        return seqs

    async def _count_fill(self, tx: Repository, intent: Intent, entry: JournalEntry) -> None:
        """Add a journaled fill to its intent's filled amounts (in the journal's transaction)."""
        followed = self._open.get(intent.intent_id) is intent
        if not followed:
            # Not followed here (any more): its payload may have changed since (a swap back).
            intent = await tx.get_intent(intent.intent_id) or intent
        saved = await tx.update_intent(
            intent.intent_id,
            current=intent if followed else None,
            **counted_fill(intent, entry),
        )
        self._keep(saved)

    def _keep(self, saved: Intent) -> None:
        """Replace the copies of `saved` this manager keeps with the stored one."""
        if saved.intent_id in self._open:
            self._open[saved.intent_id] = saved
        if saved.intent_id in self._ended:
            self._ended[saved.intent_id] = saved

    async def _apply_snapshot(
        self, intent: Intent, snapshot: OrderSnapshot, reason: str = ""
    ) -> None:
        status = _STATUS[snapshot.status]
        final = status.terminal and transition_allowed(intent.status, status)
        if (
            final
            and intent.intent_id in self._open
            and (snapshot.filled_quantity > intent.filled_quantity)
        ):
            # Journal the fills first: once the intent is stored final, resume() no longer
            # looks at it, so a crash (or a broker error) here must leave it open.
            intent = await self._recover_fills(intent)
        changes: dict[str, Any] = {}
        if snapshot.broker_order_id and snapshot.broker_order_id != intent.broker_order_id:
            changes["broker_order_id"] = snapshot.broker_order_id
        if status != intent.status and transition_allowed(intent.status, status):
            changes["status"] = status
        if reason:
            changes["reason"] = reason
        if changes:
            intent = await self._set(intent, **changes)
        if intent.status.terminal and intent.intent_id in self._open:
            await self._finish(intent)

    async def _recover_fills(self, intent: Intent) -> Intent:
        """Hand the executions of `intent` the broker reports to `on_fill` (it skips repeats)."""
        since = None if intent.created_at is None else intent.created_at - RECOVERY_OVERLAP
        for fill in await self._broker.fills_since(since):
            if fill.client_order_id == intent.intent_id:
                await self.on_fill(fill, self._broker.name)
        return await self._intent(intent.intent_id) or intent

    async def poll(self) -> int:
        """Look up every order in flight at the broker and follow what it says.

        A fill or a cancel whose stream event was lost on a connection that stayed up is
        noticed here (the daemon calls this every ``[orders] poll_seconds`` while orders are in
        flight). Return how many orders were looked up.
        """
        looked = 0
        for intent in list(self._open.values()):
            if intent.status is IntentStatus.PENDING:
                continue  # never sent: resume() sends it
            try:
                snapshot = await self._broker.get_order(intent.intent_id)
            except BrokerError as exc:
                log.warning("order_poll_failed", intent_id=intent.intent_id, error=str(exc))
                continue
            looked += 1
            current = self._open.get(intent.intent_id)
            if snapshot is None or current is None:
                continue  # unknown at the broker: resume() decides; or finished meanwhile
            if (
                snapshot.filled_quantity > current.filled_quantity
                and not _STATUS[snapshot.status].terminal
            ):
                current = await self._recover_fills(current)
            await self._apply_snapshot(current, snapshot)
        return looked

    async def _finish(self, intent: Intent) -> None:
        """Close an intent that reached a terminal state and start what follows it."""
        # The copy in `_open` is the one written through; keep it.
        self._ended[intent.intent_id] = self._open.pop(intent.intent_id, intent)
        if len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        log.info(
            "order_done",
            intent_id=intent.intent_id,
            status=intent.status.value,
            filled=str(intent.filled_quantity),
            reason=intent.reason,
        )
        if intent.kind is IntentKind.REBALANCE_SELL and "plan" in intent.payload:
            await self._advance_plan(str(intent.payload["plan"]))
        elif intent.kind in _FOLLOW_UP and intent.filled_quantity > ZERO:
            if intent.kind is IntentKind.HARVEST_SELL:
                self.harvests_completed.append(intent)
            await self._start_replacement(intent)
        elif intent.kind in _FOLLOWS and intent.filled_quantity > ZERO and intent.parent_intent_id:
            # A buy of a sale's proceeds is done: buy what its fill left over.
            parent = intent.parent_intent_id
            sale = self._sales.get(parent) or await self._intent(parent)
            if sale is not None:
                await self._start_replacement(sale)

    async def _start_replacement(self, sale: Intent) -> None:
        """Buy the replacement with the sale's actual proceeds, once a quote is known.

        The proceeds are spent in a chain of buys with deterministic ids (`follow_up_id`):
        each is sized at its limit price (the first at the ask plus slippage, the later ones at
        the ask), so it never spends more than what is left, fees included, and stays within
        `max_order_notional`; once one is done, the next buys what its fill left over, until
        less than a cent (fractional shares) or one share is left. The replacement is checked
        with the wash guard, and must have a fresh quote, before each buy is sent.
        """
        planned = sale.payload.get("replacement")
        if not planned:
            log.info("harvest_holding_cash", intent_id=sale.intent_id)
            return
        kind = _FOLLOW_UP[sale.kind]
        chain = await self._chain(kind, sale)
        if chain is None:
            return
        n, spent, bought = chain
        rid = follow_up_id(kind, sale.intent_id, n)
        budget = sale.filled_notional
        left = budget - spent
        if bought is not None and left < CENT:
            self._sales.pop(sale.intent_id, None)
            self._chains.pop(sale.intent_id, None)
            return
        self._sales[sale.intent_id] = sale
        symbol, wait, why = self._replacement_symbol(
            sale, bought or str(planned), first=bought is None
        )
        if symbol is None:
            log.warning(
                "replacement_blocked",
                intent_id=sale.intent_id,
                symbol=bought or planned,
                reason=why,
                cash=str(left),
            )
            return
        quote = self.fresh_quote(symbol)
        if quote is None or wait:
            log.info("replacement_waiting_for_quote", intent_id=sale.intent_id, symbol=symbol)
            self._awaiting.setdefault(symbol, {})[sale.intent_id] = None
            self.on_awaiting(symbol)
            return
        if symbol != planned and bought is None:
            log.warning(
                "replacement_changed",
                intent_id=sale.intent_id,
                planned=planned,
                symbol=symbol,
                reason=why,
            )
        # The first buy may pay up to the slippage above the ask; what that leaves over is
        # bought at the ask (a small order: it may rest until filled or expired).
        limit = _up(quote.ask_decimal * (1 + (self._slippage if n == 1 else ZERO)))
        chunk = min(left - self._fee, self.risk.max_order_notional)  # the fee is paid too
        qty = (chunk / limit).quantize(self._step, rounding=ROUND_DOWN)
        if qty <= ZERO:
            if bought is None:
                log.warning(
                    "replacement_too_small",
                    intent_id=sale.intent_id,
                    budget=str(budget),
                    limit_price=str(limit),
                )
            else:
                log.info("replacement_done", intent_id=sale.intent_id, cash=str(left))
            self._sales.pop(sale.intent_id, None)
            self._chains.pop(sale.intent_id, None)
            return
        intent = Intent(
            intent_id=rid,
            kind=kind,
            account=sale.account,
            symbol=symbol,
            side=Action.BUY,
            quantity=qty,
            limit_price=limit,
            parent_intent_id=sale.intent_id,
            reason=f"replacement for {sale.symbol}" + (f" (part {n})" if n > 1 else ""),
            payload={
                "budget": str(budget if n == 1 else left),
                "replaces": sale.symbol,
                "trade_date": self.today().isoformat(),
            },
        )
        # Each buy draws on what the sale reserved in the day's notional, less what the earlier
        # buys spent: the day's count grows only by what the chain spends beyond it.
        reserved = max(ZERO, Decimal(str(sale.payload.get("reserved_notional", "0"))) - spent)
        saved, created = await self._admit(intent, harvest=False, reserved=reserved)
        if saved.status.terminal:
            if created:
                self.denials.append(saved)
                log.warning("replacement_denied", intent_id=rid, reason=saved.reason)
            return
        self._open[rid] = saved
        if created:
            await self._send(saved)  # new, so nothing to ask the broker first
        else:
            await self._submit(saved)

    async def _chain(
        self, kind: IntentKind, sale: Intent
    ) -> tuple[int, Decimal, str | None] | None:
        """Return the number of the next buy of `sale`'s proceeds, what the earlier ones spent
        and the symbol they bought; None while one is in flight or once one ended unfilled
        (denied, rejected or canceled: reported when it happened)."""
        # Buys that ended filled never change: walk on from the last one seen.
        n, spent, bought = self._chains.get(sale.intent_id, (1, ZERO, None))
        while True:
            rid = follow_up_id(kind, sale.intent_id, n)
            if rid in self._open:
                return None  # in flight: its end starts the next
            earlier = await self._intent(rid)
            if earlier is None:
                return n, spent, bought
            if not earlier.status.terminal or earlier.filled_quantity <= ZERO:
                return None
            spent += earlier.filled_notional
            bought = earlier.symbol
            n += 1
            self._chains[sale.intent_id] = (n, spent, bought)

    def _replacement_symbol(
        self, sale: Intent, planned: str, *, first: bool
    ) -> tuple[str | None, bool, str]:
        """Return the symbol to buy now for `sale`, whether to wait for its quote, and why.

        The planned replacement if the guard still allows it and it has a fresh quote; else
        the next allowed member of its group with one; else the planned one, allowed but not
        quoted, to wait for; else None (the guard refuses every member).
        """
        check = self.replacement_check
        if check is None:
            return planned, False, ""
        # Only a harvest's first buy may change symbol: a swap back buys the original back,
        # and a later buy tops up what the first one bought.
        may_switch = first and sale.kind is IntentKind.HARVEST_SELL
        allowed, refusals = check(sale.symbol, planned, True)
        if allowed == planned or (allowed is not None and may_switch):
            return allowed, False, refusals
        unpriced, _ = check(sale.symbol, planned, False)
        if unpriced == planned:
            return planned, True, refusals
        return None, False, refusals

    def fresh_quote(self, symbol: str) -> Quote | None:
        """Return the latest fresh quote of `symbol` that can price a purchase, or None."""
        quote = self._quotes(symbol)
        if quote is None or not 0 < quote.ask < float("inf"):
            return None
        if not fresh(Price(quote.bid_decimal, quote.ask_decimal, quote.at), self._now()):
            return None
        return quote

    async def on_quote(self, quote: Quote) -> None:
        """Start replacements that were waiting for a quote of this symbol."""
        waiting = self._awaiting.pop(quote.symbol, None)
        if waiting is not None:
            self.on_awaiting(quote.symbol)
        for sale_id in waiting or ():
            sale = await self._intent(sale_id)
            if sale is not None:
                await self._start_replacement(sale)

    @property
    def awaiting_quotes(self) -> set[str]:
        """Return the symbols a replacement waits on."""
        return set(self._awaiting)

    def awaits_quote(self, symbol: str) -> bool:
        """Return whether a replacement waits on a quote of `symbol`."""
        return symbol in self._awaiting

    async def _halt_refused(self, entry: JournalEntry, reason: str) -> None:
        self.halted.add(entry.symbol)
        log.error("fill_refused", symbol=entry.symbol, reason=reason)

    # -- recovery --------------------------------------------------------------------------

    async def resume(self) -> None:
        """Pick up every open intent after a start or a reconnect (crash-only recovery)."""
        for intent in await self._repo.open_intents():
            self._open[intent.intent_id] = intent
        for intent in list(self._open.values()):
            snapshot = await self._lookup(intent.intent_id)
            if snapshot is None:
                if self._beyond_lookup(intent):
                    await self._lost(intent)
                    continue
                if intent.status not in (IntentStatus.PENDING, IntentStatus.SUBMITTED):
                    continue
                if self._stale_sale(intent):
                    # Decided on an earlier day and never reached the broker: prices and the
                    # wash-sale window have moved, so the engine decides afresh instead.
                    log.info(
                        "order_stale",
                        intent_id=intent.intent_id,
                        decided=intent.payload.get("trade_date"),
                    )
                    stale = await self._set(
                        intent,
                        status=IntentStatus.CANCELED,
                        reason="stale: never sent, decided on an earlier day",
                    )
                    self._open.pop(stale.intent_id, None)
                    continue
                log.info("order_resubmit", intent_id=intent.intent_id)
                await self._submit(intent)
                continue
            await self._apply_snapshot(intent, snapshot)
        # A sale that finished while we were down still needs its replacement.
        for sale in await self._repo.finished_harvests_without_replacement():
            await self._start_replacement(sale)
        await self._resume_top_ups()
        await self._resume_plans()

    async def _resume_top_ups(self) -> None:
        """Continue the buys of recent sales' proceeds that a stop interrupted (the last buy
        done, the next, buying what it left over, never created)."""
        first = self.today() - REPLACEMENT_QUOTE_MAX_AGE
        since = first.isoformat()
        # A buy's trade date is the New York day of the clock when it was created, and the
        # repository stamps created_at from the same clock just after: only buys created
        # since that day began (with a margin) can be recent, and the index finds them.
        created = datetime.combine(first, datetime.min.time(), NEW_YORK) - CREATED_MARGIN
        sales: dict[str, None] = {}
        for kind in _FOLLOWS:
            filled = (IntentStatus.FILLED,)
            for buy in await self._repo.intents_of_kind(kind, filled, since=created):
                if buy.parent_intent_id and str(buy.payload.get("trade_date", "")) >= since:
                    sales[buy.parent_intent_id] = None
        for sale_id in sales:
            sale = await self._intent(sale_id)
            if sale is not None:
                await self._start_replacement(sale)

    # -- helpers ---------------------------------------------------------------------------

    async def _intent(self, intent_id: str) -> Intent | None:
        """Return the intent `intent_id` as stored: from memory when it is open or ended here."""
        return (
            self._open.get(intent_id)
            or self._ended.get(intent_id)
            or await self._repo.get_intent(intent_id)
        )

    def _beyond_lookup(self, intent: Intent) -> bool:
        """Return whether `intent` went out on an earlier day to a broker whose order look-ups
        reach today only, so that its not being found says nothing of its fate."""
        if intent.status is IntentStatus.PENDING:
            return False  # never sent
        if self._broker.capabilities.order_lookup != "today":
            return False
        return sent_on(intent) < self.today()

    async def _lost(self, intent: Intent) -> None:
        """End `intent`, sent on an earlier day and unknown to the broker now: FILLED when the
        journal holds all of it; else EXPIRED, its symbol halted: it may have filled, so it is
        never sent again, and its fate is in that day's statement."""
        if intent.filled_quantity >= intent.quantity:
            # The journal holds all of it (its fills, or that day's Flex statement imported).
            await self._finish(await self._set(intent, status=IntentStatus.FILLED))
            return
        day = sent_on(intent).isoformat()
        reason = (
            f"unknown: sent on {day}, and {self._broker.name} looks up today's orders only; "
            f"import that day's IB Flex statement (tlh import --ib-flex) to journal its fills"
        )
        lost = await self._set(intent, status=IntentStatus.EXPIRED, reason=reason)
        self._open.pop(lost.intent_id, None)
        self.halted.add(intent.symbol)
        await self._repo.set_halt(
            intent.symbol, f"{intent.intent_id} {reason}", account=intent.account
        )
        log.error(
            "order_unknown",
            intent_id=intent.intent_id,
            symbol=intent.symbol,
            account=intent.account,
            status=intent.status.value,
            sent_on=day,
            reason=reason,
        )

    def _stale_sale(self, intent: Intent) -> bool:
        decided = intent.payload.get("trade_date")
        return (
            intent.side is Action.SELL
            and decided is not None
            and date.fromisoformat(decided) < self.today()
        )

    async def _set(self, intent: Intent, **changes: Any) -> Intent:
        # The copy in `_open` is the stored row (written through), so it need not be read.
        current = self._open.get(intent.intent_id)
        saved = await self._repo.update_intent(intent.intent_id, current=current, **changes)
        if intent.intent_id in self._open:
            self._open[intent.intent_id] = saved
        if "status" in changes:
            self._count(saved)
        return saved

    def _count(self, intent: Intent) -> None:
        """Count `intent` as stored in its status (`tlh_orders_total{side,status}`)."""
        self.stats.status(intent.side.value.lower(), intent.status.value)

    def today(self) -> date:
        """Return the trading date in New York."""
        return self._now().astimezone(NEW_YORK).date()


def sent_on(intent: Intent) -> date:
    """Return the New York day `intent` was sent (stored SUBMITTED) on: the day it was sent
    when it waited PENDING first (`SENT_ON`), else the day it was decided (and sent) on."""
    day = intent.payload.get(SENT_ON) or intent.payload.get("trade_date")
    if day:
        return date.fromisoformat(str(day))
    assert intent.created_at is not None  # set by the repository
    return intent.created_at.astimezone(NEW_YORK).date()


def journaled_key(fill: Fill, source: str) -> str:
    """Return the state key holding what the journal has of the broker order of `fill` (one
    placed outside tlh); "" when the broker names no order."""
    order = fill.broker_order_id
    return f"{source}:order:{order}:journaled" if order else ""


def new_fill_entry(
    fill: Fill, source: str, journaled: Decimal | None, intent: Intent | None
) -> JournalEntry | None:
    """Return the journal entry of the part of `fill` not journaled yet, or None (a repeat).

    One execution reaches us from several sources under unrelated ids, and the order's
    cumulative filled quantity they report with it may disagree. So a fill adds only what
    lies beyond `journaled` (what the journal holds for its order, None: unknown), up to its
    cumulative quantity, and never beyond its `intent`'s quantity. An entry that is not
    exactly the rest of its order's journal is named by the span it adds, not by the
    execution id.
    """
    quantity, tag = fill.quantity, fill.execution_id
    cumulative = fill.cumulative_quantity
    if journaled is not None and cumulative is not None:
        quantity = min(quantity, cumulative - journaled)
        if intent is not None:
            quantity = min(quantity, intent.quantity - journaled)
        if quantity <= ZERO:
            return None
        if journaled != cumulative - fill.quantity or quantity != fill.quantity:
            order = fill.broker_order_id or fill.client_order_id
            tag = f"{order}:{_plain(journaled)}-{_plain(journaled + quantity)}"
    action = Action.SELL if fill.side is OrderSide.SELL else Action.BUY
    fees = fill.fees if quantity == fill.quantity else fill.fees * quantity / fill.quantity
    return JournalEntry.trade(
        account=fill.account,
        action=action,
        symbol=fill.symbol,
        quantity=quantity,
        price=fill.price,
        fees=fees.quantize(CENT) if quantity != fill.quantity else fees,
        trade_date=fill.at.astimezone(NEW_YORK).date(),
        occurred_at=fill.at,
        lot_id=_fill_lot_id(fill, intent, action, tag),
        source=f"{source}:fill:{tag}",
        external_id=f"{source}:{tag}",
    )


def _fill_lot_id(fill: Fill, intent: Intent | None, action: Action, tag: str) -> str | None:
    """Return the lot a fill relieves (a sale of a named lot) or creates (a purchase);
    `tag` names the execution (or the part of one) the entry journals."""
    if action is Action.SELL:
        return intent.lot_id if intent is not None else None
    day = fill.at.astimezone(NEW_YORK).date()
    return f"{fill.symbol}-{day:%Y%m%d}-{tag}"


def _plain(value: Decimal) -> str:
    """Return `value` in plain notation without trailing zeros (stable in ids)."""
    return "0" if value == ZERO else format(value.normalize(), "f")


def _risk_key(day: date) -> str:
    return f"risk:{day.isoformat()}"


def _parse_counters(raw: str | None) -> tuple[int, Decimal]:
    """Return the day's (harvests, notional spent) from their stored form."""
    if not raw:
        return 0, ZERO
    count, spent = raw.split("|")
    return int(count), Decimal(spent)


def _format_counters(count: int, spent: Decimal) -> str:
    return f"{count}|{spent}"


def _down(price: Decimal) -> Decimal:
    return price.quantize(CENT, rounding=ROUND_FLOOR)


def _up(price: Decimal) -> Decimal:
    return price.quantize(CENT, rounding=ROUND_CEILING)
