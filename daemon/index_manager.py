"""The direct index the engine drives (`[index]`): its risk model, replacements and rebalance.

One `IndexManager` per daemon implements `daemon.engine.IndexRunner`. The engine's scheduled
`index_rebalance` hook (every session, 30 minutes before the close; the backtest's replay
dispatches the same hook) calls `rebalance(day)`, which

1. adds the session's prices (the engine's latest fresh quote of each name) to the returns
   window, and re-estimates the risk model once a week from the returns up to that day only
   (never looking ahead);
2. publishes the ex-ante tracking error for `tlh status` (`daemon.snapshot.INDEX_STATUS_KEY`);
3. on a rebalance day (`[index] rebalance`: daily, the first session of the ISO week, or the
   first session of the month, counted from the last rebalance kept in the state table), or
   when cash above the buffer appears (a deposit, dividends: `adapters.base.CashBalances`),
   plans the tax-aware trades toward the target (`strategies.index.rebalance`) and hands
   them to the outbox (`OrderManager.place_plan`), whose deterministic order ids make a
   retried plan submit nothing twice.

`replacements(symbol)` ranks, for a harvest of `symbol`, the names whose purchase keeps the
tracking error lowest (`strategies.index.replacements`), among those the wash guard allows
(household-wide, both directions), not substantially identical and freshly quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import structlog
from threadpoolctl import ThreadpoolController

from adapters.base import AccountReports, Broker, CashBalances, LotRelief, QuoteSnapshots
from adapters.storage.records import IntentKind
from adapters.storage.repository import Repository
from daemon.brokers import broker_account
from daemon.engine import HarvestEngine
from daemon.events import Quote
from daemon.settings import Settings
from daemon.snapshot import INDEX_STATUS_KEY
from ledger.engine import Ledger
from ledger.model import Action
from ledger.relief import PRICE_RANKED
from strategies.decision import REPLACEMENT_QUOTE_MAX_AGE, Price, RankedNames, relief_order
from strategies.index.book import Book, Holding, Lockouts
from strategies.index.rebalance import (
    PlanError,
    RebalanceParams,
    RebalancePlan,
    plan_raise,
    plan_rebalance,
)
from strategies.index.replacements import rank_replacements
from strategies.index.returns import ReturnsWindow
from strategies.index.risk import RiskModel, estimate
from strategies.index.target import IndexTarget, drifted
from strategies.wash_guard import WashGuard

log = structlog.get_logger("tlh.index")
NEW_YORK = ZoneInfo("America/New_York")

LAST_REBALANCE_KEY = "index:last_rebalance"
RESERVED_KEY = "index:reserved_cash"  # raised by `tlh index raise`, not to be reinvested
ANCHOR_KEY = "index:anchor"  # the prices the target's weights were set at (they float since)
# `tlh index build|raise` beside the running daemon, through the state table (as
# `daemon.import_inbox`): the command stores {"op", "cash"} under REQUEST_PREFIX + id, the
# daemon takes it (deletes it), plans and places it, and answers under RESULT_PREFIX + id.
REQUEST_PREFIX = "index:request:"
RESULT_PREFIX = "index:result:"
OPEN_KEY = "index:open"  # {"pid", "host"}: the daemon that takes index requests
POLL_SECONDS = 2.0
# The returns window survives restarts: each session's closes and each split it applied are
# kept in the state table and played back into the window on the first hook after a start.
CLOSES_PREFIX = "index:closes:"  # + ISO date -> {symbol: price}
SPLIT_PREFIX = "index:split:"  # + ISO date + ":" + symbol -> ratio
MIN_HISTORY_DAYS = 20  # fewer sessions of returns: the prior model below
PRIOR_VOLATILITY = 0.30  # annualised, of each name, while there is no history
REESTIMATE_EVERY = timedelta(days=7)
SIM_ACCOUNT = "sim"  # the simulator's index account when `[index] account` names none
REBALANCE_KINDS = (IntentKind.REBALANCE_SELL, IntentKind.REBALANCE_BUY)


@functools.cache
def _threadpools() -> ThreadpoolController:
    """Return the BLAS and OpenMP libraries loaded (numpy's, scipy's: imported with the risk
    model), found once: each search takes milliseconds."""
    return ThreadpoolController()


@functools.lru_cache(maxsize=4096)
def _new_york_date(at: datetime) -> date:
    """Return the New York date of `at` (a session's quotes share a few times, a backtest's
    closes one: each is converted once)."""
    return at.astimezone(NEW_YORK).date()


def index_account(settings: Settings) -> str:
    """Return the account holding the index: `[index] account`, else the broker's own."""
    return settings.index.account or broker_account(settings) or SIM_ACCOUNT


def rebalance_params(settings: Settings, relief: LotRelief, fractional: bool) -> RebalanceParams:
    """Return the optimiser's parameters from `[index]`, `[tax]` and the broker's abilities
    (its lot relief; whole shares unless both it and `[index] fractional` allow fractions)."""
    ix, tax = settings.index, settings.tax
    return RebalanceParams(
        max_tracking_error=float(ix.max_tracking_error),
        name_band=float(ix.name_band),
        sector_band=float(ix.sector_band),
        min_trade_usd=ix.min_trade_usd,
        fractional=ix.fractional and fractional,
        cash_buffer=ix.cash_buffer,
        trading_cost_bps=float(ix.trading_cost_bps),
        short_term_rate=float(tax.short_term_rate),
        long_term_rate=float(tax.long_term_rate),
        specific_lots=relief.specific_lots,
        lot_method=relief.method,
        risk_aversion=float(ix.risk_aversion),
        loss_credit=float(ix.loss_credit),
    )


def prior_model(symbols: Sequence[str], as_of: date) -> RiskModel:
    """Return the model used before there is history: independent names of equal volatility
    (`PRIOR_VOLATILITY`), so the least tracking error is the target's own weights."""
    n = len(symbols)
    return RiskModel(
        symbols=tuple(symbols),
        loadings=np.zeros((0, n)),
        specific=np.full(n, PRIOR_VOLATILITY),
        as_of=as_of,
    )


def rebalance_due(day: date, last: date | None, schedule: str) -> bool:
    """Return whether `day` is a rebalance day, the last rebalance having been on `last`:
    every session (daily), the first session of an ISO week or of a month not yet rebalanced."""
    if last is None or schedule == "daily":
        return True
    if schedule == "weekly":
        return day.isocalendar()[:2] != last.isocalendar()[:2]
    return (day.year, day.month) != (last.year, last.month)


def holdings_of(
    ledger: Ledger,
    account: str,
    prices: Mapping[str, Decimal],
    relief: LotRelief,
    today: date,
    universe: Collection[str] | None = None,
    *,
    held: Iterable[str] | None = None,
) -> dict[str, Holding]:
    """Return `account`'s positions with their parcels in the broker's relief order: those of
    `universe` (the index's names) when given. A holding outside the index (a fund the pairs
    strategy keeps, shares bought before) is the user's, never sold by a rebalance. `held`:
    the names `account` holds, when the caller knows them."""
    if held is None:
        held = (s for a, s in ledger.positions() if a == account)
    out = {}
    for symbol in sorted(held):
        if universe is not None and symbol not in universe:
            continue
        parcels = relief_order(
            ledger.parcels(account, symbol),
            relief.specific_lots,
            relief.method,
            bid=prices.get(symbol, Decimal(0)),
            today=today,
        )
        if parcels:
            out[symbol] = Holding(symbol, tuple(parcels))
    return out


def lockouts_of(
    guard: WashGuard,
    symbols: Iterable[str],
    holdings: Mapping[str, Holding],
    today: date,
    *,
    pending_buys: Collection[str] = (),
    pending_loss_sales: Collection[str] = (),
) -> Lockouts:
    """Return the wash-sale lockouts, household-wide, as the guard judges them: a name whose
    purchase would wash a loss sold within 30 days (or pending) may not be bought; a held name
    whose loss sale shares bought within 30 days (in any account, or a pending buy) would
    replace may not be sold at a loss."""
    no_buy = {s: why for s in symbols if (why := guard.buy_blocked(s, today, pending_loss_sales))}
    window = timedelta(days=guard.window_days)
    no_loss_sale = {}
    for s, h in holdings.items():
        # A lot bought within the window replaces any other lot sold at a loss (the whole
        # holding sold at once would not be washed by it, but a plan may sell only a part).
        recent = [p for p in h.parcels if today - p.acquired <= window]
        why = guard.harvest_blocked(h.parcels, today, pending_buys)
        if why is None and recent and len(h.parcels) > 1:
            lot = recent[0]
            why = f"bought within {guard.window_days} days: {lot.lot_id} on {lot.acquired}"
        if why is not None:
            no_loss_sale[s] = why
    return Lockouts(no_buy=no_buy, no_loss_sale=no_loss_sale)


def weights_of(book: Book) -> dict[str, float]:
    """Return each priced holding's share of the book's value (cash included)."""
    value = book.value
    if value <= 0:
        return {}
    return {
        s: float(h.quantity * book.prices[s] / value)
        for s, h in book.holdings.items()
        if s in book.prices
    }


def tracking_error(book: Book, target: IndexTarget, risk: RiskModel) -> float:
    """Return the ex-ante annualised tracking error of `book` against `target` under `risk`."""
    held = weights_of(book)
    active = np.array(
        [held.get(s, 0.0) - float(target.weights.get(s, Decimal(0))) for s in risk.symbols]
    )
    return risk.tracking_error(active)


NO_ALLOWED = "no_replacement: no name of the index may be bought (wash guard, halts, quotes)"


def allowed_names(
    symbol: str,
    guard: WashGuard,
    today: date,
    *,
    pending_loss_sales: Collection[str],
    halted: Collection[str],
    priced: Callable[[str], bool],
) -> Callable[[str], bool]:
    """Return whether an index name may replace `symbol` now: not substantially identical,
    allowed by the wash guard (household-wide), not halted, `priced` (a fresh quote). Asked
    lazily, best-ranked names first (`strategies.index.replacements`)."""
    pending = {*pending_loss_sales, symbol}

    def allowed(s: str) -> bool:
        return (
            s != symbol
            and not guard.identity.identical(s, symbol)
            and s not in halted
            and guard.buy_blocked(s, today, pending) is None
            and priced(s)
        )

    return allowed


def ranked_names(
    symbol: str,
    book: Book | None,
    target: IndexTarget,
    risk: RiskModel,
    allowed: Callable[[str], bool],
    budget: float,
) -> RankedNames:
    """Return the `allowed` names ranked for a harvest of `symbol` from `book` (lowest
    tracking error first, `strategies.index.replacements`), with the reason when none is:
    ``tracking_error: ...`` when each would exceed the `budget`."""
    if book is None:
        return RankedNames((), NO_ALLOWED)
    ranking = rank_replacements(
        symbol, weights_of(book), target, risk, allowed=allowed, budget=budget, max_names=5
    )
    names = tuple(s for s, _te in ranking.candidates)
    reason = ranking.reason
    if reason.startswith("no_candidate"):
        reason = f"{NO_ALLOWED} ({reason.split(':', 1)[1].strip()})"
    return RankedNames(names, reason)


def preview_ranker(
    settings: Settings,
    target: IndexTarget,
    ledger: Ledger,
    prices: Mapping[str, Price],
    today: date,
    relief: LotRelief,
    *,
    halted: Collection[str] = (),
    pending_loss_sales: Collection[str] = (),
) -> Callable[[str], RankedNames]:
    """Return the replacements as the daemon ranks them, for previews (`tlh harvest
    --dry-run`, `tlh doctor`): over the journal's ledger at `prices`, with the prior risk
    model (a preview has no price history)."""
    guard = WashGuard.for_ledger(lambda: ledger, settings.recurring_purchases())
    mids = {s: (p.bid + p.ask) / 2 for s, p in prices.items()}
    account = index_account(settings)
    holdings = holdings_of(ledger, account, mids, relief, today)
    book = Book(account, today, Decimal(0), holdings, mids)
    risk = prior_model(target.symbols, today)
    budget = float(settings.index.max_tracking_error)

    def ranked(symbol: str) -> RankedNames:
        allowed = allowed_names(
            symbol,
            guard,
            today,
            pending_loss_sales=pending_loss_sales,
            halted=halted,
            priced=lambda s: s in mids,
        )
        return ranked_names(symbol, book, target, risk, allowed, budget)

    return ranked


def plan_within_reach(
    book: Book, target: IndexTarget, risk: RiskModel, params: RebalanceParams
) -> RebalancePlan:
    """Return `plan_rebalance`'s plan; when the tracking-error budget alone cannot be met
    (after harvests, the wash-sale lockouts can hold the portfolio away from the target for
    up to 30 days), the plan that comes closest to it, so that new cash is still invested and
    the portfolio drifts back as the lockouts end. Any other `PlanError` is raised."""
    try:
        return plan_rebalance(book, target, risk, params)
    except PlanError as exc:
        reach = exc.reachable_tracking_error
        if reach is None:
            raise
        log.warning(
            "index_tracking_error_budget_unreachable",
            budget=params.max_tracking_error,
            reachable=round(reach, 6),
            reason=str(exc),
        )
        relaxed = replace(params, max_tracking_error=reach * 1.001 + 1e-6)
        plan = plan_rebalance(book, target, risk, relaxed)
        return replace(plan, notes=(*plan.notes, f"tracking-error budget unreachable: {exc}"))


def describe_plan(plan: RebalancePlan) -> dict[str, object]:
    """Return a plan's figures for the log."""
    return {
        "trades": len(plan.trades),
        "sells": sum(1 for t in plan.trades if t.side is Action.SELL),
        "tracking_error_before": round(plan.tracking_error_before, 6),
        "tracking_error_after": round(plan.tracking_error_after, 6),
        "tax_cost": str(plan.tax_cost.quantize(Decimal("0.01"))),
        "cash_after": str(plan.cash_after.quantize(Decimal("0.01"))),
        "notes": list(plan.notes),
    }


class IndexManager:
    """Hold the index target, its returns and risk model; rank replacements; rebalance."""

    def __init__(
        self,
        engine: HarvestEngine,
        settings: Settings,
        target: IndexTarget,
        repo: Repository,
        *,
        account: str | None = None,
    ) -> None:
        self.engine = engine
        self.repo = repo
        self.settings = settings
        self.target = target
        self.account = account or self._broker_account(engine.broker, settings)
        self.budget = float(settings.index.max_tracking_error)
        self.returns = ReturnsWindow(settings.index.risk_window_days)
        self.risk: RiskModel | None = None  # estimated from history; None before enough
        self._estimated_on: date | None = None
        self._last_closes: date | None = None
        self._history_loaded = False
        self._unsaved_splits: list[tuple[date, str, Decimal]] = []
        self.last_tracking_error: float | None = None
        self.refusal = ""  # why the last plan was refused
        self.cash_left: Decimal | None = None  # the cash the last plan left uninvested
        self.reserved = Decimal(0)  # cash raised for a withdrawal (`RESERVED_KEY`)
        self._reserved_loaded = False
        # The prices on the day the index was first bought: the target floats with them.
        self.anchor: dict[str, Decimal] | None = None
        self._anchor_loaded = False
        self._anchor_dirty = False
        self._floated: tuple[date, IndexTarget] | None = None
        self._anchor_splits: list[tuple[str, Decimal]] = []  # seen before `load_anchor`
        # The broker's latest quotes of names the stream has not quoted (`snapshot_quotes`).
        self._snapshots: dict[str, Quote] = {}
        self._kept_sessions: list[str] = []  # the CLOSES_PREFIX keys stored, oldest first
        symbols = set(target.symbols)
        if target.completion:
            symbols.add(target.completion)
        self._universe = tuple(sorted(symbols))
        self._universe_set = frozenset(symbols)
        # Kept until the ledger changes (`HarvestEngine.ledger_version`): the names the account
        # holds and, sorted, those with the index's (`_held`); the holdings (`_holdings_of`).
        self._held_cache: tuple[Ledger, int, frozenset[str], tuple[str, ...]] | None = None
        self._holdings_cache: tuple[Ledger, int, LotRelief, dict[str, Holding]] | None = None
        # Each name's quote last priced, with its New York date and mid (`_quoted`).
        self._quoted_cache: dict[str, tuple[Quote, date, Decimal]] = {}

    @staticmethod
    def _broker_account(broker: Broker, settings: Settings) -> str:
        if settings.index.account:
            return settings.index.account
        if isinstance(broker, AccountReports):
            return broker.account
        return index_account(settings)

    # -- IndexRunner -----------------------------------------------------------------------

    def watched(self) -> Collection[str]:
        """Return the target's names (and the completion fund): all of them are streamed."""
        return self._universe

    def on_split(self, symbol: str, ratio: Decimal) -> None:
        """Adjust the closes held of `symbol`, so the split shows no return (kept with the
        closes at the next hook, `save_history`; before the kept history is loaded, applied
        after it, `load_history`)."""
        if self._history_loaded:
            self.returns.apply_split(symbol, ratio)
        self._unsaved_splits.append((self.engine.orders.today(), symbol, ratio))
        if not self._anchor_loaded:
            self._anchor_splits.append((symbol, ratio))
        elif self.anchor is not None and symbol in self.anchor:
            self.anchor[symbol] /= ratio
            self._anchor_dirty = True

    def replacements(self, symbol: str) -> Sequence[str]:
        """Return the names that may replace a harvested `symbol`, lowest tracking error
        first; empty, with the reason (`RankedNames.reason`), when none may."""
        engine = self.engine
        today = engine.orders.today()
        allowed = allowed_names(
            symbol,
            engine.guard,
            today,
            pending_loss_sales=engine.orders.pending_sell_symbols(),
            halted=engine.halted,
            priced=lambda s: engine.orders.fresh_quote(s) is not None,
        )
        book = self.book(today, cash=Decimal(0), lockouts=False)
        target = self.floating_target(today)
        return ranked_names(symbol, book, target, self.model(today), allowed, self.budget)

    async def rebalance(self, day: date) -> None:
        """Record the session's prices and the tracking error; on a rebalance day or when cash
        above the buffer appeared, plan the rebalance and place it (`place_plan`)."""
        await self.load_history(day)
        await self.save_history(self.record_closes(day))
        await self.load_anchor()
        await self.save_anchor()
        self.reestimate(day)
        await self.snapshot_quotes(day)
        cash = await self.spendable_cash()
        # The lockouts only once a plan is to be made (most sessions make none).
        book = self.book(day, cash=cash, lockouts=False)
        if not book.prices:
            log.info("index_rebalance_waiting", day=day.isoformat(), reason="no quotes yet")
            return
        target = self.floating_target(day)
        self.last_tracking_error = tracking_error(book, target, self.model(day))
        await self._publish(day)
        raw = await self.repo.get_state(LAST_REBALANCE_KEY)
        last = date.fromisoformat(raw) if raw else None
        scheduled = rebalance_due(day, last, self.settings.index.rebalance)
        new_cash = self.cash_to_invest(book)
        if not scheduled and new_cash <= 0:
            return
        busy = self.busy()
        if busy:
            log.info("index_rebalance_waiting", day=day.isoformat(), reason=busy)
            return
        why = "scheduled" if scheduled else f"cash {new_cash:.2f}"
        await self.place(day, self.locked(book), why=why)

    # -- `tlh index build|raise` beside the daemon ------------------------------------------

    async def follow(self, stop: asyncio.Event, every: float = POLL_SECONDS) -> None:
        """Announce that this process takes `tlh index` requests (`OPEN_KEY`), then take them
        at once and every `every` seconds, between the engine's events, until `stop`."""
        marker = {"pid": os.getpid(), "host": socket.gethostname()}
        await self.repo.set_state(OPEN_KEY, json.dumps(marker))
        while not stop.is_set():
            try:
                async with self.engine.lock:
                    await self.take_requests()
            except Exception as exc:  # the database briefly away: the next turn retries
                log.warning("index_request_poll_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def take_requests(self) -> int:
        """Carry out every waiting `tlh index` request, oldest first; return how many."""
        repo = self.repo
        done = 0
        for key, raw in (await repo.states(REQUEST_PREFIX)).items():
            if not await repo.delete_state(key):
                continue  # withdrawn by its command meanwhile
            answer = await self.carry_out(raw)
            await repo.set_state(RESULT_PREFIX + key.removeprefix(REQUEST_PREFIX), answer)
            done += 1
        return done

    async def carry_out(self, raw: str) -> str:
        """Plan and place one request (`{"op": "build"|"raise", "cash": "USD"}`); return the
        answer as JSON: the plan's id and figures, or the error (nothing traded)."""
        try:
            request = json.loads(raw)
            op, cash = str(request["op"]), Decimal(str(request["cash"]))
            if op not in ("build", "raise") or not cash.is_finite() or cash <= 0:
                raise ValueError(f"not a request: {raw}")
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            return json.dumps({"error": f"the daemon could not read the request: {exc}"})
        day = self.engine.orders.today()
        busy = self.busy()
        if busy:
            return json.dumps({"error": f"{busy}: try again once they are done; nothing traded"})
        # A real account must hold the cash a build spends (a typo would buy on margin); the
        # simulator under `tlh run` keeps no money of its own and never refuses a buy.
        broker = self.engine.broker
        if op == "build" and isinstance(broker, CashBalances) and broker.name != "sim":
            have = await self.spendable_cash()
            if cash > have:
                why = f"--cash {cash} is more than the account's cash {have}: nothing traded"
                return json.dumps({"error": why})
        await self.snapshot_quotes(day)
        unpriced = [x for x in self.target.symbols if x not in self.prices(day)]
        if unpriced:
            return json.dumps(
                {"error": f"no fresh price for {', '.join(unpriced[:10])}: nothing traded"}
            )
        book = self.book(day, cash=cash if op == "build" else await self.spendable_cash())
        plan = await self.place(day, book, why=f"tlh index {op}", op=op, cash=cash)
        if plan is None:
            return json.dumps({"error": self.refusal or "no plan"})
        return json.dumps(
            {"plan_id": f"{op}:{day.isoformat()}:{self.account}", **describe_plan(plan)}
        )

    # -- the parts -------------------------------------------------------------------------

    async def place(
        self,
        day: date,
        book: Book,
        *,
        why: str,
        op: str = "rebalance",
        cash: Decimal = Decimal(0),
    ) -> RebalancePlan | None:
        """Plan `op` of `book` (a rebalance, a build, a raise of `cash`) and hand it to the
        outbox; log a refusal (kept in `refusal`), trade nothing."""
        relief = self.engine.relief
        params = rebalance_params(self.settings, relief, self.engine.broker.capabilities.fractional)
        self.refusal = ""
        try:
            if op == "raise":
                plan = plan_raise(book, cash, params)
            else:
                plan = plan_within_reach(book, self.floating_target(day), self.model(day), params)
        except PlanError as exc:
            self.refusal = f"index {op}: {exc}"
            log.warning("index_rebalance_refused", day=day.isoformat(), op=op, reason=str(exc))
            return None
        except (ValueError, ArithmeticError) as exc:
            # A defect in planning must not stop the daemon (its harvests go on); nothing is
            # traded, and the error is logged in full for a report.
            self.refusal = f"index {op}: the plan failed: {exc}"
            log.error("index_rebalance_failed", day=day.isoformat(), op=op, exc_info=exc)
            return None
        log.info(
            "index_rebalance",
            day=day.isoformat(),
            account=self.account,
            why=why,
            **describe_plan(plan),
        )
        placed = []
        if plan.trades:
            placed = await self.engine.orders.place_plan(
                f"{op}:{day.isoformat()}:{self.account}", self.account, plan.trades
            )
        if op != "raise":
            await self.repo.set_state(LAST_REBALANCE_KEY, day.isoformat())
            self.cash_left = plan.cash_after
            if placed and self.engine.orders.trading_enabled:
                # The holdings being put in place: a build's day reads as the index bought,
                # not as the cash it started from.
                self.last_tracking_error = plan.tracking_error_after
                await self._publish(day)
        elif plan.trades:
            # The raised cash is the user's to withdraw: never invested again by a rebalance.
            self.reserved += cash
            await self.repo.set_state(RESERVED_KEY, str(self.reserved))
        if self.anchor is None and op != "raise":
            self.anchor = self.prices(day)
            self._anchor_dirty = True
        await self.save_anchor()
        return plan

    def floating_target(self, day: date) -> IndexTarget:
        """Return the target's weights as they have floated with prices since the index was
        first bought (`strategies.index.target.drifted`); the configured ones before."""
        if self.anchor is None:
            return self.target
        if self._floated is None or self._floated[0] != day:
            self._floated = (day, drifted(self.target, self.anchor, self.prices(day)))
        return self._floated[1]

    async def load_anchor(self) -> None:
        """Once after a start: read the prices the target floats from (`ANCHOR_KEY`)."""
        if self._anchor_loaded:
            return
        self._anchor_loaded = True
        raw = await self.repo.get_state(ANCHOR_KEY)
        if raw is None:
            return
        self.anchor = {s: Decimal(p) for s, p in json.loads(raw).items()}
        for symbol, ratio in self._anchor_splits:
            if symbol in self.anchor:
                self.anchor[symbol] /= ratio
                self._anchor_dirty = True
        self._anchor_splits.clear()

    async def save_anchor(self) -> None:
        """Keep the anchor prices when they changed (set, or a split)."""
        if self._anchor_dirty and self.anchor is not None:
            await self.repo.set_state(
                ANCHOR_KEY, json.dumps({s: str(p) for s, p in sorted(self.anchor.items())})
            )
            self._anchor_dirty = False
            self._floated = None

    def record_closes(self, day: date) -> tuple[date, dict[str, Decimal]] | None:
        """Add the latest session's prices to the returns window, once per session: dated by
        the newest quote (the hook may run before or after that day's quotes arrive, so a
        session is recorded on its own date, never on a later one), each name at its latest
        quote fresh on that date (a name not quoted anew kept its price). Return the session
        recorded, if any."""
        quote_of, quoted = self.engine.quote_of, self._quoted
        dates = [quoted(s, q)[1] for s in self._universe if (q := quote_of(s)) is not None]
        session = max((d for d in dates if d <= day), default=None)
        if session is None or (self._last_closes is not None and session <= self._last_closes):
            return None
        universe = self._universe_set
        closes = {s: p for s, p in self.prices(session).items() if s in universe}
        if not closes:
            return None
        self.returns.add_day(session, closes)
        self._last_closes = session
        return session, closes

    async def save_history(self, recorded: tuple[date, dict[str, Decimal]] | None) -> None:
        """Keep the splits applied and the session `recorded` in the state table; forget the
        sessions older than the window."""
        for day, symbol, ratio in self._unsaved_splits:
            await self.repo.set_state(f"{SPLIT_PREFIX}{day.isoformat()}:{symbol}", str(ratio))
        self._unsaved_splits.clear()
        if recorded is None:
            return
        day, closes = recorded
        await self.repo.set_state(
            CLOSES_PREFIX + day.isoformat(), json.dumps({s: str(p) for s, p in closes.items()})
        )
        key = CLOSES_PREFIX + day.isoformat()
        if key not in self._kept_sessions:
            self._kept_sessions.append(key)
        # The keys kept are known since `load_history`: no session is read back each day.
        kept = self.settings.index.risk_window_days + 1
        if len(self._kept_sessions) <= kept:
            return
        self._kept_sessions.sort()
        for old in self._kept_sessions[:-kept]:
            await self.repo.delete_state(old)
        del self._kept_sessions[:-kept]
        oldest = self._kept_sessions[0].removeprefix(CLOSES_PREFIX)
        for split in await self.repo.states(SPLIT_PREFIX):
            if split.removeprefix(SPLIT_PREFIX)[:10] < oldest:
                await self.repo.delete_state(split)

    async def load_history(self, today: date) -> None:
        """Once after a start: play the kept sessions before `today` into the returns window,
        each split applied between the sessions around it, as it was live."""
        if self._history_loaded:
            return
        self._history_loaded = True
        splits = sorted(
            (key.removeprefix(SPLIT_PREFIX)[:10], key.removeprefix(SPLIT_PREFIX)[11:], raw)
            for key, raw in (await self.repo.states(SPLIT_PREFIX)).items()
        )
        pending = iter(splits)
        split = next(pending, None)
        loaded = 0
        kept = sorted((await self.repo.states(CLOSES_PREFIX)).items())
        self._kept_sessions = [key for key, _raw in kept]
        for key, raw in kept:
            day = key.removeprefix(CLOSES_PREFIX)
            if date.fromisoformat(day) >= today:
                break
            while split is not None and split[0] <= day:  # split before this session's close
                self.returns.apply_split(split[1], Decimal(split[2]))
                split = next(pending, None)
            closes = {s: Decimal(p) for s, p in json.loads(raw).items()}
            self.returns.add_day(date.fromisoformat(day), closes)
            self._last_closes = date.fromisoformat(day)
            loaded += 1
        while split is not None:  # after the last session kept
            self.returns.apply_split(split[1], Decimal(split[2]))
            split = next(pending, None)
        for _day, symbol, ratio in self._unsaved_splits:  # seen since the start
            self.returns.apply_split(symbol, ratio)
        if loaded:
            log.info("index_history_loaded", sessions=loaded)

    def reestimate(self, day: date) -> None:
        """Re-estimate the risk model from the returns up to `day`, once a week (on one BLAS
        thread: many threads are slower for these small matrices, on a busy machine much
        slower)."""
        if self._estimated_on is not None and day - self._estimated_on < REESTIMATE_EVERY:
            return
        symbols = self._universe
        returns, as_of = self.returns.matrix(symbols)
        if as_of is None or returns.shape[0] < MIN_HISTORY_DAYS:
            return
        with _threadpools().limit(limits=1):
            self.risk = estimate(returns, symbols, as_of, self.settings.index.risk_factors)
        self._estimated_on = day
        log.info("index_risk_estimated", day=day.isoformat(), sessions=int(returns.shape[0]))

    def model(self, day: date) -> RiskModel:
        """Return the risk model (the prior one while there is too little history)."""
        return self.risk if self.risk is not None else prior_model(self._universe, day)

    def prices(self, day: date) -> dict[str, Decimal]:
        """Return the mid of each index name's and held name's latest quote fresh on `day`."""
        quote_of, snapshots, quoted = self.engine.quote_of, self._snapshots, self._quoted
        out = {}
        for symbol in self._held()[1]:
            q = quote_of(symbol)
            snap = snapshots.get(symbol)
            if snap is not None and (q is None or snap.at > q.at):
                q = snap
            if q is None or q.bid <= 0 or q.ask <= 0:
                continue
            _q, on, mid = quoted(symbol, q)
            if on > day or day - on > REPLACEMENT_QUOTE_MAX_AGE:
                continue
            out[symbol] = mid
        return out

    def _quoted(self, symbol: str, q: Quote) -> tuple[Quote, date, Decimal]:
        """Return `q` with its New York date and mid, computed once per quote."""
        known = self._quoted_cache.get(symbol)
        if known is None or known[0] is not q:
            known = (q, _new_york_date(q.at), (q.bid_decimal + q.ask_decimal) / 2)
            self._quoted_cache[symbol] = known
        return known

    def _held(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """Return the names the account holds, and those with the index's names, sorted (kept
        until the ledger changes)."""
        engine = self.engine
        ledger, version = engine.ledger, engine.ledger_version
        cached = self._held_cache
        if cached is None or cached[0] is not ledger or cached[1] != version:
            held = frozenset(s for (a, s) in ledger.positions() if a == self.account)
            cached = (ledger, version, held, tuple(sorted(held.union(self._universe))))
            self._held_cache = cached
        return cached[2], cached[3]

    def _holdings_of(self, day: date, prices: Mapping[str, Decimal]) -> dict[str, Holding]:
        """Return the account's holdings of the index's names (`holdings_of`); kept until the
        ledger changes when the broker's relief order does not depend on the price."""
        engine = self.engine
        ledger, version, relief = engine.ledger, engine.ledger_version, engine.relief
        held = self._held()[0]
        if not relief.specific_lots and relief.method in PRICE_RANKED:
            return holdings_of(
                ledger, self.account, prices, relief, day, self._universe_set, held=held
            )
        cached = self._holdings_cache
        if cached is None or cached[0] is not ledger or cached[1] != version or cached[2] != relief:
            holdings = holdings_of(
                ledger, self.account, prices, relief, day, self._universe_set, held=held
            )
            cached = (ledger, version, relief, holdings)
            self._holdings_cache = cached
        return dict(cached[3])

    def busy(self) -> str:
        """Return why a plan must wait (orders in flight, of any kind, or a replacement waiting
        for a quote: their shares and cash are not settled in the ledger yet), or ""."""
        orders = self.engine.orders
        if orders.plans_in_flight or orders.open_intents:
            return "orders in flight"
        if orders.awaiting_quotes:
            return "a harvest's replacement waits for a quote"
        return ""

    async def spendable_cash(self) -> Decimal:
        """Return the account's cash less what `tlh index raise` set aside for a withdrawal
        (what is set aside shrinks as the cash leaves the account)."""
        if not self._reserved_loaded:
            self._reserved_loaded = True
            raw = await self.repo.get_state(RESERVED_KEY)
            self.reserved = Decimal(raw) if raw else Decimal(0)
        cash = await self.cash()
        if self.reserved > cash:
            self.reserved = max(cash, Decimal(0))
            await self.repo.set_state(RESERVED_KEY, str(self.reserved))
        return cash - self.reserved

    async def snapshot_quotes(self, day: date) -> None:
        """Ask the broker (`adapters.base.QuoteSnapshots`) for the latest quotes of the index's
        names the stream has not quoted freshly on `day` (a name that has not traded since the
        daemon subscribed), so a plan prices every name it may trade."""
        broker = self.engine.broker
        if not isinstance(broker, QuoteSnapshots):
            return
        missing = set(self._universe) - set(self.prices(day))
        if missing:
            self._snapshots.update(await broker.latest_quotes(missing))

    async def cash(self) -> Decimal:
        """Return the index account's cash, when the broker reports it (else none)."""
        broker = self.engine.broker
        if isinstance(broker, CashBalances):
            return await broker.cash_balance(self.account)
        return Decimal(0)

    def cash_to_invest(self, book: Book) -> Decimal:
        """Return the cash that calls for a rebalance before the next scheduled one: a deposit,
        cash grown since the last plan left it by more than the buffer (and worth a trade);
        else 0. Dividends gather until then, or until the scheduled rebalance invests them;
        cash a plan could not invest (whole shares, bands) waits for the next one."""
        ix = self.settings.index
        buffer = ix.cash_buffer * book.value
        left = self.cash_left if self.cash_left is not None else Decimal(0)
        new = book.cash - max(buffer, left)
        worth = max(ix.min_trade_usd, buffer, Decimal("0.01"))
        return new if new >= worth else Decimal(0)

    def book(self, day: date, *, cash: Decimal, lockouts: bool = True) -> Book:
        """Return the index account as the optimiser sees it on `day` (without the wash-sale
        lockouts unless `lockouts`: a ranking of replacements judges its names itself)."""
        engine = self.engine
        prices = self.prices(day)
        holdings = self._holdings_of(day, prices)
        book = Book(self.account, day, cash, holdings, prices, identity=engine.ledger.identity)
        return self.locked(book) if lockouts else book

    def locked(self, book: Book) -> Book:
        """Return `book` with the wash-sale lockouts as the guard judges them now."""
        engine = self.engine
        locked = lockouts_of(
            engine.guard,
            self._universe,
            book.holdings,
            book.today,
            pending_buys=engine.orders.pending_buy_symbols(),
            pending_loss_sales=engine.orders.pending_sell_symbols(),
        )
        return replace(book, lockouts=locked)

    async def _publish(self, day: date) -> None:
        """Keep the tracking error where `tlh status` reads it (`INDEX_STATUS_KEY`)."""
        await self.repo.set_state(
            INDEX_STATUS_KEY,
            json.dumps(
                {
                    "tracking_error": self.last_tracking_error,
                    "budget": str(self.settings.index.max_tracking_error),
                    "as_of": day.isoformat(),
                }
            ),
        )


def config_dir(config: Path | None) -> Path:
    """Return the directory relative `[index]` paths are read from: the config file's."""
    return config.parent if config is not None else Path.cwd()
