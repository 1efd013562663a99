"""The set fund of the direct-index benches (`bench/direct_index_kit.py`): the ETF-pair baseline
on the direct index's own stocks, bought and held from the window's first session, whose
harvest the README's ten-year table compares with the direct index's."""

from __future__ import annotations

import importlib.util
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from adapters.prices.csvload import load_prices
from adapters.prices.model import PriceSeries

REPO = Path(__file__).resolve().parents[2]


def _kit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "direct_index_kit", REPO / "bench" / "direct_index_kit.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KIT = _kit()


def _prices(tmp_path: Path, rows: str) -> PriceSeries:
    path = tmp_path / "prices.csv"
    path.write_text("date,symbol,close,split_coefficient,dividend_amount\n" + rows)
    return load_prices(path)


def _fund(tmp_path: Path, rows: str) -> list[tuple[date, Decimal, Decimal]]:
    fund: list[tuple[date, Decimal, Decimal]] = KIT.set_fund(
        "2020-01-02", "2020-12-31", _prices(tmp_path, rows)
    )
    return fund


def test_a_unit_is_100_split_equally_over_the_stocks_priced_on_the_first_session(
    tmp_path: Path,
) -> None:
    """$50 in each of two stocks, held: A up 10 % moves the unit by 5 (the README, "Ten-year
    accounts": the set's stocks bought and held, as the direct index's benchmark is)."""
    fund = _fund(
        tmp_path,
        "2020-01-02,A,10,1,0\n2020-01-02,B,50,1,0\n2020-01-03,A,11,1,0\n2020-01-03,B,50,1,0\n",
    )
    assert [(d, v) for d, v, _ in fund] == [
        (date(2020, 1, 2), Decimal(100)),
        (date(2020, 1, 3), Decimal(105)),
    ]


def test_a_split_multiplies_the_shares_and_leaves_the_unit_unmoved(tmp_path: Path) -> None:
    """A 2:1 split halves the raw close and doubles the shares: no fake loss to harvest."""
    fund = _fund(
        tmp_path,
        "2020-01-02,A,10,1,0\n2020-01-02,B,50,1,0\n2020-01-03,A,5,2,0\n2020-01-03,B,50,1,0\n",
    )
    assert fund[-1][1] == Decimal(100)


def test_dividends_are_paid_per_unit_on_their_ex_date(tmp_path: Path) -> None:
    """B's $1 a share on its one share per unit pays $1 a unit, and the price keeps B's close."""
    fund = _fund(
        tmp_path,
        "2020-01-02,A,10,1,0\n2020-01-02,B,50,1,0\n2020-01-03,A,10,1,0\n2020-01-03,B,49,1,1\n",
    )
    assert [(v, dividend) for _, v, dividend in fund] == [
        (Decimal(100), Decimal(0)),
        (Decimal(99), Decimal(1)),
    ]


def test_a_stock_listed_later_stays_out_and_a_missing_bar_keeps_its_last_close(
    tmp_path: Path,
) -> None:
    """Only the stocks priced on the first session are held (as `--index equal` holds them);
    a session without A's bar values A at its last close."""
    fund = _fund(
        tmp_path,
        "2020-01-02,A,10,1,0\n2020-01-02,B,50,1,0\n2020-01-03,B,60,1,0\n2020-01-03,C,7,1,0\n",
    )
    assert fund[-1][1] == Decimal(110)


def test_the_window_starts_at_the_first_session_on_or_after_its_start(tmp_path: Path) -> None:
    """Sessions before `start` are skipped; the unit is 100 at the first one played."""
    prices = _prices(
        tmp_path,
        "2019-12-31,A,5,1,0\n2020-01-02,A,10,1,0\n2020-01-03,A,12,1,0\n",
    )
    fund = KIT.set_fund("2020-01-01", "2020-01-02", prices)
    assert [(d, v) for d, v, _ in fund] == [(date(2020, 1, 2), Decimal(100))]
