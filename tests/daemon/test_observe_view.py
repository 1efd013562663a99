"""The running daemon's view (`daemon.daemon_view`, issue #10 §1-§2): counters that move with
real events, and the liveness and readiness verdicts naming what is wrong.

The daemon is the real one over the simulated broker and clock (tests/daemon/daemonkit.py);
its clock stands at Monday 2024-03-04 10:00 New York, when the market is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from daemonkit import Rig, Rigs, make_settings

from daemon.daemon_view import RunningDaemonView
from daemon.market_calendar import MarketCalendar
from daemon.supervisor import Verdict, supervise

CALENDAR = MarketCalendar()


def view_of(rig: Rig, verdict: Verdict | None = None) -> RunningDaemonView:
    """Return the view `tlh run` builds over the rig's daemon."""
    return RunningDaemonView(
        rig.daemon,
        rig.settings,
        rig.clock.now,
        verdict or Verdict(interval=30.0),
        calendar=CALENDAR,
    )


async def harvest_vti(rig: Rig) -> None:
    """Hold 40 VTI at $200, quote SCHB, let a $180 bid cross the trigger."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00, 180.04)


async def test_counters_count_quotes_decisions_and_orders(rig: Rig) -> None:
    """#10 §1: `tlh_quotes_total`, `tlh_decisions_total{outcome}` ("harvest" and each skip
    kind, from the engine's statistics) and `tlh_orders_total{side,status}` (counted where the
    order manager stores a status): the harvest sale, its replacement and the top-up buy of
    what the first buy left over, each sent and filled."""
    view = view_of(rig)
    before = view.counters()

    await harvest_vti(rig)
    after = view.counters()

    assert (before.quotes, after.quotes) == (0, 2)
    assert (dict(before.decisions), dict(after.decisions)) == ({"harvest": 0}, {"harvest": 1})
    assert before.orders == {}
    assert after.orders == {
        ("sell", "submitted"): 1,
        ("sell", "filled"): 1,
        ("buy", "submitted"): 2,
        ("buy", "filled"): 2,
    }
    assert (after.intents_in_flight, after.halted_symbols) == (0, 0)


async def test_denied_orders_and_skips_are_counted_by_kind(rigs: Rigs) -> None:
    """A harvest the risk limits deny (the kill switch) is a DENIED sell and a skip of its
    kind ("risk")."""
    rig = await rigs.open(settings=make_settings(risk={"kill_switch": True}))
    await harvest_vti(rig)

    counters = view_of(rig).counters()

    assert counters.orders == {("sell", "denied"): 1}
    assert counters.decisions == {"harvest": 0, "risk": 1}


async def test_the_order_latency_is_observed_once_per_harvest_order(rig: Rig) -> None:
    """#10 §1 `tlh_order_latency_seconds`: from the crossing quote handed to the order manager
    to the broker's acknowledgement, for the sale only (a replacement answers no quote)."""
    await harvest_vti(rig)

    latency = view_of(rig).counters().order_latency

    assert latency.count == 1
    assert 0 < latency.total < 10.0
    assert latency.cumulative[-1] == 1  # within the largest bucket
    assert list(latency.cumulative) == sorted(latency.cumulative)


async def test_stream_states_and_quote_age(rig: Rig) -> None:
    """`tlh_stream_connected{stream}` from the broker (the simulator's one stream, "replay")
    and `tlh_last_quote_age_seconds` from the newest quote against the daemon's clock."""
    view = view_of(rig)
    assert view.counters().last_quote_age_seconds is None

    await rig.quote("SCHB", 50.00, 50.04)
    rig.advance(seconds=12)

    counters = view.counters()
    assert counters.streams == {"replay": True}
    assert counters.last_quote_age_seconds == pytest.approx(12.0)


async def test_ready_when_replayed_connected_and_fresh(rig: Rig) -> None:
    """#10 §2 `/readyz`: journal replayed, broker connected (the simulator needs no
    reconciliation), market data fresh while the market is open."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("VTI", 195.00, 195.04)

    health = view_of(rig).readiness()

    assert health.checks == {
        "journal": "ok",
        "broker": "ok",
        "reconciled": "ok",
        "market_data": "ok",
    }
    assert health.ok


async def test_not_ready_when_the_broker_is_disconnected(rig: Rig) -> None:
    """A disconnected broker fails the "broker" check, naming the stream."""
    await rig.broker.close()

    health = view_of(rig).readiness()

    assert not health.ok
    assert health.checks["broker"] == "disconnected: replay"
    assert health.problems == ["broker: disconnected: replay"]


async def test_not_ready_when_quotes_go_stale_while_the_market_is_open(rig: Rig) -> None:
    """`[prices] stale_after_seconds` (60): the newest quote older than it, market open."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("VTI", 195.00, 195.04)
    rig.advance(seconds=90)

    check = view_of(rig).readiness().checks["market_data"]

    assert check == "stale: the newest quote is 90 s old (stale after 60 s)"


async def test_quiet_market_data_is_fine_while_the_market_is_closed(rig: Rig) -> None:
    """Market data is judged only while the market is open (daemon/market_calendar.py):
    Saturday, the day-old quote is no problem."""
    await rig.hold("VTI", "40", "200")
    await rig.quote("VTI", 195.00, 195.04)
    rig.advance(days=5)  # Saturday 2024-03-09

    assert view_of(rig).readiness().checks["market_data"] == "ok"


async def test_not_ready_before_the_journal_is_replayed(rigs: Rigs) -> None:
    """Until `engine.start()` has replayed the journal, "journal" fails."""
    rig = await rigs.open(start=False)

    assert view_of(rig).readiness().checks["journal"] == "not replayed yet"


@contextlib.asynccontextmanager
async def supervising(rig: Rig, verdict: Verdict) -> AsyncIterator[None]:
    """Run the supervisor (daemon/supervisor.py) over the rig's engine until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise(rig.engine, rig.clock.now, interval=verdict.interval, stop=stop, verdict=verdict)
    )
    try:
        yield
    finally:
        stop.set()
        await task


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Return once `condition()` holds; fail after `within` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the state itself is all there is to wait on
            await asyncio.sleep(0.005)


async def test_alive_while_the_engine_consumes_events(rig: Rig) -> None:
    """#10 §2 `/healthz`: the engine handled the supervisor's last tick."""
    verdict = Verdict(interval=0.02)
    stop = asyncio.Event()
    running = asyncio.create_task(rig.engine.run(stop))
    try:
        async with supervising(rig, verdict):
            await wait_until(lambda: verdict.last_tick is not None)
            assert view_of(rig, verdict).liveness().checks == {"engine": "ok"}
    finally:
        stop.set()
        await running


async def test_alive_and_starting_until_the_supervisors_first_check(rig: Rig) -> None:
    """#10 §4 review: `/healthz` must not fail while the daemon waits for the broker or
    replays the journal (a container health check would restart it); it says "starting"
    until the supervisor's first verdict, and `/readyz` says not ready meanwhile."""
    view = view_of(rig, Verdict(interval=0.02))

    health = view.liveness()

    assert health.ok
    assert health.as_json()["detail"] == "starting"


async def test_not_alive_when_the_engine_stops_consuming(rig: Rig) -> None:
    """No `engine.run` consumes the queue: the supervisor's next check finds its tick
    unhandled, and `/healthz` says so."""
    verdict = Verdict(interval=0.02)
    view = view_of(rig, verdict)

    async with supervising(rig, verdict):
        await wait_until(lambda: verdict.checked_at is not None and not verdict.healthy)

    health = view.liveness()
    assert not health.ok
    assert health.checks["engine"].startswith("stopped consuming events")


async def test_not_alive_when_the_watchdog_itself_stopped(rig: Rig) -> None:
    """A verdict older than two intervals is no proof: the supervisor no longer runs."""
    verdict = Verdict(
        interval=1.0,
        healthy=True,
        checked_at=rig.clock.now(),
        checked_monotonic=time.monotonic() - 3,
    )

    check = view_of(rig, verdict).liveness().checks["engine"]

    assert check.startswith("the watchdog has not checked since")


async def test_pausing_through_the_view_shows_in_the_next_snapshot(rig: Rig) -> None:
    """#10 §4: an observer (MQTT's switch, `POST /pause`) pauses through the view; the pause
    switch (daemon/pause.py) persists it and the next snapshot, built afresh, says "paused"."""
    view = view_of(rig)
    assert (await view.snapshot()).state == "running"

    state = await view.set_paused(True, by="mqtt", reason="away")

    snap = await view.snapshot()
    assert (state.paused, state.by, state.reason) == (True, "mqtt", "away")
    assert (snap.state, snap.pause) == ("paused", state)
    assert (await view.set_paused(False, by="mqtt")).paused is False
    assert (await view.snapshot()).state == "running"


async def test_the_snapshot_is_built_again_only_when_older_than_asked(rig: Rig) -> None:
    """The view holds one snapshot and, while only prices move, builds another only for an
    observer asking for a younger one (`max_age`, by default `FRESH_SNAPSHOT_SECONDS`):
    observers polling it do not walk the lots each time, and the page (1 s), the scrapes and
    MQTT (15 s) share it."""
    view = view_of(rig)
    await rig.hold("VTI", "40", "200")
    first = await view.snapshot()
    await rig.quote("VTI", 199.00, 199.04)

    assert await view.snapshot() is first
    assert await view.snapshot(max_age=15) is first
    fresh = await view.snapshot(max_age=0)
    assert (first.open_lots[0].price, fresh.open_lots[0].price) == (None, Decimal("199"))
    assert await view.snapshot(max_age=15) is fresh


async def test_a_harvest_is_in_the_next_snapshot_whatever_its_age(rig: Rig) -> None:
    """What the journal, the orders, the halts, the pause or the connections change is shown at
    once, however old a snapshot the observer accepts: MQTT's harvest event and state do not
    wait for the prices' refresh (issue #10 §3)."""
    view = view_of(rig)
    await rig.hold("VTI", "40", "200")
    before = await view.snapshot(max_age=3600)

    await rig.quote("SCHB", 50.00, 50.04)
    await rig.quote("VTI", 180.00, 180.04)
    after = await view.snapshot(max_age=3600)

    assert (len(before.harvests), len(after.harvests)) == (0, 1)
    await view.set_paused(True, by="cli")
    assert (await view.snapshot(max_age=3600)).state == "paused"


async def test_the_database_is_read_again_once_the_daemon_wrote_to_it(rig: Rig) -> None:
    """The snapshot's database part is reused while the daemon journals nothing and stores no
    intent's status (quotes stream in meanwhile); a harvest changes both, so it shows."""
    view = view_of(rig)
    await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00, 50.04)
    before = await view.snapshot(max_age=0)

    await rig.quote("VTI", 180.00, 180.04)
    after = await view.snapshot(max_age=0)

    assert (before.harvests, before.journal_entries) == ((), 1)
    assert (len(after.harvests), after.journal_entries) == (1, 4)
