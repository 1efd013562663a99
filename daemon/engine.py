"""The harvest engine: one event consumer for live, paper, backtest and demo.

Only the clock and the broker change between those modes. The engine keeps the in-memory
ledger (rebuilt from the journal on start), a per-symbol trigger price for the O(1) tick path,
and hands decided harvests to the order manager.

Tick path: a quote is stored, checked for plain sanity (positive, finite, not crossed) and
compared, as floats, with the symbol's highest trigger. Only a bid at or below the trigger goes
on to the full checks: the quote filter (staleness, outliers), the exact `Decimal` evaluation
against the ledger, the wash-sale guard and the risk limits.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from adapters.base import Broker, LotRelief, QuoteGating, SplitCalendar
from adapters.storage.records import (
    Intent,
    IntentKind,
    IntentStatus,
    JournalEntry,
    JournalKind,
    JournalRecord,
)
from daemon.bus import EventQueue
from daemon.events import (
    ClockTick,
    Event,
    Fill,
    OrderUpdate,
    Quote,
    Scheduled,
    SplitEvent,
)
from daemon.journal_replay import RejectedEntry, replay
from daemon.orders import HarvestPlan, OrderManager, Repository, follow_up_id
from ledger.engine import Ledger, default_lot_id
from ledger.errors import LedgerError
from ledger.model import (
    Action,
    Conversion,
    LedgerEvent,
    Parcel,
    SpinOff,
    Split,
    Trade,
    Transfer,
)
from strategies.decision import Action as Act
from strategies.decision import (
    Policy,
    Position,
    Price,
    decide_harvest,
    relief_order,
    relief_trigger,
)
from strategies.harvest import HarvestParams
from strategies.split_check import GAP, split_like
from strategies.swap_back import decide_swap_back
from strategies.wash_guard import WashGuard

log = structlog.get_logger("tlh.engine")
NEW_YORK = ZoneInfo("America/New_York")
NO_TRIGGER = float("-inf")
INFINITY = float("inf")
REJECTED_HALTED = "journal:rejected_halted_through_seq"  # rejected entries up to it halted
PAUSED = "paused: new orders are paused (tlh resume)"
"""The skip reason of a harvest or swap back not started while new orders are paused."""
SPLIT_WINDOW = timedelta(days=4)
"""How far from a split-like move the split calendar is searched (a column a day late)."""
YIELD_AFTER_SECONDS = 0.001
"""The longest the engine handles events without letting the event loop run other tasks."""
YIELD_AFTER_EVENTS = 64
"""The most events the engine handles without letting the event loop run other tasks."""


class JournalRepository(Repository, Protocol):
    """The storage the engine needs beyond the order manager's."""

    async def load_journal(self, after_seq: int = 0) -> Sequence[JournalRecord]: ...
    async def set_halt(self, symbol: str, reason: str, *, account: str | None = None) -> object: ...
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...


class Verdict(Protocol):
    """A quote filter's judgement."""

    @property
    def tradable(self) -> bool: ...


class QuoteFilter(Protocol):
    """Judge a quote's plausibility (staleness, outliers) before the engine acts on it."""

    band: Decimal

    def check(
        self, symbol: str, bid: float, ask: float, at: datetime, now: datetime | None = None
    ) -> Verdict: ...

    def reset(self, symbol: str) -> None: ...


@dataclass(slots=True)
class EngineStats:
    """Counters of what the engine saw and decided."""

    quotes: int = 0
    insane_quotes: int = 0
    suspect_quotes: int = 0
    evaluations: int = 0
    harvests: int = 0
    skips: dict[str, int] = field(default_factory=dict)
    distinct_skips: set[tuple[str, str, str]] = field(default_factory=set)

    def skip(self, account: str, symbol: str, reason: str) -> None:
        """Count a skipped harvest by the first word of its reason, and distinct skips."""
        key = reason.split(":", 1)[0].split(" ", 1)[0]
        self.skips[key] = self.skips.get(key, 0) + 1
        self.distinct_skips.add((account, symbol, reason))

    def distinct(self, kind: str) -> int:
        """Return how many distinct (position, reason) skips of this kind happened."""
        return sum(1 for _a, _s, r in self.distinct_skips if r.startswith(kind))


class IndexRunner(Protocol):
    """The direct index the engine drives (`daemon.index_manager.IndexManager`)."""

    async def rebalance(self, day: date) -> None:
        """Invest cash above the buffer and trade toward the target, on the rebalance days."""
        ...

    def replacements(self, symbol: str) -> Sequence[str]:
        """Return the names that may replace a harvested `symbol`, best first."""
        ...

    def watched(self) -> Collection[str]:
        """Return the symbols the index may trade (its whole universe): the engine's stream."""
        ...

    def on_split(self, symbol: str, ratio: Decimal) -> None:
        """Adjust the price history of `symbol` for a split (`ratio` new shares per old)."""
        ...


class HarvestEngine:
    """Consume events, keep the ledger current, and harvest losses that cross thresholds."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        repo: JournalRepository,
        broker: Broker,
        orders: OrderManager,
        params: HarvestParams,
        guard: WashGuard,
        substitutes: Sequence[Sequence[str]],
        now: Callable[[], datetime],
        quote_filter: QuoteFilter,
        allow_cash: bool = False,
        swap_back: bool = False,
        swap_back_max_st_gain: Decimal = Decimal(0),
        source: str = "sim",
        on_decision: Callable[[str, dict[str, object]], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.repo = repo
        self.broker = broker
        self.orders = orders
        self.params = params
        self.guard = guard
        self.substitutes = [list(g) for g in substitutes]
        self.allow_cash = allow_cash
        self.swap_back = swap_back
        self.swap_back_max_st_gain = swap_back_max_st_gain
        self.quote_filter = quote_filter
        self.source = source
        self._now = now
        self._on_decision = on_decision
        self.queue = EventQueue()
        self.quotes: dict[str, Quote] = {}
        self.triggers: dict[str, float] = {}
        # Shared with the order manager, so a halted symbol gets no replacement buy either.
        self.halted: set[str] = orders.halted
        # Set by the daemon's wiring for brokers that report an account (daemon.reconciliation);
        # run after resume() in start(), after the broker's reconnects and on a schedule, under
        # `lock`: `run` handles each event under it, so a pass never interleaves with an event.
        self.reconcile: Callable[[str], Awaitable[None]] | None = None
        # Set by the daemon's wiring when `[index]` is configured (daemon.index_manager): the
        # direct index's scheduled rebalance and its replacements for harvested stocks.
        self.index: IndexRunner | None = None
        self.lock = asyncio.Lock()
        self.stats = EngineStats()
        self._skip_memo: dict[tuple[str, str], date] = {}
        # symbol -> positions skipped today because it (a replacement) had no fresh quote
        self._price_waiters: dict[str, set[tuple[str, str]]] = {}
        self._accounts_by_symbol: dict[str, set[str]] = {}
        # Whether the broker trades an account (`daemon.broker_accounts`): an outside account
        # (an imported IRA, a spouse's account) is never harvested; its purchases still count
        # in the wash guard, as trades of the ledger.
        self.trades_account: Callable[[str], bool] = lambda account: True
        self._last_seq = 0
        # Counts every change of the ledger (an event applied, a rebuild), so that values
        # derived from it (`daemon.index_manager`) are kept until it changes.
        self.ledger_version = 0
        self.last_tick: datetime | None = None
        self.started = False  # start() finished: the journal replayed, open orders resumed
        self._in_zone: set[str] = set()
        self._zone = 1.0 + 2 * float(quote_filter.band)
        # The highest bid of each symbol that `on_quote` acts on, for brokers that drop the
        # quotes above it before parsing them (adapters.base.QuoteGating).
        self._gating = broker if isinstance(broker, QuoteGating) else None
        self.gate: MutableMapping[str, float] = (
            self._gating.quote_gate() if self._gating is not None else {}
        )
        orders.on_awaiting = self._regate
        orders.check_entry = self._entry_refusal
        orders.on_refused = self._refuse_entry
        # Started by start() and stopped by the daemon's close: the in-flight order watch.
        self.watch: BackgroundTask | None = None
        self.rejected: list[RejectedEntry] = []  # journal entries the ledger rejected on replay
        self._daily_pass: asyncio.Task[None] | None = None
        # Held symbols whose price moved like a split the ledger has not applied: the day of
        # the move and the ratio it looks like, until the split calendar explains it.
        self.split_holds: dict[str, tuple[date, Fraction]] = {}
        self._splits_applied: dict[str, date] = {}
        self._journaled_splits: dict[str, list[Split]] = {}  # symbol -> its split entries
        self._calendar = broker if isinstance(broker, SplitCalendar) else None
        orders.replacement_check = self._replacement_check
        # A direct index's rebalance orders pass the same guard (issue #12 §4), per order.
        orders.buy_check = self._buy_check
        orders.sell_check = self._loss_sale_check
        orders.parcels = lambda account, symbol: list(self.ledger.parcels(account, symbol))

    @property
    def relief(self) -> LotRelief:
        """Return how the broker relieves lots (its capabilities)."""
        return self.broker.capabilities.lot_relief

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the ledger from the journal and resume open orders (startup = recovery)."""
        entries = await self._replay_journal(self.ledger)
        await self.broker.connect(self.queue.put)
        await self.orders.resume()
        if self.reconcile is not None:
            await self.reconcile("start")
        # After resume: a replacement it left waiting for a quote needs that symbol's stream.
        watched = self.watched_symbols()
        for symbol in watched:
            self._regate(symbol)
        await self.broker.subscribe(watched)
        await self.drain()
        if self.watch is not None:
            self.watch.start()
        self.started = True
        log.info("engine_started", journal_entries=entries, symbols=len(self.triggers))

    def watched_symbols(self) -> set[str]:
        """Return the held symbols, every substitute that may replace them, the symbols a
        replacement waits to be quoted in, and a direct index's whole universe."""
        traded = self.trades_account
        held = {s for s, accounts in self._accounts_by_symbol.items() if any(map(traded, accounts))}
        out = set(held)
        if self.index is not None:
            out.update(self.index.watched())
        for group in self.substitutes:
            if held.intersection(group):
                out.update(group)
        return out | self.orders.awaiting_quotes

    async def run(self, stop: asyncio.Event) -> None:
        """Consume events until `stop` is set; the event in hand is always finished.

        The loop waits on the queue only when it is idle. While busy it yields to the event
        loop after `YIELD_AFTER_SECONDS` of work or `YIELD_AFTER_EVENTS` events, whichever
        comes first: the streams, the broker's order events and the order manager's tasks run
        at least that often, and quotes that arrive meanwhile conflate (latest wins). Yielding
        after every event cost about as much CPU as the quotes themselves on a busy stream.
        """
        stopper = asyncio.ensure_future(stop.wait())
        # Idle, the loop waits on the queue alone (no task and no asyncio.wait per wake: on a
        # busy stream it goes idle after nearly every socket read); `stop` wakes it too.
        stopper.add_done_callback(lambda _: self.queue.wake())
        clock = time.monotonic
        try:
            handled, due = 0, clock() + YIELD_AFTER_SECONDS
            while not stop.is_set():
                event = self.queue.get_nowait()
                if event is None:
                    await self.queue.ready()
                    handled, due = 0, clock() + YIELD_AFTER_SECONDS
                    continue
                async with self.lock:
                    await self.handle(event)
                handled += 1
                if handled >= YIELD_AFTER_EVENTS or clock() >= due:
                    await asyncio.sleep(0)
                    handled, due = 0, clock() + YIELD_AFTER_SECONDS
        finally:
            stopper.cancel()

    async def drain(self) -> None:
        """Handle every queued event (backtests and tests call this between steps)."""
        while (event := self.queue.get_nowait()) is not None:
            await self.handle(event)

    # -- dispatch --------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Handle one event."""
        if isinstance(event, Quote):
            if self._price_waiters:
                waiting = self._price_waiters.pop(event.symbol, None)
                if waiting is not None:
                    for key in waiting:
                        self._skip_memo.pop(key, None)
                    self._regate(event.symbol)
            if self.on_quote(event):
                await self.evaluate(event)
            if self.orders.awaits_quote(event.symbol):
                await self.orders.on_quote(event)
        elif isinstance(event, Fill):
            await self.orders.on_fill(event, self.source)
        elif isinstance(event, OrderUpdate):
            await self.orders.on_order_update(event)
        elif isinstance(event, SplitEvent):
            await self.on_split(event)
        elif isinstance(event, ClockTick):
            self.last_tick = event.at  # the supervisor's proof that events are consumed
        elif isinstance(event, Scheduled):
            await self.on_scheduled(event)

    async def on_scheduled(self, event: Scheduled) -> None:
        """Run one scheduled daily hook."""
        if event.hook == "daily_reconcile":
            if self.reconcile is None:
                await self.orders.resume()
            else:
                # A full pass (it resumes orders too); it takes `lock`, which the event in
                # hand may hold, so it runs right after this event.
                self._daily_pass = asyncio.create_task(self._reconcile_daily())
        elif event.hook == "wash_window_expiry":
            # Positions skipped yesterday (e.g. a purchase inside the window) are judged anew.
            self._skip_memo.clear()
        elif event.hook == "swap_back_check":
            await self.swap_back_check(event.day)
        elif event.hook == "index_rebalance":
            if self.index is not None:
                await self.index.rebalance(event.day)
        elif event.hook == "end_of_day_summary":
            log.info(
                "end_of_day_summary",
                day=event.day.isoformat(),
                quotes=self.stats.quotes,
                evaluations=self.stats.evaluations,
                harvests=self.stats.harvests,
                skips=dict(self.stats.skips),
                insane_quotes=self.stats.insane_quotes,
                suspect_quotes=self.stats.suspect_quotes,
                open_orders=len(self.orders.open_intents),
            )
        else:
            log.info(event.hook, day=event.day.isoformat())

    async def _reconcile_daily(self) -> None:
        assert self.reconcile is not None
        try:
            await self.reconcile("daily, before the open")
        except Exception:  # the next pass (a reconnect, the watch, tomorrow) retries
            log.exception("daily_reconcile_failed")

    def on_quote(self, q: Quote) -> bool:
        """Store a quote; return whether its bid crosses the symbol's trigger (O(1))."""
        self.stats.quotes += 1
        bid, ask = q.bid, q.ask
        # NaN, zero, negative, crossed and infinite quotes all fail here.
        if not (0.0 < bid <= ask < INFINITY):
            self.stats.insane_quotes += 1
            return False
        symbol = q.symbol
        quotes = self.quotes
        prev = self._gating.held_back_bid(symbol) if self._gating is not None else None
        if prev is None:
            last = quotes.get(symbol)
            prev = last.bid if last is not None else bid
        quotes[symbol] = q
        if bid * GAP < prev or bid > prev * GAP:
            self._split_like_move(prev, q)
        if self.split_holds and symbol in self.split_holds and not self._split_settled(symbol):
            return False
        trigger = self.triggers.get(symbol, NO_TRIGGER)
        qf = self.quote_filter
        # Quotes near the trigger are checked in full; a symbol entering that zone must first
        # build a consistent reference, so a lone spike from far above never harvests.
        if bid > trigger * self._zone:
            if symbol in self._in_zone:
                self._in_zone.discard(symbol)
                qf.reset(symbol)
                self._regate(symbol)
            return False
        if symbol not in self._in_zone:
            self._in_zone.add(symbol)
            self._regate(symbol)  # every quote now, so that leaving the zone resets the filter
        if not qf.check(symbol, bid, ask, q.at, self._now()).tradable:
            self.stats.suspect_quotes += 1
            return False
        return bid <= trigger

    def _split_like_move(self, prev_bid: float, q: Quote) -> None:
        """Hold a held symbol whose bid moved like a split until the calendar explains it."""
        symbol = q.symbol
        if symbol not in self._accounts_by_symbol or symbol in self.split_holds:
            return
        ratio = split_like(prev_bid, q.bid)
        if ratio is None:
            return
        day = q.at.astimezone(NEW_YORK).date()
        self.split_holds[symbol] = (day, ratio)
        if not self._split_settled(symbol):
            log.warning(
                "split_suspected",
                symbol=symbol,
                day=day.isoformat(),
                ratio=f"{ratio.numerator}:{ratio.denominator}",
                previous_bid=prev_bid,
                bid=q.bid,
                held="until a split calendar explains the move",
            )

    def _split_settled(self, symbol: str) -> bool:
        """Release `symbol`'s split hold when a split applied near the move explains it, or
        the split calendar shows none there (a real move); keep it while the calendar cannot
        tell or shows a split not yet applied."""
        day, _ratio = self.split_holds[symbol]
        applied = self._splits_applied.get(symbol)
        if applied is not None and abs(applied - day) <= SPLIT_WINDOW:
            reason = f"split applied on {applied.isoformat()}"
        else:
            calendar = self._calendar
            known = (
                calendar.splits_between(symbol, day - SPLIT_WINDOW, day + SPLIT_WINDOW)
                if calendar is not None
                else None
            )
            if known is None or known:
                return False
            reason = "the split calendar shows no split"
        del self.split_holds[symbol]
        log.info("split_hold_released", symbol=symbol, day=day.isoformat(), reason=reason)
        return True

    # -- decisions -------------------------------------------------------------------------

    async def evaluate(self, q: Quote) -> None:
        """Decide, in Decimal, whether to harvest any position of `q.symbol` now."""
        symbol = q.symbol
        today = q.at.astimezone(NEW_YORK).date()
        self.stats.evaluations += 1
        for account in sorted(self._accounts_by_symbol.get(symbol, ())):
            if self._skip_memo.get((account, symbol)) == today or not self.trades_account(account):
                continue
            await self._evaluate_position(account, symbol, q, today)

    async def _evaluate_position(self, account: str, symbol: str, q: Quote, today: date) -> None:
        decision = decide_harvest(
            self.position_of(account, symbol, q, today), self.policy, self.guard
        )
        if decision.action is Act.SKIP:
            self._skip(account, symbol, today, decision.reason)
            for member in decision.unpriced:  # judged afresh once it is quoted
                self._price_waiters.setdefault(member, set()).add((account, symbol))
                self._regate(member)  # its next quote must reach us past the broker's gate
            return
        if decision.action is not Act.HARVEST:
            return
        if self.orders.paused:
            self._skip(account, symbol, today, PAUSED)
            return
        candidate = decision.candidate
        assert candidate is not None
        plan = HarvestPlan(
            account=account,
            symbol=symbol,
            quantity=candidate.quantity,
            lot_id=candidate.specific_lot,
            lot_ids=candidate.lot_ids,
            replacement=decision.replacement,
            net_loss=candidate.net_loss,
            estimated_tax_saved=candidate.estimated_tax_saved,
            parcels=candidate.parcels,
        )
        intent = await self.orders.harvest(plan, q)
        if intent.status.terminal and not intent.filled_quantity:
            self._skip(account, symbol, today, intent.reason)
            return
        self.stats.harvests += 1
        self._decide(
            "harvest",
            account=account,
            symbol=symbol,
            quantity=str(plan.quantity),
            lots=list(plan.lot_ids),
            replacement=decision.replacement,
            net_loss=str(plan.net_loss.quantize(Decimal("0.01"))),
            estimated_tax_saved=str(plan.estimated_tax_saved.quantize(Decimal("0.01"))),
            bid=str(q.bid_decimal),
            intent_id=intent.intent_id,
        )

    @property
    def policy(self) -> Policy:
        """Return the configured decision policy (thresholds, relief, substitutes, cash)."""
        return Policy(
            params=self.params,
            specific_lots=self.relief.specific_lots,
            substitutes=self.substitutes,
            allow_cash=self.allow_cash,
            ranked=self.index.replacements if self.index is not None else None,
        )

    def position_of(self, account: str, symbol: str, q: Quote, today: date) -> Position:
        """Return what the decision function needs to know of one position now."""
        return Position(
            account=account,
            symbol=symbol,
            parcels=relief_order(
                self.ledger.parcels(account, symbol),
                self.relief.specific_lots,
                self.relief.method,
                bid=q.bid_decimal,
                today=today,
            ),
            quote=price_of(q),
            today=today,
            tax_advantaged=self.ledger.account_type(account).tax_advantaged,
            traded=self.trades_account(account),
            halted=symbol in self.halted,
            busy=self.orders.busy(account, symbol),
            pending_buys=self.orders.pending_buy_symbols(),
            pending_loss_sales=self.orders.pending_sell_symbols(),
            replacement_quote=self._fresh_price,
        )

    def _fresh_price(self, symbol: str) -> Price | None:
        quote = self.orders.fresh_quote(symbol)
        return None if quote is None else price_of(quote)

    def _replacement_check(
        self, sold: str, planned: str, need_quote: bool
    ) -> tuple[str | None, str]:
        """Return the member of `sold`'s group to buy now (`planned` first) and the refusals:
        allowed by the wash guard and, when `need_quote`, with a fresh quote."""
        today = self.orders.today()
        pending = self.orders.pending_sell_symbols()

        def priced(symbol: str) -> bool:
            return not need_quote or self.orders.fresh_quote(symbol) is not None

        if self.guard.buy_blocked(planned, today, {*pending, sold}) is None and priced(planned):
            return planned, ""
        groups = (
            self.substitutes if self.index is None else [[sold, *self.index.replacements(sold)]]
        )
        choice, refusals = self.guard.choose_replacement(
            sold, groups, today, pending, priced=priced
        )
        return choice, "; ".join(refusals)

    def _buy_check(self, symbol: str) -> str | None:
        """Return why buying `symbol` now would wash a loss (household-wide), or None."""
        today = self.orders.today()
        blocked = self.guard.buy_blocked(symbol, today, self.orders.pending_sell_symbols())
        return None if blocked is None else f"wash_guard: {blocked}"

    def _loss_sale_check(
        self,
        account: str,
        symbol: str,
        lot_ids: tuple[str, ...],
        quantity: Decimal,
        price: Decimal,
    ) -> str | None:
        """Return why selling `quantity` shares of `symbol` at `price` now (from `lot_ids`,
        in order; none named: the broker's relief order) would be washed, or None: only a
        sale with a loss can be."""
        today = self.orders.today()
        held = list(self.ledger.parcels(account, symbol))
        if lot_ids:
            rank = {lot: k for k, lot in enumerate(lot_ids)}
            held = sorted((p for p in held if p.lot_id in rank), key=lambda p: rank[p.lot_id])
        else:
            held = relief_order(
                held, self.relief.specific_lots, self.relief.method, bid=price, today=today
            )
        sold, left = [], quantity
        for p in held:
            if left <= 0:
                break
            sold.append(p)
            left -= p.quantity

        def at_loss(p: Parcel) -> bool:
            return p.adjusted_basis > p.quantity * price

        if not any(map(at_loss, sold)):
            return None
        why = self.guard.harvest_blocked(sold, today, self.orders.pending_buy_symbols(), at_loss)
        return None if why is None else f"wash_guard: {why}"

    async def swap_back_check(self, today: date) -> int:
        """Swap filled replacements back to the harvested security once the window is over.

        Return how many swap backs were started. Only the replacement's own lots are sold:
        by name where the broker allows it, otherwise only when they are the whole position
        (a FIFO broker would relieve older lots first).
        """
        if not self.swap_back:
            return 0
        started = 0
        for buy in await self.repo.intents_of_kind(
            IntentKind.REPLACEMENT_BUY, (IntentStatus.FILLED,)
        ):
            if buy.payload.get("swapped_back") or not buy.payload.get("replaces"):
                continue
            if buy.parent_intent_id and buy.intent_id != follow_up_id(
                buy.kind, buy.parent_intent_id
            ):
                continue  # a top-up: swapped back with the first buy of its sale's proceeds
            buy = await self._with_top_up_lots(buy)
            plan, reason = self._swap_back_plan(buy, today)
            if plan is None:
                if reason:
                    self._decide(
                        "swap_back_skip", account=buy.account, symbol=buy.symbol, reason=reason
                    )
                continue
            if self.orders.paused:
                self._decide(
                    "swap_back_skip", account=buy.account, symbol=buy.symbol, reason=PAUSED
                )
                continue
            quote = self.quote_of(buy.symbol)
            assert quote is not None  # _swap_back_plan returns no plan without one
            intent = await self.orders.harvest(plan, quote, kind=IntentKind.SWAP_BACK_SELL)
            if not (intent.status.terminal and not intent.filled_quantity):
                await self.repo.update_intent(
                    buy.intent_id, payload={**buy.payload, "swapped_back": intent.intent_id}
                )
                started += 1
                self._decide(
                    "swap_back",
                    account=buy.account,
                    symbol=buy.symbol,
                    quantity=str(plan.quantity),
                    to=plan.replacement,
                    intent_id=intent.intent_id,
                )
        return started

    async def _with_top_up_lots(self, buy: Intent) -> Intent:
        """Return `buy` with the lots of the top-ups that followed it among its lots."""
        lots = list(buy.payload.get("lots", []))
        n = 2
        while buy.parent_intent_id and (
            top_up := await self.repo.get_intent(follow_up_id(buy.kind, buy.parent_intent_id, n))
        ):
            lots += top_up.payload.get("lots", [])
            n += 1
        return replace(buy, payload={**buy.payload, "lots": lots}) if n > 2 else buy

    def _swap_back_plan(self, buy: Intent, today: date) -> tuple[HarvestPlan | None, str]:
        original = str(buy.payload["replaces"])
        lots = set(buy.payload.get("lots", []))
        position = list(self.ledger.parcels(buy.account, buy.symbol))
        parcels = [p for p in position if p.lot_id in lots]
        quote = self.quote_of(buy.symbol)
        if quote is None or not parcels or self.orders.busy(buy.account, buy.symbol):
            return None, ""
        whole_position_needed = len(lots) > 1 or not self.relief.specific_lots
        if whole_position_needed and len(parcels) != len(position):
            return None, "replacement lots are not the whole position (broker relieves FIFO)"
        decision = decide_swap_back(
            parcels,
            bid=quote.bid_decimal,
            loss_sale_day=date.fromisoformat(str(buy.payload["trade_date"])),
            today=today,
            max_short_term_gain=self.swap_back_max_st_gain,
            guard=self.guard,
            pending_buys=self.orders.pending_buy_symbols(),
        )
        if not decision.go:
            return None, "" if decision.reason.startswith("wash-sale window") else decision.reason
        blocked = self.guard.buy_blocked(original, today, self.orders.pending_sell_symbols())
        if blocked is not None:
            return None, f"wash_guard: {blocked}"
        lot_ids = tuple(dict.fromkeys(p.lot_id for p in parcels))
        return HarvestPlan(
            account=buy.account,
            symbol=buy.symbol,
            quantity=sum((p.quantity for p in parcels), Decimal(0)),
            lot_id=lot_ids[0] if self.relief.specific_lots and len(lot_ids) == 1 else None,
            lot_ids=lot_ids,
            replacement=original,
            net_loss=-decision.short_term_gain,
            estimated_tax_saved=Decimal(0),
            parcels=tuple(parcels),
        ), ""

    def pause_new_orders(self, paused: bool) -> None:
        """Pause or resume new sales (the pause switch's hook, issue #10 §4; `daemon.pause`).

        Paused, no harvest or swap back is started: a position that would be harvested is
        skipped with the reason `PAUSED`, memoised for the day like any skip. Resumed, the
        day's skips are forgotten, so every position is judged afresh on its next quote.
        """
        self.orders.paused = paused
        if not paused:
            self._skip_memo.clear()

    def _skip(self, account: str, symbol: str, today: date, reason: str) -> None:
        self._skip_memo[(account, symbol)] = today
        self.stats.skip(account, symbol, reason)
        self._decide("skip", account=account, symbol=symbol, reason=reason)

    def _decide(self, decision: str, **details: object) -> None:
        log.info(decision, **details)
        if self._on_decision is not None:
            self._on_decision(decision, details)

    # -- ledger ----------------------------------------------------------------------------

    def _entry_refusal(self, entry: JournalEntry) -> str | None:
        """Return why the ledger would reject `entry` if it were journaled now, or None.

        Such an entry (e.g. a sale of shares the history does not explain, or a sale
        journaled twice) could never be replayed; the order manager halts its symbol instead.
        """
        error = self.ledger.refusal(entry.to_event(self._last_seq + 1))
        if error is None:
            return None
        what = entry.action.value if entry.action is not None else entry.kind.value
        return f"the ledger rejects {what} {entry.quantity} {entry.symbol}: {error}"

    async def _refuse_entry(self, entry: JournalEntry, reason: str) -> None:
        """Halt the symbol of an entry the ledger would reject, instead of journaling it."""
        await self._halt(entry.symbol, reason, account=entry.account, external_id=entry.external_id)

    async def _halt_rejected(self, rejected: list[RejectedEntry]) -> None:
        """Halt each symbol whose journal holds an entry the ledger rejected on replay.

        Each rejected entry halts its symbol once: a halt a person cleared stays cleared on
        later starts (the entry stays in the append-only journal, and is skipped again).
        """
        self.rejected = rejected
        raw = await self.repo.get_state(REJECTED_HALTED)
        seen = int(raw) if raw else 0
        fresh = [r for r in rejected if r.seq > seen]
        for entry in fresh:
            await self._halt(entry.symbol, entry.reason, account=entry.account, seq=entry.seq)
        if fresh:
            await self.repo.set_state(REJECTED_HALTED, str(max(r.seq for r in fresh)))

    async def _halt(
        self, symbol: str, reason: str, *, account: str | None, **details: object
    ) -> None:
        self.halted.add(symbol)
        self.refresh_trigger(symbol)
        await self.repo.set_halt(symbol, reason, account=account)
        log.error(
            "reconcile_mismatch",
            symbol=symbol,
            account=account,
            reason=reason,
            **{k: str(v) for k, v in details.items()},
        )

    async def on_journal(self, seqs: list[int], entries: list[JournalEntry]) -> None:
        """Apply newly journaled entries to the ledger (the order manager's hook)."""
        for seq, entry in zip(seqs, entries, strict=True):
            await self._apply_or_rebuild(entry.to_event(seq))

    async def _apply_or_rebuild(self, event: LedgerEvent) -> None:
        try:
            self._apply(event)
        except LedgerError as exc:
            # Out of order, or inconsistent with the ledger: the journal is the source of
            # truth, so rebuild from it rather than guess.
            log.error("ledger_apply_failed", seq=event.seq, symbol=event.symbol, error=str(exc))
            await self.rebuild()

    def _apply(self, event: LedgerEvent, *, refresh: bool = True) -> None:
        self.ledger_version += 1  # first: a failed apply may have changed the ledger
        self.ledger.apply(event)
        self._last_seq = max(self._last_seq, event.seq)
        if isinstance(event, Trade):
            self._accounts_by_symbol.setdefault(event.symbol, set()).add(event.account)
        elif isinstance(event, Conversion | SpinOff):
            self._accounts_by_symbol.setdefault(event.new_symbol, set()).add(event.account)
            if refresh:
                self.refresh_trigger(event.new_symbol)
        elif isinstance(event, Transfer) and event.to_account is not None:
            self._accounts_by_symbol.setdefault(event.symbol, set()).add(event.to_account)
        if refresh:
            self.refresh_trigger(event.symbol)

    async def rebuild(self, empty: Ledger | None = None) -> None:
        """Rebuild the ledger from the journal (the source of truth), into `empty` when given
        (a ledger configured anew, e.g. with an imported account's type)."""
        await self._replay_journal(self.ledger.empty_copy() if empty is None else empty)

    async def _replay_journal(self, empty: Ledger) -> int:
        """Replay the whole journal into `empty`, which becomes the ledger; halt the symbols
        of entries it rejects, recompute every trigger; return the number of entries."""
        with _paused_gc():
            records = await self.repo.load_journal()
            events = [r.to_event() for r in records]
            self.ledger, rejected = replay(empty, events)
            self.ledger_version += 1
        self._last_seq = max((e.seq for e in events), default=self._last_seq)
        self._note_splits(events)
        await self._halt_rejected(rejected)
        for account, symbol in self.ledger.positions():
            self._accounts_by_symbol.setdefault(symbol, set()).add(account)
        for symbol in list(self._accounts_by_symbol):
            self.refresh_trigger(symbol)
        return len(events)

    async def import_trades(self, trades: Sequence[Trade], source: str) -> int:
        """Journal and apply imported trades (holdings, history), skipping ones seen before."""
        entries = [
            JournalEntry.from_event(
                t._replace(lot_id=t.lot_id or default_lot_id(t)) if t.action is Action.BUY else t,
                kind=JournalKind.IMPORT,
                external_id=f"{source}:{t.seq}",
            )
            for t in trades
        ]
        after = self._last_seq
        seqs = await self.repo.append_journal(entries)
        if seqs:
            records = await self.repo.load_journal(after_seq=after)
            events = [r.to_event() for r in records]
            events.sort(key=lambda e: (e.trade_date, e.instant, e.seq))
            try:
                for event in events:
                    self._apply(event, refresh=False)
            except LedgerError as exc:
                log.error("ledger_apply_failed", error=str(exc))
                await self.rebuild()
            for symbol in {e.symbol for e in events}:
                self.refresh_trigger(symbol)
        return len(seqs)

    def _note_splits(self, events: Sequence[LedgerEvent]) -> None:
        self._journaled_splits = {}
        for e in events:
            if isinstance(e, Split):
                self._journaled_splits.setdefault(e.symbol, []).append(e)

    async def on_split(self, event: SplitEvent) -> None:
        """Journal a split and apply it to the ledger, once: a split dated on or before the
        symbol's latest journaled split (from any source), or the same split as a journaled
        one (`ledger.model.Split.same_as`: the same ratio within a few days, e.g. the
        calendar's ex-date and the broker's booking date), is one the ledger has already."""
        day = event.at.astimezone(NEW_YORK).date()
        applied = self._splits_applied.get(event.symbol, date.min)
        self._splits_applied[event.symbol] = max(applied, day)
        split = Split(0, day, event.symbol, event.ratio, event.at)
        journaled = self._journaled_splits.setdefault(event.symbol, [])
        if any(day <= s.trade_date or s.same_as(split) for s in journaled):
            return
        journaled.append(split)
        entry = JournalEntry.split(
            symbol=event.symbol,
            ratio=event.ratio,
            trade_date=day,
            source=f"{self.source}:split",
            occurred_at=event.at,
            external_id=f"split:{event.symbol}:{day.isoformat()}",
        )
        if self.index is not None:
            self.index.on_split(event.symbol, event.ratio)
        seqs = await self.repo.append_journal([entry])
        if seqs:
            log.info("split", symbol=event.symbol, ratio=str(event.ratio))
            await self.on_journal(seqs, [entry])

    def refresh_trigger(self, symbol: str) -> None:
        """Recompute the highest trigger price of `symbol` over its taxable positions."""
        best = NO_TRIGGER
        if symbol not in self.halted:
            for account in self._accounts_by_symbol.get(symbol, ()):
                if self.ledger.account_type(account).tax_advantaged or not self.trades_account(
                    account
                ):
                    continue
                parcels = list(self.ledger.parcels(account, symbol))
                if parcels:
                    relief = self.relief
                    trigger = relief_trigger(
                        parcels, self.params, relief.specific_lots, relief.method
                    )
                    best = max(best, trigger)
        if best == NO_TRIGGER:
            self.triggers.pop(symbol, None)
        else:
            self.triggers[symbol] = best
        self._regate(symbol)
        for key in [k for k in self._skip_memo if k[1] == symbol]:
            del self._skip_memo[key]

    def _regate(self, symbol: str) -> None:
        """Recompute the highest bid of `symbol` that `on_quote` acts on (`gate`)."""
        if (
            symbol in self._in_zone
            or self.orders.awaits_quote(symbol)
            or symbol in self._price_waiters
        ):
            self.gate[symbol] = INFINITY
        else:
            self.gate[symbol] = self.triggers.get(symbol, NO_TRIGGER) * self._zone

    @property
    def journal_seq(self) -> int:
        """Return the seq of the newest journal entry the ledger holds."""
        return self._last_seq

    def newest_quote_at(self) -> datetime | None:
        """Return when the newest quote the engine holds (handled, or held back by the
        broker's gate) was quoted; None before any."""
        symbols = set(self.quotes)
        if self._gating is not None:
            symbols.update(self.gate)
        times = (q.at for s in symbols if (q := self.quote_of(s)) is not None)
        return max(times, default=None)

    def quote_of(self, symbol: str) -> Quote | None:
        """Return the latest quote of `symbol`: handled here, or held back by the gate."""
        handled = self.quotes.get(symbol)
        if self._gating is None:
            return handled
        held = self._gating.latest_quote(symbol)
        if held is None or (handled is not None and handled.at > held.at):
            return handled
        return held


class BackgroundTask(Protocol):
    """A task the engine starts once it is running (e.g. the in-flight order watch)."""

    def start(self) -> None: ...


def price_of(q: Quote) -> Price:
    """Return a quote as the decision function sees it (exact decimals)."""
    return Price(q.bid_decimal, q.ask_decimal, q.at)


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building the long-lived ledger.

    Rebuilding creates hundreds of thousands of objects that all survive; each generational
    collection would rescan them (it more than halves a cold start of 100,000 lots). Freezing
    them afterwards also keeps later collections from scanning the ledger on the tick path.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()
