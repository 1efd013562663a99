"""The runtime kill switch (issue #10 §4): pausing stops new sales, not what completes them.

Household (tests/daemon/daemonkit.py): 40 VTI bought long ago at $200 in a taxable account, so
a bid of $180 crosses the lot's trigger; substitutes VTI -> SCHB -> ITOT. The switch is the
daemon's own (`Daemon.pause`, built and loaded by `daemon.app.build_daemon`); "another
process" is a second `PauseSwitch` without an engine on the same SQLite file, as `tlh pause`
uses it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from daemonkit import Rig, Rigs, make_settings

from adapters.storage.engine import create_engine
from adapters.storage.records import IntentKind, IntentStatus
from adapters.storage.repository import Repository
from daemon.engine import PAUSED
from daemon.events import Quote
from daemon.pause import PAUSE_KEY, PauseSwitch


def switch_of(rig: Rig) -> PauseSwitch:
    """Return the daemon's pause switch."""
    assert rig.daemon.pause is not None
    return rig.daemon.pause


async def crossing(rig: Rig) -> str:
    """Hold the VTI lot, quote its substitute, then deliver a bid crossing its trigger;
    return the id the harvest of the lot takes today."""
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.quote("VTI", 180.00)
    return rig.harvest_id("VTI", lot)


async def test_the_state_is_stored_and_read_back_from_the_database_file(
    rig: Rig, sqlite_url: str
) -> None:
    """#10 §4 "the state survives a restart": a switch opened later on the same SQLite file
    reads the state the daemon's switch stored (time, source and reason). The time is the
    wall clock's, not the simulated clock the engine trades on: an operator acts in real time."""
    before = datetime.now(UTC)
    stored = await switch_of(rig).set(True, by="mqtt", reason="holiday")
    after = datetime.now(UTC)
    await rig.close()

    db = create_engine(sqlite_url)
    try:
        reread = await PauseSwitch(Repository(db), rig.clock.now).load()
    finally:
        await db.dispose()

    assert reread == stored
    assert (stored.paused, stored.by, stored.reason) == (True, "mqtt", "holiday")
    assert stored.since is not None
    assert before <= stored.since <= after
    assert rig.clock.now() < before - timedelta(days=1)  # the engine's clock is elsewhere


async def test_a_paused_daemon_does_not_harvest_a_crossing_position(rig: Rig) -> None:
    """#10 §4: paused, no new harvest starts: the position is skipped with the reason
    "paused" before any intent exists, counted like any other skip."""
    await switch_of(rig).set(True, by="cli")

    sale_id = await crossing(rig)

    assert await rig.repo.get_intent(sale_id) is None
    assert rig.broker.submissions == 0
    assert rig.engine.stats.skips["paused"] == 1
    assert (("taxable", "VTI", PAUSED)) in rig.engine.stats.distinct_skips


async def test_a_resumed_daemon_harvests_on_the_next_quote(rig: Rig) -> None:
    """#10 §4: resuming forgets the day's "paused" skip, so the very next quote of the
    position (the same day) is judged afresh and harvests it."""
    switch = switch_of(rig)
    await switch.set(True, by="cli")
    sale_id = await crossing(rig)

    await switch.set(False, by="cli")
    await rig.quote("VTI", 180.00)

    sale = await rig.intent(sale_id)
    assert (sale.kind, sale.status) == (IntentKind.HARVEST_SELL, IntentStatus.FILLED)


async def test_the_replacement_of_a_sale_already_filled_goes_out_while_paused(
    rigs: Rigs,
) -> None:
    """#10 §4 and daemon/pause.py: a pause stops new sales, not the buy completing one that
    already filled (or the position would sit in cash, out of the market). The sale fills while
    SCHB's feed is stale, so its replacement waits; paused meanwhile, the replacement still
    goes out once SCHB is quoted."""
    rig = await rigs.open()
    lot = await rig.hold("VTI", "40", "200")
    await rig.quote("SCHB", 50.00)
    await rig.deliver(Quote("VTI", 180.00, 180.04, rig.clock.now()))  # no market: it rests
    rig.broker.stale_feed.update({"SCHB", "ITOT"})
    rig.market("VTI", 180.00)
    rig.broker.fill_open_orders()
    await rig.engine.drain()
    sale_id = rig.harvest_id("VTI", lot)
    assert (await rig.intent(sale_id)).status is IntentStatus.FILLED
    assert rig.orders.awaiting_quotes == {"SCHB"}

    await switch_of(rig).set(True, by="http", reason="checking something")
    rig.broker.stale_feed.clear()
    await rig.quote("SCHB", 50.00)

    [buy, *_top_ups] = await rig.buys_of(sale_id)
    assert (buy.symbol, buy.status) == ("SCHB", IntentStatus.FILLED)


async def test_a_daemon_restarted_while_paused_stays_paused(rigs: Rigs) -> None:
    """#10 §4 "the state survives a restart": the switch is loaded before the engine starts
    (start = recovery), so the restarted daemon starts no harvest."""
    rig = await rigs.open()
    await switch_of(rig).set(True, by="cli", reason="until the tax advisor calls")

    rig = await rigs.restart(rig)
    sale_id = await crossing(rig)

    assert switch_of(rig).state.reason == "until the tax advisor calls"
    assert await rig.repo.get_intent(sale_id) is None
    assert rig.engine.stats.skips == {"paused": 1}


async def test_the_daemon_follows_a_pause_set_by_another_process(rig: Rig, sqlite_url: str) -> None:
    """#10 §4: `tlh pause` writes the state from another process; the running daemon re-reads
    it in the background (`PauseSwitch.follow`) and acknowledges it (`acknowledged`)."""
    stop = asyncio.Event()
    follower = asyncio.create_task(switch_of(rig).follow(stop, every=0.01))
    db = create_engine(sqlite_url)
    try:
        cli = PauseSwitch(Repository(db), rig.clock.now)
        await cli.set(True, by="cli", reason="from the shell")
        acked = await cli.acknowledged(within=5)
    finally:
        stop.set()
        await follower
        await db.dispose()

    assert acked
    assert switch_of(rig).state == cli.state
    assert rig.orders.paused


async def test_pausing_twice_keeps_the_first_pause(rig: Rig) -> None:
    """#10 §4, `tlh pause` is idempotent: a second pause changes nothing, the first one's
    time, source and reason stay."""
    switch = switch_of(rig)
    first = await switch.set(True, by="mqtt", reason="first")
    rig.advance(minutes=5)

    again = await switch.set(True, by="cli", reason="second")

    assert again == first
    assert await switch.set(True, by="cli") == first


async def test_an_unreadable_stored_state_reads_as_paused(rigs: Rigs) -> None:
    """The guide's safe defaults: a pause row tlh cannot read stops new sales, naming the
    problem, until `tlh resume` overwrites it."""
    rig = await rigs.open()
    await rig.repo.set_state(PAUSE_KEY, "{not json")

    rig = await rigs.restart(rig)

    assert rig.orders.paused
    assert "unreadable" in switch_of(rig).state.reason
    assert not (await switch_of(rig).set(False, by="cli")).paused


async def test_a_paused_daemon_starts_no_swap_back(rigs: Rigs) -> None:
    """#10 §4: a swap back is a new sale: paused, the daily check starts none; resumed, the
    next check does."""
    rig = await rigs.open(settings=make_settings(harvest={"swap_back": True}))
    await crossing(rig)
    rig.advance(days=32)
    await rig.quote("VTI", 181.00)
    await rig.quote("SCHB", 50.00)
    switch = switch_of(rig)
    await switch.set(True, by="cli")

    assert await rig.engine.swap_back_check(rig.today()) == 0

    await switch.set(False, by="cli")
    assert await rig.engine.swap_back_check(rig.today()) == 1
