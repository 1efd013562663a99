"""The day samples of a backtest (`daemon.backtest_series.DaySample`), one per session.

What only the running backtest knows is read at each close (`DaySampler.sample`): the value
of the simulator's holdings at the day's closes plus its cash, the open lots, the ex-ante
tracking error of the direct index, the harvests so far. What the journal and the ledger keep
is added once the replay is over (`DaySampler.series`), by date: the losses harvested, the
gains and losses realised (after wash-sale adjustments, as Form 8949 reports them), the
notional traded, and the benchmark (`daemon.backtest_benchmark`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from adapters.prices.model import PriceSeries
from adapters.sim.broker import SimBroker
from adapters.storage.records import IntentKind
from daemon.app import Daemon
from daemon.backtest_benchmark import BenchmarkDay, close_of
from daemon.backtest_series import BacktestSeries, DaySample
from daemon.orders import first_part
from ledger.engine import Ledger
from ledger.model import Action, SaleRow, Trade

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Live:
    day: date
    value: Decimal
    lots: int
    tracking_error: float | None
    harvests: int


class DaySampler:
    """Sample a backtest's daemon at each session's close."""

    def __init__(self, prices: PriceSeries, daemon: Daemon, broker: SimBroker) -> None:
        self._prices = prices
        self._daemon = daemon
        self._broker = broker
        self._last_row: dict[str, int] = {}
        self._live: list[_Live] = []
        self._harvests = 0
        self._seen = 0  # completed harvest intents counted so far
        # The open lots counted, until the ledger changes (`HarvestEngine.ledger_version`).
        self._lots: tuple[Ledger, int, int] | None = None

    async def sample(self, day: date, rows: range) -> None:
        """Record the session `day` (its price `rows`) as the daemon stands after its close."""
        prices, last = self._prices, self._last_row
        symbols, sids = prices.symbols, prices.symbol_ids
        for i in rows:
            last[symbols[sids[i]]] = i
        value = sum(self._broker.cash_balances().values(), ZERO)
        for (_account, symbol), qty in (await self._broker.positions()).items():
            row = last.get(symbol)
            if row is not None:
                value += qty * close_of(prices, row)
        daemon = self._daemon
        done = daemon.orders.harvests_completed
        for intent in done[self._seen :]:
            if intent.kind is IntentKind.HARVEST_SELL and first_part(intent):
                self._harvests += 1
        self._seen = len(done)
        self._live.append(
            _Live(
                day,
                value,
                self._open_lots(),
                _tracking_error(daemon.engine.index),
                self._harvests,
            )
        )

    def _open_lots(self) -> int:
        """Return how many lots the ledger holds open (counted again once it changed)."""
        engine = self._daemon.engine
        ledger, version = engine.ledger, engine.ledger_version
        known = self._lots
        if known is None or known[0] is not ledger or known[1] != version:
            known = (ledger, version, len(ledger.open_lots()))
            self._lots = known
        return known[2]

    def series(
        self,
        *,
        trades: Sequence[Trade],
        sales: Sequence[SaleRow],
        benchmark: Sequence[BenchmarkDay],
        short_term_rate: Decimal,
        long_term_rate: Decimal,
        label: str,
    ) -> BacktestSeries:
        """Return the samples, with the journal's `trades` (the daemon's own), the ledger's
        `sales` and the `benchmark`, each counted up to each sample's day."""
        ours = {(t.trade_date, t.lot_id) for t in trades if t.action is Action.SELL}
        traded = _by_day((t.trade_date, t.quantity * t.price) for t in trades)
        harvested = _by_day(
            (r.date_sold, -r.gain_loss)
            for r in sales
            if (r.date_sold, r.lot_id) in ours and r.gain_loss < 0
        )
        reported = [r for r in sales if not r.account_type.tax_advantaged]
        short = _by_day((r.date_sold, r.gain_loss) for r in reported if r.term.value == "short")
        long_ = _by_day((r.date_sold, r.gain_loss) for r in reported if r.term.value == "long")
        bench = {b.day: b for b in benchmark}
        running = {"traded": ZERO, "harvested": ZERO, "short": ZERO, "long": ZERO}
        flows = {"traded": traded, "harvested": harvested, "short": short, "long": long_}
        samples = []
        for live in self._live:
            for key, flow in flows.items():
                while flow and flow[-1][0] <= live.day:
                    running[key] += flow.pop()[1]
            b = bench.get(live.day)
            samples.append(
                DaySample(
                    day=live.day,
                    value=live.value,
                    benchmark_value=b.value if b else ZERO,
                    invested=b.invested if b else ZERO,
                    harvested_loss=running["harvested"],
                    realized_short=running["short"],
                    realized_long=running["long"],
                    tracking_error_ex_ante=live.tracking_error,
                    lots=live.lots,
                    traded=running["traded"],
                    harvests=live.harvests,
                )
            )
        return BacktestSeries(short_term_rate, long_term_rate, samples, label)


def _by_day(flows: Iterable[tuple[date, Decimal]]) -> list[tuple[date, Decimal]]:
    """Return (day, amount) pairs summed by day, latest first (popped from the end)."""
    total: dict[date, Decimal] = {}
    for day, amount in flows:
        total[day] = total.get(day, ZERO) + amount
    return sorted(total.items(), reverse=True)


def _tracking_error(index: object) -> float | None:
    """Return the direct index's ex-ante tracking error at the close, when it has one."""
    if index is None:
        return None
    method = getattr(index, "tracking_error", None)  # else the manager's last figure
    value = method() if callable(method) else getattr(index, "last_tracking_error", None)
    return float(value) if isinstance(value, int | float | Decimal) else None
