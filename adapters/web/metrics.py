"""Prometheus metrics over a `DaemonView`, read at scrape time (issue #10 §1).

`DaemonCollector` is a prometheus-client custom collector: nothing is counted on the tick path
for Prometheus's sake. Each scrape reads `view.counters()` (memory only) and the status snapshot
that `refresh()` fetched just before with `view.snapshot(max_age=SNAPSHOT_MAX_AGE)`: the view
builds it again only once the one it holds is that old, since building it walks every open lot
(about 250 ms for 25,000 lots) and doing so at every scrape of a 1 Hz scraper took a quarter of
the tick path's throughput (`bench/tick_path.py --metrics`). The snapshot's series are thus up
to that old; the counters' are current. The names are a contract (issue #10 §1; prometheus/docs
`practices/naming.md`).

From the counters, since this process started:

* `tlh_quotes_total`: quotes received, deliberately **unlabelled**: a `symbol` label would make
  one series per symbol, 500 for a direct index, for a figure nobody alerts on per symbol;
* `tlh_decisions_total{outcome}` (`harvest` and each skip kind), `tlh_wash_sales_avoided_total`,
  `tlh_orders_total{side,status}` (every outcome of `DECISION_OUTCOMES` and every side and
  status of `ORDER_SIDES` x `ORDER_STATUSES` from the first scrape, at 0, so that `rate()` and
  alerts see them; daemon.observation), `tlh_order_latency_seconds` (crossing quote to the broker's
  acknowledgement), `tlh_intents_in_flight`, `tlh_halted_symbols`, `tlh_stream_connected{stream}`,
  `tlh_last_quote_age_seconds` (absent before the first quote), `tlh_tracking_error_ratio`
  (absent until direct indexing reports one).

From the snapshot (the journal and the ledger):

* `tlh_harvests_total`, `tlh_harvested_loss_dollars_total`, `tlh_estimated_tax_saved_dollars_total`
  over every harvest in the journal, so they survive restarts; each harvest counts with the
  largest loss it was seen with, so a later wash adjustment of its loss (a repurchase within
  30 days) lowers the year's gauge but never these counters within a process; this tax
  year's `tlh_harvested_loss_ytd_dollars` and `tlh_estimated_tax_saved_ytd_dollars`;
  `tlh_harvests_today`;
* `tlh_open_lots`, `tlh_unrealized_loss_dollars` (positive dollars over the priced lots at a loss),
  `tlh_portfolio_value_dollars` (absent while any lot is unpriced);
* `tlh_harvest_yield_ratio`, Wealthfront's harvesting yield annualised over the year so far::

      losses harvested this tax year / portfolio value x days in the year / days elapsed

  where the portfolio value is the open lots' market value now and the days elapsed count
  1 January through `today` (New York), both included. Absent while the portfolio is unpriced
  or empty.
* `tlh_paused`, `tlh_trading_enabled` (0/1), `tlh_state{tlh_state}` (running, paused, halted,
  disconnected), `tlh_info{mode,broker}`.

`tlh_snapshot_ok` is 1 while a snapshot is held and 0 once reading it failed; the snapshot's
series are then left out rather than shown stale, until a scrape reads it again.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import get_args

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from daemon.observation import (
    DECISION_OUTCOMES,
    ORDER_SIDES,
    ORDER_STATUSES,
    Counters,
    DaemonView,
    LatencyHistogram,
    State,
    StatusSnapshot,
)

log = structlog.get_logger("tlh.web.metrics")
STATES: tuple[str, ...] = get_args(State)
SNAPSHOT_MAX_AGE = 15.0
"""The oldest status snapshot a scrape is served, seconds (Prometheus's usual interval)."""


class DaemonCollector(Collector):
    """Collect the daemon's metrics from its view at scrape time.

    The snapshot's families are computed once per snapshot: the view hands out the same
    (immutable) snapshot until it builds another, and summing thousands of lots per scrape
    would cost the tick path for nothing.
    """

    def __init__(self, view: DaemonView, *, max_age: float = SNAPSHOT_MAX_AGE) -> None:
        self._view = view
        self._max_age = max_age
        self._snapshot: StatusSnapshot | None = None
        self._families: tuple[Metric, ...] = ()
        # intent id -> the largest (loss, estimated tax saved) each harvest was seen with
        self._booked: dict[str, tuple[Decimal, Decimal]] = {}

    async def refresh(self) -> None:
        """Fetch the status snapshot, at most `max_age` old, that the next `collect` reports;
        forget it if that fails (the next scrape tries again)."""
        try:
            snapshot = await self._view.snapshot(max_age=self._max_age)
        except Exception:
            log.exception("metrics_snapshot_failed")
            self._snapshot, self._families = None, ()
            return
        if snapshot is not self._snapshot:
            self._book(snapshot)
            self._snapshot = snapshot
            self._families = tuple(snapshot_metrics(snapshot, self._booked.values()))

    def _book(self, snapshot: StatusSnapshot) -> None:
        """Keep each harvest's largest loss and tax saving seen: a later wash adjustment
        lowers a harvest's loss in the journal, and a counter must never go down."""
        booked = self._booked
        for h in snapshot.harvests:
            loss, saved = booked.get(h.intent_id, (Decimal(0), Decimal(0)))
            booked[h.intent_id] = (max(loss, h.loss), max(saved, h.estimated_tax_saved))

    def collect(self) -> Iterator[Metric]:
        """Yield the counters' families, then the snapshot's when there is one."""
        yield from counter_metrics(self._view.counters())
        yield _gauge(
            "tlh_snapshot_ok",
            "1 if the status snapshot was read (at most SNAPSHOT_MAX_AGE seconds ago).",
            int(self._snapshot is not None),
        )
        yield from self._families


def counter_metrics(c: Counters) -> Iterator[Metric]:
    """Yield the families read from the process's counters."""
    yield CounterMetricFamily("tlh_quotes", "Quotes received (unlabelled: cardinality).", c.quotes)
    decisions = CounterMetricFamily(
        "tlh_decisions",
        "Harvest decisions by outcome: harvest or the skip kind.",
        labels=["outcome"],
    )
    for outcome, n in sorted((dict.fromkeys(DECISION_OUTCOMES, 0) | dict(c.decisions)).items()):
        decisions.add_metric([outcome], n)
    yield decisions
    yield CounterMetricFamily(
        "tlh_wash_sales_avoided",
        "Distinct positions the wash-sale guard kept from a harvest.",
        c.wash_sales_avoided,
    )
    orders = CounterMetricFamily(
        "tlh_orders", "Orders by side and status.", labels=["side", "status"]
    )
    every = dict.fromkeys(itertools.product(ORDER_SIDES, ORDER_STATUSES), 0)
    for (side, status), n in sorted((every | dict(c.orders)).items()):
        orders.add_metric([side, status], n)
    yield orders
    yield latency_histogram(c.order_latency)
    yield _gauge("tlh_intents_in_flight", "Order intents not yet ended.", c.intents_in_flight)
    yield _gauge("tlh_halted_symbols", "Symbols halted from trading.", c.halted_symbols)
    streams = GaugeMetricFamily("tlh_stream_connected", "1 if the stream is up.", labels=["stream"])
    for stream, up in sorted(c.streams.items()):
        streams.add_metric([stream], int(up))
    yield streams
    if c.last_quote_age_seconds is not None:
        yield _gauge(
            "tlh_last_quote_age_seconds",
            "Seconds since the latest quote.",
            c.last_quote_age_seconds,
        )
    if c.tracking_error_ratio is not None:
        yield _gauge(
            "tlh_tracking_error_ratio", "Tracking error against the index.", c.tracking_error_ratio
        )


def latency_histogram(h: LatencyHistogram) -> HistogramMetricFamily:
    """Return `tlh_order_latency_seconds` from the cumulative bucket counts."""
    buckets = [
        (floatToGoString(b), float(n))  # type: ignore[no-untyped-call]
        for b, n in zip(h.bounds, h.cumulative, strict=True)
    ]
    buckets.append(("+Inf", float(h.count)))
    return HistogramMetricFamily(
        "tlh_order_latency_seconds",
        "Seconds from a crossing quote to the broker's acknowledgement of the order.",
        buckets=buckets,
        sum_value=h.total,
    )


def snapshot_metrics(
    s: StatusSnapshot, booked: Iterable[tuple[Decimal, Decimal]] | None = None
) -> Iterator[Metric]:
    """Yield the families read from the status snapshot (the journal and the ledger); the
    dollar counters sum `booked` (each harvest's loss and tax saving, as `DaemonCollector`
    keeps them), by default the snapshot's own."""
    amounts = list(booked if booked is not None else _amounts(s))
    yield CounterMetricFamily("tlh_harvests", "Harvests in the journal.", len(s.harvests))
    yield _dollars_counter("tlh_harvested_loss", "Losses harvested", (a[0] for a in amounts))
    yield _dollars_counter(
        "tlh_estimated_tax_saved",
        "Tax the harvests are estimated to save",
        (a[1] for a in amounts),
    )
    yield _gauge(
        "tlh_harvested_loss_ytd_dollars", "Losses harvested this tax year.", s.harvested_loss_ytd
    )
    yield _gauge(
        "tlh_estimated_tax_saved_ytd_dollars",
        "Tax this year's harvests are estimated to save.",
        s.estimated_tax_saved_ytd,
    )
    yield _gauge("tlh_harvests_today", "Harvests made today.", s.harvests_today)
    yield _gauge("tlh_open_lots", "Open tax lots.", len(s.open_lots))
    yield _gauge(
        "tlh_unrealized_loss_dollars", "Unrealised loss of the lots at a loss.", s.unrealized_loss
    )
    value = s.portfolio_value
    if value is not None:
        yield _gauge("tlh_portfolio_value_dollars", "Market value of the open lots.", value)
    if value is not None and value > 0:
        ratio = harvest_yield(s.harvested_loss_ytd, value, s.today)
        yield _gauge(
            "tlh_harvest_yield_ratio",
            "This year's harvested losses over portfolio value, annualised.",
            ratio,
        )
    yield _gauge("tlh_paused", "1 if new orders are paused.", int(s.pause.paused))
    yield _gauge("tlh_trading_enabled", "1 if orders may leave.", int(s.trading_enabled))
    state = StateSetMetricFamily("tlh_state", "What the daemon is doing.", labels=[])
    state.add_metric([], {name: name == s.state for name in STATES})
    yield state
    yield InfoMetricFamily(
        "tlh", "The daemon's mode and broker.", {"mode": s.mode, "broker": s.broker}
    )


def harvest_yield(harvested_ytd: Decimal, value: Decimal, today: date) -> Decimal:
    """Return the losses harvested in `today`'s year over the portfolio `value`, annualised
    over the days elapsed (1 January to `today`, both included)."""
    days_in_year = 366 if calendar.isleap(today.year) else 365
    return harvested_ytd / value * days_in_year / today.timetuple().tm_yday


def _gauge(name: str, documentation: str, value: float | Decimal) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, float(value))


def _amounts(s: StatusSnapshot) -> Iterator[tuple[Decimal, Decimal]]:
    return ((h.loss, h.estimated_tax_saved) for h in s.harvests)


def _dollars_counter(name: str, what: str, amounts: Iterable[Decimal]) -> CounterMetricFamily:
    total = sum(amounts, Decimal(0))
    return CounterMetricFamily(
        f"{name}_dollars", f"{what} over every harvest in the journal, dollars.", float(total)
    )
