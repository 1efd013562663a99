"""Backtests and the demo: replay daily prices through the real daemon on the simulator.

The very same engine, order manager, ledger and journal run here as live, built by
`build_daemon` as `tlh run` builds them (with the `[prices]` quote filter); only the clock (a
`SimulatedClock` set to each session's close), the broker (`SimBroker`) and the event source
differ: `daemon.replay.PriceReplay` plays each session through the scheduler's timetable,
as `tlh run` with `[sim] replay` plays it through the running daemon.

With `index` (an `IndexBacktest`), the account starts from cash and no holdings: the direct
index (`[index]`, wired by `build_daemon`) buys it at its rebalances; deposits come on the
first session of each later month. Every backtest records one day sample per session
(`BacktestResult.series`), with the same money bought and held beside it
(`daemon.backtest_benchmark`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO

from adapters.prices.model import PriceSeries
from adapters.sim.broker import SimCosts
from adapters.storage.records import IntentKind, JournalKind
from daemon.app import Daemon, build_daemon
from daemon.backtest_benchmark import BenchmarkDay, buy_and_hold
from daemon.backtest_sampler import DaySampler
from daemon.backtest_series import BacktestSeries
from daemon.brokers import sim_broker
from daemon.clock import SimulatedClock
from daemon.index_manager import CLOSES_PREFIX, SPLIT_PREFIX
from daemon.orders import denial_kind, first_part
from daemon.replay import NEW_YORK, InPlace, PriceReplay, session_start, splits_of
from daemon.settings import Settings
from ledger.engine import event_order
from ledger.forms import quantity
from ledger.model import Action, Split, Trade, ratio_division

ZERO = Decimal(0)
SIM_INDEX_ACCOUNT = "sim"
"""The index account of a backtest whose `[index] account` names none (the simulator's)."""


@dataclass(frozen=True, slots=True)
class IndexBacktest:
    """A direct index built from cash: `cash` at the start, `deposits_per_month` on the first
    session of each later month, into `account` (default: `[index] account`, else
    `SIM_INDEX_ACCOUNT`). `weights`: the target (any positive scale) the benchmark buys; the
    daemon's index reads its own from `[index]`."""

    cash: Decimal
    weights: Mapping[str, Decimal]
    deposits_per_month: Decimal = ZERO
    account: str | None = None
    label: str = "direct index"


def deposit_days(sessions: Sequence[date], index: IndexBacktest) -> dict[date, Decimal]:
    """Return the money put in by session: the start cash on the first session, a deposit on
    the first session of each later month."""
    out: dict[date, Decimal] = {}
    month = None
    for day in sessions:
        if month is None:
            out[day] = index.cash
        elif (day.year, day.month) != month and index.deposits_per_month:
            out[day] = index.deposits_per_month
        month = (day.year, day.month)
    return out


@dataclass(slots=True)
class BacktestResult:
    """What a backtest did; `wash_sales_created` must be 0."""

    harvests: int = 0
    harvested_loss: Decimal = ZERO
    estimated_tax_saved: Decimal = ZERO
    trades: int = 0
    wash_sales_created: int = 0
    wash_sales_avoided: int = 0
    days: int = 0
    quotes: int = 0
    splits: int = 0
    first_day: date | None = None
    last_day: date | None = None
    daemon_trades: list[Trade] = field(default_factory=list)
    splits_applied: list[Split] = field(default_factory=list)  # journaled, in journal order
    unpriced_symbols: list[str] = field(default_factory=list)
    holdings_not_replayed: int = 0
    split_holds: list[str] = field(default_factory=list)
    series: BacktestSeries | None = None  # one sample per session played

    @property
    def warnings(self) -> list[str]:
        """Return why the replay may have missed harvests: data it did not have."""
        out = []
        if self.unpriced_symbols:
            out.append(
                f"held but absent from the prices, never quoted or harvested: "
                f"{', '.join(self.unpriced_symbols)}"
            )
        if self.holdings_not_replayed:
            out.append(
                f"{self.holdings_not_replayed} holdings row(s) dated after the last day "
                f"replayed ({self.last_day}) were never imported"
            )
        if not self.days:
            out.append("no day of the prices lies in the period replayed")
        if self.split_holds:
            out.append(
                "held after a price move like a split the prices do not announce (no split "
                f"column, or none near the move): {', '.join(self.split_holds)}"
            )
        return out

    # Orders the risk limits (or a halt, or dry run) denied, by the limit that denied them.
    risk_denials: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Return the `--json` summary object (fixed keys first)."""
        return {
            "harvests": self.harvests,
            "harvested_loss": str(self.harvested_loss),
            "estimated_tax_saved": str(self.estimated_tax_saved),
            "trades": self.trades,
            "wash_sales_created": self.wash_sales_created,
            "wash_sales_avoided": self.wash_sales_avoided,
            "days": self.days,
            "quotes": self.quotes,
            "splits": self.splits,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "unpriced_symbols": list(self.unpriced_symbols),
            "holdings_not_replayed": self.holdings_not_replayed,
            "split_holds": list(self.split_holds),
            "warnings": self.warnings,
            "risk_denials": sum(self.risk_denials.values()),
            "risk_denials_by_limit": dict(sorted(self.risk_denials.items())),
        }


DayHook = Callable[[date, Daemon], None]


async def run_backtest(
    prices: PriceSeries,
    holdings: Sequence[Trade],
    settings: Settings,
    *,
    database_url: str,
    start: date | None = None,
    end: date | None = None,
    spread_bps: Decimal = Decimal(10),
    costs: SimCosts | None = None,
    on_day: DayHook | None = None,
    on_decision: Callable[[str, dict[str, object]], None] | None = None,
    index: IndexBacktest | None = None,
) -> BacktestResult:
    """Replay `prices` over `holdings` (or, with `index`, from cash) through the daemon and
    return what it did, with its day samples."""
    first = start or prices.first_date
    account = None
    if index is not None:
        account = index.account or settings.index.account or SIM_INDEX_ACCOUNT
        settings = settings.model_copy(
            update={"index": settings.index.model_copy(update={"account": account})}
        )
    clock = SimulatedClock(session_start(min([first, *(t.trade_date for t in holdings)])))
    broker = sim_broker(settings, clock.now, costs)
    daemon = await build_daemon(
        settings, broker, clock.now, database_url=database_url, on_decision=on_decision
    )
    result = BacktestResult()
    result.unpriced_symbols = sorted({t.symbol for t in holdings} - set(prices.symbols))
    try:
        await daemon.engine.start()
        replay = PriceReplay(
            prices, daemon, broker, clock, holdings=holdings, spread_bps=spread_bps
        )
        sessions = list(replay.sessions(first, end))
        money = deposit_days([day for day, _ in sessions], index) if index else {}
        if index is not None:
            await _keep_history(daemon, prices, first, settings.index.risk_window_days)
        sampler = DaySampler(prices, daemon, broker)
        feed = InPlace(daemon.engine)
        await replay.begin(first, feed, last_close=index is not None)
        for day, rows in sessions:
            amount = money.get(day)
            if amount and account is not None:
                broker.deposit(account, amount)  # before the open: today's rebalance sees it
            await replay.play(day, rows, feed)
            await sampler.sample(day, rows)
            result.first_day = result.first_day or day
            result.last_day = day
            if on_day is not None:
                on_day(day, daemon)
        result.days, result.quotes, result.splits = replay.days, replay.quotes, replay.splits
        result.holdings_not_replayed = len(replay.waiting)
        result.split_holds = sorted(daemon.engine.split_holds)
        await _summarize(daemon, result, settings)
        result.series = sampler.series(
            trades=result.daemon_trades,
            sales=daemon.ledger.sales,
            benchmark=_benchmark(prices, holdings, index, money, result),
            short_term_rate=settings.tax.short_term_rate,
            long_term_rate=settings.tax.long_term_rate,
            label=index.label if index else "ETF pairs",
        )
    finally:
        await daemon.close()
    return result


async def _keep_history(daemon: Daemon, prices: PriceSeries, first: date, days: int) -> None:
    """Keep the closes and splits of the `days` + 1 sessions before `first` as the daemon
    keeps those it plays (`IndexManager.save_history`), so that its risk model starts from
    the history it would have had, had it run then: past prices only, no look-ahead."""
    before = [(day, rows) for day, rows in prices.day_ranges() if day < first][-(days + 1) :]
    symbols, sids = prices.symbols, prices.symbol_ids
    for day, rows in before:
        for i, ratio in splits_of(prices, rows):
            key = f"{SPLIT_PREFIX}{day.isoformat()}:{symbols[sids[i]]}"
            await daemon.repo.set_state(key, str(ratio))
        closes = {symbols[sids[i]]: str(prices.bar(i, day).close) for i in rows}
        await daemon.repo.set_state(CLOSES_PREFIX + day.isoformat(), json.dumps(closes))


def _benchmark(
    prices: PriceSeries,
    holdings: Sequence[Trade],
    index: IndexBacktest | None,
    money: Mapping[date, Decimal],
    result: BacktestResult,
) -> list[BenchmarkDay]:
    """Return the benchmark: the index's money at its weights, or the starting holdings,
    bought and held over the sessions played."""
    if result.first_day is None:
        return []
    if index is not None:
        return buy_and_hold(
            prices,
            weights=index.weights,
            cash_in=money,
            start=result.first_day,
            end=result.last_day,
        )
    shares: dict[date, dict[str, Decimal]] = {}
    for t in holdings:
        if t.trade_date <= result.last_day:  # type: ignore[operator]
            held = shares.setdefault(t.trade_date, {})
            signed = t.quantity if t.action is Action.BUY else -t.quantity
            held[t.symbol] = held.get(t.symbol, ZERO) + signed
    return buy_and_hold(prices, shares_in=shares, start=result.first_day, end=result.last_day)


async def _summarize(daemon: Daemon, result: BacktestResult, settings: Settings) -> None:
    """Fill the result from the journal and ledger (the source of truth), not from counters."""
    records = await daemon.repo.load_journal()
    ours = [r for r in records if r.kind is JournalKind.TRADE]
    result.trades = len(ours)
    result.daemon_trades = [r.to_event() for r in ours]  # type: ignore[misc]
    result.splits_applied = [
        r.to_event()  # type: ignore[misc]
        for r in records
        if r.kind is JournalKind.SPLIT
    ]
    sale_lots = {(t.trade_date, t.lot_id) for t in result.daemon_trades if t.action is Action.SELL}
    rate = {"short": settings.tax.short_term_rate, "long": settings.tax.long_term_rate}
    for row in daemon.ledger.sales:
        if row.washed:
            result.wash_sales_created += 1
        if (row.date_sold, row.lot_id) in sale_lots and row.gain_loss < 0:
            result.harvested_loss += -row.gain_loss
            result.estimated_tax_saved += -row.gain_loss * rate[row.term.value]
    result.harvested_loss = result.harvested_loss.quantize(Decimal("0.01"))
    result.estimated_tax_saved = result.estimated_tax_saved.quantize(Decimal("0.01"))
    result.harvests = sum(
        1
        for i in daemon.orders.harvests_completed
        if i.kind is IntentKind.HARVEST_SELL and first_part(i)
    )
    for denied in daemon.orders.denials:
        kind = denial_kind(denied.reason)
        result.risk_denials[kind] = result.risk_denials.get(kind, 0) + 1
    # Each distinct blocking purchase of a position counts once, however many days it blocked.
    result.wash_sales_avoided = daemon.engine.stats.distinct("wash_guard")


def write_trades(trades: Sequence[Trade], out: IO[str], splits: Sequence[Split] = ()) -> None:
    """Write trades, and the splits the run journaled (every split of the prices: a history
    of starting lots and these trades needs those of the lots' symbols too), in the TRADES.csv
    format of `tlh tax report` (lot ids on every trade), in the ledger's order."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["date", "account", "action", "symbol", "quantity", "price", "fees", "lot_id"])
    events: list[Trade | Split] = [*trades, *splits]
    for t in sorted(events, key=event_order):
        when = t.at.astimezone(NEW_YORK).isoformat() if t.at else t.trade_date.isoformat()
        if isinstance(t, Split):
            w.writerow([when, "", "SPLIT", t.symbol, split_ratio_text(t.ratio), "", "", ""])
            continue
        w.writerow(
            [
                when,
                t.account,
                t.action.value,
                t.symbol,
                quantity(t.quantity),
                quantity(t.price),
                quantity(t.fees),
                t.lot_id or "",
            ]
        )


def split_ratio_text(ratio: Decimal) -> str:
    """Return a split ratio as TRADES.csv writes it: ``p/q`` for a ratio no decimal holds
    (``4/3``, `ratio_division`), else the decimal (``2``, ``1.5``, ``0.1``)."""
    division = ratio_division(ratio)
    return quantity(ratio) if division is None else f"{division[0]}/{division[1]}"
