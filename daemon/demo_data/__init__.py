"""Bundled demo prices: an MIT-licensed slice of the Kaggle "S&P 500 stock data" file.

See ``README.md`` in this package for the upstream repository, commit and licence
(``LICENSE.MIT.txt``, kept next to the data).
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

DEMO_PRICES_FILE = "all_stocks_5yr_demo.csv.gz"
LICENSE_FILE = "LICENSE.MIT.txt"
CONFIG_FILE = "tlh.toml"
DEMO_SYMBOLS = (
    "AAPL",
    "BAC",
    "C",
    "COP",
    "CVX",
    "EOG",
    "GOOGL",
    "GS",
    "HAL",
    "IBM",
    "INTC",
    "JPM",
    "MS",
    "MSFT",
    "QCOM",
    "SLB",
    "WFC",
    "XOM",
)

_extracted = ExitStack()
atexit.register(_extracted.close)


def _resource_path(name: str) -> Path:
    resource = files(__name__) / name
    if isinstance(resource, Path):
        return resource
    # Installed from a zip: extract once, kept until the interpreter exits.
    return _extracted.enter_context(as_file(resource))


def demo_prices_path() -> Path:
    """Return a filesystem path to the bundled demo price file (gzip CSV, sp500_5yr layout)."""
    return _resource_path(DEMO_PRICES_FILE)


def demo_license_path() -> Path:
    """Return a filesystem path to the demo data's licence (MIT, kept with the data)."""
    return _resource_path(LICENSE_FILE)


def demo_config_path() -> Path:
    """Return a filesystem path to the demo's `tlh.toml` (substitute pairs of the demo symbols)."""
    return _resource_path(CONFIG_FILE)
