"""Paths and helpers shared by the `tests/prices` tests (plain module, not a conftest)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_PRICES = REPO.parent / "shared" / "data" / "prices"
SP500_5YR = SHARED_PRICES / "sp500_5yr" / "all_stocks_5yr.csv.gz"
SP500_DAILY = SHARED_PRICES / "sp500_1999_2021" / "daily_adjusted"
XLE = SHARED_PRICES / "etf_daily_adjusted" / "XLE.csv.gz"
BTC = SHARED_PRICES / "crypto_daily" / "BTC-USD.csv.gz"
ETH = SHARED_PRICES / "crypto_daily" / "ETH-USD.csv.gz"


def sp500_daily(symbol: str) -> Path:
    """The sp500_1999_2021 file of one symbol."""
    return SP500_DAILY / f"DA-{symbol}-T-2021-04-21.csv.gz"


def shared(path: Path) -> Path:
    """Return `path`, skipping the test when the shared data folder is not there."""
    if not path.exists():
        pytest.skip(f"shared price data not present: {path}")
    return path


def write_csv(path: Path, text: str, *, compress: bool = False) -> Path:
    """Write `text` (LF line ends as given) to `path`, gzip-compressed when asked."""
    data = text.encode()
    if compress:
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path
