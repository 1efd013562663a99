"""Backtests and the demo: replay daily prices through the real daemon on the simulator.

The very same engine, order manager, ledger and journal run here as live, built by
`build_daemon` as `tlh run` builds them (with the `[prices]` quote filter); only the clock (a
`SimulatedClock` set to each session's close), the broker (`SimBroker`) and the event source
differ: `daemon.replay.PriceReplay` turns each session into the events the engine handles,
the same ones that `tlh run` with `[sim] replay` plays through the running daemon.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO

from adapters.prices.model import PriceSeries
from adapters.sim.broker import SimCosts
from adapters.storage.records import IntentKind, JournalKind
from daemon.app import Daemon, build_daemon
from daemon.brokers import sim_broker
from daemon.clock import SimulatedClock
from daemon.orders import denial_kind, first_part
from daemon.replay import NEW_YORK, InPlace, PriceReplay, session_start
from daemon.settings import Settings
from ledger.forms import quantity
from ledger.model import Action, Trade

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
        feed = InPlace(daemon.engine)
        await replay.begin(first, feed)
        for day, rows in replay.sessions(first, end):
            await replay.play(day, rows, feed)
            result.first_day = result.first_day or day
            result.last_day = day
            if on_day is not None:
                on_day(day, daemon)
        result.days, result.quotes, result.splits = replay.days, replay.quotes, replay.splits
        result.holdings_not_replayed = len(replay.waiting)
        result.split_holds = sorted(daemon.engine.split_holds)
        await _summarize(daemon, result, settings)
    finally:
        await daemon.close()
    return result


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
