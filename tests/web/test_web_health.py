"""`GET /healthz` and `GET /readyz` (issue #10 §2): JSON naming what is wrong, 200 or 503."""

from __future__ import annotations

import aiohttp
from webkit import FakeView

from daemon.observation import Health


async def test_healthz_is_200_when_the_engine_is_alive(client: aiohttp.ClientSession) -> None:
    """Issue #10 §2: alive answers 200 with the checks behind it (`Health.as_json`)."""
    async with client.get("/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "checks": {"engine": "ok"}, "problems": []}


async def test_healthz_is_503_naming_the_failed_check(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §2: a stalled engine fails `/healthz` (the Docker health check) and says why."""
    view.live = Health({"engine": "no event consumed for 95 s (watchdog 60 s)"})
    async with client.get("/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "fail"
    assert body["problems"] == ["engine: no event consumed for 95 s (watchdog 60 s)"]


async def test_readyz_is_503_naming_only_the_failed_checks(
    view: FakeView, client: aiohttp.ClientSession
) -> None:
    """Issue #10 §2: readiness (journal, broker, market data) names what is wrong, and only that."""
    view.ready = Health({"journal": "ok", "broker": "not connected", "market_data": "ok"})
    async with client.get("/readyz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["problems"] == ["broker: not connected"]
    assert body["checks"]["journal"] == "ok"


async def test_readyz_is_200_when_ready(client: aiohttp.ClientSession) -> None:
    """Issue #10 §2: ready answers 200; `/readyz` reads readiness, not liveness."""
    async with client.get("/readyz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"
