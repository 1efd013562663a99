"""Write a backtest's `--report DIR`: `report.html` and the PNG plots it shows (issue #12 §6).

One self-contained page: inline CSS, each plot embedded as a `data:` URI (and written beside
the page as a file), no script, nothing fetched. Every string from the caller (title, labels,
notes, summary values) is HTML-escaped, and drawn by matplotlib with mathtext off, so a `$` in
a label is a dollar sign. The output is deterministic (matplotlib's default style, no software
or date metadata in the PNGs): the same series gives the same bytes.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from html import escape
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from daemon.backtest_metrics import METHOD, summary_keys
from daemon.backtest_series import ZERO, BacktestSeries, DaySample

REPORT = "report.html"
PLOTS = ("value.png", "harvested.png", "tax_alpha.png", "tracking_error.png", "lots_turnover.png")
DPI = 100
SIZE = (9.0, 4.5)  # inches
# The summary key holding the ex-ante tracking-error budget, drawn on the tracking error plot.
BUDGET_KEY = "tracking_error_budget"
MONEY_KEYS = frozenset(
    (
        "invested",
        "final_value",
        "benchmark_final_value",
        "harvested_loss",
        "estimated_tax_saved",
        "tax_benefit",
    )
)
PERCENT_KEYS = frozenset(
    (
        "harvested_loss_pct_of_invested",
        "tax_alpha_annual",
        "tracking_error_realized",
        "tracking_error_ex_ante_max",
        "turnover_annual",
        "after_tax_excess_annual",
        "pre_tax_excess_annual",
        BUDGET_KEY,
        "harvested_loss_pct",  # a year's figures
        "tax_alpha",
        "tracking_error",
    )
)
# What the summary table calls the figures it knows; others show their `--json` key.
LABELS = {
    "invested": "money invested",
    "final_value": "final value",
    "benchmark_final_value": "final value of the index bought and held",
    "harvested_loss": "harvested losses",
    "harvested_loss_pct_of_invested": "harvested losses, % of money invested",
    "tax_alpha_annual": "tax alpha, a year (average)",
    "after_tax_excess_annual": "after-tax excess return, a year",
    "pre_tax_excess_annual": "pre-tax excess return, a year",
    "tax_benefit": "tax benefit (sum of the years')",
    "tracking_error_realized": "realised tracking error",
    "tracking_error_ex_ante_max": "largest ex-ante tracking error",
    BUDGET_KEY: "tracking-error budget (ex-ante)",
    "turnover_annual": "turnover, a year",
    "years_covered": "years covered",
}
DASH = "—"

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:64rem;padding:0 1rem;
color:#1b1f23;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.muted{color:#57606a}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.25rem .7rem;border-bottom:1px solid #d0d7de;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:.9rem}
"""


def write_report(
    series: BacktestSeries,
    out_dir: Path,
    *,
    summary: Mapping[str, object],
    title: str,
    baseline: BacktestSeries | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write `report.html` and its PNG plots into `out_dir` (made if missing); return the page.

    `summary`: the figures the table shows (the `--json` object); `baseline`: a second run on
    the same dates (e.g. the ETF pairs) drawn beside `series`; `notes`: paragraphs for the
    Method section (the data, its survivorship bias).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = _number(summary.get(BUDGET_KEY))
    years = _years(series)
    runs = [(_label(series, "portfolio"), years)]
    if baseline is not None:
        runs.append((_label(baseline, "baseline"), _years(baseline)))
    # The default style, whatever a matplotlibrc says: the same series gives the same PNGs;
    # no mathtext: a "$" in a label is a dollar sign.
    with style.context("default"), matplotlib.rc_context({"text.parse_math": False}):
        plots = {
            "value.png": _plot(lambda ax: _value(ax, series, baseline)),
            "harvested.png": _plot(lambda ax: _harvested(ax, series, baseline)),
            "tax_alpha.png": _plot(lambda ax: _tax_alpha(ax, runs)),
            "tracking_error.png": _plot(lambda ax: _tracking_error(ax, series, years, budget)),
            "lots_turnover.png": _lots_turnover(series),
        }
    for name, png in plots.items():
        _write_atomically(out_dir / name, png)
    page = out_dir / REPORT
    html = render_html(series, plots, summary=summary, title=title, baseline=baseline, notes=notes)
    _write_atomically(page, html.encode())
    return page


def render_html(
    series: BacktestSeries,
    plots: Mapping[str, bytes],
    *,
    summary: Mapping[str, object],
    title: str,
    baseline: BacktestSeries | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Return the report's HTML document, `plots` (name → PNG bytes) embedded."""
    samples = series.samples
    period = f"{samples[0].day} to {samples[-1].day}" if samples else "no day replayed"
    years = summary.get("years")
    sections = [
        "<h2>Summary</h2>",
        _figure_table(summary),
        f"<h2>Year by year: {escape(series.label or 'portfolio')}</h2>",
        _years_table(years if isinstance(years, list) else _years(series)),
    ]
    if baseline is not None:
        sections += [
            f"<h2>Year by year: {escape(baseline.label or 'baseline')}</h2>",
            _years_table(_years(baseline)),
        ]
    sections.append("<h2>Plots</h2>")
    sections += [_img(name, png) for name, png in plots.items()]
    sections.append(_method(series, notes))
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1 id="title">{escape(title)}</h1>
<p class="muted">{escape(series.label or "portfolio")}: {escape(period)}</p>
</header>
<main>
{body}
</main>
</body>
</html>
"""


CAPTIONS = {
    "value.png": "Portfolio value against the same index bought and held without harvesting, "
    "and the money invested.",
    "harvested.png": "Cumulative harvested losses as % of the money invested.",
    "tax_alpha.png": "Tax alpha per calendar year (a partial year is not annualised).",
    "tracking_error.png": "Ex-ante tracking error at each close and realised tracking error "
    "per calendar year.",
    "lots_turnover.png": "Open lots, and cumulative one-way turnover (notional traded / 2 over "
    "the mean value so far).",
}


def _img(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = CAPTIONS.get(name, name)
    return (
        f'<figure id="{escape(name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(caption)}"><figcaption>{escape(caption)} ({escape(name)})</figcaption>'
        "</figure>"
    )


def _figure_table(summary: Mapping[str, object]) -> str:
    rows = [
        f'<tr><th scope="row">{escape(LABELS.get(key, key))}</th>'
        f'<td class="num" data-key="{escape(key)}" data-value="{escape(_raw(value))}">'
        f"{escape(_shown(key, value))}</td></tr>"
        for key, value in summary.items()
        if key != "years"
    ]
    return '<table id="summary"><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


def _years(series: BacktestSeries) -> list[dict[str, object]]:
    years = summary_keys(series)["years"]
    assert isinstance(years, list)
    return years


def _years_table(years: Sequence[Mapping[str, object]]) -> str:
    head = (
        "<thead><tr><th>year</th><th>harvested loss</th><th>% of start value</th>"
        "<th>tax alpha</th><th>realised tracking error</th></tr></thead>"
    )
    rows = []
    for y in years:
        cells = [f"<td>{escape(str(y['year']))}</td>"]
        for key in ("harvested_loss", "harvested_loss_pct", "tax_alpha", "tracking_error"):
            cells.append(
                f'<td class="num" data-key="{key}" data-value="{escape(_raw(y[key]))}">'
                f"{escape(_shown(key, y[key]))}</td>"
            )
        rows.append(f'<tr data-year="{escape(str(y["year"]))}">{"".join(cells)}</tr>')
    return f'<table class="years">{head}<tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


def _method(series: BacktestSeries, notes: Sequence[str]) -> str:
    rates = (
        f"Losses and gains are valued at a short-term rate of {series.short_term_rate} and a "
        f"long-term rate of {series.long_term_rate}."
    )
    paragraphs = [*METHOD, rates, *notes]
    return (
        '<section id="method"><h2>Method</h2>\n'
        + "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        + "\n</section>"
    )


def _raw(value: object) -> str:
    """Return a summary value as the `--json` object has it (null for None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "; ".join(_raw(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_raw(v)}" for k, v in value.items())
    return str(value)


def _shown(key: str, value: object) -> str:
    """Return a summary value for a reader: percentages and dollars where the key is one."""
    number = _number(value)
    if number is None:
        return DASH if value is None else _raw(value)
    if key in MONEY_KEYS:
        return f"${number:,.2f}"
    if key in PERCENT_KEYS:
        return f"{number * 100:.2f} %"
    return _raw(value)


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str | float):
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return None
    return None


# --- plots ---


def _plot(draw: Callable[[Axes], None]) -> bytes:
    figure = _figure()
    draw(figure.add_subplot())
    return _png(figure)


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _days(samples: Sequence[DaySample]) -> npt.NDArray[np.datetime64]:
    return _dates([s.day for s in samples])


def _dates(days: Sequence[date]) -> npt.NDArray[np.datetime64]:
    return np.array(days, dtype="datetime64[D]")


def _label(series: BacktestSeries, default: str) -> str:
    # matplotlib leaves labels starting with "_" out of legends.
    text = series.label or default
    return f" {text}" if text.startswith("_") else text


def _legend(ax: Axes) -> None:
    """Put the axes' legend below them, outside the data."""
    figure = ax.get_figure()
    assert isinstance(figure, Figure)
    figure.legend(loc="outside lower center", ncols=2, frameon=False)


def _year_spans(samples: Sequence[DaySample]) -> dict[int, tuple[date, date]]:
    """Return each year's first and last day sampled."""
    spans: dict[int, tuple[date, date]] = {}
    for s in samples:
        first, _ = spans.get(s.day.year, (s.day, s.day))
        spans[s.day.year] = (first, s.day)
    return spans


def _empty(ax: Axes, samples: Sequence[DaySample]) -> bool:
    if samples:
        return False
    ax.text(0.5, 0.5, "no day replayed", ha="center", va="center", transform=ax.transAxes)
    return True


def _value(ax: Axes, series: BacktestSeries, baseline: BacktestSeries | None) -> None:
    ax.set_title("Portfolio value")
    ax.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    s = series.samples
    if _empty(ax, s):
        return
    ax.plot(_days(s), [float(x.value) for x in s], label=_label(series, "portfolio"))
    ax.plot(
        _days(s),
        [float(x.benchmark_value) for x in s],
        label="index bought and held, no harvesting",
    )
    if baseline is not None and baseline.samples:
        b = baseline.samples
        ax.plot(_days(b), [float(x.value) for x in b], label=_label(baseline, "baseline"))
    ax.plot(
        _days(s),
        [float(x.invested) for x in s],
        label="money invested",
        color="grey",
        linestyle="--",
        drawstyle="steps-post",
    )
    _legend(ax)
    ax.grid(alpha=0.3)


def _harvested_pct(samples: Sequence[DaySample]) -> list[float]:
    return [float(x.harvested_loss / x.invested * 100) if x.invested > 0 else 0.0 for x in samples]


def _harvested(ax: Axes, series: BacktestSeries, baseline: BacktestSeries | None) -> None:
    ax.set_title("Cumulative harvested losses")
    ax.set_ylabel("% of money invested")
    if _empty(ax, series.samples):
        return
    for one, default in ((series, "portfolio"), (baseline, "baseline")):
        if one is not None and one.samples:
            ax.plot(_days(one.samples), _harvested_pct(one.samples), label=_label(one, default))
    _legend(ax)
    ax.grid(alpha=0.3)


def _tax_alpha(ax: Axes, runs: Sequence[tuple[str, Sequence[Mapping[str, object]]]]) -> None:
    ax.set_title("Tax alpha per year")
    ax.set_ylabel("% of the year's value")
    per_run = [(label, _yearly(years, "tax_alpha")) for label, years in runs]
    years = sorted({y for _, alphas in per_run for y in alphas})
    if not years:
        ax.text(0.5, 0.5, "no year replayed", ha="center", va="center", transform=ax.transAxes)
        return
    width = 0.8 / len(per_run)
    for i, (label, alphas) in enumerate(per_run):
        offset = (i - (len(per_run) - 1) / 2) * width
        ax.bar(
            [y + offset for y in years],
            [alphas.get(y, 0.0) for y in years],
            width=width,
            label=label,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(years, [str(y) for y in years], rotation=90 if len(years) > 12 else 0)
    _legend(ax)
    ax.grid(alpha=0.3, axis="y")


def _yearly(years: Sequence[Mapping[str, object]], key: str) -> dict[int, float]:
    """Return each year's `key` in %, the years without one left out."""
    return {int(str(y["year"])): float(str(y[key])) * 100 for y in years if y[key] is not None}


def _tracking_error(
    ax: Axes, series: BacktestSeries, years: Sequence[Mapping[str, object]], budget: Decimal | None
) -> None:
    ax.set_title("Tracking error (annualised)")
    ax.set_ylabel("%")
    s = [x for x in series.samples if x.tracking_error_ex_ante is not None]
    drawn = False
    if s:
        ax.plot(_days(s), [(x.tracking_error_ex_ante or 0.0) * 100 for x in s], label="ex-ante")
        drawn = True
    realised = _yearly(years, "tracking_error")
    spans = _year_spans(series.samples)
    if realised:
        # Each year's figure as a segment across that year.
        ax.hlines(
            list(realised.values()),
            _dates([spans[y][0] for y in realised]),
            _dates([spans[y][1] for y in realised]),
            colors="C1",
            linewidth=2.5,
            label="realised, per calendar year",
        )
        drawn = True
    if budget is not None:
        ax.axhline(float(budget) * 100, color="red", linestyle="--", label="budget (ex-ante)")
        drawn = True
    if not drawn:
        ax.text(
            0.5, 0.5, "no tracking error measured", ha="center", va="center", transform=ax.transAxes
        )
        return
    ax.set_ylim(bottom=0)
    _legend(ax)
    ax.grid(alpha=0.3)


def _lots_turnover(series: BacktestSeries) -> bytes:
    figure = _figure()
    lots_ax, turnover_ax = figure.subplots(2, 1, sharex=True)
    lots_ax.set_title("Open lots")
    turnover_ax.set_title("Cumulative turnover (notional traded / 2 over mean value so far)")
    s = series.samples
    if not _empty(lots_ax, s):
        lots_ax.plot(_days(s), [x.lots for x in s])
        lots_ax.grid(alpha=0.3)
        turnover_ax.plot(_days(s), _cumulative_turnover(s))
        turnover_ax.set_ylabel("× value")
        turnover_ax.grid(alpha=0.3)
    return _png(figure)


def _cumulative_turnover(samples: Sequence[DaySample]) -> list[float]:
    out, total = [], ZERO
    for n, x in enumerate(samples, start=1):
        total += x.value
        mean = total / n
        out.append(float(x.traded / 2 / mean) if mean > 0 else 0.0)
    return out


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, so a crash leaves no half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
