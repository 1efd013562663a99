"""The chart of cumulative harvested losses (issue #10 §5: "a chart of harvested losses over
time"), drawn as SVG on the server."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from adapters.web.loss_chart import cumulative_points, nice_step, render_loss_chart
from daemon.observation import HarvestRecord
from tests.web_page.dom import parse
from tests.web_page.pagekit import HARVESTS, TODAY

harvests = st.lists(
    st.builds(
        HarvestRecord,
        intent_id=st.just("i"),
        day=st.dates(date(2020, 1, 1), date(2026, 12, 31)),
        account=st.just("taxable"),
        symbol=st.just("VTI"),
        quantity=st.just(Decimal(1)),
        loss=st.decimals(Decimal("0.01"), Decimal("100000"), places=2),
        estimated_tax_saved=st.just(Decimal(0)),
        replacement=st.none(),
    ),
    max_size=20,
)


@given(harvests)
def test_one_point_per_day_rising_to_the_total(hs: list[HarvestRecord]) -> None:
    """One point per distinct harvest day, in date order, never falling, ending at the sum of
    all the losses."""
    points = cumulative_points(hs)
    assert [p.day for p in points] == sorted({h.day for h in hs})
    assert all(a.cumulative < b.cumulative for a, b in itertools.pairwise(points))
    assert (points[-1].cumulative if points else 0) == sum(h.loss for h in hs)


@given(harvests.filter(bool))
def test_every_point_lies_inside_the_plot(hs: list[HarvestRecord]) -> None:
    """The y axis reaches the total and the x axis spans the first harvest to today: no point
    is drawn outside the chart."""
    today = max(h.day for h in hs) + timedelta(days=3)
    svg = parse(render_loss_chart(hs, today)).by_id("loss-chart")
    _x0, _y0, width, height = map(float, svg.attrs["viewbox"].split())
    for c in svg.find_all("circle"):
        assert 0 <= float(c.attrs["cx"]) <= width
        assert 0 <= float(c.attrs["cy"]) <= height


def test_chart_is_labelled_for_screen_readers() -> None:
    """An SVG image has a <title> and a <desc> it is labelled by (WAI-ARIA, "img" role;
    https://www.w3.org/TR/SVG2/struct.html#DescriptionAndTitleElements)."""
    svg = parse(render_loss_chart(HARVESTS, TODAY)).by_id("loss-chart")
    assert svg.attrs["role"] == "img"
    labels = svg.attrs["aria-labelledby"].split()
    assert [svg.by_id(i).tag for i in labels] == ["title", "desc"]
    assert "1,847.76" in svg.by_id("loss-chart-desc").text


def test_axes_are_labelled_in_dollars_and_dates() -> None:
    """The y ticks read as dollars from $0, the x ticks as dates from the first harvest."""
    ticks = [t.text for t in parse(render_loss_chart(HARVESTS, TODAY)).find_all("text")]
    assert "$0" in ticks
    assert "$2,000" in ticks  # the total, $1,847.76, rounded up to a tick
    assert "2025-11-03" in ticks
    assert TODAY.isoformat() in ticks


@given(st.floats(0.01, 1e9))
def test_tick_steps_are_round_and_cover_the_span(span: float) -> None:
    """Ticks fall on 1, 2 or 5 times a power of ten, at most 4 steps (rounded up) covering it."""
    step = nice_step(span, 4)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))
    assert 4 * step >= span * (1 - 1e-9)
    assert step / 2.5 < span / 4 * (1 + 1e-9)
