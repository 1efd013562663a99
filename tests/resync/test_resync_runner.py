"""`adapters.resync.ResyncRunner`: the daemon's reconciliation, asked for by a broker after its
reconnects (adapters/base.py `ResyncRequests`), runs one pass at a time and is never lost."""

from __future__ import annotations

import asyncio

from adapters.resync import ResyncRunner


async def test_requests_during_a_pass_are_coalesced_into_one_more_pass() -> None:
    """Three reconnects while a pass runs make one more pass, with the latest reason."""
    runner = ResyncRunner("test")
    passes: list[str] = []
    release, second = asyncio.Event(), asyncio.Event()

    async def handler(reason: str) -> None:
        passes.append(reason)
        if len(passes) == 1:
            await release.wait()
        if len(passes) == 2:
            second.set()

    runner.handler = handler
    runner.request("first")
    await asyncio.sleep(0)
    for reason in ("second", "third", "fourth"):
        runner.request(reason)
    release.set()
    await asyncio.wait_for(second.wait(), 2)
    await runner.stop()

    assert passes == ["first", "fourth"]
    assert runner.requests == 4


async def test_a_failed_pass_is_retried() -> None:
    """A pass that raises (the broker went away again) is run again after a short wait."""
    runner = ResyncRunner("test", max_backoff=0.01)
    passes: list[str] = []
    second = asyncio.Event()

    async def handler(reason: str) -> None:
        passes.append(reason)
        if len(passes) == 1:
            raise ConnectionError("gone again")
        second.set()

    runner.handler = handler
    runner.request("reconnected")
    await asyncio.wait_for(second.wait(), 2)
    await runner.stop()

    assert passes == ["reconnected", "reconnected"]


def test_a_request_before_the_daemon_gives_its_handler_is_counted_only() -> None:
    """Before wiring (`on_resync`), a request starts nothing: there is nothing to run yet."""
    runner = ResyncRunner("test")

    runner.request("early")

    assert runner.requests == 1
