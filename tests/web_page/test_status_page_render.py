"""The status page's HTML as the renderer writes it, without a browser (fast).

Issue #10 §5: a small read-only server-rendered page, no build step; the developers' guide:
it works offline on a home server (no external asset, no script).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from adapters.web.status_page import money, render_status_page
from daemon.observation import OpenLot, PauseState
from tests.web_page.dom import parse
from tests.web_page.pagekit import LOTS, TODAY, snapshot


def test_money_is_formatted_like_the_cli() -> None:
    """Money reads as `tlh lots` prints it (daemon/cli/lots.py: f"{x:,.2f}")."""
    assert money(Decimal("1234.5")) == "1,234.50"
    assert money(Decimal("-244.615")) == "-244.62"
    assert money(Decimal("1000000")) == "1,000,000.00"


def test_page_is_self_contained_and_script_free() -> None:
    """No script, no external asset: the page works offline (issue #10 §5, no build step)."""
    html = render_status_page(snapshot())
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", html)


def test_page_reloads_itself_every_15_seconds() -> None:
    """A read-only page stays current without script: a meta refresh (HTML Living Standard,
    "http-equiv refresh")."""
    (meta,) = parse(render_status_page(snapshot())).find_all("meta", http_equiv="refresh")
    assert meta.attrs["content"] == "15"


def test_pause_shows_who_when_and_why() -> None:
    """#10 §4: a paused daemon's page says by whom, since when and why."""
    since = datetime(2026, 12, 4, 14, 5, 9, tzinfo=UTC)
    snap = snapshot(state="paused", pause=PauseState(True, since, "mqtt", "holiday"))
    dom = parse(render_status_page(snap))
    assert dom.by_id("state").attrs["data-state"] == "paused"
    assert (dom.by_id("pause-by").text, dom.by_id("pause-reason").text) == ("mqtt", "holiday")
    assert dom.by_id("pause-since").text == "2026-12-04T14:05:09+00:00"


def test_not_paused_shows_no_pause_details() -> None:
    """#10 §4: pause details appear only while paused."""
    dom = parse(render_status_page(snapshot()))
    assert dom.find_all(id="pause-reason") == []


def test_mode_and_whether_orders_may_leave() -> None:
    """#10 §5: the page shows the mode, the broker and whether orders may leave."""
    dom = parse(render_status_page(snapshot(mode="live", trading_enabled=True, connected=None)))
    assert dom.by_id("mode").text == "live"
    assert dom.by_id("trading-enabled").text == "yes"
    assert dom.by_id("broker").text == "sim"
    assert dom.by_id("connection").text == "unknown"


def test_an_unpriced_lot_leaves_the_portfolio_value_unknown() -> None:
    """daemon/observation.py: the portfolio value is None when any lot is unpriced; the page
    shows a dash rather than a wrong total."""
    dom = parse(render_status_page(snapshot()))
    assert dom.by_id("portfolio-value").attrs["data-value"] == ""
    priced = parse(render_status_page(snapshot(open_lots=LOTS[:2])))
    assert priced.by_id("portfolio-value").text == "2,266.80"


def test_no_harvests_no_chart() -> None:
    """A household without harvests sees a sentence, not an empty chart."""
    dom = parse(render_status_page(snapshot(harvests=())))
    assert dom.find_all("svg") == []
    assert dom.by_id("harvested-loss-ytd").text == "0.00"


def test_one_harvest_day_still_draws_a_chart() -> None:
    """A single harvest day (a time axis of one day) is drawn, one point."""
    snap = snapshot(harvests=snapshot().harvests[:1], today=snapshot().harvests[0].day)
    assert len(parse(render_status_page(snap)).by_id("loss-chart").find_all("circle")) == 1


hostile = st.text(alphabet=st.sampled_from("<>&\"'=/ ab;"), min_size=1, max_size=30)


@given(symbol=hostile, account=hostile, lot_id=hostile, reason=hostile)
def test_any_string_is_text_never_markup(
    symbol: str, account: str, lot_id: str, reason: str
) -> None:
    """Whatever the configuration or the broker names things, the page's elements are the same
    and the strings read back as text (OWASP XSS Prevention Cheat Sheet, rule #1)."""
    plain = snapshot(
        open_lots=LOTS[:1],
        state="paused",
        pause=PauseState(True, reason="r"),
        halted_symbols=("x",),
    )
    lot = OpenLot(account, symbol, lot_id, Decimal(1), TODAY, Decimal(1))
    snap = snapshot(
        open_lots=(lot,), state="paused", pause=PauseState(True, reason=reason),
        halted_symbols=(symbol,),
    )  # fmt: skip
    dom = parse(render_status_page(snap))
    tags = [n.tag for n in dom.iter()]
    assert tags == [n.tag for n in parse(render_status_page(plain)).iter()]
    assert dom.by_id("pause-reason").text == " ".join(reason.split())
    (row,) = dom.by_id("open-lots").find_all("tr", data_lot_id=lot_id)
    assert (row.attrs["data-account"], row.attrs["data-symbol"]) == (account, symbol)
