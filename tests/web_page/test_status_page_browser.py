"""The status page as Debian's headless chromium renders it (issue #10 §5: "Test it in a real
headless browser ... the page renders").

Each test serves a rendered snapshot over loopback HTTP and reads the DOM chromium built
(`--dump-dom`) or the screenshot it took, never the renderer's string.
"""

from __future__ import annotations

from pathlib import Path

from adapters.web.status_page import render_status_page
from daemon.observation import PauseState, StatusSnapshot
from tests.web_page.browser import Chromium
from tests.web_page.dom import Node, parse
from tests.web_page.pagekit import HARVEST_DAYS, cell, served, snapshot
from tests.web_page.png import read_png

CHART_BLUE = (0x09, 0x69, 0xDA)  # the chart's line and points (status page CSS)
WHITE = (255, 255, 255)


async def rendered(chromium: Chromium, snap: StatusSnapshot) -> Node:
    """Return the DOM chromium built from the status page of `snap`."""
    async with served(render_status_page(snap)) as url:
        return parse(await chromium.dump_dom(url))


async def test_open_lots_show_quantity_basis_and_unrealized(chromium: Chromium) -> None:
    """#10 §5: the page shows open lots with unrealized gain/loss, money as the CLI prints it."""
    dom = await rendered(chromium, snapshot())
    rows = {r.attrs["data-lot-id"]: r for r in dom.by_id("open-lots").find_all("tr")
            if "data-lot-id" in r.attrs}  # fmt: skip
    assert sorted(rows) == ["lot-1", "lot-2", "lot-3"]
    vti = rows["lot-1"]
    assert (cell(vti, "quantity").text, cell(vti, "basis").text, cell(vti, "unrealized").text) == (
        "10.5",
        "2,345.67",
        "-244.62",
    )
    assert cell(rows["lot-2"], "unrealized").text == "15.75"
    assert cell(rows["lot-3"], "price").text == "—"
    assert dom.by_id("unrealized-loss").text == "244.62"
    assert dom.by_id("open-lots-count").text == "3"


async def test_this_years_harvests_and_their_totals(chromium: Chromium) -> None:
    """#10 §5: this year's harvests with losses and replacements, and the year's totals."""
    dom = await rendered(chromium, snapshot())
    assert dom.by_id("harvested-loss-ytd").text == "1,747.76"  # 1234.50 + 10.01 + 503.25
    assert dom.by_id("estimated-tax-saved-ytd").text == "422.40"
    rows = dom.by_id("harvests-table").find_all("tr", data_day="2026-03-03")
    assert {(r.attrs["data-symbol"], cell(r, "replacement").text) for r in rows} == {
        ("VTI", "ITOT"),
        ("VWO", "cash"),
    }
    assert dom.find_all("tr", data_intent_id="h-0") == []  # last year's


async def test_wash_window_calendar(chromium: Chromium) -> None:
    """#10 §5: the wash-window calendar says what may not be bought (or sold at a loss) until
    when."""
    dom = await rendered(chromium, snapshot())
    (no_buy,) = dom.by_id("no-buy").find_all("tr", data_symbol="VTI")
    (no_loss_sale,) = dom.by_id("no-loss-sale").find_all("tr", data_symbol="ITOT")
    assert no_buy.attrs["data-until"] == no_loss_sale.attrs["data-until"] == "2026-12-20"
    assert "2026-12-20" in no_buy.text


async def test_hostile_strings_stay_text(chromium: Chromium) -> None:
    """Symbols, accounts and reasons come from the configuration and the broker: markup in them
    is shown as text and never becomes an element (OWASP XSS Prevention Cheat Sheet, rule #1)."""
    attack = '"><img id="injected" src=x onerror="document.title=1"><script>x=1</script>'
    snap = snapshot(
        state="paused",
        pause=PauseState(paused=True, by="cli", reason=attack),
        halted_symbols=(attack,),
    )
    dom = await rendered(chromium, snap)
    assert dom.find_all("img") == dom.find_all("script") == []
    assert dom.find_all(id="injected") == []
    assert dom.by_id("pause-reason").text == attack
    assert dom.by_id("halted-symbols").find_all("li", data_symbol=attack) != []


async def test_chart_has_one_point_per_harvest_day(chromium: Chromium) -> None:
    """#10 §5: a chart of harvested losses over time: one point per harvest day, rising to the
    total harvested."""
    dom = await rendered(chromium, snapshot())
    points = dom.by_id("loss-chart").find_all("circle")
    assert len(points) == HARVEST_DAYS
    assert [p.attrs["data-day"] for p in points] == ["2025-11-03", "2026-03-03", "2026-08-20"]
    assert points[-1].attrs["data-cumulative"] == "1847.76"


async def test_screenshot_is_a_non_blank_png(chromium: Chromium, tmp_path: Path) -> None:
    """#10 §5 (`chromium --headless --screenshot`): the page paints text and its chart."""
    async with served(render_status_page(snapshot())) as url:
        image = read_png(await chromium.screenshot(url, tmp_path / "page.png", 1280, 2000))
    assert (image.width, image.height) == (1280, 2000)
    assert image.count(CHART_BLUE) > 100
    assert image.count(WHITE) < 0.98 * image.width * image.height
