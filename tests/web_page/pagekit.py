"""A household's status snapshot for the status page's tests, and a page served to chromium.

Two accounts; three open lots (one at a loss, one at a gain, one unpriced); harvests in the
previous tax year and this one, two of them on the same day; one wash window of each kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

from aiohttp import web
from observation_kit import status_snapshot

from adapters.web.server import SECURITY_HEADERS
from daemon.observation import (
    HarvestRecord,
    OpenLot,
    StatusSnapshot,
    WashWindow,
)
from tests.web_page.dom import Node

TODAY = date(2026, 12, 4)

LOTS = (
    OpenLot(
        "taxable", "VTI", "lot-1", D("10.5"), date(2026, 1, 5), D("2345.67"),
        D("200.10"), D("2101.05"), D("-244.62"),
    ),
    OpenLot(
        "taxable", "VEA", "lot-2", D("3"), date(2025, 2, 5), D("150"),
        D("55.25"), D("165.75"), D("15.75"),
    ),
    OpenLot("ira", "BND", "lot-3", D("7"), date(2026, 6, 1), D("512.40")),
)  # fmt: skip

HARVESTS = (
    HarvestRecord("h-0", date(2025, 11, 3), "taxable", "SPY", D(5), D("100"), D("24"), "IVV"),
    HarvestRecord("h-1", date(2026, 3, 3), "taxable", "VTI", D(5), D("1234.5"), D("300"), "ITOT"),
    HarvestRecord("h-2", date(2026, 3, 3), "taxable", "VWO", D(4), D("10.01"), D("2.4"), None),
    HarvestRecord("h-3", date(2026, 8, 20), "taxable", "QQQ", D(2), D("503.25"), D("120"), "QQQM"),
)
HARVEST_DAYS = 3  # 2025-11-03, 2026-03-03 (twice), 2026-08-20

WINDOWS = (
    WashWindow("VTI", "taxable", "no_buy", date(2026, 11, 20), date(2026, 12, 20)),
    WashWindow("ITOT", "taxable", "no_loss_sale", date(2026, 11, 20), date(2026, 12, 20)),
)


def snapshot(**changes: Any) -> StatusSnapshot:
    """Return the household's snapshot, with `changes` to its fields."""
    household: dict[str, Any] = {
        "at": datetime(2026, 12, 4, 15, 30, tzinfo=UTC),
        "today": TODAY,
        "journal_entries": 42,
        "open_lots": LOTS,
        "harvests": HARVESTS,
        "wash_windows": WINDOWS,
    }
    return status_snapshot(**(household | changes))


@asynccontextmanager
async def served(html: str) -> AsyncIterator[str]:
    """Serve `html` at `/` on a free loopback port with the listener's security headers (its
    content security policy must leave the page's inline style and chart working); yield its
    URL."""

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


def cell(row: Node, field: str) -> Node:
    """Return the cell of the page's table row `row` for `field` (its `data-field`)."""
    (td,) = row.find_all("td", data_field=field)
    return td
