"""The binary price cache: a round trip gives back exactly what the CSV loader produced."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.prices import (
    PriceCacheError,
    PriceSeries,
    convert_price_dir,
    load_price_cache,
    load_price_dir,
    load_prices,
    load_symbol_file,
    save_price_cache,
)
from daemon.demo_data import demo_prices_path

from .pricekit import SP500_DAILY, XLE, shared, sp500_daily


def _snapshot(series: PriceSeries) -> list[tuple[object, ...]]:
    return [(day, tuple(b.as_tuple() for b in bars)) for day, bars in series.days()]


def _assert_same(a: PriceSeries, b: PriceSeries) -> None:
    assert _snapshot(a) == _snapshot(b)
    assert a.symbols == b.symbols
    assert a.skipped == b.skipped
    assert a.examples == b.examples
    assert a.blank_fields == b.blank_fields
    assert a.sources == b.sources


def test_cache_round_trip_equals_csv_load_of_demo_data(tmp_path: Path) -> None:
    """Brief: load_price_cache yields the same day-by-day bars as the CSV it was made from."""
    csv_series = load_prices(demo_prices_path())
    cache = save_price_cache(csv_series, tmp_path / "demo.tlhprices")
    _assert_same(load_price_cache(cache), csv_series)


def test_cache_round_trip_keeps_splits_dividends_and_exact_prices(tmp_path: Path) -> None:
    """Split coefficients (AAPL 7.00000700001), dividends, blank fields, skip counts and prices
    with more than six decimals (XLE) survive the cache exactly (sp500_1999_2021 files)."""
    src = tmp_path / "src"
    src.mkdir()
    for symbol in ("AAPL", "TSLA", "BRK.B"):
        shutil.copy(shared(sp500_daily(symbol)), src)
    shutil.copy(shared(XLE), src)
    series = convert_price_dir(src, tmp_path / "out.tlhprices")
    loaded = load_price_cache(tmp_path / "out.tlhprices")
    _assert_same(loaded, series)
    assert loaded.skipped == {"empty_date": 1}  # the XLE junk line
    assert Decimal("7.00000700001") in loaded.splits.values()
    assert loaded.exact  # XLE's 15-digit prices


def test_load_prices_recognises_a_cache_file_by_content(tmp_path: Path) -> None:
    """load_prices given a cache file (any name) loads it as a cache, not as CSV."""
    csv_series = load_prices(demo_prices_path())
    cache = save_price_cache(csv_series, tmp_path / "demo.npz")
    _assert_same(load_prices(cache), csv_series)


def test_damaged_cache_is_refused(tmp_path: Path) -> None:
    """A file that is not a cache, or is truncated, raises PriceCacheError, never bad data."""
    good = save_price_cache(load_prices(demo_prices_path()), tmp_path / "c.tlhprices")
    data = good.read_bytes()
    (tmp_path / "short").write_bytes(data[:-100])
    (tmp_path / "other").write_bytes(b"date,symbol,close\n")
    for name in ("short", "other"):
        with pytest.raises(PriceCacheError):
            load_price_cache(tmp_path / name)


@pytest.mark.slow
def test_whole_sp500_1999_2021_set_converts_and_replays(tmp_path: Path) -> None:
    """Brief: all 504 sp500_1999_2021 files (2,402,891 rows, 473 split rows, 27,729 dividend
    rows per data/README.md) load, convert to the cache, and the cache replays every bar."""
    series = convert_price_dir(shared(SP500_DAILY), tmp_path / "all.tlhprices")
    assert len(series) == 2_402_891
    assert len(series.symbols) == 504
    assert len(series.splits) == 473
    assert len(series.dividends) == 27_729
    del series
    # Replayed in a process of its own, its peak read from VmHWM: Linux carries the parent's
    # high-water mark across exec into the child's ru_maxrss (proc(5); getrusage(2)), so that
    # figure would be this test process's, grown by the tests it ran before.
    code = (
        "import sys, time\n"
        "from adapters.prices.cache import load_price_cache\n"
        "start = time.perf_counter()\n"
        "loaded = load_price_cache(sys.argv[1])\n"
        "bars = sum(len(b) for _, b in loaded.days())\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "peak = int(status.split()[0])\n"
        "print(bars, time.perf_counter() - start, peak)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "all.tlhprices")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    bars, seconds, peak_kib = int(out[0]), float(out[1]), int(out[2])
    assert bars == 2_402_891
    assert seconds < 60  # the backtest budget, with ample margin
    assert peak_kib < 1024 * 1024  # < 1 GiB


def test_load_price_dir_matches_single_file_loads(tmp_path: Path) -> None:
    """Loading a directory equals loading its files one by one and merging by date."""
    for symbol in ("AAPL", "MSFT"):
        shutil.copy(shared(sp500_daily(symbol)), tmp_path)
    series = load_price_dir(tmp_path)
    for symbol in ("AAPL", "MSFT"):
        alone = load_symbol_file(sp500_daily(symbol))
        assert [b.as_tuple() for b in series.bars_of(symbol)] == [
            b.as_tuple() for b in alone.bars_of(symbol)
        ]
