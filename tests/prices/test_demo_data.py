"""The bundled demo prices: present, licensed with attribution, small, and loadable."""

from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal

from adapters.prices import load_prices
from daemon.demo_data import DEMO_SYMBOLS, demo_config_path, demo_license_path, demo_prices_path

from .pricekit import SP500_5YR, shared

UPSTREAM_COMMIT = "f1109438d6cfb3ffdaa7d4480437cfbaaedd3236"  # data/README.md, sp500_5yr


def test_demo_data_is_present_and_small() -> None:
    """Brief: a gzipped slice under 500 KB ships inside the package (importlib.resources)."""
    path = demo_prices_path()
    assert path.is_file()
    assert path.stat().st_size < 500 * 1024


def test_demo_data_carries_its_licence_and_attribution() -> None:
    """data/README.md LICENCE section: sp500_5yr may be bundled only with attribution (upstream
    repository and commit) and its LICENSE.MIT.txt kept next to it."""
    licence = demo_license_path().read_text()
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2017 Cam Nugent" in licence
    readme = (demo_prices_path().parent / "README.md").read_text()
    assert "CNuge/kaggle-code" in readme
    assert UPSTREAM_COMMIT in readme
    assert "LICENSE.MIT.txt" in readme


def test_demo_licence_is_the_upstream_file_unchanged() -> None:
    """The kept licence is byte-identical to the shared folder's LICENSE.MIT.txt."""
    upstream = shared(SP500_5YR).parent / "LICENSE.MIT.txt"
    assert demo_license_path().read_bytes() == upstream.read_bytes()


def test_demo_config_pairs_only_demo_symbols() -> None:
    """`tlh demo` reads demo_config_path(): every substitute it names has bundled prices."""
    from daemon.settings import load_settings

    settings = load_settings(demo_config_path(), env={})
    named = {s for group in settings.substitute_groups() for s in group}
    assert named == set(DEMO_SYMBOLS)
    assert settings.mode == "dry_run"


def test_demo_data_loads_over_the_full_span() -> None:
    """Every demo symbol has all 1,259 days 2013-02-08 -> 2018-02-07, no row is skipped."""
    series = load_prices(demo_prices_path())
    assert series.symbols == DEMO_SYMBOLS
    assert series.skipped == {}
    assert (series.first_date, series.last_date) == (date(2013, 2, 8), date(2018, 2, 7))
    assert len(series) == len(DEMO_SYMBOLS) * 1_259
    assert all(len(bars) == len(DEMO_SYMBOLS) for _, bars in series.days())


def test_demo_rows_are_upstream_rows_unchanged() -> None:
    """The slice only selects rows: header and every line are byte-identical to upstream."""
    demo = gzip.decompress(demo_prices_path().read_bytes()).splitlines()
    upstream = gzip.decompress(shared(SP500_5YR).read_bytes()).splitlines()
    wanted = {s.encode() for s in DEMO_SYMBOLS}
    assert demo[0] == upstream[0]
    assert demo[1:] == [ln for ln in upstream[1:] if ln.rsplit(b",", 1)[-1] in wanted]


def test_demo_symbols_have_drawdowns_worth_harvesting() -> None:
    """The demo exists to show harvesting: every name falls at least 15 % from a peak, and the
    energy names at least 30 % (the 2014-2016 oil slump)."""
    series = load_prices(demo_prices_path())
    for symbol in DEMO_SYMBOLS:
        peak = worst = None
        for bar in series.bars_of(symbol):
            peak = bar.close if peak is None else max(peak, bar.close)
            drawdown = bar.close / peak - 1
            worst = drawdown if worst is None else min(worst, drawdown)
        assert worst is not None
        assert worst <= Decimal("-0.15"), symbol
        if symbol in {"XOM", "CVX", "COP", "EOG", "SLB", "HAL"}:
            assert worst <= Decimal("-0.30"), symbol
