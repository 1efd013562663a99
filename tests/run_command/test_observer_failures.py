"""An observer of the running daemon that fails says so (issue #10 §4 review, `daemon/cli/run.py`):
`tlh run` gathers its observers' results only when it stops, so a failure would go unseen; and
the pause follower guards money: a daemon that no longer follows `tlh pause` stops."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from daemon.cli.run import _observe


async def fail() -> None:
    raise RuntimeError("lost the plot")


@pytest.mark.parametrize(("guards_money", "stops"), [(False, False), (True, True)])
async def test_a_failed_observer_is_logged_and_a_money_guard_stops_the_daemon(
    guards_money: bool, stops: bool
) -> None:
    """One `observer_failed` error naming the observer and carrying the exception; the
    daemon's `stop` is set only when the observer guards money (the pause follower)."""
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = _observe(fail(), "pause", stop, guards_money=guards_money)
        await asyncio.gather(task, return_exceptions=True)  # after the task's own callback

    [failed] = [e for e in logs if e["event"] == "observer_failed"]
    assert (failed["log_level"], failed["observer"]) == ("error", "pause")
    assert isinstance(failed["exc_info"], RuntimeError)
    assert stop.is_set() is stops
