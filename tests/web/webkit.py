"""A `DaemonView` double with fixed figures, for the web listener's specifications.

The figures are chosen so each metric has a value worked out by hand (see the constants).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from observation_kit import harvest_record, open_lot, status_snapshot

from daemon.observation import (
    FRESH_SNAPSHOT_SECONDS,
    LATENCY_BUCKETS,
    Counters,
    HarvestRecord,
    Health,
    LatencyHistogram,
    OpenLot,
    PauseSource,
    PauseState,
    StatusSnapshot,
)

TODAY = date(2026, 3, 1)  # day 60 of 365
AT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
LATENCIES = (0.004, 0.02, 0.3, 12.0)  # one beyond the last bound (10 s)


def latency_histogram(observations: tuple[float, ...] = LATENCIES) -> LatencyHistogram:
    """Return the cumulative histogram of `observations` over `LATENCY_BUCKETS`."""
    return LatencyHistogram(
        cumulative=tuple(sum(1 for o in observations if o <= b) for b in LATENCY_BUCKETS),
        count=len(observations),
        total=sum(observations),
    )


COUNTERS = Counters(
    quotes=12_345,
    decisions={"harvest": 3, "wash": 7, "min_loss": 20},
    wash_sales_avoided=2,
    orders={("sell", "filled"): 3, ("buy", "filled"): 3, ("sell", "rejected"): 1},
    order_latency=latency_histogram(),
    intents_in_flight=1,
    halted_symbols=2,
    streams={"quotes": True, "trade_updates": False},
    last_quote_age_seconds=1.5,
    tracking_error_ratio=0.004,
)


def harvest(day: date, symbol: str, loss: str, saved: str) -> HarvestRecord:
    """Return a harvest of `symbol` on `day` into VTI."""
    intent = f"{symbol}-{day}"
    return harvest_record(intent, day, symbol, loss, saved, account="taxable", replacement="VTI")


def lot(symbol: str, basis: str, value: str | None) -> OpenLot:
    """Return an open lot of `symbol`, priced at `value` unless None."""
    return open_lot(
        symbol, basis, value, quantity=100, account="taxable", acquired=date(2025, 6, 2)
    )


# 2,000 harvested this year (500 + 1,500, the latter today) and 1,000 last year; a portfolio of
# 100,000 with 2,500 of unrealised loss.
HARVESTS = (
    harvest(date(2025, 11, 3), "VOO", "1000", "300"),
    harvest(date(2026, 1, 15), "VXUS", "500", "150"),
    harvest(TODAY, "VEA", "1500", "450"),
)
LOTS = (lot("ITOT", "62500", "60000"), lot("SCHB", "39000", "40000"))

SNAPSHOT = status_snapshot(
    at=AT,
    today=TODAY,
    mode="paper",
    trading_enabled=True,
    journal_entries=42,
    orders_in_flight=1,
    halted_symbols=("ABC", "XYZ"),
    open_lots=LOTS,
    harvests=HARVESTS,
)

HEALTHY = Health({"engine": "ok"})


@dataclass
class FakeView:
    """A `DaemonView` returning the figures above; records what observers asked of it."""

    counters_value: Counters = COUNTERS
    snapshot_value: StatusSnapshot = SNAPSHOT
    live: Health = HEALTHY
    ready: Health = HEALTHY
    snapshot_gate: asyncio.Event | None = None  # when set, `snapshot()` waits for it
    snapshot_error: Exception | None = None
    pause_error: Exception | None = None  # raised by `set_paused` (after recording the call)
    pauses: list[tuple[bool, PauseSource, str]] = field(default_factory=list)
    max_ages: list[float] = field(default_factory=list)  # each `snapshot()`'s `max_age`

    def counters(self) -> Counters:
        return self.counters_value

    async def snapshot(self, max_age: float = FRESH_SNAPSHOT_SECONDS) -> StatusSnapshot:
        self.max_ages.append(max_age)
        if self.snapshot_gate is not None:
            await self.snapshot_gate.wait()
        if self.snapshot_error is not None:
            raise self.snapshot_error
        return self.snapshot_value

    def liveness(self) -> Health:
        return self.live

    def readiness(self) -> Health:
        return self.ready

    async def set_paused(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        self.pauses.append((paused, by, reason))
        if self.pause_error is not None:
            raise self.pause_error
        state = PauseState(paused=paused, since=AT if paused else None, by=by, reason=reason)
        self.snapshot_value = replace(self.snapshot_value, pause=state)
        return state
