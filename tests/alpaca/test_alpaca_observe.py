"""Readiness over the real Alpaca adapter (issue #10 §2 `/readyz`: "broker connected and
reconciled"), against the fake Alpaca: the streams' states come from the adapter
(`adapters.base.StreamStates`), the reconciliation's from the daemon's reconciler."""

from __future__ import annotations

from datetime import UTC, datetime

from alpacakit import Daemons, make_settings
from fake_alpaca import FakeAlpaca

from daemon.daemon_view import RunningDaemonView
from daemon.market_calendar import MarketCalendar
from daemon.supervisor import Verdict


async def started_view(fake: FakeAlpaca, daemons: Daemons) -> RunningDaemonView:
    """Start the daemon over the fake; return the view `tlh run` builds over it."""
    settings = make_settings(fake)
    running = await daemons.start(settings=settings)
    return RunningDaemonView(
        running.daemon,
        settings,
        lambda: datetime.now(UTC),
        Verdict(interval=30.0),
        calendar=MarketCalendar(),
    )


async def test_ready_once_started_connected_and_reconciled(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """After `engine.start()`: the journal replayed, trade updates authorized, the start's
    reconciliation pass done."""
    view = await started_view(fake, daemons)

    health = view.readiness()

    assert view.counters().streams == {"trade-updates": True}
    assert (health.checks["journal"], health.checks["broker"], health.checks["reconciled"]) == (
        "ok",
        "ok",
        "ok",
    )


async def test_not_ready_while_the_trade_updates_stream_is_down(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """The trading socket drops and the reconnect is never authorized: "broker" names the
    stream that is down."""
    view = await started_view(fake, daemons)
    fake.set_trading_silent()

    assert await fake.drop_trading_stream() == 1
    await fake.wait_until(lambda: not view.readiness().ok, what="the broker check failing")

    assert view.readiness().problems == ["broker: disconnected: trade-updates"]
    assert view.counters().streams == {"trade-updates": False}


async def test_not_ready_until_reconciled_after_a_reconnect(
    fake: FakeAlpaca, daemons: Daemons
) -> None:
    """A reconnect asks for a reconciliation (`adapters.base.ResyncRequests`); while its pass
    fails (the positions endpoint refuses), "reconciled" says why, though the stream is up."""
    view = await started_view(fake, daemons)
    fake.fail_next("GET", "/v2/positions", 403, times=1000)

    assert await fake.drop_trading_stream() == 1
    await fake.wait_until(
        lambda: view.readiness().checks["reconciled"].startswith("the last reconciliation failed"),
        what="the reconciled check failing",
    )
    await fake.wait_until(lambda: view.readiness().checks["broker"] == "ok", what="reconnected")

    health = view.readiness()
    assert (
        health.checks["reconciled"] == "the last reconciliation failed: HTTP 403: fake failure 403"
    )
    assert not health.ok
