"""The running daemon's `DaemonView` (daemon.observation): counters, snapshot, health, pause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from adapters.base import StreamStates
from adapters.storage.records import StatusReads
from daemon.app import Daemon, trading_enabled
from daemon.market_calendar import MarketCalendar
from daemon.observation import (
    FRESH_SNAPSHOT_SECONDS,
    NOT_PAUSED,
    Counters,
    Health,
    PauseSource,
    PauseState,
    StatusSnapshot,
)
from daemon.settings import Settings
from daemon.snapshot import HARVEST_KINDS, build_snapshot
from daemon.supervisor import Verdict

OK = "ok"
READS_MAX_SECONDS = 300.0
"""How long the database's part of the snapshot is reused while this daemon changed nothing
in it (a `tlh halts clear` from another process shows within this time)."""


class RunningDaemonView:
    """What observers (web, MQTT) read of the wired `daemon` and how they pause it.

    `verdict` is the supervisor's (`daemon.supervisor.supervise`); `calendar` tells when the
    market is open, for the market data's freshness. It holds one status snapshot, built again
    when an observer asks for a younger one (`snapshot(max_age)`).
    """

    def __init__(
        self,
        daemon: Daemon,
        settings: Settings,
        now: Callable[[], datetime],
        verdict: Verdict,
        *,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self._daemon = daemon
        self._settings = settings
        self._now = now
        self._verdict = verdict
        self._calendar = calendar or MarketCalendar()
        self._trading_enabled = trading_enabled(settings, daemon.broker)
        self._snapshot: StatusSnapshot | None = None
        self._built_at = 0.0  # time.monotonic() when it was built
        self._built_key: tuple[object, ...] = ()
        self._building = asyncio.Lock()
        # The database's part, and what this daemon had written when it was read: while quotes
        # stream in, every read waits its turn on the busy event loop (aiosqlite's thread).
        self._reads: StatusReads | None = None
        self._reads_key: tuple[object, ...] = ()
        self._reads_due = 0.0

    # -- reads -----------------------------------------------------------------------------

    def streams(self) -> Mapping[str, bool]:
        """Return the broker's connections by name (none known: empty)."""
        broker = self._daemon.broker
        return broker.stream_states() if isinstance(broker, StreamStates) else {}

    def connected(self) -> bool | None:
        """Return whether every stream of the broker is up; None when it cannot tell."""
        broker = self._daemon.broker
        if not isinstance(broker, StreamStates):
            return None
        return all(broker.stream_states().values())

    def quote_age(self) -> float | None:
        """Return the age in seconds of the newest quote the engine holds, None before any."""
        newest = self._daemon.engine.newest_quote_at()
        return None if newest is None else (self._now() - newest).total_seconds()

    def counters(self) -> Counters:
        """Return the counters and gauges held in memory (no I/O)."""
        engine, orders = self._daemon.engine, self._daemon.orders
        stats = engine.stats
        return Counters(
            quotes=stats.quotes,
            decisions={"harvest": stats.harvests, **stats.skips},
            wash_sales_avoided=stats.distinct("wash_guard"),
            orders=dict(orders.stats.orders),
            order_latency=orders.stats.latency.snapshot(),
            intents_in_flight=len(orders.open_intents),
            halted_symbols=len(engine.halted),
            streams=dict(self.streams()),
            last_quote_age_seconds=self.quote_age(),
        )

    async def snapshot(self, max_age: float = FRESH_SNAPSHOT_SECONDS) -> StatusSnapshot:
        """Return the current status, built again if the one held is over `max_age` seconds
        old (the page asks for 1 s, Prometheus's scrapes for 15 s: `adapters.web`)."""
        async with self._building:
            changed = self._change_key()
            if (
                self._snapshot is None
                or changed != self._built_key
                or time.monotonic() - self._built_at > max_age
            ):
                self._snapshot = await self._build()
                self._built_at, self._built_key = time.monotonic(), changed
            return self._snapshot

    def _change_key(self) -> tuple[object, ...]:
        """Return what, once changed, makes the held snapshot wrong whatever its age: the
        journal, the orders' statuses, the halts, the pause and the connections (prices only
        age it)."""
        daemon = self._daemon
        engine, orders = daemon.engine, daemon.orders
        return (
            engine.journal_seq,
            sum(orders.stats.orders.values()),
            frozenset(engine.halted),
            daemon.pause.state if daemon.pause is not None else NOT_PAUSED,
            tuple(sorted(self.streams().items())),
        )

    async def _read(self) -> StatusReads:
        """Return the database's part of the snapshot: read again once this daemon journaled
        an entry, stored an intent's status or changed a halt, or `READS_MAX_SECONDS` on."""
        engine, orders = self._daemon.engine, self._daemon.orders
        key = (engine.journal_seq, sum(orders.stats.orders.values()), frozenset(engine.halted))
        if self._reads is None or key != self._reads_key or time.monotonic() >= self._reads_due:
            self._reads = await self._daemon.repo.status_reads(HARVEST_KINDS)
            self._reads_key, self._reads_due = key, time.monotonic() + READS_MAX_SECONDS
        return self._reads

    async def _build(self) -> StatusSnapshot:
        daemon = self._daemon
        engine = daemon.engine
        bids = {}
        for symbol in {symbol for _account, symbol in engine.ledger.positions()}:
            if (quote := engine.quote_of(symbol)) is not None:
                bids[symbol] = quote.bid_decimal
        return await build_snapshot(
            self._settings,
            daemon.repo,
            engine.ledger,
            bids=bids,
            now=self._now(),
            pause=daemon.pause.state if daemon.pause is not None else NOT_PAUSED,
            connected=self.connected(),
            trading_enabled=self._trading_enabled,
            orders_in_flight=len(daemon.orders.open_intents),
            reads=await self._read(),
        )

    # -- health ----------------------------------------------------------------------------

    def liveness(self) -> Health:
        """Return whether the engine consumed the supervisor's last tick (`/healthz`).

        Alive, "starting", until the supervisor's first check: waiting for the broker and
        replaying the journal is no failure (`readiness` says the daemon is not ready yet).
        """
        v = self._verdict
        if v.checked_at is None or v.checked_monotonic is None:
            return Health({"engine": OK}, detail="starting")
        if not v.healthy:
            engine = (
                f"stopped consuming events: the tick queued {v.interval:g} s before "
                f"{v.checked_at.isoformat()} was not handled (last: {_iso(v.last_tick)})"
            )
        elif time.monotonic() - v.checked_monotonic > 2 * v.interval:
            engine = f"the watchdog has not checked since {v.checked_at.isoformat()}"
        else:
            engine = OK
        return Health({"engine": engine})

    def readiness(self) -> Health:
        """Return whether the daemon is ready to trade (`/readyz`): the journal replayed,
        the broker connected and reconciled, market data fresh while the market is open."""
        daemon = self._daemon
        down = sorted(name for name, up in self.streams().items() if not up)
        reconciler = daemon.reconciler
        problem = reconciler.problem() if reconciler is not None else ""
        return Health(
            {
                "journal": OK if daemon.engine.started else "not replayed yet",
                "broker": f"disconnected: {', '.join(down)}" if down else OK,
                "reconciled": problem or OK,
                "market_data": self._market_data(),
            }
        )

    def _market_data(self) -> str:
        """Return whether the newest quote is fresh while the market is open."""
        now = self._now()
        if not self._calendar.is_open(now) or not self._daemon.engine.watched_symbols():
            return OK
        limit = self._settings.prices.stale_after_seconds
        age = self.quote_age()
        if age is None:
            return "no quote yet while the market is open"
        if age > limit:
            return f"stale: the newest quote is {age:.0f} s old (stale after {limit:g} s)"
        return OK

    # -- commands --------------------------------------------------------------------------

    async def set_paused(self, paused: bool, *, by: PauseSource, reason: str = "") -> PauseState:
        """Pause or resume new orders (persisted by the pause switch, `daemon.pause`)."""
        switch = self._daemon.pause
        if switch is None:  # `build_daemon` always wires one
            raise RuntimeError("this daemon has no pause switch")
        state = await switch.set(paused, by=by, reason=reason)
        self._snapshot = None  # the next snapshot shows it
        return state


def _iso(at: datetime | None) -> str:
    return "none" if at is None else at.isoformat()
