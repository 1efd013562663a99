"""`tlh backtest --report DIR` (issue #12 §6): `report.html`, one self-contained page, and the
PNG plots beside it; the method stated on the page; every caller's string escaped."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from daemon.backtest_metrics import METHOD, summary_keys
from daemon.backtest_report import PLOTS, REPORT, write_report
from daemon.backtest_series import BacktestSeries
from tests.index_report.serieskit import series, two_years, walk
from tests.web_page.browser import Chromium, find_chromium
from tests.web_page.dom import Node, parse

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)><a href="https://evil.test/">'
NOTE = "Prices: 504 S&P 500 stocks 1999–2021, today's constituents (survivorship bias)."


def report(
    out: Path,
    one: BacktestSeries | None = None,
    *,
    baseline: BacktestSeries | None = None,
    title: str = "Direct index against ETF pairs",
    notes: tuple[str, ...] = (NOTE,),
    **extra: object,
) -> Path:
    """Write the report of `one` (two hand-built years by default) into `out`."""
    one = one or two_years()
    summary = {**summary_keys(one), **extra}
    return write_report(one, out, summary=summary, title=title, baseline=baseline, notes=notes)


def page(path: Path) -> Node:
    """Return the DOM of the page at `path`."""
    return parse(path.read_text(encoding="utf-8"))


def json_text(value: object) -> str:
    """Return a scalar as the `--json` object spells it: null, or the string itself."""
    return "null" if value is None else str(value)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the report of the two hand-built years, written once for the tests that read it."""
    return report(tmp_path_factory.mktemp("report"))


def test_report_and_every_plot_are_written(tmp_path: Path) -> None:
    """#12 §6: report.html and the PNG plots, each a valid, non-empty PNG."""
    out = tmp_path / "made" / "here"
    written = report(out)

    assert written == out / REPORT
    assert written.stat().st_size > 0
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        Image.open(io.BytesIO(data)).verify()


def test_page_is_self_contained(written: Path) -> None:
    """The one self-contained page: no script, stylesheet link or URL other than `data:`."""
    html = written.read_text(encoding="utf-8")
    dom = parse(html)

    assert not dom.find_all("script")
    assert not dom.find_all("link")
    for node in dom.iter():
        for attr in ("src", "href", "srcset", "poster", "data"):
            if attr in node.attrs:
                assert node.attrs[attr].startswith("data:"), (node.tag, attr)
    assert "url(" not in html
    assert len(dom.find_all("img")) == len(PLOTS)


def test_embedded_plots_are_the_files_beside_the_page(written: Path) -> None:
    """Each plot is both embedded (data URI) and written as a file: the same bytes."""
    dom = page(written)

    for name in PLOTS:
        (figure,) = dom.find_all("figure", id=name)
        (img,) = figure.find_all("img")
        prefix = "data:image/png;base64,"
        assert img.attrs["src"].startswith(prefix)
        assert (
            base64.b64decode(img.attrs["src"][len(prefix) :])
            == (written.parent / name).read_bytes()
        )


def test_summary_table_shows_the_summary_exactly(written: Path) -> None:
    """The page's figures are the `--json` figures: each cell carries its exact value."""
    summary = summary_keys(two_years())
    dom = page(written)

    table = dom.by_id("summary")
    for key, value in summary.items():
        if key == "years":
            continue
        (cell,) = table.find_all("td", data_key=key)
        assert cell.attrs["data-value"] == json_text(value), key
    assert table.find_all("td", data_key="tax_alpha_annual")[0].text == "2.13 %"
    assert table.find_all("td", data_key="invested")[0].text == "$1,200.00"


def test_years_table_shows_each_years_figures(written: Path) -> None:
    """One row per calendar year, its four figures exactly as in `years`."""
    years = summary_keys(two_years())["years"]
    assert isinstance(years, list)
    dom = page(written)

    (table,) = dom.find_all("table", **{"class": "years"})
    rows = table.find_all("tr", data_year="2020") + table.find_all("tr", data_year="2021")
    assert len(rows) == 2
    for row, year in zip(rows, years, strict=True):
        for key in ("harvested_loss", "harvested_loss_pct", "tax_alpha", "tracking_error"):
            (cell,) = row.find_all("td", data_key=key)
            assert cell.attrs["data-value"] == json_text(year[key]), (year["year"], key)


def test_baseline_gets_its_own_years_table(tmp_path: Path) -> None:
    """With a baseline (the ETF pairs on the same dates) the page shows its years too."""
    baseline = walk(seed=3)
    baseline.label = "ETF pairs"
    dom = page(report(tmp_path, walk(), baseline=baseline))

    headings = [h.text for h in dom.find_all("h2")]
    assert "Year by year: ETF pairs" in headings
    assert len(dom.find_all("table", **{"class": "years"})) == 2


def test_hostile_strings_inject_nothing(tmp_path: Path) -> None:
    """Title, labels, notes and summary values are text: no element or attribute of theirs."""
    one = two_years()
    one.label = HOSTILE
    baseline = two_years()
    baseline.label = "$x^$ _" + HOSTILE  # mathtext and legend-hiding syntax drawn as text
    path = report(
        tmp_path,
        one,
        baseline=baseline,
        title=HOSTILE,
        notes=(HOSTILE,),
        warnings=[HOSTILE],
        **{HOSTILE: HOSTILE},
    )
    dom = page(path)

    assert not dom.find_all("script")
    assert not dom.find_all("a")
    assert all(img.attrs["src"].startswith("data:") for img in dom.find_all("img"))
    assert not [n for n in dom.iter() if "onerror" in n.attrs]
    assert dom.by_id("title").text == " ".join(HOSTILE.split())
    assert HOSTILE in dom.by_id("method").text


def test_method_section_states_the_definitions_rates_and_notes(written: Path) -> None:
    """#12 §6 "state the method on the page": the definitions, the rates, the data's notes."""
    method = page(written).by_id("method")
    text = method.text

    for paragraph in METHOD:
        assert " ".join(paragraph.split()) in text
    assert "short-term rate of 0.40 and a long-term rate of 0.20" in text
    assert NOTE in text


def test_readme_states_the_same_method() -> None:
    """#12 §6: the definition is in the README, the very text the page shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### How tax alpha is measured")
    section = readme[start : readme.index("\n#", start + 1)]
    flat = " ".join(re.sub(r"^- ", "", section, flags=re.M).split())

    for paragraph in METHOD:
        assert " ".join(paragraph.split()) in flat, paragraph[:60]


def test_same_series_gives_the_same_bytes(tmp_path: Path) -> None:
    """Deterministic output (no date or software metadata): a snapshot can be compared."""
    report(tmp_path / "a", walk())
    report(tmp_path / "b", walk())

    for name in (REPORT, *PLOTS):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_budget_in_the_summary_is_shown(tmp_path: Path) -> None:
    """The tracking-error budget, when the caller gives it, is a figure of the table too."""
    dom = page(report(tmp_path, tracking_error_budget="0.01"))

    (cell,) = dom.by_id("summary").find_all("td", data_key="tracking_error_budget")
    assert cell.text == "1.00 %"


@pytest.mark.parametrize(
    "one",
    [series(), series(*two_years().samples[:1])],
    ids=["no day", "one day"],
)
def test_a_backtest_with_no_or_one_day_still_has_a_report(
    tmp_path: Path, one: BacktestSeries
) -> None:
    """An empty period or a single session: the page and valid plots, null figures as dashes."""
    dom = page(report(tmp_path, one))

    for name in PLOTS:
        Image.open(tmp_path / name).verify()
    (cell,) = dom.by_id("summary").find_all("td", data_key="tracking_error_realized")
    assert (cell.attrs["data-value"], cell.text) == ("null", "—")


async def test_chromium_paints_the_page_and_its_plots(tmp_path: Path) -> None:
    """The page as a browser shows it (`chromium --headless --screenshot`): text, and the
    plots' lines in matplotlib's first colour (#1f77b4), so the data URIs decoded."""
    chromium = Chromium(find_chromium())
    path = report(tmp_path / "report", walk())

    shot = await chromium.screenshot(path.as_uri(), tmp_path / "shot.png", 1280, 3000)

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    counts = {rgb: n for n, rgb in colours}
    assert len(counts) > 50  # not blank
    assert counts.get((255, 255, 255), 0) < image.width * image.height  # not all white
    assert counts.get((31, 119, 180), 0) > 500  # the plots' lines
