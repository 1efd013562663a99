"""Fixtures of the web listener's specifications: a real listener on 127.0.0.1 over a fake view."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from webkit import FakeView

from adapters.web.server import WebServer, start_web
from adapters.web.settings import MetricsSettings


@pytest.fixture
def view() -> FakeView:
    """Return the daemon view double with the kit's fixed figures."""
    return FakeView()


@pytest.fixture
async def server(view: FakeView) -> AsyncIterator[WebServer]:
    """Yield a listener with the default settings on a free port, closed after the test; its
    `/metrics` reads the view's snapshot at every scrape."""
    web = await start_web(view, MetricsSettings(), port=0, snapshot_max_age=0)
    try:
        yield web
    finally:
        await web.close()


@pytest.fixture
async def client(server: WebServer) -> AsyncIterator[aiohttp.ClientSession]:
    """Yield an HTTP client whose relative URLs go to the listener."""
    async with aiohttp.ClientSession(base_url=f"http://{server.host}:{server.port}") as session:
        yield session
