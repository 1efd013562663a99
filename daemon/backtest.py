"""Backtests and the demo: replay daily prices through the real daemon on the simulator.

The very same engine, order manager, ledger and journal run here as live; only the clock (a
`SimulatedClock` set to each session's close) and the broker (`SimBroker`) differ. Each day,
splits are applied first, then every bar becomes a quote (the close, less and plus half the
configured spread) that the engine judges exactly as it judges a live quote: the daemon is
built by `build_daemon`, as `tlh run` builds it, with the `[prices]` quote filter. A bar that
repeats the symbol's previous bar field for field is the same quote again, stamped with the
session it was new in, so a price stuck for days is stale as a live quote that stopped
updating is; a close under one cent quotes a zero bid, rejected as live.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from typing import IO
from zoneinfo import ZoneInfo

from adapters.prices.model import PriceSeries, split_share_ratio
from adapters.sim.broker import SimBroker, SimCosts
from adapters.storage.records import IntentKind, JournalKind
from daemon.app import Daemon, build_daemon
from daemon.brokers import sim_broker
from daemon.clock import SimulatedClock
from daemon.engine import HarvestEngine
from daemon.events import Quote, SplitEvent
from daemon.orders import denial_kind, first_part
from daemon.settings import Settings
from ledger.forms import quantity
from ledger.model import Action, Trade

NEW_YORK = ZoneInfo("America/New_York")
CLOSE = time(16, 0)
ZERO = Decimal(0)


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
    unpriced_symbols: list[str] = field(default_factory=list)
    holdings_not_replayed: int = 0
    split_holds: list[str] = field(default_factory=list)

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
) -> BacktestResult:
    """Replay `prices` over `holdings` through the daemon and return what it did."""
    first = start or prices.first_date
    clock = SimulatedClock(
        _at_close(min(first, *(t.trade_date for t in holdings)) if holdings else _at_close(first))
    )
    broker = sim_broker(settings, clock.now, costs)
    broker.split_calendar = prices  # the split column answers the engine's split checks
    daemon = await build_daemon(
        settings, broker, clock.now, database_url=database_url, on_decision=on_decision
    )
    result = BacktestResult()
    result.unpriced_symbols = sorted({t.symbol for t in holdings} - set(prices.symbols))
    try:
        engine = daemon.engine
        await engine.start()
        # Starting lots enter the journal on their own dates, so that splits and trades in
        # between keep the journal in time order.
        waiting = sorted(holdings, key=lambda t: (t.trade_date, t.seq))
        await _import_due(engine, broker, waiting, first)
        half = Decimal(spread_bps) / Decimal(20000)
        lo, hi = float(1 - half), float(1 + half)
        symbols = prices.symbols
        repeats = _repeat_test(prices)
        previous = [-1] * len(symbols)  # each symbol's last row
        quoted_at = [clock.now()] * len(symbols)  # when each symbol's quote last changed
        for day, rows in prices.day_ranges():
            if day < first or (end is not None and day > end):
                continue
            clock.advance_to(_at_close(day))
            at = clock.now()
            if waiting and waiting[0].trade_date <= day:
                await _import_due(engine, broker, waiting, day)
            result.days += 1
            result.first_day = result.first_day or day
            result.last_day = day
            for row, ratio in _splits_of(prices, rows):
                name = symbols[prices.symbol_ids[row]]
                broker.apply_split(name, ratio)
                await engine.on_split(SplitEvent(name, ratio, at))
                result.splits += 1
            close = prices.close_micros
            sids = prices.symbol_ids
            for i in rows:
                sid = sids[i]
                # A bar that repeats the symbol's previous bar is that quote again: it keeps
                # the time it was new, and the quote filter judges its age as it judges live.
                if not repeats(previous[sid], i):
                    quoted_at[sid] = at
                previous[sid] = i
                # Quotes on whole cents around the close, at least one cent wide; a close
                # below a cent quotes a zero bid, which no live quote would be traded on.
                c = close[i] / 1_000_000
                bid = math.floor(c * lo * 100) / 100
                ask = max(math.ceil(c * hi * 100) / 100, bid + 0.01)
                quote = Quote(symbols[sid], bid, round(ask, 2), quoted_at[sid])
                broker.set_quote(quote)
                if engine.on_quote(quote):
                    # Only an evaluation can place orders, and so queue the broker's events.
                    await engine.evaluate(quote)
                    await engine.drain()
            result.quotes += len(rows)
            if daemon.orders.awaiting_quotes:
                for symbol in sorted(daemon.orders.awaiting_quotes):  # a set: fix the order
                    q = engine.quotes.get(symbol)
                    if q is not None:
                        await daemon.orders.on_quote(q)
                await engine.drain()
            if engine.swap_back and await engine.swap_back_check(day):
                await engine.drain()
            if on_day is not None:
                on_day(day, daemon)
        result.holdings_not_replayed = len(waiting)
        result.split_holds = sorted(daemon.engine.split_holds)
        await _summarize(daemon, result, settings)
    finally:
        await daemon.close()
    return result


async def _import_due(
    engine: HarvestEngine, broker: SimBroker, waiting: list[Trade], day: date
) -> None:
    """Import (and pop) the starting lots dated on or before `day`."""
    due = 0
    while due < len(waiting) and waiting[due].trade_date <= day:
        due += 1
    if not due:
        return
    batch, waiting[:] = waiting[:due], waiting[due:]
    await engine.import_trades(batch, source="holdings")
    for account, symbol in {(t.account, t.symbol) for t in batch}:
        broker.set_position(account, symbol, engine.ledger.position(account, symbol))


def _repeat_test(prices: PriceSeries) -> Callable[[int, int], bool]:
    """Return a test of whether row `i` repeats row `p` (-1: none) in every field the file
    gives."""
    op, hi, lo, cl, vol = (
        prices.open_micros,
        prices.high_micros,
        prices.low_micros,
        prices.close_micros,
        prices.volume,
    )
    exact = prices.exact

    def repeats(p: int, i: int) -> bool:
        return (
            p >= 0
            and cl[p] == cl[i]
            and op[p] == op[i]
            and hi[p] == hi[i]
            and lo[p] == lo[i]
            and vol[p] == vol[i]
            and exact.get(p) == exact.get(i)
        )

    return repeats


def _splits_of(prices: PriceSeries, rows: range) -> list[tuple[int, Decimal]]:
    if not prices.splits:
        return []
    out = []
    for i in rows:
        coef = prices.splits.get(i)
        if coef is None or coef == 1:
            continue
        # Spin-off price factors are not share ratios: only real splits move shares.
        ratio = split_share_ratio(coef)
        if ratio is not None:
            out.append((i, _decimal(ratio)))
    return out


def _decimal(ratio: Fraction) -> Decimal:
    return Decimal(ratio.numerator) / Decimal(ratio.denominator)


def _at_close(day: date) -> datetime:
    return datetime.combine(day, CLOSE, tzinfo=NEW_YORK)


async def _summarize(daemon: Daemon, result: BacktestResult, settings: Settings) -> None:
    """Fill the result from the journal and ledger (the source of truth), not from counters."""
    records = await daemon.repo.load_journal()
    ours = [r for r in records if r.kind is JournalKind.TRADE]
    result.trades = len(ours)
    result.daemon_trades = [r.to_event() for r in ours]  # type: ignore[misc]
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


def write_trades(trades: Sequence[Trade], out: IO[str]) -> None:
    """Write trades in the TRADES.csv format of `tlh tax report` (lot ids on every row)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["date", "account", "action", "symbol", "quantity", "price", "fees", "lot_id"])
    for t in trades:
        when = t.at.astimezone(NEW_YORK).isoformat() if t.at else t.trade_date.isoformat()
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
