"""The scheduled `index_rebalance` hook (issue #12 §4, §5): it runs every session, but
rebalances only on the configured days — weekly: the first session of an ISO week — or when
cash above the buffer appeared (a deposit, dividends). A rebalance that was made is kept in
the state table (`LAST_REBALANCE_KEY`), which is what these tests read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from indexkit import IndexRig, open_index_rig, settings

from daemon.index_manager import LAST_REBALANCE_KEY, rebalance_due
from daemon.snapshot import INDEX_STATUS_KEY


async def last_rebalance(rig: IndexRig) -> str | None:
    """Return the day of the last rebalance the daemon made."""
    return await rig.daemon.repo.get_state(LAST_REBALANCE_KEY)


async def test_weekly_rebalance_runs_on_the_first_session_of_the_week_only(
    sqlite_url: str,
) -> None:
    """Issue #12 §4: "daily or on a schedule". `rebalance = "weekly"`: Monday's hook
    rebalances, Tuesday's and Wednesday's (no new cash) do not, next Monday's does."""
    rig = await open_index_rig(sqlite_url, settings(rebalance="weekly"))
    try:
        monday = rig.today().isoformat()
        await rig.hook()
        assert await last_rebalance(rig) == monday
        for _ in range(2):
            rig.next_day()
            await rig.quote_all()
            await rig.hook()
            assert await last_rebalance(rig) == monday
        rig.next_day(5)
        await rig.quote_all()
        await rig.hook()
        assert await last_rebalance(rig) == rig.today().isoformat()
    finally:
        await rig.daemon.close()


async def test_cash_above_the_buffer_is_invested_on_any_day(sqlite_url: str) -> None:
    """Issue #12 §5: "the daemon does the same for a deposit it sees (cash above the buffer)".
    On Tuesday, after Monday's rebalance, $10,000 appears in the account: that day's hook
    rebalances; cash within the buffer (0.5% of the $40,000 held) does not."""
    rig = await open_index_rig(sqlite_url, settings(rebalance="weekly"))
    try:
        await rig.hook()
        rig.next_day()
        await rig.quote_all()
        rig.broker.cash = Decimal(100)  # within the buffer
        await rig.hook()
        assert await last_rebalance(rig) != rig.today().isoformat()

        rig.next_day()
        await rig.quote_all()
        rig.broker.cash = Decimal(10_000)
        await rig.hook()
        assert await last_rebalance(rig) == rig.today().isoformat()
    finally:
        await rig.daemon.close()


async def test_every_session_publishes_the_tracking_error_for_status(sqlite_url: str) -> None:
    """Issue #12 §2: the ex-ante tracking error is in the status output; the hook publishes it
    each session, whether or not it rebalances."""
    rig = await open_index_rig(sqlite_url)
    try:
        rig.next_day()  # Tuesday: not a rebalance day
        await rig.quote_all()
        await rig.hook()
        published = await rig.daemon.repo.get_state(INDEX_STATUS_KEY)
        assert published is not None
        assert rig.index.last_tracking_error is not None
        assert rig.index.last_tracking_error >= 0
    finally:
        await rig.daemon.close()


def test_the_schedules_name_their_first_sessions() -> None:
    """`[index] rebalance`: daily every session; weekly when the ISO week changed since the
    last rebalance; monthly when the month did; always when none was made yet."""
    from datetime import date

    friday, monday, tuesday = date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5)
    assert rebalance_due(tuesday, monday, "daily")
    assert rebalance_due(monday, friday, "weekly")
    assert not rebalance_due(tuesday, monday, "weekly")
    assert rebalance_due(friday, date(2024, 2, 29), "monthly")
    assert not rebalance_due(tuesday, monday, "monthly")
    assert rebalance_due(tuesday, None, "monthly")


async def test_status_json_has_the_tracking_error_and_its_budget(sqlite_url: str) -> None:
    """Issue #12 §2: "Ex-ante annualised tracking error ... in the status output"; `tlh status
    --json` adds `index_tracking_error` and `index_tracking_error_budget` (decimals as strings)
    to its keys, from the one snapshot the status page and MQTT show too."""
    from daemon.observation import NOT_PAUSED
    from daemon.snapshot import build_snapshot

    rig = await open_index_rig(sqlite_url)
    try:
        await rig.hook()
        snapshot = await build_snapshot(
            rig.settings,
            rig.daemon.repo,
            rig.daemon.ledger,
            bids={},
            now=rig.clock.now(),
            pause=NOT_PAUSED,
            connected=None,
            trading_enabled=True,
            orders_in_flight=0,
        )
        out = snapshot.as_json()
        assert out["index_tracking_error"] == rig.index.last_tracking_error
        assert out["index_tracking_error_budget"] == "0.05"
    finally:
        await rig.daemon.close()


class Recording:
    """The returns window, noting each session added to it."""

    def __init__(self, window: Any, recorded: list[Any]) -> None:
        self.window, self.recorded = window, recorded

    def add_day(self, day: Any, closes: Any) -> None:
        """Note the session, then add it to the window."""
        self.recorded.append((day, dict(closes)))
        self.window.add_day(day, closes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.window, name)


async def test_each_session_enters_the_returns_window_once_on_its_own_date(
    sqlite_url: str,
) -> None:
    """Issue #12 §2: the risk model is estimated from daily returns, "never looking ahead".
    Whether the hook runs after a session's quotes (Monday) or before them (Wednesday,
    quoted after its hook), each session's prices enter the window once, under the date they
    were quoted on: never under a later day's date."""
    from datetime import date
    from decimal import Decimal

    rig = await open_index_rig(sqlite_url)
    try:
        recorded: list[tuple[date, dict[str, Decimal]]] = []
        rig.index.returns = Recording(rig.index.returns, recorded)  # type: ignore[assignment]
        monday = rig.today()
        await rig.hook()  # after Monday's quotes
        rig.next_day()
        await rig.quote_all(101.0)  # Tuesday's quotes; no hook on Tuesday
        rig.next_day()
        await rig.hook()  # Wednesday, before its quotes
        await rig.hook()  # a second run the same day adds nothing

        assert [d for d, _ in recorded] == [monday, date.fromordinal(monday.toordinal() + 1)]
        assert recorded[1][1]["AAA"] == Decimal("101.01")
    finally:
        await rig.daemon.close()


async def test_the_returns_window_survives_a_restart(sqlite_url: str) -> None:
    """Startup is recovery (developers' guide): the sessions recorded before a restart are
    played back into the returns window at the first hook after it, so the risk model keeps
    its history; then the new session follows."""
    from datetime import date, timedelta

    from indexkit import MONDAY

    rig = await open_index_rig(sqlite_url)
    monday = rig.today()
    await rig.hook()
    rig.next_day()
    await rig.quote_all(101.0)
    await rig.hook()
    await rig.daemon.close()

    rig = await open_index_rig(sqlite_url, start=MONDAY + timedelta(days=2))
    try:
        recorded: list[tuple[date, dict[str, Decimal]]] = []
        rig.index.returns = Recording(rig.index.returns, recorded)  # type: ignore[assignment]
        await rig.hook()

        days = [monday + timedelta(days=n) for n in range(3)]
        assert [d for d, _ in recorded] == days
        assert recorded[1][1]["AAA"] == Decimal("101.01")
    finally:
        await rig.daemon.close()


async def _tracking_error_after_a_deposit(sqlite_url: str, *, paused: bool) -> float:
    """Return the tracking error the hook reports on a day $20,000 was deposited."""
    rig = await open_index_rig(sqlite_url, settings(rebalance="weekly"))
    try:
        await rig.hook()  # Monday's rebalance: the index is at its target
        rig.next_day()
        await rig.quote_all()
        rig.broker.cash = Decimal(20_000)
        rig.daemon.orders.paused = paused
        await rig.hook()
        assert rig.index.last_tracking_error is not None
        return rig.index.last_tracking_error
    finally:
        await rig.daemon.close()


async def test_a_placed_plan_reports_the_tracking_error_it_puts_in_place(
    sqlite_url: str,
) -> None:
    """A deposit's day reports the tracking error of the holdings its plan buys (review of
    `IndexManager.place`); paused (`tlh pause`), the plan places nothing and the day reports
    the holdings with the cash still in them: a larger tracking error."""
    placed = await _tracking_error_after_a_deposit(sqlite_url, paused=False)
    held = await _tracking_error_after_a_deposit(sqlite_url + "-paused", paused=True)

    assert placed < held
