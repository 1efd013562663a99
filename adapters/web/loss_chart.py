"""The chart of cumulative harvested losses: inline SVG drawn on the server (no script).

A step line over the harvest days: flat between harvests, a rise on each harvest day by that
day's losses. Each day is one marked point carrying `data-day` and `data-cumulative`, and the
chart has a `<title>` and a `<desc>` that says in words what it shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from itertools import accumulate

from daemon.observation import ZERO, HarvestRecord

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 88, 48, 16, 52
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
DATE_TICKS = 5
DOLLAR_TICKS = 4
HEADROOM = 0.05  # the last point sits below the top of the plot


@dataclass(frozen=True, slots=True)
class Point:
    """The cumulative harvested loss at the end of one harvest day."""

    day: date
    cumulative: Decimal


def cumulative_points(harvests: Iterable[HarvestRecord]) -> list[Point]:
    """Return one point per harvest day, oldest first: the losses harvested up to that day."""
    by_day: dict[date, Decimal] = {}
    for h in harvests:
        by_day[h.day] = by_day.get(h.day, ZERO) + h.loss
    days = sorted(by_day)
    totals = accumulate((by_day[d] for d in days), initial=ZERO)
    return [Point(d, c) for d, c in zip(days, list(totals)[1:], strict=True)]


def nice_step(span: float, ticks: int) -> float:
    """Return a round tick step (1, 2 or 5 times a power of ten) giving about `ticks` steps."""
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def render_loss_chart(harvests: Iterable[HarvestRecord], today: date) -> str:
    """Return the SVG of cumulative harvested losses, or a sentence when there are none."""
    points = cumulative_points(harvests)
    if not points:
        return '<p id="loss-chart-empty">No harvests yet: nothing to chart.</p>'
    start, end = points[0].day, max(today, points[-1].day)
    if start == end:
        start, end = start - timedelta(days=1), end + timedelta(days=1)
    total = points[-1].cumulative
    highest = max(float(p.cumulative) for p in points)
    reach = max(highest, 0.0) * (1 + HEADROOM) or 1.0
    step = nice_step(reach, DOLLAR_TICKS)
    top = step * math.ceil(reach / step)

    def x(day: date) -> float:
        return LEFT + PLOT_W * (day - start).days / (end - start).days

    def y(dollars: float) -> float:
        return TOP + PLOT_H * (1 - dollars / top)

    path = [f"M{x(points[0].day):.1f},{y(0):.1f}"]
    for p in points:
        path.append(f"H{x(p.day):.1f}V{y(float(p.cumulative)):.1f}")
    path.append(f"H{x(end):.1f}")
    desc = (
        f"Cumulative harvested losses over {len(points)} harvest day(s) from "
        f"{points[0].day.isoformat()} to {points[-1].day.isoformat()}, "
        f"reaching ${total:,.2f}."
    )
    parts = [
        f'<svg id="loss-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
        ' role="img" aria-labelledby="loss-chart-title loss-chart-desc"'
        f' data-points="{len(points)}" data-total="{total}">',
        '<title id="loss-chart-title">Cumulative harvested losses</title>',
        f'<desc id="loss-chart-desc">{escape(desc)}</desc>',
        *_dollar_axis(step, top, y),
        *_date_axis(start, end, x),
        f'<path class="line" d="{"".join(path)}"/>',
        *(
            f'<circle class="point" cx="{x(p.day):.1f}" cy="{y(float(p.cumulative)):.1f}" r="4"'
            f' data-day="{p.day.isoformat()}" data-cumulative="{p.cumulative}">'
            f"<title>{p.day.isoformat()}: ${p.cumulative:,.2f}</title></circle>"
            for p in points
        ),
        "</svg>",
    ]
    return "\n".join(parts)


def _dollar_axis(step: float, top: float, y: Callable[[float], float]) -> list[str]:
    out = [
        f'<text class="axis-label" transform="translate(16,{TOP + PLOT_H / 2}) rotate(-90)"'
        ' text-anchor="middle">Harvested loss (USD)</text>'
    ]
    for i in range(round(top / step) + 1):
        dollars = i * step
        label = f"${dollars:,.0f}" if step >= 1 else f"${dollars:,.2f}"
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y(dollars):.1f}"'
            f' y2="{y(dollars):.1f}"/>'
            f'<text class="tick" x="{LEFT - 8}" y="{y(dollars) + 4:.1f}" text-anchor="end">'
            f"{label}</text>"
        )
    return out


def _date_axis(start: date, end: date, x: Callable[[date], float]) -> list[str]:
    span = (end - start).days
    days = sorted(
        {start + timedelta(days=round(span * i / (DATE_TICKS - 1))) for i in range(DATE_TICKS)}
    )
    base = TOP + PLOT_H
    out = [
        f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{base}" y2="{base}"/>',
        f'<text class="axis-label" x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 4}"'
        ' text-anchor="middle">Date</text>',
    ]
    for d in days:
        out.append(
            f'<line class="axis" x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{base}" y2="{base + 5}"/>'
            f'<text class="tick" x="{x(d):.1f}" y="{base + 20}" text-anchor="middle">'
            f"{d.isoformat()}</text>"
        )
    return out
